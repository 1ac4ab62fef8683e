"""Checks and readings shared by the registry services."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform import money
from schemehost.platform.errors import Conflict, ValidationError
from schemehost.tenants.core.models import Setting
from schemehost.tenants.registry.models import CODE_LENGTH, NAME_LENGTH

#: A code has 1 to 50 letters, digits, ".", "_" or "-", starting with a letter or digit (as in templates).
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,%d}$" % (CODE_LENGTH - 1))
DEFAULT_LEVELS = ["Region", "District", "Municipality", "Village"]


class _Unset:
    """Marks an argument the caller did not give (None is a value: "clear it")."""

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


class Problems:
    """Collects field errors, then raises one ValidationError with all of them."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self, detail: str) -> None:
        if self.errors:
            raise ValidationError(detail, errors=self.errors)


def clean_code(value: Any, problems: Problems, field: str = "code") -> str:
    code = value.strip() if isinstance(value, str) else value
    if not isinstance(code, str) or not CODE_RE.match(code):
        problems.add(field, _("1 to 50 letters, digits, '.', '_' or '-', starting with a letter or digit"))
        return ""
    return code


def clean_name(value: Any, problems: Problems, field: str = "name") -> str:
    name = " ".join(value.split()) if isinstance(value, str) else None
    if not name:
        problems.add(field, _("A name is needed."))
        return ""
    if len(name) > NAME_LENGTH:
        problems.add(field, _("At most %(n)d characters.", n=NAME_LENGTH))
    return name


def clean_choice(value: Any, enum: type[StrEnum], problems: Problems, field: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        problems.add(field, _("One of: %(values)s.", values=", ".join(e.value for e in enum)))
        return ""


def clean_count(value: Any, problems: Problems, field: str) -> int | None:
    """A non-negative integer, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        problems.add(field, _("A whole number, 0 or more."))
        return None
    return value


def clean_date(value: Any, problems: Problems, field: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.add(field, _("A date such as 2026-01-31."))
    return None


def check_period(start: date | None, end: date | None, problems: Problems, end_field: str) -> None:
    if start is not None and end is not None and end < start:
        problems.add(end_field, _("The end cannot be before the start."))


def clean_amount(value: Any, problems: Problems, field: str) -> int | None:
    """An amount in minor units: a whole number, 0 or more (decision 0101)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**62:
        problems.add(field, _("An amount in minor units of the currency: a whole number, 0 or more."))
        return None
    return value


def tenant_currency(session: Session) -> str:
    """The tenant's currency (settings row ``currency``)."""
    value = session.execute(select(Setting.value).where(Setting.key == "currency")).scalar_one_or_none()
    return value if money.is_currency(value) else "USD"


def level_names(session: Session) -> list[str]:
    """The tenant's location level names, top first (settings row ``location_levels``)."""
    value = session.execute(select(Setting.value).where(Setting.key == "location_levels")).scalar_one_or_none()
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return list(DEFAULT_LEVELS)


def taken(code: str, field: str = "code") -> Conflict:
    return Conflict(_("The code '%(code)s' is already taken.", code=code),
                    errors={field: [_("This code is already taken.")]})


def flush_unique(session: Session, code: str) -> None:
    """Flush in a savepoint; a unique violation (a code taken by a concurrent request) becomes a 409."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as err:
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", "") or ""
        if constraint.startswith("uq_") and constraint.endswith("_code"):
            raise taken(code) from None
        raise


def plain(value: Any) -> Any:
    """A value as JSON for the audit log."""
    if isinstance(value, date):
        return value.isoformat()
    return value
