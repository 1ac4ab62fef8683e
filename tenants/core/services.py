"""Tenant settings: read and write the validated configuration of one tenant."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from schemehost.platform.errors import NotFound, ValidationError
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit

# Keys a tenant admin may change through the API; structure checked per key.
SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "currency": str, "locale": str, "timezone": str, "location_levels": list, "modules": list,
    "display_name": str, "contact_email": str, "country": str,
    "security": dict,  # {"mfa_required": bool}: a second factor for every user (tenants/identity/mfa_views.py)
    "registry": dict,  # deduplication, extra_fields, scheme_number_pattern, ... (tenants/registry/validation.py)
}


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is a zone of the IANA database as Python reads it (``Africa/Douala``). A
    malformed key raises ValueError, an unknown one ZoneInfoNotFoundError, and a folder of the
    database (``Africa``) IsADirectoryError: each means no."""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


def list_settings(session: Session, *, limit: int = 100) -> list:
    """The settings in key order (read-only rows: a hot read path, no ORM identity map needed)."""
    return session.execute(
        select(Setting.key, Setting.value, Setting.updated_at).order_by(Setting.key).limit(limit)
    ).all()


def get_setting(session: Session, key: str) -> Setting:
    setting = session.get(Setting, key)
    if setting is None:
        raise NotFound(_("No setting '%(key)s'.", key=key), errors={"key": [_("unknown setting")]})
    return setting


def put_setting(session: Session, key: str, value: Any) -> Setting:
    """Create or replace setting ``key`` after checking its type."""
    expected = SETTING_TYPES.get(key)
    if expected is None:
        raise ValidationError(_("'%(key)s' is not a setting that can be changed here.", key=key),
                              errors={"key": [f"one of: {', '.join(sorted(SETTING_TYPES))}"]})
    if not isinstance(value, expected):
        name = expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
        raise ValidationError(_("'%(key)s' must be a %(type)s.", key=key, type=name), errors={"value": [_("expected a %(type)s", type=name)]})
    if key == "timezone" and not is_time_zone(value):
        # the scheme's calendar (claim deadlines, statements, eligibility) would silently fall back to UTC
        raise ValidationError(_("'%(value)s' is not a time zone.", value=value[:64]),
                              errors={"value": [_("a time zone of the IANA database, such as Africa/Douala")]})
    previous = session.execute(select(Setting.value).where(Setting.key == key).with_for_update()).first()
    session.execute(insert(Setting).values(key=key, value=value)
                    .on_conflict_do_update(index_elements=["key"], set_={"value": value}))
    if key == "modules":  # the module gate's cache forgets this tenant at commit (tenants/modules.py)
        from schemehost.tenants.modules import note_changed

        note_changed(session)
    if previous is None or previous.value != value:  # audited with before/after; an identical put changes nothing
        audit.record(session, "update" if previous else "create", "setting", key,
                     before=None if previous is None else {"value": previous.value}, after={"value": value})
    session.flush()
    session.expire_all()
    return get_setting(session, key)


def tenant_zone(session: Session) -> str:
    """The scheme's time zone (settings row ``timezone``), UTC when unset or not a known zone."""
    tz = session.execute(select(Setting.value).where(Setting.key == "timezone")).scalar_one_or_none()
    return tz if isinstance(tz, str) and tz and is_time_zone(tz) else "UTC"
