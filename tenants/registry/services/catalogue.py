"""The catalogue of items (medicines, consumables, devices) and services (consultations,
procedures, ...) that facilities provide and price lists price.

One table for both kinds, so that a price list line, a claim line or a voucher service refers to
one thing; codes are unique across the whole catalogue. ``unit_price`` is a default price in
minor units of the tenant's currency (decision 0101); price lists set the prices that apply.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import NotFound
from schemehost.tenants.identity import audit
from schemehost.tenants.registry.models import (KIND_TYPES, CareType, CatalogueEntry, EntryKind, PatientAge,
                                                PatientSex)
from schemehost.tenants.registry.services._common import (UNSET, Problems, check_period, clean_amount,
                                                          clean_choice, clean_code, clean_count, clean_date,
                                                          clean_name, flush_unique, plain, taken, tenant_currency)
from schemehost.tenants.registry.services.locations import _escape_like, _is_id

ENTITY = "catalogue_entry"
FIELDS = ("kind", "code", "name", "type", "unit_price", "currency", "care_type", "frequency_days", "patient_sex",
          "patient_age", "valid_from", "valid_to")


def get_entry(session: Session, entry_id: int, *, lock: bool = False) -> CatalogueEntry:
    """The catalogue entry with this id (404 when it is not one of this tenant's)."""
    stmt = select(CatalogueEntry).where(CatalogueEntry.id == entry_id)
    if lock:
        stmt = stmt.with_for_update()
    entry = session.execute(stmt).scalar_one_or_none() if _is_id(entry_id) else None
    if entry is None:
        raise NotFound(_("No catalogue entry with id %(id)s.", id=entry_id),
                       errors={"id": [_("unknown catalogue entry")]})
    return entry


def get_entry_by_code(session: Session, code: str) -> CatalogueEntry:
    entry = session.execute(select(CatalogueEntry).where(CatalogueEntry.code == code)).scalar_one_or_none()
    if entry is None:
        raise NotFound(_("No item or service with code '%(code)s'.", code=code),
                       errors={"code": [_("unknown catalogue entry")]})
    return entry


def list_entries(session: Session, *, kind: str | None = None, type: str | None = None, code: str | None = None,
                 q: str | None = None, valid_on: date | None = None, after_id: int | None = None,
                 limit: int = 100) -> list[CatalogueEntry]:
    """Entries in id order (keyset on ``after_id``), filtered by kind, type, exact code, name or code
    fragment, and validity on a date."""
    stmt = select(CatalogueEntry).order_by(CatalogueEntry.id).limit(limit)
    if kind:
        stmt = stmt.where(CatalogueEntry.kind == kind)
    if type:
        stmt = stmt.where(CatalogueEntry.type == type)
    if code:
        stmt = stmt.where(CatalogueEntry.code == code)
    if q:
        pattern = "%" + _escape_like(q.strip()) + "%"
        stmt = stmt.where(or_(CatalogueEntry.name.ilike(pattern, escape="\\"),
                              CatalogueEntry.code.ilike(pattern, escape="\\")))
    if valid_on is not None:
        stmt = stmt.where(valid_clause(valid_on))
    if after_id is not None:
        stmt = stmt.where(CatalogueEntry.id > after_id)
    return list(session.execute(stmt).scalars())


def valid_clause(on: date):
    """Entries valid on ``on`` (open-ended dates are unbounded)."""
    return ((CatalogueEntry.valid_from.is_(None) | (CatalogueEntry.valid_from <= on))
            & (CatalogueEntry.valid_to.is_(None) | (CatalogueEntry.valid_to >= on)))


def create_entry(session: Session, *, kind: str, code: str, name: str, type: str, unit_price: int | None = None,
                 care_type: str = CareType.both, frequency_days: int | None = None,
                 patient_sex: str = PatientSex.any, patient_age: str = PatientAge.any,
                 valid_from: date | str | None = None, valid_to: date | str | None = None) -> CatalogueEntry:
    """Add an item or a service (409 for a taken code; 422 for a type of the other kind, a negative
    price or a validity that ends before it starts). A default price is in the tenant's currency."""
    problems = Problems()
    values: dict[str, Any] = {
        "kind": clean_choice(kind, EntryKind, problems, "kind"),
        "code": clean_code(code, problems),
        "name": clean_name(name, problems),
        "unit_price": clean_amount(unit_price, problems, "unit_price"),
        "care_type": clean_choice(care_type, CareType, problems, "care_type"),
        "frequency_days": _frequency(frequency_days, problems),
        "patient_sex": clean_choice(patient_sex, PatientSex, problems, "patient_sex"),
        "patient_age": clean_choice(patient_age, PatientAge, problems, "patient_age"),
        "valid_from": clean_date(valid_from, problems, "valid_from"),
        "valid_to": clean_date(valid_to, problems, "valid_to"),
    }
    values["type"] = _type(values["kind"], type, problems)
    check_period(values["valid_from"], values["valid_to"], problems, "valid_to")
    problems.raise_if_any(_("The catalogue entry cannot be created."))
    values["currency"] = tenant_currency(session) if values["unit_price"] is not None else None
    if session.execute(select(CatalogueEntry.id).where(CatalogueEntry.code == values["code"])).first():
        raise taken(values["code"])
    entry = CatalogueEntry(**values)
    session.add(entry)
    flush_unique(session, values["code"])
    audit.record(session, "create", ENTITY, entry.id, after=snapshot(entry))
    return entry


def update_entry(session: Session, entry_id: int, **changes: Any) -> CatalogueEntry:
    """Change fields of an entry (any of those of :func:`create_entry` except ``kind``)."""
    entry = get_entry(session, entry_id, lock=True)
    before = snapshot(entry)
    problems = Problems()
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if value is UNSET:
            continue
        if key == "code":
            clean[key] = clean_code(value, problems)
        elif key == "name":
            clean[key] = clean_name(value, problems)
        elif key == "type":
            clean[key] = _type(entry.kind, value, problems)
        elif key == "unit_price":
            clean[key] = clean_amount(value, problems, key)
        elif key == "care_type":
            clean[key] = clean_choice(value, CareType, problems, key)
        elif key == "frequency_days":
            clean[key] = _frequency(value, problems)
        elif key == "patient_sex":
            clean[key] = clean_choice(value, PatientSex, problems, key)
        elif key == "patient_age":
            clean[key] = clean_choice(value, PatientAge, problems, key)
        elif key in ("valid_from", "valid_to"):
            clean[key] = clean_date(value, problems, key)
        else:
            problems.add(key, _("This field cannot be changed."))
    check_period(clean.get("valid_from", entry.valid_from), clean.get("valid_to", entry.valid_to), problems,
                 "valid_to")
    problems.raise_if_any(_("The catalogue entry cannot be changed."))
    new_code = clean.get("code", entry.code)
    if new_code != entry.code and session.execute(
            select(CatalogueEntry.id).where(CatalogueEntry.code == new_code)).first():
        raise taken(new_code)
    if "unit_price" in clean:
        clean["currency"] = tenant_currency(session) if clean["unit_price"] is not None else None
    for key, value in clean.items():
        setattr(entry, key, value)
    flush_unique(session, new_code)
    after = snapshot(entry)
    if after != before:
        audit.record(session, "update", ENTITY, entry.id, before=before, after=after)
    return entry


def snapshot(entry: CatalogueEntry) -> dict[str, Any]:
    return {key: plain(getattr(entry, key)) for key in FIELDS}


def types_of(kind: str) -> tuple[str, ...]:
    return tuple(t.value for t in KIND_TYPES.get(EntryKind(kind), ()))


def _type(kind: str, value: Any, problems: Problems) -> str:
    if not kind:
        return ""
    allowed = types_of(kind)
    if value not in allowed:
        problems.add("type", _("One of: %(values)s.", values=", ".join(allowed)))
        return ""
    return value


def _frequency(value: Any, problems: Problems) -> int | None:
    days = clean_count(value, problems, "frequency_days")
    if days is not None and not 0 < days < 32768:
        problems.add("frequency_days", _("A number of days from 1 to 32767, or nothing."))
        return None
    return days
