"""Money for the whole project: integer amounts in the currency's minor unit (decision 0101).

An amount is an ``int`` of minor units (XAF has none, so 1500 is 1,500 FCFA; TZS has two, so
150000 is 1,500.00) stored in a ``BigInteger`` column with the ISO 4217 code beside it. Rates and
percentages are ``Decimal``. Converting a computed ``Decimal`` to an amount rounds half-even, once,
with :func:`round_minor`; people type and read major units (``to_minor`` / ``format_money``).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
THOUSANDS_RE = re.compile(r"^[-+]?\d{1,3}(,\d{3})+$")


def is_currency(code: object) -> bool:
    """Whether ``code`` looks like an ISO 4217 code that Babel knows the minor unit of."""
    return isinstance(code, str) and bool(CURRENCY_RE.match(code)) and _known(code)


def _known(code: str) -> bool:
    from babel.numbers import get_currency_name

    return get_currency_name(code, locale="en") != code


def exponent(currency: str) -> int:
    """Digits after the decimal point of ``currency``'s minor unit (ISO 4217: XAF 0, TZS 2, KWD 3)."""
    return get_currency_precision(currency)


def to_minor(amount: str | int | Decimal, currency: str) -> int:
    """``amount`` in major units (``"1500.50"``, ``"1 500,5"``, ``Decimal``) as minor units of
    ``currency``; ValueError when it is not a number or has more decimals than the currency allows."""
    if isinstance(amount, bool):
        raise ValueError("not an amount")
    if isinstance(amount, str):
        text = amount.strip().replace("\u00a0", "").replace(" ", "").replace("\u202f", "")
        if "," in text and "." not in text and not THOUSANDS_RE.match(text):
            text = text.replace(",", ".")  # a decimal comma: "12,5"
        else:
            text = text.replace(",", "")  # thousands separators: "1,500" or "1,500.50"
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError("not an amount") from None
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError("not an amount")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError("too many decimals")
    return int(scaled)


def from_minor(minor: int, currency: str) -> Decimal:
    """Minor units as a ``Decimal`` of major units, with the currency's number of decimals."""
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def round_minor(value: Decimal) -> int:
    """A computed amount (already in minor units, e.g. price × rate) rounded half-even to an int."""
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def format_money(minor: int | None, currency: str | None, locale: str | None = None) -> str:
    """``minor`` for a person to read, in ``locale`` (the request's by default): "1 500 FCFA", "TSh 1,500.00"."""
    if minor is None or not currency:
        return ""
    if locale is None:
        from flask_babel import get_locale

        locale = str(get_locale() or "en")
    return format_currency(from_minor(minor, currency), currency, locale=locale)
