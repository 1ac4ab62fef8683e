"""Health facilities: dispensaries, health centres and hospitals under contract with the scheme.

A facility sits in a location of the tenant's lowest or second-lowest level (a village, or the
municipality / ward / arrondissement above it; decision 0102). Facilities are not deleted once
they exist: they become ``inactive``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.errors import NotFound
from schemehost.tenants.identity import audit
from schemehost.tenants.registry.models import CareType, FacilityLevel, FacilityStatus, HealthFacility, Location
from schemehost.tenants.registry.services._common import (UNSET, Problems, check_period, clean_choice, clean_code,
                                                          clean_date, clean_name, flush_unique, level_names, plain,
                                                          taken)
from schemehost.tenants.registry.services.locations import _escape_like, _is_id, level_name

ENTITY = "health_facility"


def facility_levels_allowed(names: list[str]) -> range:
    """The location levels a facility may be placed in: the lowest two."""
    return range(max(0, len(names) - 2), len(names))


def get_facility(session: Session, facility_id: int, *, lock: bool = False) -> HealthFacility:
    """The facility with this id (404 when it is not one of this tenant's)."""
    stmt = select(HealthFacility).where(HealthFacility.id == facility_id)
    if lock:
        stmt = stmt.with_for_update()
    facility = session.execute(stmt).scalar_one_or_none() if _is_id(facility_id) else None
    if facility is None:
        raise NotFound(_("No health facility with id %(id)s.", id=facility_id),
                       errors={"id": [_("unknown health facility")]})
    return facility


def get_facility_by_code(session: Session, code: str) -> HealthFacility:
    facility = session.execute(select(HealthFacility).where(HealthFacility.code == code)).scalar_one_or_none()
    if facility is None:
        raise NotFound(_("No health facility with code '%(code)s'.", code=code),
                       errors={"code": [_("unknown health facility")]})
    return facility


def list_facilities(session: Session, *, within: int | None = None, location_id: int | None = None,
                    level: str | None = None, status: str | None = None, code: str | None = None,
                    q: str | None = None, ids: Collection[int] | None = None, after_id: int | None = None,
                    limit: int = 100) -> list[HealthFacility]:
    """Facilities in id order (keyset on ``after_id``), filtered by location (exact or subtree),
    facility level, status, exact code, name fragment or ids."""
    stmt = select(HealthFacility).order_by(HealthFacility.id).limit(limit)
    if ids is not None:
        stmt = stmt.where(HealthFacility.id.in_(sorted({i for i in ids if _is_id(i)})))
    if within is not None:
        stmt = stmt.where(HealthFacility.location_id.in_(select(Location.id).where(Location.path.contains([within]))))
    if location_id is not None:
        stmt = stmt.where(HealthFacility.location_id == location_id)
    if level:
        stmt = stmt.where(HealthFacility.level == level)
    if status:
        stmt = stmt.where(HealthFacility.status == status)
    if code:
        stmt = stmt.where(HealthFacility.code == code)
    if q:
        stmt = stmt.where(HealthFacility.name.ilike("%" + _escape_like(q.strip()) + "%", escape="\\"))
    if after_id is not None:
        stmt = stmt.where(HealthFacility.id > after_id)
    return list(session.execute(stmt).scalars())


def create_facility(session: Session, *, code: str, name: str, level: str, care_type: str, location_id: int,
                    contract_start: date | str | None = None, contract_end: date | str | None = None,
                    status: str = FacilityStatus.active) -> HealthFacility:
    """Register a facility (409 for a taken code; 422 for a location of the wrong level or a contract
    that ends before it starts)."""
    problems = Problems()
    values = {
        "code": clean_code(code, problems),
        "name": clean_name(name, problems),
        "level": clean_choice(level, FacilityLevel, problems, "level"),
        "care_type": clean_choice(care_type, CareType, problems, "care_type"),
        "status": clean_choice(status, FacilityStatus, problems, "status"),
        "location_id": _check_location(session, location_id, problems),
        "contract_start": clean_date(contract_start, problems, "contract_start"),
        "contract_end": clean_date(contract_end, problems, "contract_end"),
    }
    check_period(values["contract_start"], values["contract_end"], problems, "contract_end")
    problems.raise_if_any(_("The health facility cannot be registered."))
    if session.execute(select(HealthFacility.id).where(HealthFacility.code == values["code"])).first():
        raise taken(values["code"])
    facility = HealthFacility(**values)
    session.add(facility)
    flush_unique(session, values["code"])
    audit.record(session, "create", ENTITY, facility.id, after=snapshot(facility))
    return facility


def update_facility(session: Session, facility_id: int, *, code: str = UNSET, name: str = UNSET,
                    level: str = UNSET, care_type: str = UNSET, location_id: int = UNSET,
                    contract_start: date | str | None = UNSET, contract_end: date | str | None = UNSET,
                    status: str = UNSET) -> HealthFacility:
    """Change any of a facility's fields under the same rules as :func:`create_facility`."""
    facility = get_facility(session, facility_id, lock=True)
    before = snapshot(facility)
    problems = Problems()
    changes: dict[str, Any] = {}
    if code is not UNSET:
        changes["code"] = clean_code(code, problems)
    if name is not UNSET:
        changes["name"] = clean_name(name, problems)
    if level is not UNSET:
        changes["level"] = clean_choice(level, FacilityLevel, problems, "level")
    if care_type is not UNSET:
        changes["care_type"] = clean_choice(care_type, CareType, problems, "care_type")
    if status is not UNSET:
        changes["status"] = clean_choice(status, FacilityStatus, problems, "status")
    if location_id is not UNSET and location_id != facility.location_id:
        changes["location_id"] = _check_location(session, location_id, problems)
    if contract_start is not UNSET:
        changes["contract_start"] = clean_date(contract_start, problems, "contract_start")
    if contract_end is not UNSET:
        changes["contract_end"] = clean_date(contract_end, problems, "contract_end")
    check_period(changes.get("contract_start", facility.contract_start),
                 changes.get("contract_end", facility.contract_end), problems, "contract_end")
    problems.raise_if_any(_("The health facility cannot be changed."))
    new_code = changes.get("code", facility.code)
    if new_code != facility.code and session.execute(
            select(HealthFacility.id).where(HealthFacility.code == new_code)).first():
        raise taken(new_code)
    for key, value in changes.items():
        setattr(facility, key, value)
    flush_unique(session, new_code)
    after = snapshot(facility)
    if after != before:
        audit.record(session, "update", ENTITY, facility.id, before=before, after=after)
    return facility


def snapshot(facility: HealthFacility) -> dict[str, Any]:
    return {key: plain(getattr(facility, key)) for key in
            ("code", "name", "level", "care_type", "location_id", "contract_start", "contract_end", "status")}


def _check_location(session: Session, location_id: Any, problems: Problems) -> int | None:
    loc = session.get(Location, location_id) if _is_id(location_id) else None
    if loc is None:
        problems.add("location_id", _("No location with id %(id)s.", id=location_id))
        return None
    names = level_names(session)
    allowed = facility_levels_allowed(names)
    if loc.level not in allowed:
        if len(allowed) == 2:
            message = _("A health facility is placed in a %(lowest)s or a %(above)s, not in a %(level)s.",
                        lowest=level_name(names, allowed[1]), above=level_name(names, allowed[0]),
                        level=level_name(names, loc.level))
        else:
            message = _("A health facility is placed in a %(lowest)s, not in a %(level)s.",
                        lowest=level_name(names, allowed[-1]), level=level_name(names, loc.level))
        problems.add("location_id", message)
        return None
    return loc.id
