"""Households and individuals: create, update, membership, head of household, photo.

Every function takes the tenant session first, then keyword arguments, and only flushes. Values are
checked field by field and all problems are reported at once (422, ``errors`` by field). ``principal``
is the caller the rows are for: a location-restricted principal only reaches people and villages of
its area (anything else is "not found" / "unknown village"); ``principal=None`` is the system itself
(imports, jobs), unrestricted.

History goes to the audit log, one entry per change (decision 0105): ``before``/``after`` hold the
fields that do not identify a person (ids, household, relationship, sex, village, status, external
id, whether the birth date is estimated, whether there is a phone, national id, photo); identifying
fields (names, birth date, national id, phone, address, photo, extra fields, the scheme number printed
on the member's card: decision 0120) appear only by name in ``details.personal_changed``, so that an
erasure, which pseudonymises the row, leaves nothing identifying in the append-only audit log.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

from flask import current_app, has_app_context, has_request_context, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import (NAME_PART, Household, Individual, PersonStatus, Relationship, Sex)
from schemehost.tenants.registry.services._common import UNSET, Problems, level_names
from schemehost.tenants.registry.validation import (extra_schema, next_scheme_numbers, normalize_name,
                                                    normalize_national_id, normalize_phone, registry_settings,
                                                    tenant_country, validate_extra)

INDIVIDUAL = "individual"
HOUSEHOLD = "household"
EARLIEST_BIRTH = date(1900, 1, 1)
PHOTO_MAX_BYTES = 256 * 1024
#: image types accepted for photos, by their first bytes
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}

#: fields of an individual a caller may give (create and update)
INDIVIDUAL_FIELDS = ("given_name", "family_name", "other_names", "sex", "birth_date", "birth_date_estimated",
                     "national_id", "phone", "location_id", "extra", "external_id", "status")
#: fields that identify a person: never written to the audit log (decision 0105)
PERSONAL_FIELDS = ("given_name", "family_name", "other_names", "birth_date", "national_id", "phone", "extra",
                   "photo", "address", "scheme_number")
SETTABLE_STATUSES = (PersonStatus.active, PersonStatus.inactive, PersonStatus.deceased)


# ---- reading -----------------------------------------------------------------------------------------


def get_individual(session: Session, individual_id: Any, *, principal: Principal | None,
                   lock: bool = False) -> Individual:
    """The individual with this id, within the principal's area (404 otherwise)."""
    found = None
    if _is_id(individual_id):
        stmt = select(Individual).where(Individual.id == individual_id)
        if principal is not None:
            stmt = restrict_to_locations(stmt, principal, Individual.location_id)
        if lock:
            stmt = stmt.with_for_update()
        found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No individual with id %(id)s.", id=individual_id), errors={"id": [_("unknown individual")]})
    return found


def get_household(session: Session, household_id: Any, *, principal: Principal | None,
                  lock: bool = False) -> Household:
    """The household with this id, within the principal's area (404 otherwise)."""
    found = None
    if _is_id(household_id):
        stmt = select(Household).where(Household.id == household_id)
        if principal is not None:
            stmt = restrict_to_locations(stmt, principal, Household.location_id)
        if lock:
            stmt = stmt.with_for_update()
        found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No household with id %(id)s.", id=household_id), errors={"id": [_("unknown household")]})
    return found


def members(session: Session, household_id: int) -> list[Individual]:
    """The household's members, the head first, then by birth date."""
    return list(session.execute(
        select(Individual).where(Individual.household_id == household_id)
        .order_by((Individual.relationship != Relationship.head).asc(), Individual.birth_date, Individual.id)
    ).scalars())


def villages_for(session: Session, principal: Principal | None, q: str | None = None, limit: int = 50) -> list[Location]:
    """Villages (locations of the lowest level) the principal may use, by name (for forms)."""
    stmt = select(Location).where(Location.level == len(level_names(session)) - 1)
    if q:
        stmt = stmt.where(Location.name.ilike(f"%{_escape_like(q)}%", escape="\\") | (Location.code == q))
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, Location.id)
    return list(session.execute(stmt.order_by(Location.name, Location.id).limit(limit)).scalars())


# ---- individuals -------------------------------------------------------------------------------------


def create_individual(session: Session, data: dict[str, Any], *, principal: Principal | None,
                      household_id: int | None = None, relationship: str | None = None,
                      check_duplicates: bool = True) -> Individual:
    """Register a person. ``data``: given_name, family_name, sex, birth_date (required), other_names,
    birth_date_estimated, national_id, phone, location_id (the village; defaults to the household's),
    extra, external_id. 422 with every problem by field; 409 with ``existing_id`` when the national id
    is already registered; probable duplicates are flagged for review (never merged)."""
    problems = Problems()
    household = None
    if household_id is not None:
        household = _household_or_problem(session, household_id, principal, problems)
        relationship = _relationship(relationship, problems, allow_head=False)
    elif relationship is not None:
        problems.add("relationship", _("A relationship needs a household."))
    values = _clean_individual(session, {**data}, principal, problems, creating=True,
                               default_location=household.location_id if household else None)
    problems.raise_if_any(_("The individual cannot be registered."))
    return _insert_individual(session, values, household=household, relationship=relationship,
                              check_duplicates=check_duplicates)


def update_individual(session: Session, individual_id: int, changes: dict[str, Any], *,
                      principal: Principal | None) -> Individual:
    """Change some fields of a person (the keys of ``changes``; None clears an optional field)."""
    person = get_individual(session, individual_id, principal=principal, lock=True)
    if person.status == PersonStatus.erased:
        raise Conflict(_("This record was erased and cannot be changed."), errors={"id": [_("erased")]})
    problems = Problems()
    unknown = sorted(set(changes) - set(INDIVIDUAL_FIELDS))
    for key in unknown:
        problems.add(key, _("Unknown field."))
    merged = {key: getattr(person, key) for key in INDIVIDUAL_FIELDS}
    merged.update({k: v for k, v in changes.items() if k in INDIVIDUAL_FIELDS})
    values = _clean_individual(session, merged, principal, problems, creating=False,
                               changed=set(changes), current=person)
    problems.raise_if_any(_("The individual cannot be changed."))
    before = snapshot_individual(person)
    old_personal = _personal(person)
    if values.get("national_id") is not None and values["national_id"] != person.national_id:
        _refuse_known_national_id(session, values["national_id"], exclude=person.id)
    for key, value in values.items():
        setattr(person, key, value)
    _flush_individual(session, person)
    personal_changed = sorted(k for k, v in _personal(person).items() if old_personal.get(k) != v)
    after = snapshot_individual(person)
    if before != after or personal_changed:
        audit.record(session, "update", INDIVIDUAL, person.id, before=before, after=after,
                     details={"personal_changed": personal_changed} if personal_changed else None)
    if set(personal_changed) & {"given_name", "family_name", "other_names", "birth_date", "phone"} \
            or before["location_id"] != after["location_id"]:
        from schemehost.tenants.registry.services.duplicates import flag_probable_duplicates

        if _dedup_enabled(session):
            flag_probable_duplicates(session, [person.id])
    return person


def set_photo(session: Session, individual_id: int, photo: bytes | None, *, principal: Principal | None) -> Individual:
    """Set (or with None remove) a person's photo: a JPEG or PNG of at most ``REGISTRY_PHOTO_MAX_BYTES``."""
    person = get_individual(session, individual_id, principal=principal, lock=True)
    if photo is not None:
        problem = photo_problem(photo)
        if problem:
            raise ValidationError(_("The photo cannot be used."), errors={"photo": [problem]})
    had = person.photo is not None
    person.photo = photo
    session.flush()
    audit.record(session, "update", INDIVIDUAL, person.id,
                 details={"personal_changed": ["photo"], "photo": "set" if photo is not None else
                          ("removed" if had else "none")})
    return person


def photo_type(photo: bytes | None) -> str | None:
    for magic, mime in PHOTO_TYPES.items():
        if photo and photo.startswith(magic):
            return mime
    return None


def photo_problem(photo: bytes) -> str | None:
    limit = photo_limit()
    if len(photo) > limit:
        return _("At most %(n)d KB.", n=limit // 1024)
    if photo_type(photo) is None:
        return _("A JPEG or PNG image.")
    return None


def photo_limit() -> int:
    if has_app_context():
        return int(current_app.config.get("REGISTRY_PHOTO_MAX_BYTES", PHOTO_MAX_BYTES))
    return PHOTO_MAX_BYTES


# ---- households --------------------------------------------------------------------------------------


def create_household(session: Session, *, principal: Principal | None, location_id: Any,
                     head: dict[str, Any] | int, members: list[dict[str, Any]] | None = None,
                     address: str | None = None, extra: Any = None, external_id: str | None = None) -> Household:
    """Enrol a household in a village with its head and members, in one change.

    ``head`` is a new person's data (as for :func:`create_individual`) or the id of a registered
    individual without a household; each member is a new person's data with ``relationship``, or
    ``{"individual_id": id, "relationship": ...}`` for a registered one. Members' village defaults to
    the household's. Problems are reported by field: ``head.<field>``, ``members.<i>.<field>``."""
    problems = Problems()
    village = _village(session, location_id, principal, problems, "location_id")
    address_value = _text(address, problems, "address", 500)
    extra_value = _extra(session, HOUSEHOLD, extra if extra is not None else {}, problems)
    external = _text(external_id, problems, "external_id", 100)
    default_loc = village.id if village else None

    def person(spec: Any, prefix: str) -> tuple[str, Any]:
        if isinstance(spec, int) and not isinstance(spec, bool):
            return "existing", _free_individual(session, spec, principal, problems, prefix)
        if isinstance(spec, dict) and "individual_id" in spec:
            return "existing", _free_individual(session, spec["individual_id"], principal, problems,
                                                f"{prefix}.individual_id")
        if not isinstance(spec, dict):
            problems.add(prefix, _("A person's details or the id of a registered individual."))
            return "bad", None
        sub = Problems()
        data = {k: v for k, v in spec.items() if k != "relationship"}
        skip_village = default_loc is None and data.get("location_id") is None  # the household's is reported
        values = _clean_individual(session, data, principal, sub, creating=True, default_location=default_loc,
                                   changed=set(INDIVIDUAL_FIELDS) - {"location_id"} if skip_village else None)
        for field, messages in sub.errors.items():
            for message in messages:
                problems.add(f"{prefix}.{field}", message)
        return "new", values

    head_kind, head_value = person(head, "head")
    planned = []
    if members is not None and not isinstance(members, list):
        problems.add("members", _("A list of people."))
        members = []
    for i, spec in enumerate(members or []):
        rel = _relationship(spec.get("relationship") if isinstance(spec, dict) else None, problems,
                            allow_head=False, field=f"members.{i}.relationship")
        kind, value = person(spec, f"members.{i}")
        planned.append((kind, value, rel))
    _no_repeats(head_kind, head_value, planned, problems)
    problems.raise_if_any(_("The household cannot be enrolled."))

    household = Household(location_id=village.id, address=address_value, extra=extra_value, external_id=external,
                          status=PersonStatus.active)
    session.add(household)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("A household with this external id exists."),
                       errors={"external_id": [_("already used")]}) from None
    created: list[Individual] = []
    new_ids: list[int] = []
    for kind, value, rel in [(head_kind, head_value, Relationship.head.value), *planned]:
        if kind == "new":
            created.append(_insert_individual(session, value, household=household, relationship=rel,
                                              check_duplicates=False, audit_it=True))
            new_ids.append(created[-1].id)
        else:
            before = snapshot_individual(value)
            value.household_id, value.relationship = household.id, rel
            session.flush()
            audit.record(session, "join_household", INDIVIDUAL, value.id, before=before,
                         after=snapshot_individual(value))
            created.append(value)
    household.head_id = created[0].id
    session.flush()
    audit.record(session, "create", HOUSEHOLD, household.id, after=snapshot_household(household),
                 details={"members": [p.id for p in created], "personal_changed": _household_personal_set(household)})
    if _dedup_enabled(session):
        from schemehost.tenants.registry.services.duplicates import flag_probable_duplicates

        flag_probable_duplicates(session, new_ids)
    return household


def update_household(session: Session, household_id: int, changes: dict[str, Any], *,
                     principal: Principal | None) -> Household:
    """Change a household's village, address, extra fields or status (``active``/``inactive``).
    Moving the household to another village moves the members who lived in the old one."""
    household = get_household(session, household_id, principal=principal, lock=True)
    problems = Problems()
    for key in sorted(set(changes) - {"location_id", "address", "extra", "status", "external_id"}):
        problems.add(key, _("Unknown field."))
    values: dict[str, Any] = {}
    if "location_id" in changes:
        village = _village(session, changes["location_id"], principal, problems, "location_id")
        values["location_id"] = village.id if village else None
    if "address" in changes:
        values["address"] = _text(changes["address"], problems, "address", 500)
    if "extra" in changes:
        values["extra"] = _extra(session, HOUSEHOLD, changes["extra"] if changes["extra"] is not None else {},
                                 problems)
    if "external_id" in changes:
        values["external_id"] = _text(changes["external_id"], problems, "external_id", 100)
    if "status" in changes:
        if changes["status"] not in (PersonStatus.active, PersonStatus.inactive):
            problems.add("status", _("One of: %(values)s.", values="active, inactive"))
        values["status"] = changes["status"]
    problems.raise_if_any(_("The household cannot be changed."))
    before, old_personal = snapshot_household(household), {"address": household.address, "extra": household.extra}
    old_location = household.location_id
    for key, value in values.items():
        setattr(household, key, value)
    if household.location_id != old_location:
        session.execute(update(Individual).where(Individual.household_id == household.id,
                                                 Individual.location_id == old_location)
                        .values(location_id=household.location_id).execution_options(synchronize_session="fetch"))
    session.flush()
    personal = sorted(k for k in ("address", "extra") if old_personal[k] != getattr(household, k))
    after = snapshot_household(household)
    if before != after or personal:
        audit.record(session, "update", HOUSEHOLD, household.id, before=before, after=after,
                     details={"personal_changed": personal} if personal else None)
    return household


def change_head(session: Session, household_id: int, individual_id: int, *, principal: Principal | None,
                previous_head_relationship: str = Relationship.other_relative.value) -> Household:
    """Make a member the head of the household; the previous head stays a member with
    ``previous_head_relationship``. Other members' relationships are left as they were (they are
    relative to the head: review them)."""
    household = get_household(session, household_id, principal=principal, lock=True)
    problems = Problems()
    rel = _relationship(previous_head_relationship, problems, allow_head=False, field="previous_head_relationship")
    new_head = session.get(Individual, individual_id) if _is_id(individual_id) else None
    if new_head is None or new_head.household_id != household.id:
        problems.add("individual_id", _("The new head must be a member of this household."))
    elif new_head.status != PersonStatus.active:
        problems.add("individual_id", _("The new head must be an active member."))
    problems.raise_if_any(_("The head cannot be changed."))
    before = snapshot_household(household)
    old_head = session.get(Individual, household.head_id) if household.head_id else None
    if old_head is not None and old_head.id != new_head.id:
        old_before = snapshot_individual(old_head)
        old_head.relationship = rel
        session.flush()
        audit.record(session, "update", INDIVIDUAL, old_head.id, before=old_before, after=snapshot_individual(old_head))
    nb = snapshot_individual(new_head)
    new_head.relationship = Relationship.head.value
    household.head_id = new_head.id
    session.flush()
    audit.record(session, "update", INDIVIDUAL, new_head.id, before=nb, after=snapshot_individual(new_head))
    audit.record(session, "change_head", HOUSEHOLD, household.id, before=before, after=snapshot_household(household))
    return household


def move_member(session: Session, individual_id: int, household_id: int | None, *, principal: Principal | None,
                relationship: str | None = None) -> Individual:
    """Move a person into another household (with ``relationship`` to its head), or out of any
    household (``household_id=None``). A head cannot be moved: name another head first."""
    person = get_individual(session, individual_id, principal=principal, lock=True)
    problems = Problems()
    target = None
    if household_id is not None:
        target = _household_or_problem(session, household_id, principal, problems)
        relationship = _relationship(relationship, problems, allow_head=False)
        if target is not None and target.id == person.household_id:
            problems.add("household_id", _("The person is already in this household."))
    if person.household_id is not None:
        current = session.get(Household, person.household_id)
        if current is not None and current.head_id == person.id:
            problems.add("individual_id", _("This person heads their household: name another head first."))
    if person.status == PersonStatus.erased:
        problems.add("individual_id", _("This record was erased."))
    problems.raise_if_any(_("The person cannot be moved."))
    before = snapshot_individual(person)
    person.household_id = target.id if target else None
    person.relationship = relationship if target else None
    session.flush()
    audit.record(session, "move_member", INDIVIDUAL, person.id, before=before, after=snapshot_individual(person))
    return person


# ---- snapshots for the audit log (decision 0105) -----------------------------------------------------


def snapshot_individual(person: Individual) -> dict[str, Any]:
    """What an audit entry keeps of a person: nothing that identifies them."""
    return {"household_id": person.household_id, "relationship": person.relationship, "sex": person.sex,
            "location_id": person.location_id, "status": person.status,
            "birth_date_estimated": person.birth_date_estimated, "external_id": person.external_id,
            "has_national_id": person.national_id is not None, "has_phone": person.phone is not None,
            "has_photo": person.photo is not None}


def snapshot_household(household: Household) -> dict[str, Any]:
    return {"location_id": household.location_id, "head_id": household.head_id, "status": household.status,
            "external_id": household.external_id}


def _personal(person: Individual) -> dict[str, Any]:
    return {k: getattr(person, k) for k in PERSONAL_FIELDS if hasattr(person, k) and k != "photo"}


def _household_personal_set(household: Household) -> list[str]:
    return [k for k in ("address", "extra") if getattr(household, k)]


# ---- cleaning ----------------------------------------------------------------------------------------


def _clean_individual(session: Session, data: dict[str, Any], principal: Principal | None, problems: Problems, *,
                      creating: bool, default_location: int | None = None, changed: set[str] | None = None,
                      current: Individual | None = None) -> dict[str, Any]:
    """The columns to write for ``data`` (all fields when creating), problems added by field."""
    if creating:
        for key in sorted(set(data) - set(INDIVIDUAL_FIELDS) - {"status"}):
            problems.add(key, _("Unknown field."))
    touched = changed if changed is not None else set(INDIVIDUAL_FIELDS)
    country = tenant_country(session)
    out: dict[str, Any] = {}
    for key in ("given_name", "family_name"):
        if key in touched:
            out[key] = _name(data.get(key), problems, key, required=True)
    if "other_names" in touched:
        out["other_names"] = _name(data.get("other_names"), problems, "other_names", required=False)
    if "sex" in touched:
        try:
            out["sex"] = Sex(data.get("sex")).value
        except ValueError:
            problems.add("sex", _("One of: %(values)s.", values=", ".join(e.value for e in Sex)))
    if "birth_date" in touched:
        out["birth_date"] = _birth_date(data.get("birth_date"), problems)
    if "birth_date_estimated" in touched:
        value = data.get("birth_date_estimated", False)
        if value is None:
            value = False
        if not isinstance(value, bool):
            problems.add("birth_date_estimated", _("true or false."))
        out["birth_date_estimated"] = bool(value)
    if "national_id" in touched:
        out["national_id"] = _normalized(normalize_national_id, data.get("national_id"), country, problems,
                                         "national_id")
    if "phone" in touched:
        out["phone"] = _normalized(normalize_phone, data.get("phone"), country, problems, "phone")
    if "location_id" in touched:
        loc = data.get("location_id")
        if loc is None and default_location is not None:
            out["location_id"] = default_location
        else:
            village = _village(session, loc, principal, problems, "location_id")
            out["location_id"] = village.id if village else None
    if "extra" in touched:
        extra = data.get("extra")
        out["extra"] = _extra(session, INDIVIDUAL, extra if extra is not None else {}, problems)
    if "external_id" in touched:
        out["external_id"] = _text(data.get("external_id"), problems, "external_id", 100)
    if "status" in touched and not creating:
        status = data.get("status")
        if status not in SETTABLE_STATUSES and not (current is not None and status == current.status):
            problems.add("status", _("One of: %(values)s.", values=", ".join(s.value for s in SETTABLE_STATUSES)))
        out["status"] = status
    if creating and "status" in data and data["status"] not in (None, PersonStatus.active):
        problems.add("status", _("New records are active."))
    if any(k in out for k in ("given_name", "family_name", "other_names")):
        given = out.get("given_name", current.given_name if current else "")
        family = out.get("family_name", current.family_name if current else "")
        other = out.get("other_names", current.other_names if current else None)
        out["name_search"] = normalize_name(given, family, other)
    return out


def _name(value: Any, problems: Problems, field: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(field, _("A name is needed."))
        return None if not required else ""
    if not isinstance(value, str):
        problems.add(field, _("Text."))
        return ""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if len(name) > NAME_PART:
        problems.add(field, _("At most %(n)d characters.", n=NAME_PART))
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in name):
        problems.add(field, _("Letters, spaces, apostrophes and hyphens only."))
    elif not any(ch.isalpha() for ch in name):
        problems.add(field, _("A name has letters."))
    return name


def _birth_date(value: Any, problems: Problems) -> date | None:
    parsed = None
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        problems.add("birth_date", _("A date such as 2026-01-31.") if value not in (None, "") else
                     _("A birth date is needed (an estimate will do: tick 'estimated')."))
        return None
    if parsed > date.today():
        problems.add("birth_date", _("The birth date cannot be in the future."))
    elif parsed < EARLIEST_BIRTH:
        problems.add("birth_date", _("The birth date cannot be before 1900."))
    return parsed


def _normalized(fn, value: Any, country: str | None, problems: Problems, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        problems.add(field, _("Text."))
        return None
    try:
        return fn(value, country)
    except ValueError as err:
        problems.add(field, str(err))
        return None


def _text(value: Any, problems: Problems, field: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.add(field, _("Text."))
        return None
    value = value.strip()
    if len(value) > limit:
        problems.add(field, _("At most %(n)d characters.", n=limit))
    return value or None


def _extra(session: Session, kind: str, value: Any, problems: Problems) -> dict[str, Any]:
    for path, message in validate_extra(kind, value, extra_schema(session, kind)):
        problems.add(path, message)
    return value if isinstance(value, dict) else {}


def _village(session: Session, location_id: Any, principal: Principal | None, problems: Problems,
             field: str) -> Location | None:
    if location_id is None:
        problems.add(field, _("A village is needed."))
        return None
    loc = None
    if _is_id(location_id):
        stmt = select(Location).where(Location.id == location_id)
        if principal is not None:
            stmt = restrict_to_locations(stmt, principal, Location.id)
        loc = session.execute(stmt).scalar_one_or_none()
    if loc is None:
        problems.add(field, _("Unknown village."))
        return None
    lowest = len(level_names(session)) - 1
    if loc.level != lowest:
        problems.add(field, _("People live in villages (locations of the lowest level), not in a %(level)s.",
                              level=level_names(session)[loc.level] if loc.level < lowest else str(loc.level)))
        return None
    return loc


def _relationship(value: Any, problems: Problems, *, allow_head: bool, field: str = "relationship") -> str | None:
    allowed = [r.value for r in Relationship if allow_head or r != Relationship.head]
    if value not in allowed:
        if value == Relationship.head:
            problems.add(field, _("A household has one head: use 'change head'."))
        else:
            problems.add(field, _("One of: %(values)s.", values=", ".join(allowed)))
        return None
    return value


def _household_or_problem(session: Session, household_id: Any, principal: Principal | None,
                          problems: Problems) -> Household | None:
    try:
        household = get_household(session, household_id, principal=principal)
    except NotFound:
        problems.add("household_id", _("Unknown household."))
        return None
    if household.status != PersonStatus.active:
        problems.add("household_id", _("This household is inactive."))
    return household


def _free_individual(session: Session, individual_id: Any, principal: Principal | None, problems: Problems,
                     field: str) -> Individual | None:
    try:
        person = get_individual(session, individual_id, principal=principal, lock=True)
    except NotFound:
        problems.add(field, _("Unknown individual."))
        return None
    if person.household_id is not None:
        problems.add(field, _("This person is already in a household: move them out first."))
    elif person.status != PersonStatus.active:
        problems.add(field, _("This person's record is not active."))
    return person


def _no_repeats(head_kind: str, head_value: Any, planned: list, problems: Problems) -> None:
    seen: dict[int, str] = {}
    for i, (kind, value) in enumerate([(head_kind, head_value), *[(k, v) for k, v, _r in planned]]):
        field = "head" if i == 0 else f"members.{i - 1}"
        if kind == "existing" and value is not None:
            if value.id in seen:
                problems.add(field, _("This person is already listed."))
            seen[value.id] = field
        if kind == "new" and value.get("national_id"):
            key = -hash(value["national_id"])
            if key in seen:
                problems.add(f"{field}.national_id", _("Two members have the same national identifier."))
            seen[key] = field


def _dedup_enabled(session: Session) -> bool:
    return registry_settings(session).get("deduplication", "flag") != "off"


# ---- writing -----------------------------------------------------------------------------------------


def _insert_individual(session: Session, values: dict[str, Any], *, household: Household | None,
                       relationship: str | None, check_duplicates: bool, audit_it: bool = True) -> Individual:
    if values.get("national_id"):
        _refuse_known_national_id(session, values["national_id"])
    person = Individual(**values, household_id=household.id if household else None,
                        relationship=relationship if household else None,
                        scheme_number=next_scheme_numbers(session, 1)[0], status=PersonStatus.active)
    session.add(person)
    _flush_individual(session, person)
    if audit_it:
        audit.record(session, "create", INDIVIDUAL, person.id, after=snapshot_individual(person),
                     details={"personal_changed": sorted(k for k, v in _personal(person).items() if v)})
    if check_duplicates and _dedup_enabled(session):
        from schemehost.tenants.registry.services.duplicates import flag_probable_duplicates

        flag_probable_duplicates(session, [person.id])
    return person


def individual_url(individual_id: int) -> str | None:
    if has_request_context():
        try:
            return url_for("people_api.IndividualItem", individual_id=individual_id)
        except Exception:  # noqa: BLE001 - the API is not registered (a CLI context)
            return None
    return None


def exact_duplicate(national_id: str, existing_id: int) -> Conflict:
    """The 409 for a national id already registered, pointing at the existing record."""
    return Conflict(_("This national identifier is already registered."),
                    errors={"national_id": [_("already registered (individual %(id)s)", id=existing_id)]},
                    existing_id=existing_id, existing_url=individual_url(existing_id))


def _refuse_known_national_id(session: Session, national_id: str, exclude: int | None = None) -> None:
    stmt = select(Individual.id).where(Individual.national_id == national_id)
    if exclude is not None:
        stmt = stmt.where(Individual.id != exclude)
    existing = session.execute(stmt).scalar()
    if existing is not None:
        raise exact_duplicate(national_id, existing)


def _flush_individual(session: Session, person: Individual) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as err:
        constraint = getattr(getattr(err.orig, "diag", None), "constraint_name", "") or ""
        if constraint == "uq_individuals_national_id":
            existing = session.execute(select(Individual.id).where(
                Individual.national_id == person.national_id, Individual.id != func.coalesce(person.id, 0))).scalar()
            raise exact_duplicate(person.national_id, existing or 0) from None
        if "external_id" in constraint:
            raise Conflict(_("An individual with this external id exists."),
                           errors={"external_id": [_("already used")]}) from None
        raise


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


__all__ = ["UNSET", "INDIVIDUAL_FIELDS", "PERSONAL_FIELDS", "change_head", "create_household", "create_individual",
           "exact_duplicate", "get_household", "get_individual", "members", "move_member", "photo_problem",
           "photo_type", "set_photo", "snapshot_household", "snapshot_individual", "update_household",
           "update_individual", "villages_for"]
