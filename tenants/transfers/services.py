"""Cash transfers: programmes, enrolment, payment points, payment cycles and payrolls.

Functions take the tenant session first and only ``flush()``. Bulk work is set-wise SQL: enrolment is
one ``INSERT ... SELECT`` over the registry's compiled eligibility filter (the one implementation in
``tenants/registry/eligibility.py``), a payroll is one ``INSERT ... SELECT`` over the active
beneficiaries with the benefit formula computed in SQL. The two rules that end such schemes are
held by the database and by single guarded statements: a beneficiary is in at most one payroll of a
cycle (``UNIQUE (cycle_id, beneficiary_id)``), and a payroll is paid once (``UPDATE ... WHERE status =
'approved'``: the second click or worker finds nothing to update).
"""

from __future__ import annotations

import calendar
import csv
import io
import re
from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, case, column, delete, exists, func, literal, or_, select, table, update
from sqlalchemy import text as sa_text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of, utcnow
from schemehost.platform.errors import Conflict, Forbidden, NotFound, ValidationError
from schemehost.platform.money import from_minor, is_currency
from schemehost.platform.tenancy import quote_ident
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import Household, Individual, PersonStatus
from schemehost.tenants.transfers.models import (BenefitKind, Beneficiary, BeneficiaryStatus, CycleStatus, Frequency,
                                                 LineStatus, PaymentCycle, PaymentPoint, PaymentPointKind, Payroll,
                                                 PayrollLine, PayrollStatus, Programme, ProgrammeStatus, Target)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
PAYOUT_KIND = "transfers.payroll_line"
#: status changes allowed, to -> from
TRANSITIONS: dict[str, tuple[str, ...]] = {
    BeneficiaryStatus.active: (BeneficiaryStatus.potential, BeneficiaryStatus.suspended),
    BeneficiaryStatus.suspended: (BeneficiaryStatus.active,),
    BeneficiaryStatus.graduated: (BeneficiaryStatus.active, BeneficiaryStatus.suspended),
}
MONTHS = {Frequency.monthly: 1, Frequency.bimonthly: 2, Frequency.quarterly: 3}


def _actor_key(principal: Principal | None) -> tuple[str, str | None]:
    if principal is None:
        return "system:-", None
    return f"{principal.kind}:{principal.id}", principal.name


# ---- programmes ------------------------------------------------------------------------------------

PROGRAMME_FIELDS = ("code", "name", "target", "eligibility", "benefit_kind", "base_amount", "per_child_amount",
                    "child_max_age", "max_children", "cap_amount", "currency", "frequency", "budget_ceiling",
                    "max_beneficiaries", "district_level", "status")


def _check_programme(session: Session, values: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not CODE_RE.match(str(values.get("code") or "")):
        errors["code"] = [_("1-40 letters, digits, '-' or '_'.")]
    if not str(values.get("name") or "").strip() or len(values["name"]) > 200:
        errors["name"] = [_("1-200 characters.")]
    if values.get("target") not in Target.__members__:
        errors["target"] = [_("must be one of: %(values)s", values=", ".join(Target))]
    if values.get("benefit_kind") not in BenefitKind.__members__:
        errors["benefit_kind"] = [_("must be one of: %(values)s", values=", ".join(BenefitKind))]
    if values.get("frequency") not in Frequency.__members__:
        errors["frequency"] = [_("must be one of: %(values)s", values=", ".join(Frequency))]
    if values.get("status") not in ProgrammeStatus.__members__:
        errors["status"] = [_("must be one of: %(values)s", values=", ".join(ProgrammeStatus))]
    if not is_currency(values.get("currency")):
        errors["currency"] = [_("An ISO 4217 currency code.")]
    for key in ("base_amount", "per_child_amount"):
        value = values.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            errors[key] = [_("An amount of 0 or more, in minor units.")]
    for key in ("cap_amount", "budget_ceiling", "max_beneficiaries", "max_children"):
        value = values.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            errors[key] = [_("Empty, or a whole number above 0.")]
    age = values.get("child_max_age")
    if not isinstance(age, int) or not 1 <= age <= 25:
        errors["child_max_age"] = [_("A whole number from %(low)d to %(high)d.", low=1, high=25)]
    level = values.get("district_level")
    if not isinstance(level, int) or level < 0 or level > 10:
        errors["district_level"] = [_("A location level (0 = top).")]
    if values.get("target") in Target.__members__:
        for path, messages in el.validate_filter(session, values.get("eligibility") or {},
                                                 target=values["target"]).items():
            errors[f"eligibility.{path}" if path != "filter" else "eligibility"] = messages
    return errors


def create_programme(session: Session, **values: Any) -> Programme:
    """A new programme (``draft`` unless told): 422 with field errors, 409 for a taken code."""
    values = {"benefit_kind": BenefitKind.fixed, "per_child_amount": 0, "child_max_age": 18, "frequency":
              Frequency.monthly, "district_level": 1, "status": ProgrammeStatus.draft, "eligibility": {"all": []},
              **{k: v for k, v in values.items() if v is not None or k in ("cap_amount", "budget_ceiling")}}
    errors = _check_programme(session, values)
    if not errors and session.execute(select(Programme.id).where(Programme.code == values["code"])).first():
        raise Conflict(_("A programme with code '%(code)s' exists.", code=values["code"]),
                       errors={"code": [_("already taken")]})
    if errors:
        raise ValidationError(_("The programme is not valid."), errors=errors)
    programme = Programme(**{k: values.get(k) for k in PROGRAMME_FIELDS})
    session.add(programme)
    session.flush()
    audit.record(session, "transfers.programme.created", "transfer_programme", programme.id,
                 after=programme_view(programme))
    return programme


def update_programme(session: Session, programme_id: int, **changes: Any) -> Programme:
    programme = get_programme(session, programme_id, lock=True)
    before = programme_view(programme)
    values = {**before, **changes}
    errors = _check_programme(session, values)
    if not errors and values["code"] != programme.code and session.execute(
            select(Programme.id).where(Programme.code == values["code"])).first():
        raise Conflict(_("A programme with code '%(code)s' exists.", code=values["code"]),
                       errors={"code": [_("already taken")]})
    if errors:
        raise ValidationError(_("The programme is not valid."), errors=errors)
    if values["target"] != programme.target and session.execute(
            select(Beneficiary.id).where(Beneficiary.programme_id == programme.id)).first():
        raise ValidationError(_("The target of a programme with beneficiaries cannot change."),
                              errors={"target": [_("beneficiaries are enrolled")]})
    for key in PROGRAMME_FIELDS:
        setattr(programme, key, values[key])
    session.flush()
    audit.record(session, "transfers.programme.updated", "transfer_programme", programme.id, before=before,
                 after=programme_view(programme))
    return programme


def programme_view(p: Programme) -> dict[str, Any]:
    return {k: getattr(p, k) for k in PROGRAMME_FIELDS}


def get_programme(session: Session, programme_id: int, *, lock: bool = False) -> Programme:
    query = select(Programme).where(Programme.id == programme_id)
    programme = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if programme is None:
        raise NotFound(_("No programme %(id)s.", id=programme_id))
    return programme


def list_programmes(session: Session) -> list[Programme]:
    return list(session.execute(select(Programme).order_by(Programme.code)).scalars())


def preview_programme(session: Session, programme_id: int, principal: Principal, *,
                      eligibility: Any = None, by_level: int | str | None = None) -> dict[str, Any]:
    """How many would qualify under the programme's rule (or ``eligibility``, being edited), and where:
    the registry's own preview, so the count is the one enrolment will reach."""
    programme = get_programme(session, programme_id)
    spec = programme.eligibility if eligibility is None else eligibility
    return el.preview(session, spec, target=programme.target, principal=principal, by_level=by_level)


# ---- enrolment -------------------------------------------------------------------------------------


def enrol_eligible(session: Session, programme_id: int, *, reason: str,
                   principal: Principal | None = None) -> dict[str, int]:
    """Enrol as ``potential`` everyone the programme's rule selects who is not enrolled yet, set-wise,
    up to ``max_beneficiaries``; one audit entry with the counts and the reason (required, as for a
    status change or an enrolment job). With a location-restricted principal, only people within its
    locations."""
    if not (reason or "").strip():
        raise ValidationError(_("Say why."), errors={"reason": [_("required")]})
    programme = get_programme(session, programme_id, lock=True)
    if programme.status == ProgrammeStatus.closed:
        raise Conflict(_("A closed programme enrols nobody."))
    ids = el.compile_filter(session, programme.eligibility, target=programme.target, principal=principal).subquery("e")
    column = Beneficiary.individual_id if programme.target == Target.individuals else Beneficiary.household_id
    enrolled = select(column).where(Beneficiary.programme_id == programme.id, column.is_not(None))
    query = select(literal(programme.id), ids.c.id, literal(BeneficiaryStatus.potential.value), func.now()) \
        .where(ids.c.id.not_in(enrolled)).order_by(ids.c.id)
    room = None
    if programme.max_beneficiaries is not None:
        current = session.execute(select(func.count()).select_from(Beneficiary)
                                  .where(Beneficiary.programme_id == programme.id)).scalar_one()
        room = max(programme.max_beneficiaries - current, 0)
        query = query.limit(room)
    table = Beneficiary.__table__
    inserted = (pg_insert(table).from_select(["programme_id", column.key, "status", "enrolled_at"], query)
                .on_conflict_do_nothing().returning(table.c.id).cte("inserted"))
    added = session.execute(select(func.count()).select_from(inserted)).scalar_one()
    eligible = session.execute(select(func.count()).select_from(ids)).scalar_one()
    counts = {"eligible": eligible, "enrolled": added}
    if room is not None:
        counts["room_left"] = room - added
    audit.record_bulk(session, "transfers.enrolment", "transfer_programme", counts=counts,
                      input_ref={"programme": programme.code, "eligibility": programme.eligibility},
                      details={"reason": reason.strip()[:500]})
    return counts


def change_status(session: Session, programme_id: int, beneficiary_ids: list[int], to: str, *, reason: str
                  ) -> int:
    """Move beneficiaries to ``to`` (potential → active → suspended / graduated; suspended → active),
    all or none: 422 naming each id that cannot move. Audited with the reason."""
    if to not in TRANSITIONS:
        raise ValidationError(_("Unknown status."), errors={"status": [_("must be one of: %(values)s",
                                                                         values=", ".join(TRANSITIONS))]})
    if not reason or not reason.strip():
        raise ValidationError(_("Say why."), errors={"reason": [_("required")]})
    if not beneficiary_ids:
        raise ValidationError(_("No beneficiaries given."), errors={"ids": [_("required")]})
    ids = sorted(set(beneficiary_ids))
    rows = dict(session.execute(select(Beneficiary.id, Beneficiary.status).where(
        Beneficiary.programme_id == programme_id, any_of(Beneficiary.id, ids)).with_for_update()).all())
    errors = {}
    for bid in ids:
        if bid not in rows:
            errors[f"ids.{bid}"] = [_("not a beneficiary of this programme")]
        elif rows[bid] not in TRANSITIONS[to]:
            errors[f"ids.{bid}"] = [_("a %(status)s beneficiary cannot become %(to)s", status=rows[bid], to=to)]
    if errors:
        raise ValidationError(_("These beneficiaries cannot change status."), errors=errors)
    session.execute(update(Beneficiary).where(any_of(Beneficiary.id, ids))
                    .values(status=to, status_reason=reason.strip()[:500], status_changed_at=utcnow()))
    before: dict[str, int] = {}
    for status in rows.values():
        before[status] = before.get(status, 0) + 1
    audit.record(session, "transfers.beneficiaries.status", "transfer_programme", programme_id,
                 before={"statuses": before}, after={"status": to},
                 details={"reason": reason.strip()[:500], "beneficiaries": ids[:1000], "count": len(ids)})
    return len(ids)


def list_beneficiaries(session: Session, programme_id: int, *, status: str | None = None,
                       after_id: int | None = None, limit: int = 100) -> list[Beneficiary]:
    query = select(Beneficiary).where(Beneficiary.programme_id == programme_id)
    if status is not None:
        query = query.where(Beneficiary.status == status)
    if after_id is not None:
        query = query.where(Beneficiary.id > after_id)
    return list(session.execute(query.order_by(Beneficiary.id).limit(limit)).scalars())


def beneficiary_counts(session: Session, programme_ids: list[int], *,
                       principal: Principal | None) -> dict[int, dict[str, int]]:
    """Each programme's beneficiaries per status, in one grouped query; a location-restricted principal
    counts only those within its locations, as the programme's reports do (``principal`` None: all)."""
    from schemehost.tenants.transfers.enrolment import beneficiary_location, with_people

    stmt = (select(Beneficiary.programme_id, Beneficiary.status, func.count()).select_from(Beneficiary)
            .where(Beneficiary.programme_id.in_(sorted(set(programme_ids)) or [0])))
    if is_restricted(principal):  # people are joined only to restrict by location
        stmt = restrict_to_locations(with_people(stmt), principal, beneficiary_location())
    out: dict[int, dict[str, int]] = {}
    for pid, status, n in session.execute(stmt.group_by(Beneficiary.programme_id, Beneficiary.status)).all():
        out.setdefault(pid, {})[status] = int(n)
    return out


def assign_payment_point(session: Session, programme_id: int, beneficiary_ids: list[int], point_id: int | None) -> int:
    point = session.get(PaymentPoint, point_id) if point_id is not None else None
    if point_id is not None and (point is None or not point.active):  # nobody new at a deactivated point
        raise ValidationError(_("No active payment point %(id)s.", id=point_id),
                              errors={"payment_point_id": [_("unknown or inactive")]})
    result = session.execute(update(Beneficiary).where(Beneficiary.programme_id == programme_id,
                                                       any_of(Beneficiary.id, beneficiary_ids))
                             .values(payment_point_id=point_id))
    audit.record(session, "transfers.beneficiaries.payment_point", "transfer_programme", programme_id,
                 details={"payment_point": point_id, "count": result.rowcount})
    return result.rowcount


# ---- payment points --------------------------------------------------------------------------------


def create_payment_point(session: Session, *, code: str, name: str, kind: str, location_id: int,
                         manager_user_id: int | None = None) -> PaymentPoint:
    from schemehost.tenants.core.models import User

    errors: dict[str, list[str]] = {}
    if not CODE_RE.match(code or ""):
        errors["code"] = [_("1-40 letters, digits, '-' or '_'.")]
    if not (name or "").strip() or len(name) > 200:
        errors["name"] = [_("1-200 characters.")]
    if kind not in PaymentPointKind.__members__:
        errors["kind"] = [_("must be one of: %(values)s", values=", ".join(PaymentPointKind))]
    if session.get(Location, location_id) is None:
        errors["location_id"] = [_("unknown location")]
    if manager_user_id is not None and session.get(User, manager_user_id) is None:
        errors["manager_user_id"] = [_("unknown user")]
    if errors:
        raise ValidationError(_("The payment point is not valid."), errors=errors)
    if session.execute(select(PaymentPoint.id).where(PaymentPoint.code == code)).first():
        raise Conflict(_("A payment point with code '%(code)s' exists.", code=code), errors={"code": [_("already taken")]})
    point = PaymentPoint(code=code, name=name.strip(), kind=kind, location_id=location_id,
                         manager_user_id=manager_user_id)
    session.add(point)
    session.flush()
    audit.record(session, "transfers.payment_point.created", "transfer_payment_point", point.id,
                 after={"code": code, "name": point.name, "kind": kind, "location_id": location_id,
                        "manager_user_id": manager_user_id})
    return point


def list_payment_points(session: Session) -> list[PaymentPoint]:
    return list(session.execute(select(PaymentPoint).order_by(PaymentPoint.code)).scalars())


# ---- cycles and payrolls ---------------------------------------------------------------------------


def require_payroll_wide(principal: Principal | None) -> None:
    """403 for a location-restricted principal: generating, approving, paying, rejecting a payroll and
    carrying its failed lines act on every district's lines, most of which it cannot see (decision
    0417). ``principal`` None is the system."""
    if is_restricted(principal):
        raise Forbidden(_("This acts on the whole payroll, every district's lines: it needs a user who is not "
                          "restricted to locations."), errors={"locations": [_("restricted to locations")]})


def period_end(programme: Programme, start: date) -> date:
    months = MONTHS[Frequency(programme.frequency)]
    year, month = start.year, start.month + months
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)


def open_cycle(session: Session, programme_id: int, period_start: date) -> PaymentCycle:
    programme = get_programme(session, programme_id)
    if programme.status != ProgrammeStatus.active:
        raise Conflict(_("Only an active programme has payment cycles."))
    if session.execute(select(PaymentCycle.id).where(PaymentCycle.programme_id == programme_id,
                                                     PaymentCycle.period_start == period_start)).first():
        raise Conflict(_("This programme already has a cycle starting on %(day)s.", day=period_start.isoformat()),
                       errors={"period_start": [_("already taken")]})
    cycle = PaymentCycle(programme_id=programme_id, period_start=period_start,
                         period_end=period_end(programme, period_start))
    session.add(cycle)
    session.flush()
    audit.record(session, "transfers.cycle.opened", "transfer_cycle", cycle.id,
                 after={"programme": programme.code, "period_start": period_start.isoformat(),
                        "period_end": cycle.period_end.isoformat()})
    return cycle


def get_cycle(session: Session, cycle_id: int) -> PaymentCycle:
    cycle = session.get(PaymentCycle, cycle_id)
    if cycle is None:
        raise NotFound(_("No payment cycle %(id)s.", id=cycle_id))
    return cycle


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def payroll_lines_select(programme: Programme, cycle: PaymentCycle, payroll_id: int):
    """ONE SELECT of the payroll lines of ``cycle``: every active beneficiary with the benefit computed
    from the formula (children counted among the active members of their household born after
    ``period_start - child_max_age`` years; capped), its district and payment point."""
    b = Beneficiary.__table__
    ind = Individual.__table__
    hh = Household.__table__
    loc = Location.__table__
    if programme.target == Target.households:
        household_id, location_id = b.c.household_id, hh.c.location_id
        from_ = b.join(hh, hh.c.id == b.c.household_id)
    else:
        household_id, location_id = ind.c.household_id, ind.c.location_id
        from_ = b.join(ind, ind.c.id == b.c.individual_id)
    from_ = from_.join(loc, loc.c.id == location_id)
    children_col = literal(0)
    if programme.benefit_kind == BenefitKind.formula and programme.per_child_amount:
        born_after = _years_before(cycle.period_start, programme.child_max_age)
        kids = (select(ind.c.household_id.label("household_id"), func.count().label("n"))
                .where(ind.c.status == PersonStatus.active, ind.c.household_id.is_not(None),
                       ind.c.birth_date > born_after)
                .group_by(ind.c.household_id).subquery("kids"))
        from_ = from_.outerjoin(kids, kids.c.household_id == household_id)
        children_col = func.coalesce(kids.c.n, 0)
        if programme.max_children is not None:
            children_col = func.least(children_col, programme.max_children)
        amount = literal(programme.base_amount) + children_col * literal(programme.per_child_amount)
        if programme.cap_amount is not None:
            amount = func.least(amount, programme.cap_amount)
    else:
        amount = literal(programme.cap_amount if programme.cap_amount is not None
                         and programme.cap_amount < programme.base_amount else programme.base_amount)
    paid = PayrollLine.__table__.alias("earlier")  # lines of the cycle's other payrolls
    district = case((loc.c.level >= programme.district_level, loc.c.path[programme.district_level + 1]), else_=None)
    return (select(literal(payroll_id), literal(cycle.id), b.c.id, amount, children_col, district,
                   b.c.payment_point_id, literal(LineStatus.pending.value))
            .select_from(from_)
            .where(b.c.programme_id == programme.id, b.c.status == BeneficiaryStatus.active,
                   ~exists().where(paid.c.cycle_id == cycle.id, paid.c.beneficiary_id == b.c.id)))


def generate_payroll(session: Session, cycle_id: int, *, principal: Principal | None) -> Payroll:
    """Generate the cycle's payroll set-wise (``pending_approval``). Beneficiaries already in another
    payroll of the cycle are left out (an anti-join, under the cycle's row lock, so generations of one
    cycle run one after the other; the unique index is the last guard); a payroll over the budget
    ceiling, or with nobody to pay, is refused and nothing is kept. Payroll-wide: refused to a
    location-restricted principal (decision 0417)."""
    require_payroll_wide(principal)
    cycle = session.execute(select(PaymentCycle).where(PaymentCycle.id == cycle_id).with_for_update()).scalar_one_or_none()
    if cycle is None:
        raise NotFound(_("No payment cycle %(id)s.", id=cycle_id))
    if cycle.status != CycleStatus.open:
        raise Conflict(_("This cycle is closed."))
    programme = get_programme(session, cycle.programme_id)
    if programme.status != ProgrammeStatus.active:
        raise Conflict(_("Only an active programme's payroll can be generated."))
    maker, maker_name = _actor_key(principal)
    payroll = Payroll(cycle_id=cycle.id, generated_by=maker, generated_by_name=maker_name, currency=programme.currency)
    session.add(payroll)
    session.flush()
    lines = PayrollLine.__table__
    # The statement reads every active beneficiary of the programme: hash joins are always right, while
    # statistics taken before a big enrolment or activation would lead the planner into nested loops
    # (an aggregate per row); so nested loops are off for this statement only, in this transaction.
    session.execute(select(func.set_config("enable_nestloop", "off", True), func.set_config("jit", "off", True),
                           func.set_config("work_mem", "64MB", True)))
    # the lines' count and total from the inserted rows themselves (no second pass over a million lines)
    inserted = pg_insert(lines).from_select(
        ["payroll_id", "cycle_id", "beneficiary_id", "amount", "children", "district_id", "payment_point_id", "status"],
        payroll_lines_select(programme, cycle, payroll.id)).returning(lines.c.amount).cte("inserted")
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(inserted.c.amount), 0))).one()
    session.execute(select(func.set_config("enable_nestloop", "on", True)))
    if count == 0:
        raise ValidationError(_("Nobody to pay: no active beneficiary is left out of this cycle's payrolls."),
                              errors={"cycle": [_("nobody to pay")]})
    if programme.budget_ceiling is not None and total > programme.budget_ceiling:
        raise ValidationError(_("The payroll (%(total)s) is over the budget ceiling (%(ceiling)s).",
                                total=total, ceiling=programme.budget_ceiling),
                              errors={"budget_ceiling": [_("exceeded")]}, total=int(total))
    payroll.lines, payroll.total = count, int(total)
    session.flush()
    audit.record_bulk(session, "transfers.payroll.generated", "transfer_payroll",
                      counts={"lines": count, "total": int(total)},
                      input_ref={"payroll": payroll.id, "cycle": cycle.id, "programme": programme.code})
    return payroll


def get_payroll(session: Session, payroll_id: int) -> Payroll:
    payroll = session.get(Payroll, payroll_id)
    if payroll is None:
        raise NotFound(_("No payroll %(id)s.", id=payroll_id))
    return payroll


def list_payrolls(session: Session, *, cycle_id: int | None = None) -> list[Payroll]:
    query = select(Payroll)
    if cycle_id is not None:
        query = query.where(Payroll.cycle_id == cycle_id)
    return list(session.execute(query.order_by(Payroll.id)).scalars())


def approve_payroll(session: Session, payroll_id: int, *, principal: Principal) -> Payroll:
    """Approve a payroll waiting for it, by anyone but who generated it (maker-checker: 403) and not by a
    location-restricted principal (403, decision 0417)."""
    require_payroll_wide(principal)
    payroll = get_payroll(session, payroll_id)
    checker, checker_name = _actor_key(principal)
    if payroll.generated_by == checker:
        raise Forbidden(_("Whoever generated a payroll cannot approve it: another person must."),
                        errors={"approver": [_("the same person generated it")]})
    done = session.execute(update(Payroll).where(Payroll.id == payroll_id,
                                                 Payroll.status == PayrollStatus.pending_approval,
                                                 Payroll.generated_by != checker)
                           .values(status=PayrollStatus.approved, approved_by=checker, approved_by_name=checker_name,
                                   approved_at=utcnow(), updated_at=utcnow()).returning(Payroll.id)).first()
    session.refresh(payroll)
    if done is None:
        raise Conflict(_("Only a payroll pending approval can be approved; this one is %(status)s.",
                         status=payroll.status))
    audit.record(session, "transfers.payroll.approved", "transfer_payroll", payroll.id,
                 before={"status": PayrollStatus.pending_approval}, after={"status": payroll.status})
    return payroll


def reject_payroll(session: Session, payroll_id: int, *, reason: str, principal: Principal | None) -> Payroll:
    """Reject a payroll not yet paid; its lines are given up, so the cycle can be generated again.
    Payroll-wide: refused to a location-restricted principal (decision 0417)."""
    require_payroll_wide(principal)
    if not reason or not reason.strip():
        raise ValidationError(_("Say why."), errors={"reason": [_("required")]})
    payroll = get_payroll(session, payroll_id)
    before = payroll.status
    done = session.execute(update(Payroll).where(Payroll.id == payroll_id, Payroll.status.in_(
        [PayrollStatus.pending_approval, PayrollStatus.approved]))
        .values(status=PayrollStatus.rejected, rejected_reason=reason.strip()[:500], updated_at=utcnow())
        .returning(Payroll.id)).first()
    session.refresh(payroll)
    if done is None:
        raise Conflict(_("A %(status)s payroll cannot be rejected.", status=payroll.status))
    session.execute(delete(PayrollLine).where(PayrollLine.payroll_id == payroll_id))
    audit.record(session, "transfers.payroll.rejected", "transfer_payroll", payroll.id, before={"status": before},
                 after={"status": payroll.status}, details={"reason": reason.strip()[:500]})
    return payroll


def pay_payroll(session: Session, payroll_id: int, *, principal: Principal | None,
                via: str = "offline") -> tuple[Payroll, list[int]]:
    """Release an approved payroll for payment, once: ``approved`` → ``paid`` in one guarded statement
    (a second click or worker gets 409). ``via`` "offline": the file is exported and payment points
    upload what they paid; a mobile-money gateway code: one disbursement per line (idempotency key
    ``transfers-line-<id>``), whose ids the caller defers after commit. Lines with no phone number fail.
    Payroll-wide: refused to a location-restricted principal (decision 0417)."""
    from schemehost.tenants.payments import disbursements as dis

    require_payroll_wide(principal)
    payroll = get_payroll(session, payroll_id)
    done = session.execute(update(Payroll).where(Payroll.id == payroll_id, Payroll.status == PayrollStatus.approved)
                           .values(status=PayrollStatus.paid, paid_at=utcnow(), paid_via=via, updated_at=utcnow())
                           .returning(Payroll.id)).first()
    session.refresh(payroll)
    if done is None:
        raise Conflict(_("Only an approved payroll can be paid; this one is %(status)s.", status=payroll.status))
    ids: list[int] = []
    if via != "offline":
        rows = session.execute(_phones(payroll)).all()
        lines = [dis.DisbursementLine(idempotency_key=f"transfers-line-{r.id}", recipient_phone=r.phone,
                                      amount=r.amount, currency=payroll.currency, recipient_name=None,
                                      payable_kind=PAYOUT_KIND, payable_ref=str(r.id))
                 for r in rows if r.phone and r.amount > 0]
        unpayable = [r.id for r in rows if not r.phone or r.amount <= 0]
        for start in range(0, len(unpayable), 10_000):
            session.execute(update(PayrollLine).where(PayrollLine.id.in_(unpayable[start:start + 10_000]))
                            .values(status=LineStatus.failed, failure="no phone number"))
        ids = dis.request_disbursements(session, via, lines)
    audit.record(session, "transfers.payroll.paid", "transfer_payroll", payroll.id,
                 before={"status": PayrollStatus.approved}, after={"status": payroll.status},
                 details={"via": via, "lines": payroll.lines, "total": payroll.total, "sent": len(ids)})
    return payroll, ids


def _phones(payroll: Payroll):
    line, b, ind, hh = (PayrollLine.__table__, Beneficiary.__table__, Individual.__table__, Household.__table__)
    head = ind.alias("head")
    return (select(line.c.id, line.c.amount, func.coalesce(ind.c.phone, head.c.phone).label("phone"))
            .select_from(line.join(b, b.c.id == line.c.beneficiary_id)
                         .outerjoin(ind, ind.c.id == b.c.individual_id)
                         .outerjoin(hh, hh.c.id == b.c.household_id)
                         .outerjoin(head, head.c.id == hh.c.head_id))
            .where(line.c.payroll_id == payroll.id).order_by(line.c.id))


def line_paid(session: Session, disbursement) -> None:
    """The payout hook of mobile-money lines: the line's final status, then the payroll's."""
    status = LineStatus.paid if disbursement.status == "succeeded" else LineStatus.failed
    line = session.execute(select(PayrollLine).where(PayrollLine.id == int(disbursement.payable_ref))
                           .with_for_update()).scalar_one_or_none()
    if line is None or line.status != LineStatus.pending:
        return
    line.status, line.reference = status, disbursement.provider_txn_id
    line.paid_at = utcnow() if status == LineStatus.paid else None
    line.failure = None if status == LineStatus.paid else (disbursement.result_code or "failed")[:200]
    session.flush()
    _maybe_reconciled(session, line.payroll_id, near=line.id)


#: the first half of the two-int advisory key of a payroll's "still pending?" probe (decision 0415); the
#: two-int keys are a key space of their own, apart from the one-bigint ``hashtext`` keys used elsewhere
_PROBE_LOCK = "transfers.payroll-probe:"


def _maybe_reconciled(session: Session, payroll_id: int, *, near: int | None = None,
                      finished_lines: bool = True) -> None:
    """A paid payroll none of whose lines is pending any more becomes ``reconciled``.

    A transaction that finished lines (``finished_lines``) first takes the payroll's advisory lock
    (decision 0415), held to its commit: of two transactions finishing the last two lines, the second
    probes after the first committed, so one of them sees no line pending.

    "Any line still pending?" is a probe of ``(payroll_id, status, id)``. With ``near`` (the line just
    finished), it looks after that line first, then before it: results come back roughly in the order
    the lines were sent, so the next pending line is close by and a million callbacks do not each walk
    past the lines already finished (decision 0413)."""
    if finished_lines:
        session.execute(sa_text("SELECT pg_advisory_xact_lock(hashtext(:key), :payroll)"),
                        {"key": _PROBE_LOCK + session.info["tenant_schema"], "payroll": payroll_id})
    line = PayrollLine.__table__
    pending = select(line.c.id).where(line.c.payroll_id == payroll_id, line.c.status == LineStatus.pending)
    if near is None:
        left = session.execute(pending.limit(1)).first()
    else:
        left = (session.execute(pending.where(line.c.id > near).order_by(line.c.id).limit(1)).first()
                or session.execute(pending.where(line.c.id < near).order_by(line.c.id.desc()).limit(1)).first())
    if left is None:
        session.execute(update(Payroll).where(Payroll.id == payroll_id, Payroll.status == PayrollStatus.paid)
                        .values(status=PayrollStatus.reconciled, updated_at=utcnow()))


# ---- offline reconciliation: the paid list uploaded by payment points --------------------------------

UPLOAD_COLUMNS = ("line_id", "status", "reference")
#: the paid list as uploaded, then checked, in temporary tables of the transaction (decision 0414)
_PAID_LIST = "pg_temp.transfers_paid_list"
_PAID_ROWS = "pg_temp.transfers_paid_rows"


def _copy_paid_list(session: Session, text: str) -> None:
    """The file's rows into ``_PAID_LIST`` (row number as counted in the file, header = row 1; blank
    lines skipped), each field as written: the checks are SQL's."""
    reader = csv.reader(io.StringIO(text.replace("\x00", "")))  # PostgreSQL text holds no NUL
    names = next(reader, None) or []
    missing = [c for c in UPLOAD_COLUMNS[:2] if c not in names]
    if missing:
        raise ValidationError(_("The file lacks the columns: %(columns)s.", columns=", ".join(missing)),
                              errors={"file": [_("missing column %(c)s", c=c) for c in missing]})
    # a repeated column name: the last one counts (as with a header mapped to a dict)
    at = {name: i for i, name in enumerate(names)}
    i_id, i_status, i_ref = at["line_id"], at["status"], at.get("reference")
    width = max(i_id, i_status, -1 if i_ref is None else i_ref) + 1
    session.execute(sa_text(f"DROP TABLE IF EXISTS {_PAID_LIST}, {_PAID_ROWS}"))
    session.execute(sa_text(f"CREATE TEMPORARY TABLE {_PAID_LIST.split('.')[1]} (n integer, line_id text, status text, "
                            "reference text) ON COMMIT DROP"))
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY {_PAID_LIST} (n, line_id, status, reference) FROM STDIN") as copy:
        n = 1
        for row in reader:
            if not row:
                continue
            n += 1
            if len(row) < width:
                row = row + [""] * (width - len(row))
            copy.write_row((n, row[i_id], row[i_status], "" if i_ref is None else row[i_ref]))


#: Each row of the paid list, read: a line id (digits), a status (paid / failed) and the reference, with
#: Python's ``str.strip`` whitespace trimmed (``OFFSET 0``: each field is trimmed and tested once; a
#: bounded regex quantifier such as ``{1,18}`` costs 15 times ``+`` and a length test).
_WS = r"E' \t\n\r\f\v'"
_CHECK_ROWS = f"""
CREATE TEMPORARY TABLE {_PAID_ROWS.split('.')[1]} ON COMMIT DROP AS
SELECT n, raw, ok_id, status, ok_status, CASE WHEN ok_id THEN raw::bigint END AS id, reference
  FROM (SELECT n, raw, raw ~ '^[0-9]+$' AND length(raw) <= 18 AS ok_id, status,
               status IN ('paid', 'failed') AS ok_status, reference
  FROM (SELECT n, btrim(line_id, {_WS}) AS raw, lower(btrim(status, {_WS})) AS status,
               nullif(left(btrim(reference, {_WS}), 80), '') AS reference
          FROM {_PAID_LIST} OFFSET 0) r OFFSET 0) c
"""
#: ``_PAID_ROWS`` for SQLAlchemy statements (the columns they read)
_PAID_ROWS_TABLE = table(_PAID_ROWS.split(".")[1], column("n"), column("id"), column("ok_id"), column("ok_status"),
                         column("status"), schema="pg_temp")
#: Rows whose line id is on more than one row, one of them acceptable: the later ones are "listed
#: twice" (found by a hash aggregate, not a sort of the whole list; there are seldom any).
_REPEATED = f"""
SELECT r.n, r.raw, r.id, r.ok_status FROM {_PAID_ROWS} r
  JOIN (SELECT id FROM {_PAID_ROWS} WHERE ok_id GROUP BY id HAVING count(*) > 1 AND bool_or(ok_status)) d
    ON d.id = r.id
 ORDER BY r.n
"""


def reconcile_upload(session: Session, payroll_id: int, data: bytes, *, principal: Principal | None
                     ) -> dict[str, Any]:
    """Apply a paid list (CSV: ``line_id,status,reference``; status ``paid`` or ``failed``) to a paid
    payroll, all or nothing: 422 with the problems of each row, or the counts. A line already final
    with the same status is left as it is (uploading the same file twice changes nothing). A
    location-restricted principal may name only the lines within its locations: any other line is
    "not a line of this payroll", as a line of no payroll is (decision 0417); ``principal`` None: the system.

    Set-wise (decision 0414): the file is copied into a temporary table, checked by SQL (only the rows
    with problems come back to Python), applied by one ``UPDATE ... FROM`` of the still pending lines,
    then one probe for a line still pending. The payroll row is locked, so two uploads of one payroll
    run one after the other and the second sees what the first applied."""
    payroll = session.execute(select(Payroll).where(Payroll.id == payroll_id).with_for_update()
                              .execution_options(populate_existing=True)).scalar_one_or_none()
    if payroll is None:
        raise NotFound(_("No payroll %(id)s.", id=payroll_id))
    if payroll.status not in (PayrollStatus.paid, PayrollStatus.reconciled):
        raise Conflict(_("Only a paid payroll can be reconciled; this one is %(status)s.", status=payroll.status))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(_("The file is not UTF-8 text."), errors={"file": [_("not UTF-8")]}) from None
    try:
        _copy_paid_list(session, text)
    except csv.Error:
        raise ValidationError(_("The file is not a CSV file."), errors={"file": [_("not CSV")]}) from None
    # a million rows: hash joins and aggregates in memory, no JIT (as for the payroll's generation)
    session.execute(select(func.set_config("work_mem", "64MB", True), func.set_config("jit", "off", True)))
    session.execute(sa_text(_CHECK_ROWS))
    session.execute(sa_text(f"ANALYZE {_PAID_ROWS}"))
    lines = f'{quote_ident(session.info["tenant_schema"])}.transfer_payroll_lines'
    found: dict[int, list[str]] = {}
    for n, ok_id, ok_status in session.execute(sa_text(
            f"SELECT n, ok_id, ok_status FROM {_PAID_ROWS} WHERE NOT ok_id OR NOT ok_status")):
        found[n] = [_("line_id is not a number")] if not ok_id else []
        if not ok_status:
            found[n].append(_("status must be paid or failed"))
    listed: set[int] = set()
    for n, raw, line_id, ok_status in session.execute(sa_text(_REPEATED)):
        if line_id in listed:
            found.setdefault(n, []).insert(0, _("line %(id)s is listed twice", id=raw))
        elif ok_status:
            listed.add(line_id)
    problems: dict[str, list[str]] = {f"row {n}": found[n] for n in sorted(found)}
    # the lines named by the acceptable rows: of this payroll (for a restricted principal, within its
    # locations: a line outside them reads as not of this payroll, so nothing is revealed), and pending
    # or already so
    row, line = _PAID_ROWS_TABLE, PayrollLine.__table__
    named = _lines_within(select(line.c.id, line.c.status).select_from(line), principal) \
        .where(line.c.payroll_id == payroll_id).subquery("l")
    for line_id, current in session.execute(
            select(row.c.id, named.c.status).select_from(row.outerjoin(named, named.c.id == row.c.id))
            .where(row.c.ok_id, row.c.ok_status,
                   or_(named.c.id.is_(None), and_(named.c.status != LineStatus.pending.value,
                                                  named.c.status != row.c.status)))
            .order_by(row.c.n)):
        problems[f"line {line_id}"] = ([_("not a line of this payroll")] if current is None
                                       else [_("already %(status)s", status=current)])
    if problems:
        raise ValidationError(_("The paid list has problems; nothing was applied."), errors=problems)
    rows = session.execute(sa_text(f"SELECT count(*) FROM {_PAID_ROWS}")).scalar_one()
    paid, failed = session.execute(sa_text(f"""
        WITH applied AS (
          UPDATE {lines} l
             SET status = r.status, reference = r.reference,
                 paid_at = CASE WHEN r.status = 'paid' THEN CAST(:now AS timestamptz) END,
                 failure = CASE WHEN r.status = 'paid' THEN NULL ELSE 'reported failed' END
            FROM {_PAID_ROWS} r
           WHERE l.id = r.id AND l.payroll_id = :payroll AND l.status = 'pending'
          RETURNING l.status)
        SELECT count(*) FILTER (WHERE status = 'paid'), count(*) FILTER (WHERE status = 'failed') FROM applied
    """), {"payroll": payroll_id, "now": utcnow()}).one()
    session.execute(sa_text(f"DROP TABLE {_PAID_LIST}, {_PAID_ROWS}"))
    # an upload that finished no line cannot be one of two last finishers: it probes without the lock,
    # so it never waits (holding the payroll row) for a callback that waits for the payroll row
    _maybe_reconciled(session, payroll_id, finished_lines=paid + failed > 0)
    counts = {"rows": rows, "paid": paid, "failed": failed, "unchanged": rows - paid - failed}
    audit.record_bulk(session, "transfers.payroll.reconciled_upload", "transfer_payroll", counts=counts,
                      input_ref={"payroll": payroll_id, "bytes": len(data)})
    session.refresh(payroll)
    return {**counts, "payroll_status": payroll.status}


# ---- totals and export -----------------------------------------------------------------------------


def is_restricted(principal: Principal | None) -> bool:
    """Whether ``principal`` sees only the payroll lines of beneficiaries within its locations."""
    return principal is not None and bool(principal.location_ids)


def _lines_within(stmt, principal: Principal | None):
    """``stmt`` (selecting from payroll lines) limited to the lines of beneficiaries within a restricted
    principal's locations, as the programme's reports count them; unchanged otherwise."""
    from schemehost.tenants.transfers.enrolment import beneficiary_location, with_people

    # people are joined only to restrict by location (a million lines unrestricted stay one scan)
    if not is_restricted(principal):
        return stmt
    line = PayrollLine.__table__
    return restrict_to_locations(with_people(stmt.join(Beneficiary, Beneficiary.id == line.c.beneficiary_id)),
                                 principal, beneficiary_location())


def payroll_figures_within(session: Session, payroll_ids: list[int], *,
                           principal: Principal | None) -> dict[int, dict[str, int]] | None:
    """For a location-restricted principal, each payroll's line count and amount counting only the lines
    of beneficiaries within its locations (one grouped query; a payroll without such lines: zeros). None
    for everyone else, without a query: the payrolls' stored ``lines`` and ``total`` are theirs."""
    if not is_restricted(principal):
        return None
    line = PayrollLine.__table__
    figures = {pid: {"lines": 0, "amount": 0} for pid in payroll_ids}
    if not figures:
        return figures
    rows = session.execute(_lines_within(
        select(line.c.payroll_id, func.count(), func.sum(line.c.amount)).select_from(line), principal)
        .where(line.c.payroll_id.in_(sorted(figures))).group_by(line.c.payroll_id)).all()
    for pid, n, amount in rows:
        figures[pid] = {"lines": int(n), "amount": int(amount or 0)}
    return figures


def payroll_totals(session: Session, payroll_id: int, *, principal: Principal | None) -> dict[str, Any]:
    """Lines and amounts of a payroll per district and per payment point, with the paid amounts. A
    location-restricted principal gets only the lines of beneficiaries within its locations, as in the
    programme's reports (``principal`` None: every line, for the system)."""
    get_payroll(session, payroll_id)
    line = PayrollLine.__table__
    district = Location.__table__.alias("district")
    point = PaymentPoint.__table__
    paid = func.sum(case((line.c.status == LineStatus.paid, line.c.amount), else_=0))

    def within(stmt):
        return _lines_within(stmt, principal)

    by_district = session.execute(within(
        select(district.c.code, district.c.name, func.count(), func.sum(line.c.amount), paid)
        .select_from(line.outerjoin(district, district.c.id == line.c.district_id)))
        .where(line.c.payroll_id == payroll_id).group_by(district.c.code, district.c.name)
        .order_by(district.c.name)).all()
    by_point = session.execute(within(
        select(point.c.code, point.c.name, func.count(), func.sum(line.c.amount), paid)
        .select_from(line.outerjoin(point, point.c.id == line.c.payment_point_id)))
        .where(line.c.payroll_id == payroll_id).group_by(point.c.code, point.c.name).order_by(point.c.name)).all()

    def rows(items):
        return [{"code": c, "name": n, "lines": k, "amount": int(a or 0), "paid": int(p or 0)} for c, n, k, a, p in items]

    return {"districts": rows(by_district), "payment_points": rows(by_point)}


EXPORT_HEADER = ["line_id", "beneficiary_id", "scheme_number", "name", "phone", "district", "payment_point",
                 "amount", "currency", "status", "reference"]


def export_rows(session: Session, payroll_id: int, *, principal: Principal | None):
    """The payroll's lines for a bank or mobile-money file, streamed in line order (major units). A
    location-restricted principal gets only the lines of beneficiaries within its locations (decision
    0416); ``principal`` None: every line, for the system."""
    from schemehost.tenants.transfers.enrolment import beneficiary_location

    payroll = get_payroll(session, payroll_id)
    line, b, ind, hh = (PayrollLine.__table__, Beneficiary.__table__, Individual.__table__, Household.__table__)
    head = ind.alias("head")
    district = Location.__table__.alias("district")
    point = PaymentPoint.__table__
    stmt = (select(line.c.id, line.c.beneficiary_id, func.coalesce(ind.c.scheme_number, head.c.scheme_number),
                   func.concat_ws(" ", func.coalesce(ind.c.given_name, head.c.given_name),
                                  func.coalesce(ind.c.family_name, head.c.family_name)),
                   func.coalesce(ind.c.phone, head.c.phone), district.c.name, point.c.code, line.c.amount,
                   line.c.status, line.c.reference)
            .select_from(line.join(b, b.c.id == line.c.beneficiary_id)
                         .outerjoin(ind, ind.c.id == b.c.individual_id)
                         .outerjoin(hh, hh.c.id == b.c.household_id)
                         .outerjoin(head, head.c.id == hh.c.head_id)
                         .outerjoin(district, district.c.id == line.c.district_id)
                         .outerjoin(point, point.c.id == line.c.payment_point_id))
            .where(line.c.payroll_id == payroll_id).order_by(line.c.id))
    if is_restricted(principal):
        # the beneficiary's individual and household are joined above (the same tables as with_people's)
        stmt = restrict_to_locations(stmt, principal, beneficiary_location())
    for row in session.execute(stmt.execution_options(yield_per=5000)):
        yield [row[0], row[1], row[2], row[3], row[4], row[5], row[6], str(from_minor(row[7], payroll.currency)),
               payroll.currency, row[8], row[9]]


# ---- failed lines carried to the next cycle ---------------------------------------------------------

CARRIED = "carried to payroll "


def carry_failed(session: Session, payroll_id: int, *, into_payroll_id: int,
                 principal: Principal | None) -> dict[str, int]:
    """On request, add the amounts of a paid payroll's failed lines to the same beneficiaries' lines of a
    later cycle's payroll still pending approval (so its approver sees them), set-wise; each failed line
    is carried once (it is marked). Beneficiaries without a line in that payroll are left as they are.
    The budget ceiling still holds. Payroll-wide: refused to a location-restricted principal (decision 0417)."""
    require_payroll_wide(principal)
    source, target = get_payroll(session, payroll_id), session.execute(
        select(Payroll).where(Payroll.id == into_payroll_id).with_for_update()).scalar_one_or_none()
    if target is None:
        raise NotFound(_("No payroll %(id)s.", id=into_payroll_id))
    src_cycle, dst_cycle = get_cycle(session, source.cycle_id), get_cycle(session, target.cycle_id)
    errors: dict[str, list[str]] = {}
    if source.status not in (PayrollStatus.paid, PayrollStatus.reconciled):
        errors["payroll"] = [_("Only a paid payroll's failed lines can be carried.")]
    if target.status != PayrollStatus.pending_approval:
        errors["into_payroll_id"] = [_("The payroll receiving them must be pending approval.")]
    if src_cycle.programme_id != dst_cycle.programme_id or dst_cycle.period_start <= src_cycle.period_start:
        errors["into_payroll_id"] = [_("A payroll of a later cycle of the same programme.")]
    if errors:
        raise ValidationError(_("The failed lines cannot be carried there."), errors=errors)
    failed, line = PayrollLine.__table__.alias("failed"), PayrollLine.__table__
    carried = session.execute(
        update(line).where(failed.c.payroll_id == source.id, failed.c.status == LineStatus.failed,
                           func.coalesce(failed.c.failure, "").not_like(CARRIED + "%"),
                           line.c.payroll_id == target.id, line.c.beneficiary_id == failed.c.beneficiary_id)
        .values(amount=line.c.amount + failed.c.amount).returning(failed.c.id, failed.c.amount)).all()
    ids = [row[0] for row in carried]
    for start in range(0, len(ids), 10_000):
        session.execute(update(line).where(line.c.id.in_(ids[start:start + 10_000]))
                        .values(failure=f"{CARRIED}{target.id}"))
    amount = sum(row[1] for row in carried)
    programme = get_programme(session, dst_cycle.programme_id)
    if programme.budget_ceiling is not None and target.total + amount > programme.budget_ceiling:
        raise ValidationError(_("The payroll (%(total)s) is over the budget ceiling (%(ceiling)s).",
                                total=target.total + amount, ceiling=programme.budget_ceiling),
                              errors={"budget_ceiling": [_("exceeded")]})
    target.total += amount
    session.flush()
    counts = {"carried": len(ids), "amount": int(amount)}
    audit.record(session, "transfers.payroll.carried", "transfer_payroll", target.id,
                 details={"from_payroll": source.id, **counts})
    return counts
