"""Field checks of the insurance services: each adds a clear message for its field and returns a
clean value (or None), so that every problem of a request is reported at once (422)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

from schemehost.platform.errors import ValidationError

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$")
MAX_AMOUNT = 2**62


class Problems:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __contains__(self, field: str) -> bool:
        return field in self.errors

    def raise_if_any(self, detail: str) -> None:
        if self.errors:
            raise ValidationError(detail, errors=self.errors)


def code(value: Any, p: Problems, field: str = "code") -> str:
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not CODE_RE.match(text):
        p.add(field, _("1 to 50 letters, digits, '.', '_' or '-', starting with a letter or digit"))
        return ""
    return text


def text(value: Any, p: Problems, field: str, *, limit: int, required: bool = True) -> str | None:
    clean = " ".join(value.split()) if isinstance(value, str) else None
    if not clean:
        if required:
            p.add(field, _("This is needed."))
        return None
    if len(clean) > limit:
        p.add(field, _("At most %(n)d characters.", n=limit))
    return clean


def day(value: Any, p: Problems, field: str, *, required: bool = False) -> date | None:
    if value is None or value == "":
        if required:
            p.add(field, _("A date is needed."))
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    p.add(field, _("A date such as 2026-01-31."))
    return None


def count(value: Any, p: Problems, field: str, *, low: int = 0, high: int = 32767,
          required: bool = False) -> int | None:
    if value is None:
        if required:
            p.add(field, _("A number is needed."))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        p.add(field, _("A whole number from %(low)d to %(high)d.", low=low, high=high))
        return None
    return value


def amount(value: Any, p: Problems, field: str) -> int | None:
    """An amount in minor units (decision 0101): a whole number, 0 or more."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_AMOUNT:
        p.add(field, _("An amount in minor units of the currency: a whole number, 0 or more."))
        return None
    return value


def percent(value: Any, p: Problems, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not 0 <= number <= 100 or number != round(number, 2):
        p.add(field, _("A percentage from 0 to 100, with at most 2 decimals."))
        return None
    return number.quantize(Decimal("0.01"))


def choice(value: Any, allowed: tuple[str, ...], p: Problems, field: str) -> str | None:
    if value not in allowed:
        p.add(field, _("One of: %(values)s.", values=", ".join(allowed)))
        return None
    return value
