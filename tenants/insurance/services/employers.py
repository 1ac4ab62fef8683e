"""Employers: the organisations that hold employment-injury policies for their workers (decision 0320).

An employer has a code (unique in the scheme), a name, an optional registration number (unique when
given), a sector, a location and a contact. It holds no worker's personal data: workers are registry
individuals enrolled as members of the employer's policy. Employers are not deleted: they become
``inactive`` (an inactive employer takes no new policy or worker). A location-restricted principal
only reaches employers of its area; others are "not found".
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.errors import NotFound
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.insurance.models import CODE_LENGTH, NAME_LENGTH, Employer, EmployerStatus
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.services._common import UNSET, flush_unique, taken
from schemehost.tenants.registry.services.locations import _escape_like, _is_id
from schemehost.tenants.registry.validation import normalize_phone, tenant_country

ENTITY = "employer"
FIELDS = ("code", "name", "registration_no", "sector", "location_id", "address", "contact_name", "contact_phone",
          "contact_email", "status")
CONTACT_FIELDS = ("contact_name", "contact_phone", "contact_email")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def get_employer(session: Session, employer_id: Any, *, principal: Principal | None,
                 lock: bool = False) -> Employer:
    """The employer with this id, within the principal's area (404 otherwise)."""
    found = None
    if _is_id(employer_id):
        stmt = select(Employer).where(Employer.id == employer_id)
        if principal is not None:
            stmt = restrict_to_locations(stmt, principal, Employer.location_id)
        if lock:
            stmt = stmt.with_for_update()
        found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No employer with id %(id)s.", id=employer_id),
                       errors={"employer_id": [_("unknown employer")]})
    return found


def get_employer_by_code(session: Session, code: str, *, principal: Principal | None) -> Employer:
    stmt = select(Employer).where(Employer.code == code)
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, Employer.location_id)
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No employer with code '%(code)s'.", code=code), errors={"employer": [_("unknown employer")]})
    return found


def list_employers(session: Session, *, principal: Principal | None, q: str | None = None,
                   status: str | None = None, location_id: int | None = None, after_id: int | None = None,
                   limit: int = 100) -> list[Employer]:
    """Employers of the principal's area in id order (keyset on ``after_id``), filtered by a code or name
    fragment, status or location (exact)."""
    stmt = select(Employer).order_by(Employer.id).limit(limit)
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, Employer.location_id)
    if q and q.strip():
        like = "%" + _escape_like(q.strip()) + "%"
        stmt = stmt.where(Employer.name.ilike(like, escape="\\") | Employer.code.ilike(like, escape="\\")
                          | Employer.registration_no.ilike(like, escape="\\"))
    if status:
        stmt = stmt.where(Employer.status == status)
    if location_id is not None:
        stmt = stmt.where(Employer.location_id == location_id)
    if after_id is not None:
        stmt = stmt.where(Employer.id > after_id)
    return list(session.execute(stmt).scalars())


def create_employer(session: Session, *, principal: Principal | None, **fields: Any) -> Employer:
    """Register an employer; 409 for a taken code or registration number, 422 naming every bad field."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown employer fields: {sorted(unknown)}")
    values = _check(session, {"status": EmployerStatus.active.value, **fields}, principal, set(FIELDS))
    _unique(session, values, None)
    employer = Employer(**values)
    session.add(employer)
    flush_unique(session, values["code"])
    audit.record(session, "create", ENTITY, employer.id, after=snapshot(employer))
    return employer


def update_employer(session: Session, employer_id: Any, *, principal: Principal | None, **changes: Any) -> Employer:
    """Change an employer's fields under the rules of :func:`create_employer`."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown employer fields: {sorted(unknown)}")
    employer = get_employer(session, employer_id, principal=principal, lock=True)
    before = snapshot(employer)
    given = {k: v for k, v in changes.items() if v is not UNSET}
    values = _check(session, {**{f: getattr(employer, f) for f in FIELDS}, **given}, principal, set(given))
    _unique(session, values, employer.id)
    contact = [f for f in CONTACT_FIELDS if values[f] != getattr(employer, f)]
    for key, value in values.items():
        setattr(employer, key, value)
    flush_unique(session, employer.code)
    after = snapshot(employer)
    if after != before or contact:
        audit.record(session, "update", ENTITY, employer.id, before=before, after=after,
                     details={"contact_changed": contact} if contact else None)
    return employer


def _unique(session: Session, values: dict[str, Any], own_id: int | None) -> None:
    other = select(Employer.id).where(Employer.code == values["code"])
    if own_id is not None:
        other = other.where(Employer.id != own_id)
    if session.execute(other).first():
        raise taken(values["code"])
    if values.get("registration_no"):
        other = select(Employer.id).where(Employer.registration_no == values["registration_no"])
        if own_id is not None:
            other = other.where(Employer.id != own_id)
        if session.execute(other).first():
            raise taken(values["registration_no"], "registration_no")


def _check(session: Session, values: dict[str, Any], principal: Principal | None, given: set[str]) -> dict[str, Any]:
    """Every field checked, all problems at once (422); ``given`` are the fields the caller set (a
    stored location is not re-checked against the caller's area unless it changes)."""
    p = c.Problems()
    out: dict[str, Any] = {
        "code": c.code(values.get("code"), p),
        "name": c.text(values.get("name"), p, "name", limit=NAME_LENGTH),
        "registration_no": c.text(values.get("registration_no"), p, "registration_no", limit=CODE_LENGTH,
                                  required=False),
        "sector": c.text(values.get("sector"), p, "sector", limit=100, required=False),
        "address": c.text(values.get("address"), p, "address", limit=NAME_LENGTH, required=False),
        "contact_name": c.text(values.get("contact_name"), p, "contact_name", limit=NAME_LENGTH, required=False),
        "status": c.choice(values.get("status"), tuple(s.value for s in EmployerStatus), p, "status"),
    }
    phone = c.text(values.get("contact_phone"), p, "contact_phone", limit=30, required=False)
    if phone and "contact_phone" in given:
        try:
            phone = normalize_phone(phone, tenant_country(session))
        except ValueError as err:
            p.add("contact_phone", str(err))
    out["contact_phone"] = phone
    email = c.text(values.get("contact_email"), p, "contact_email", limit=254, required=False)
    if email and not EMAIL_RE.match(email):
        p.add("contact_email", _("An e-mail address such as hr@example.org."))
    out["contact_email"] = email.lower() if email else None
    location_id = values.get("location_id")
    if location_id is None:
        p.add("location_id", _("A location is needed."))
    elif "location_id" in given:
        stmt = select(Location.id).where(Location.id == location_id) if _is_id(location_id) else None
        if stmt is not None and principal is not None:
            stmt = restrict_to_locations(stmt, principal, Location.id)
        if stmt is None or session.execute(stmt).scalar_one_or_none() is None:
            p.add("location_id", _("No location with id %(id)s.", id=location_id))
    out["location_id"] = location_id
    p.raise_if_any(_("The employer cannot be saved."))
    return out


def snapshot(employer: Employer) -> dict[str, Any]:
    """An employer's fields for the audit log; its contact person's name, phone and e-mail are personal
    data, so only whether each is given (a change is named in ``details.contact_changed``)."""
    out = {f: getattr(employer, f) for f in FIELDS if f not in CONTACT_FIELDS}
    out.update({f"has_{f}": getattr(employer, f) is not None for f in CONTACT_FIELDS})
    return out
