"""Personal data of the registry: consents, subject access, erasure by pseudonymisation, retention.

- **Consents**: an individual gives or withdraws consent per purpose; rows are never changed, the
  latest row of a purpose is the one that holds (:func:`current_consents`).
- **Subject access**: :func:`subject_access` gathers everything held on one person: the record, their
  household (members by id and relationship only, never other people's names), consents, the audit
  entries about them, duplicate flags, plus what each module registered with
  :func:`register_subject_provider` adds.
- **Erasure** (:func:`erase_individual`, :func:`erase_individuals`): identifying values are replaced or
  cleared in place; ids, statuses of financial records and the audit log stay as they are. Modules
  holding copies of personal data register an :func:`register_erasure_handler`.
- **Retention**: the tenant's ``registry.retention`` rule ({"inactive_years": N}) pseudonymises
  inactive and deceased records untouched for N years (:func:`apply_retention`), daily.

The audit log is append-only, so it must never hold identifying values in the first place (decision
0120): entries about people carry field *names* for the fields in :data:`PERSONAL_FIELDS` and values
only for the others; :func:`person_audit` is the one way to write them.
"""

from __future__ import annotations

import base64
import logging
import re
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable

from flask_babel import gettext as _
from sqlalchemy import Integer, Select, Text, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import (Consent, DuplicateFlag, FlagStatus, Household, Individual,
                                                PersonStatus)

log = logging.getLogger("schemehost.registry.privacy")

#: Entity types of audit entries about a person and about a household.
INDIVIDUAL_ENTITY = "individual"
HOUSEHOLD_ENTITY = "household"

#: Fields whose values identify a person: never written into the audit log, cleared or replaced on erasure.
#: The scheme number is one: it is printed on the member's card and quoted on paper forms.
PERSONAL_FIELDS = frozenset({"given_name", "family_name", "other_names", "name_search", "birth_date", "national_id",
                             "phone", "photo", "extra", "address", "evidence", "scheme_number"})

#: What erasure replaces the names with: "Erased #<id>" (given name, family name).
PSEUDONYM_GIVEN = "Erased"
ERASED_SCHEME_NUMBER = "ERASED-{id}"

#: Statuses whose records the retention rule may pseudonymise once untouched long enough.
RETAINED_STATUSES = (PersonStatus.inactive, PersonStatus.deceased)

PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,99}$")
EVIDENCE_MAX = 500

SubjectProvider = Callable[[Session, int], dict[str, Any]]
ErasureHandler = Callable[[Session, list[int]], None]
RetentionHold = Callable[[Session], Select]

_providers: dict[str, SubjectProvider] = {}
_erasure_handlers: dict[str, ErasureHandler] = {}
_holds: dict[str, RetentionHold] = {}


# ---- registries for other modules ------------------------------------------------------------------


def register_subject_provider(name: str, fn: SubjectProvider) -> None:
    """Add ``fn(session, individual_id) -> dict`` to every subject-access export, under ``modules[name]``
    (e.g. the insurance module's policies and claims of the person). Registering a name again replaces it."""
    _providers[name] = fn


def register_erasure_handler(name: str, fn: ErasureHandler) -> None:
    """Call ``fn(session, individual_ids)`` whenever individuals are pseudonymised, in the same
    transaction, so that a module clears its own copies of their personal data (e.g. a mobile-money
    number on a payment instruction). Set-based: one call per erasure or retention run."""
    _erasure_handlers[name] = fn


def register_retention_hold(name: str, fn: RetentionHold) -> None:
    """``fn(session)`` returns a SELECT of individual ids the retention rule must keep for now (e.g. an
    open claim, a policy still paying out); explicit erasure requests are not held."""
    _holds[name] = fn


# ---- audit entries about people ---------------------------------------------------------------------


def audit_values(values: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[str]]:
    """``values`` without its personal fields, and the names of the personal fields it had."""
    if values is None:
        return None, []
    kept = {k: _jsonable(v) for k, v in values.items() if k not in PERSONAL_FIELDS}
    return kept, sorted(k for k in values if k in PERSONAL_FIELDS)


def person_audit(session: Session, action: str, entity_id: int, *, before: dict[str, Any] | None = None,
                 after: dict[str, Any] | None = None, details: dict[str, Any] | None = None,
                 entity_type: str = INDIVIDUAL_ENTITY, actor: tuple[str, str | None, str | None] | None = None) -> None:
    """Audit a change to a person (or household) without identifying values: ``before``/``after`` keep
    the non-personal fields (status, sex, location, household, relationship...), and
    ``details["personal_changed"]`` names the personal fields that were set or changed (as the people
    services write it, decision 0105)."""
    before_kept, before_personal = audit_values(before)
    after_kept, after_personal = audit_values(after)
    if before is not None and after is not None:
        personal = sorted(k for k in set(before_personal) | set(after_personal)
                          if _jsonable(before.get(k)) != _jsonable(after.get(k)))
    else:
        personal = sorted(set(before_personal) | set(after_personal))
    extra = dict(details or {})
    if personal:
        extra["personal_changed"] = personal
    audit.record(session, action, entity_type, entity_id, before=before_kept, after=after_kept,
                 details=extra or None, actor=actor)


# ---- lookups -------------------------------------------------------------------------------------------


def get_individual(session: Session, individual_id: int, *, principal: Any = None) -> Individual:
    """The individual, within ``principal``'s locations when it is restricted; 404 otherwise (another
    tenant's ids are unknown here, and so are people outside a restricted user's locations)."""
    from schemehost.tenants.identity.scoping import restrict_to_locations

    stmt = select(Individual).where(Individual.id == individual_id)
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, Individual.location_id)
    person = session.execute(stmt).scalar_one_or_none()
    if person is None:
        raise NotFound(_("No individual %(id)s.", id=individual_id), errors={"id": [_("unknown individual")]})
    return person


def display_name(person: Individual) -> str:
    return " ".join(p for p in (person.given_name, person.other_names, person.family_name) if p)


# ---- consents ------------------------------------------------------------------------------------------


def record_consent(session: Session, individual_id: int, *, purpose: str, given: bool, evidence: str | None = None,
                   recorded_by: str | None = None, principal: Any = None) -> Consent:
    """Record that the individual gave (``given``) or withdrew consent for ``purpose``; the latest
    record of a purpose holds. ``evidence`` says where the proof is (a form number, not a copy)."""
    person = get_individual(session, individual_id, principal=principal)
    errors: dict[str, list[str]] = {}
    purpose = (purpose or "").strip().lower()
    if not PURPOSE_RE.match(purpose):
        errors["purpose"] = [_("A purpose code: a letter, then letters, digits, '.', '_' or '-' (at most 100).")]
    if not isinstance(given, bool):
        errors["given"] = [_("true when consent is given, false when it is withdrawn")]
    evidence = evidence.strip() if isinstance(evidence, str) and evidence.strip() else None
    if evidence is not None and len(evidence) > EVIDENCE_MAX:
        errors["evidence"] = [_("At most %(n)d characters.", n=EVIDENCE_MAX)]
    if errors:
        raise ValidationError(_("The consent cannot be recorded."), errors=errors)
    if person.status == PersonStatus.erased:
        raise Conflict(_("This record was erased; no consent can be recorded for it."),
                       errors={"id": [_("erased record")]})
    if recorded_by is None and principal is not None:
        recorded_by = principal.name
    consent = Consent(individual_id=person.id, purpose=purpose, given=given, evidence=evidence,
                      recorded_by=recorded_by)
    session.add(consent)
    session.flush()
    person_audit(session, "consent.give" if given else "consent.withdraw", person.id,
                 after={"purpose": purpose, "given": given, "evidence": evidence},
                 details={"consent_id": consent.id})
    return consent


def list_consents(session: Session, individual_id: int) -> list[Consent]:
    """Every consent record of the individual, newest first."""
    return list(session.execute(
        select(Consent).where(Consent.individual_id == individual_id)
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())).scalars())


def current_consents(session: Session, individual_id: int) -> dict[str, Consent]:
    """The record that holds for each purpose (the latest), by purpose."""
    rows = session.execute(
        select(Consent).where(Consent.individual_id == individual_id)
        .ext(distinct_on(Consent.purpose))
        .order_by(Consent.purpose, Consent.recorded_at.desc(), Consent.id.desc())).scalars()
    return {c.purpose: c for c in rows}


def has_consent(session: Session, individual_id: int, purpose: str) -> bool:
    """Whether the latest record for ``purpose`` gives consent (no record: no consent)."""
    consent = current_consents(session, individual_id).get(purpose)
    return consent is not None and consent.given


def consent_dict(c: Consent) -> dict[str, Any]:
    return {"id": c.id, "purpose": c.purpose, "given": c.given, "recorded_at": _jsonable(c.recorded_at),
            "recorded_by": c.recorded_by, "evidence": c.evidence}


# ---- subject access ------------------------------------------------------------------------------------

_INDIVIDUAL_FIELDS = ("id", "scheme_number", "external_id", "given_name", "family_name", "other_names", "sex",
                      "birth_date", "birth_date_estimated", "national_id", "phone", "household_id", "relationship",
                      "location_id", "status", "extra", "erased_at", "created_at", "updated_at")


def subject_access(session: Session, individual_id: int, *, principal: Any = None) -> dict[str, Any]:
    """Everything held on one person, as JSON-ready data. Other members of the household appear by id
    and relationship only: their own data is theirs."""
    person = get_individual(session, individual_id, principal=principal)
    data: dict[str, Any] = {
        "generated_at": _jsonable(datetime.now(timezone.utc)),
        "individual": {k: _jsonable(getattr(person, k)) for k in _INDIVIDUAL_FIELDS},
    }
    data["individual"]["photo"] = (base64.b64encode(person.photo).decode() if person.photo else None)
    data["location"] = _location(session, person.location_id)
    data["household"] = _household(session, person)
    data["consents"] = [consent_dict(c) for c in list_consents(session, person.id)]
    data["audit"] = [_audit_dict(e) for e in session.execute(
        select(AuditEntry).where(AuditEntry.entity_type == INDIVIDUAL_ENTITY,
                                 AuditEntry.entity_id == str(person.id))
        .order_by(AuditEntry.id)).scalars()]
    flags = session.execute(
        select(DuplicateFlag).where(or_(DuplicateFlag.individual_id == person.id,
                                        DuplicateFlag.candidate_id == person.id))
        .order_by(DuplicateFlag.id)).scalars()
    data["duplicate_flags"] = [{
        "id": f.id, "other_individual_id": f.candidate_id if f.individual_id == person.id else f.individual_id,
        "score": f.score, "status": f.status, "reasons": f.reasons, "created_at": _jsonable(f.created_at),
        "decided_at": _jsonable(f.decided_at)} for f in flags]
    data["modules"] = {name: _jsonable(fn(session, person.id)) for name, fn in sorted(_providers.items())}
    return data


def _location(session: Session, location_id: int) -> dict[str, Any] | None:
    loc = session.get(Location, location_id)
    return None if loc is None else {"id": loc.id, "code": loc.code, "name": loc.name, "level": loc.level}


def _household(session: Session, person: Individual) -> dict[str, Any] | None:
    if person.household_id is None:
        return None
    hh = session.get(Household, person.household_id)
    members = session.execute(
        select(Individual.id, Individual.relationship).where(Individual.household_id == hh.id)
        .order_by(Individual.id)).all()
    return {
        "id": hh.id, "external_id": hh.external_id, "head_id": hh.head_id, "location_id": hh.location_id,
        "address": hh.address, "status": hh.status, "extra": hh.extra,
        "subject_is_head": hh.head_id == person.id,
        "subject_relationship_to_head": person.relationship,
        "members": [{"id": m.id, "relationship_to_head": m.relationship, "is_subject": m.id == person.id}
                    for m in members],
    }


def _audit_dict(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "at": _jsonable(e.at), "actor_type": e.actor_type, "actor_name": e.actor_name,
            "action": e.action, "before": e.before, "after": e.after, "details": e.details}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


# ---- erasure -------------------------------------------------------------------------------------------

#: Fields erasure clears or replaces (listed in its audit entry).
ERASED_FIELDS = ("given_name", "family_name", "other_names", "name_search", "birth_date", "national_id", "phone",
                 "photo", "extra", "scheme_number")


def erase_individual(session: Session, individual_id: int, *, reason: str = "request", principal: Any = None,
                     confirm: int | None = None) -> Individual:
    """Pseudonymise one individual on request (idempotent: an erased record is returned unchanged and
    no second audit entry is written). ``confirm`` must repeat the id when given (console and API)."""
    person = get_individual(session, individual_id, principal=principal)
    if confirm is not None and confirm != person.id:
        raise ValidationError(_("Type the record's number to confirm the erasure."),
                              errors={"confirm": [_("does not match the record's number %(id)s", id=person.id)]})
    if person.status == PersonStatus.erased:
        return person
    before = person.status
    erased = erase_individuals(session, select(literal(person.id)))
    if erased:
        person_audit(session, "erase", person.id, before={"status": before},
                     after={"status": PersonStatus.erased}, details={"reason": reason, "cleared": list(ERASED_FIELDS)})
        log.info("individual %s erased (%s)", person.id, reason)
    session.refresh(person)
    return person


def erase_individuals(session: Session, ids: Select) -> list[int]:
    """Pseudonymise, set-wise, the individuals whose ids ``ids`` selects and that are not erased yet;
    returns their ids. Writes no audit entry (callers write one: per request, or one per run)."""
    ind = Individual.__table__
    year = func.extract("year", ind.c.birth_date).cast(Integer)
    erased = [row.id for row in session.execute(
        update(ind).where(ind.c.id.in_(ids), ind.c.status != PersonStatus.erased)
        .values(given_name=PSEUDONYM_GIVEN, family_name=literal("#") + ind.c.id.cast(Text()),
                other_names=None,
                name_search=literal(PSEUDONYM_GIVEN.lower() + " #") + ind.c.id.cast(Text()),
                # decision 0121: the birth year is kept (age bands, product rules), as 1 July, estimated
                birth_date=func.make_date(year, 7, 1), birth_date_estimated=True,
                # external_id stays: a key of the previous system, not of the person, that lets a
                # re-import recognise the erased record instead of creating the person again
                national_id=None, phone=None, photo=None, extra={},
                scheme_number=literal("ERASED-") + ind.c.id.cast(Text()),
                status=PersonStatus.erased, erased_at=func.now(), updated_at=func.now())
        .returning(ind.c.id))]
    if not erased:
        return []
    # consents stay (they show the lawful basis held at the time); their free-text evidence goes
    session.execute(update(Consent.__table__).where(any_of(Consent.__table__.c.individual_id, erased))
                    .values(evidence=None))
    # an open probable-duplicate flag about an erased record can no longer be decided by comparing people
    flags = DuplicateFlag.__table__
    session.execute(update(flags).where(flags.c.status == FlagStatus.open,
                                        or_(any_of(flags.c.individual_id, erased),
                                            any_of(flags.c.candidate_id, erased)))
                    .values(status=FlagStatus.dismissed, decided_by="erasure", decided_at=func.now()))
    # a household whose members are all erased keeps its id and links, not its address or extra fields
    hh = Household.__table__
    members = ind.alias("m")
    session.execute(
        update(hh).where(
            hh.c.id.in_(select(ind.c.household_id).where(any_of(ind.c.id, erased), ind.c.household_id.is_not(None))),
            ~select(members.c.id).where(members.c.household_id == hh.c.id,
                                        members.c.status != PersonStatus.erased).exists())
        .values(address=None, extra={}, status="inactive", updated_at=func.now()))
    # the kept import files naming them go, and their rows' values in import reports (decision 0137)
    from schemehost.tenants.registry.imports.services import forget_people

    forget_people(session, erased)
    for name, handler in sorted(_erasure_handlers.items()):
        handler(session, erased)
    session.flush()
    session.expire_all()
    return erased


# ---- retention -----------------------------------------------------------------------------------------

REGISTRY_SETTING = "registry"
RETENTION_KEY = "retention"


def retention_rule(session: Session) -> dict[str, Any] | None:
    """The tenant's retention rule, e.g. {"inactive_years": 10}, or None when it keeps records."""
    setting = session.get(Setting, REGISTRY_SETTING)
    value = (setting.value or {}) if setting is not None else {}
    rule = value.get(RETENTION_KEY) if isinstance(value, dict) else None
    return rule if isinstance(rule, dict) and rule.get("inactive_years") else None


def set_retention(session: Session, *, inactive_years: int | None) -> dict[str, Any] | None:
    """Set (or, with None, remove) the retention rule inside the ``registry`` setting; audited."""
    if inactive_years is not None and (isinstance(inactive_years, bool) or not isinstance(inactive_years, int)
                                       or not 1 <= inactive_years <= 100):
        raise ValidationError(_("The retention rule is not valid."),
                              errors={"inactive_years": [_("A whole number of years from 1 to 100.")]})
    previous = session.execute(select(Setting.value).where(Setting.key == REGISTRY_SETTING).with_for_update()).first()
    value = dict(previous.value) if previous is not None and isinstance(previous.value, dict) else {}
    old = value.get(RETENTION_KEY)
    if inactive_years is None:
        value.pop(RETENTION_KEY, None)
    else:
        value[RETENTION_KEY] = {"inactive_years": inactive_years}
    new = value.get(RETENTION_KEY)
    if old != new:
        session.execute(pg_insert(Setting).values(key=REGISTRY_SETTING, value=value)
                        .on_conflict_do_update(index_elements=["key"], set_={"value": value}))
        audit.record(session, "update", "setting", f"{REGISTRY_SETTING}.{RETENTION_KEY}",
                     before={"value": old}, after={"value": new})
        session.flush()
        session.expire_all()
    return new


def retention_candidates(session: Session, *, years: int, now: datetime | None = None) -> Select:
    """SELECT of the ids the rule pseudonymises: inactive or deceased, untouched for ``years``, not held."""
    ind = Individual.__table__
    cutoff = _years_before(now or datetime.now(timezone.utc), years)
    stmt = select(ind.c.id).where(ind.c.status.in_(list(RETAINED_STATUSES)), ind.c.updated_at < cutoff)
    for name, hold in sorted(_holds.items()):
        stmt = stmt.where(ind.c.id.not_in(hold(session)))
    return stmt


def apply_retention(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """Apply the tenant's retention rules once: drop the import files and reports older than the
    import period (decision 0137), and pseudonymise what the records' rule covers, with one audit
    entry for each (when it did anything). Returns {"rule": ..., "erased": n, "imports_purged": n}."""
    from schemehost.tenants.registry.imports.services import purge_old_imports

    purged = purge_old_imports(session, now=now)
    rule = retention_rule(session)
    if rule is None:
        return {"rule": None, "erased": 0, "imports_purged": purged}
    now = now or datetime.now(timezone.utc)
    years = int(rule["inactive_years"])
    erased = erase_individuals(session, retention_candidates(session, years=years, now=now))
    if erased:
        audit.record_bulk(session, "retention.erase", INDIVIDUAL_ENTITY, counts={"erased": len(erased)},
                          input_ref={"rule": rule, "cutoff": _years_before(now, years).isoformat()},
                          actor=("system", "retention", None))
        log.info("retention rule erased %s record(s)", len(erased))
    return {"rule": rule, "erased": len(erased), "imports_purged": purged}


def _years_before(now: datetime, years: int) -> datetime:
    try:
        return now.replace(year=now.year - years)
    except ValueError:  # 29 February
        return now.replace(year=now.year - years, day=28)


def apply_retention_everywhere() -> dict[str, int]:
    """The daily task: apply each active tenant's rule, one tenant per transaction (needs an app
    context). Returns {slug: erased} for the tenants where something was erased."""
    from schemehost.platform.extensions import db
    from schemehost.platform.tenants.models import Tenant, TenantStatus
    from schemehost.tenants.identity.support import open_tenant_session_for

    done: dict[str, int] = {}
    tenants = list(db.session.execute(
        select(Tenant).where(Tenant.status == TenantStatus.active, Tenant.role_name.is_not(None))
        .order_by(Tenant.id)).scalars())
    for tenant in tenants:
        tsession = open_tenant_session_for(db.session, tenant)
        try:
            result = apply_retention(tsession)
            tsession.commit()
        except Exception:  # one tenant's failure (e.g. an old schema) must not stop the others
            tsession.rollback()
            log.exception("retention failed for tenant %s", tenant.id)
            continue
        finally:
            tsession.close()
        if result["erased"]:
            done[tenant.slug] = result["erased"]
    db.session.rollback()
    return done


_retention_task = None


def _register_retention_task() -> None:
    """Every day at 02:30 UTC the job worker applies the retention rules."""
    global _retention_task
    from schemehost.platform.jobs.app import QUEUE, periodic_tasks

    if _retention_task is not None:
        return

    @periodic_tasks.periodic(cron="30 2 * * *", periodic_id="registry-retention")
    @periodic_tasks.task(name="registry_retention", queue=QUEUE, lock="registry-retention",
                         queueing_lock="registry-retention", pass_context=True)
    def retention_task(context, timestamp: int) -> int:
        flask_app = context.additional_context["flask_app"]
        with flask_app.app_context():
            return sum(apply_retention_everywhere().values())

    _retention_task = retention_task


def init_app(app) -> None:
    from schemehost.tenants.registry import privacy_api, privacy_views

    _register_retention_task()
    privacy_api.init_app(app)
    privacy_views.init_app(app)
