"""Bulk work on a programme's beneficiaries, run as durable jobs with progress (decision 0407):
enrolling everyone eligible, and moving the beneficiaries a filter selects from one status to another
(e.g. validating every ``potential`` beneficiary of a district). Both are set-wise: the target ids go
to a temporary table numbered 1..n in one ``INSERT ... SELECT``, then are written in slices of
:data:`BULK_SLICE` rows, the job's progress moving after each slice; the job commits at the end (all or
nothing). One audit entry per job with the reason, the filter and the counts (never a row per person).

A filter is ``{"status", "location_id", "payment_point_id"}`` (each optional): beneficiaries of that
status, living within that location's subtree (the person's, or the household's, location), assigned
to that payment point (``0``: to none). A location-restricted principal only reaches beneficiaries
within its locations, whatever the filter says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (BigInteger, Column, Integer, MetaData, Select, Table, func, insert, literal, select,
                        update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from schemehost.platform.db import utcnow
from schemehost.platform.errors import Conflict, ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import Household, Individual
from schemehost.tenants.transfers import services as tr
from schemehost.tenants.transfers.models import (Beneficiary, BeneficiaryStatus, PaymentPoint, ProgrammeStatus,
                                                 Target)

JOB_ENROL = "transfers.enrol_bulk"
JOB_STATUS = "transfers.status_bulk"
JOB_KINDS = (JOB_ENROL, JOB_STATUS)
#: beneficiaries written per statement; the job reports its progress after each
BULK_SLICE = 10_000
FILTER_KEYS = ("status", "location_id", "payment_point_id")

_temp = MetaData()
TARGETS = Table("transfers_bulk_targets", _temp, Column("rn", Integer, primary_key=True),
                Column("target_id", BigInteger), prefixes=["TEMPORARY"], postgresql_on_commit="DROP")

Progress = Callable[[int, "int | None"], None]
Actor = tuple[str, "str | None", "str | None"]


def _no_progress(done: int, total: int | None = None) -> None:
    return None


def _fill_targets(session: Session, ids: Select) -> int:
    """Number the ids of ``ids`` (one column) 1..n in the temporary table; n."""
    TARGETS.create(session.connection())
    sub = ids.subquery("ids")
    first = list(sub.c)[0]
    session.execute(insert(TARGETS).from_select(["rn", "target_id"],
                                                select(func.row_number().over(order_by=first), first)))
    return session.execute(select(func.count()).select_from(TARGETS)).scalar_one()


def _drop_targets(session: Session) -> None:
    TARGETS.drop(session.connection())


# ---- enrolment -------------------------------------------------------------------------------------


def enrol_bulk(session: Session, programme_id: int, *, reason: str, principal: Principal | None = None,
               progress: Progress | None = None, actor: Actor | None = None,
               job_id: int | None = None) -> dict[str, int]:
    """Enrol as ``potential`` everyone the programme's rule selects who is not enrolled yet, up to
    ``max_beneficiaries``, in slices (the same people, and so the same count, as the live preview and
    :func:`~schemehost.tenants.transfers.services.enrol_eligible`). One audit entry with the reason."""
    report = progress or _no_progress
    if not (reason or "").strip():
        raise ValidationError(_("Say why."), errors={"reason": [_("required")]})
    programme = tr.get_programme(session, programme_id, lock=True)
    if programme.status == ProgrammeStatus.closed:
        raise Conflict(_("A closed programme enrols nobody."))
    el.use_counting_settings(session)
    eligible = el.compile_filter(session, programme.eligibility, target=programme.target,
                                 principal=principal).subquery("eligible")
    column = Beneficiary.individual_id if programme.target == Target.individuals else Beneficiary.household_id
    enrolled = select(column).where(Beneficiary.programme_id == programme.id, column.is_not(None))
    n = _fill_targets(session, select(eligible.c.id).where(eligible.c.id.not_in(enrolled)))
    already = session.execute(select(func.count()).select_from(eligible)
                              .where(eligible.c.id.in_(enrolled))).scalar_one()
    room = None
    todo = n
    if programme.max_beneficiaries is not None:
        current = session.execute(select(func.count()).select_from(Beneficiary)
                                  .where(Beneficiary.programme_id == programme.id)).scalar_one()
        room = max(programme.max_beneficiaries - current, 0)
        todo = min(n, room)
    report(0, todo)
    added = 0
    table = Beneficiary.__table__
    for low in range(0, todo, BULK_SLICE):
        high = min(low + BULK_SLICE, todo)
        rows = (select(literal(programme.id), TARGETS.c.target_id, literal(BeneficiaryStatus.potential.value),
                       func.now()).where(TARGETS.c.rn > low, TARGETS.c.rn <= high))
        inserted = (pg_insert(table).from_select(["programme_id", column.key, "status", "enrolled_at"], rows)
                    .on_conflict_do_nothing().returning(table.c.id).cte("inserted"))
        added += session.execute(select(func.count()).select_from(inserted)).scalar_one()
        report(high, todo)
    _drop_targets(session)
    counts = {"eligible": n + already, "enrolled": added}
    if room is not None:
        counts["room_left"] = room - added
    audit.record_bulk(session, "transfers.enrolment", "transfer_programme", counts=counts, actor=actor,
                      input_ref={"programme": programme.code, "eligibility": programme.eligibility, "job": job_id},
                      details={"reason": reason.strip()[:500]})
    return counts


# ---- filters over beneficiaries -----------------------------------------------------------------------


def beneficiary_location():
    """The location of a beneficiary: its individual's, or its household's (needs both joins)."""
    return func.coalesce(Individual.location_id, Household.location_id)


def with_people(stmt: Select) -> Select:
    """``stmt`` (selecting from beneficiaries) joined to their individual or household."""
    return (stmt.outerjoin(Individual, Individual.id == Beneficiary.individual_id)
            .outerjoin(Household, Household.id == Beneficiary.household_id))


def check_filter(session: Session, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The filter with its keys checked (422 with field errors): status, location_id, payment_point_id."""
    spec = {k: v for k, v in (spec or {}).items() if k in FILTER_KEYS and v not in (None, "")}
    errors: dict[str, list[str]] = {}
    if "status" in spec and spec["status"] not in BeneficiaryStatus.__members__:
        errors["filter.status"] = [_("must be one of: %(values)s", values=", ".join(BeneficiaryStatus))]
    for key, model in (("location_id", Location), ("payment_point_id", PaymentPoint)):
        if key not in spec:
            continue
        value = spec[key]
        if not isinstance(value, int) or isinstance(value, bool):
            errors[f"filter.{key}"] = [_("unknown")]
        elif not (key == "payment_point_id" and value == 0) and session.get(model, value) is None:
            errors[f"filter.{key}"] = [_("unknown")]
    if errors:
        raise ValidationError(_("The filter is not valid."), errors=errors)
    return spec


def matching(programme_id: int, spec: dict[str, Any], principal: Principal | None) -> Select:
    """ONE SELECT of the ids of the programme's beneficiaries the (checked) filter selects, within the
    principal's locations."""
    stmt = with_people(select(Beneficiary.id).select_from(Beneficiary)).where(Beneficiary.programme_id == programme_id)
    if "status" in spec:
        stmt = stmt.where(Beneficiary.status == spec["status"])
    if "location_id" in spec:
        stmt = stmt.where(beneficiary_location().in_(
            select(Location.id).where(Location.path.contains([spec["location_id"]]))))
    if spec.get("payment_point_id") == 0:
        stmt = stmt.where(Beneficiary.payment_point_id.is_(None))
    elif "payment_point_id" in spec:
        stmt = stmt.where(Beneficiary.payment_point_id == spec["payment_point_id"])
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, beneficiary_location())
    return stmt


def count_matching(session: Session, programme_id: int, spec: dict[str, Any] | None,
                   principal: Principal | None) -> int:
    """How many beneficiaries the filter selects now (what a bulk change will reach)."""
    tr.get_programme(session, programme_id)
    spec = check_filter(session, spec)
    return session.execute(select(func.count()).select_from(matching(programme_id, spec, principal)
                                                            .subquery())).scalar_one()


def check_status_change(session: Session, to: str, reason: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The checked filter of a bulk status change, or 422 with field errors: ``filter.status`` is
    required and must be allowed to become ``to``; a reason is required."""
    spec = check_filter(session, spec)
    errors: dict[str, list[str]] = {}
    if to not in tr.TRANSITIONS:
        errors["status"] = [_("must be one of: %(values)s", values=", ".join(tr.TRANSITIONS))]
    elif "status" not in spec:
        errors["filter.status"] = [_("required")]
    elif spec["status"] not in tr.TRANSITIONS[to]:
        errors["filter.status"] = [_("a %(status)s beneficiary cannot become %(to)s", status=spec["status"], to=to)]
    if not (reason or "").strip():
        errors["reason"] = [_("required")]
    if errors:
        raise ValidationError(_("These beneficiaries cannot change status."), errors=errors)
    return spec


def change_status_bulk(session: Session, programme_id: int, *, to: str, reason: str,
                       spec: dict[str, Any] | None = None, principal: Principal | None = None,
                       progress: Progress | None = None, actor: Actor | None = None,
                       job_id: int | None = None) -> dict[str, int]:
    """Move every beneficiary the filter selects to ``to``, in slices. The filter's ``status`` is
    required and must be allowed to become ``to`` (``potential → active`` is validation). One audit
    entry with the reason, the filter and the count."""
    report = progress or _no_progress
    tr.get_programme(session, programme_id)
    spec = check_status_change(session, to, reason, spec)
    n = _fill_targets(session, matching(programme_id, spec, principal).order_by(None))
    report(0, n)
    changed, now, why = 0, utcnow(), reason.strip()[:500]
    for low in range(0, n, BULK_SLICE):
        high = min(low + BULK_SLICE, n)
        changed += session.execute(
            update(Beneficiary).where(Beneficiary.id == TARGETS.c.target_id, TARGETS.c.rn > low,
                                      TARGETS.c.rn <= high, Beneficiary.status == spec["status"])
            .values(status=to, status_reason=why, status_changed_at=now)).rowcount
        report(high, n)
    _drop_targets(session)
    counts = {"matched": n, "changed": changed}
    audit.record_bulk(session, "transfers.beneficiaries.status", "transfer_programme", counts=counts, actor=actor,
                      input_ref={"programme": programme_id, "filter": spec, "job": job_id},
                      details={"reason": why, "from": spec["status"], "to": to})
    return counts


def assign_point_bulk(session: Session, programme_id: int, point_id: int | None, *,
                      spec: dict[str, Any] | None = None, principal: Principal | None = None) -> int:
    """Assign every beneficiary the filter selects to a payment point (None: to none), in one
    statement; one audit entry with the filter and the count."""
    tr.get_programme(session, programme_id)
    spec = check_filter(session, spec)
    if point_id is not None:
        point = session.get(PaymentPoint, point_id)
        if point is None or not point.active:
            raise ValidationError(_("No active payment point %(id)s.", id=point_id),
                                  errors={"payment_point_id": [_("unknown or inactive")]})
    ids = matching(programme_id, spec, principal).subquery()
    result = session.execute(update(Beneficiary).where(Beneficiary.id.in_(select(ids.c.id)))
                             .values(payment_point_id=point_id))
    audit.record(session, "transfers.beneficiaries.payment_point", "transfer_programme", programme_id,
                 details={"payment_point": point_id, "filter": spec, "count": result.rowcount})
    return result.rowcount


# ---- jobs -----------------------------------------------------------------------------------------


def principal_params(principal: Principal | None) -> dict[str, Any] | None:
    """What a job needs of the principal that started it: who it is and its location restriction."""
    if principal is None:
        return None
    return {"kind": principal.kind, "id": principal.id, "name": principal.name,
            "location_ids": sorted(principal.location_ids)}


def principal_from(params: dict[str, Any] | None, tenant_id: int) -> Principal | None:
    if not params:
        return None
    return Principal(kind=params["kind"], id=params["id"], name=params["name"], tenant_id=tenant_id,
                     permissions=frozenset(), location_ids=frozenset(params.get("location_ids") or ()))


__all__ = ["JOB_ENROL", "JOB_STATUS", "JOB_KINDS", "BULK_SLICE", "enrol_bulk", "check_filter", "matching",
           "count_matching", "check_status_change", "change_status_bulk", "assign_point_bulk", "principal_params", "principal_from"]
