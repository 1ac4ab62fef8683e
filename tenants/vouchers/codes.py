"""Voucher codes: 15 random digits (from ``secrets``: 10**15 > 2**49, so at least 48 bits) and one Damm
check digit (python-stdnum), 16 digits read over the phone in four groups of four (decision 0200).

The Damm check digit catches every single-digit error and every transposition of two adjacent
digits, so a mistyped code is refused before any database lookup.
"""

from __future__ import annotations

import re
import secrets

from stdnum import damm
from stdnum.exceptions import ValidationError as StdnumError

from schemehost.tenants.vouchers.models import RANDOM_DIGITS, VOUCHER_CODE_LENGTH

_SEPARATORS = re.compile(r"[\s\-.]")


def new_code() -> str:
    """A fresh random code with its check digit (16 digits)."""
    body = str(secrets.randbelow(10 ** RANDOM_DIGITS)).zfill(RANDOM_DIGITS)
    return body + damm.calc_check_digit(body)


def new_codes(n: int) -> list[str]:
    """``n`` distinct fresh codes."""
    codes: set[str] = set()
    while len(codes) < n:
        codes.add(new_code())
    return list(codes)


def normalise(text: str | None) -> str:
    """The code as typed, without spaces, dashes or dots ("1234 5678-9012.3456" → "1234567890123456")."""
    return _SEPARATORS.sub("", text or "")


def is_valid(code: str) -> bool:
    """Whether ``code`` (normalised) has the right length, only digits, and a matching check digit."""
    if len(code) != VOUCHER_CODE_LENGTH or not code.isdigit():
        return False
    try:
        damm.validate(code)
    except StdnumError:
        return False
    return True


def grouped(code: str) -> str:
    """The code for people to read: four groups of four digits."""
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))
