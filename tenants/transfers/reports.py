"""Cash-transfer reports of one programme (set-wise SQL, one query each, decision 0409):

- ``beneficiaries``: beneficiaries by status and by area (a location level of where they live, default
  the programme's district level);
- ``cycles``: per payment cycle, the amounts planned (the lines of its payrolls not rejected), paid,
  failed and still pending, with their line counts;
- ``failed``: the failed payroll lines (newest cycle first), with district, payment point, amount and
  the reason given.

Every report counts only beneficiaries within the principal's locations (a district officer sees their
district's figures). Each is a list of flat rows (dicts) so that the console, the API and CSV share it;
amounts are integers of minor units.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import Household, Individual
from schemehost.tenants.transfers.enrolment import beneficiary_location, with_people
from schemehost.tenants.transfers.models import (Beneficiary, BeneficiaryStatus, LineStatus, PaymentCycle,
                                                 PaymentPoint, Payroll, PayrollLine, PayrollStatus)
from schemehost.tenants.transfers.services import get_programme, is_restricted

KINDS = ("beneficiaries", "cycles", "failed")
FAILED_LIMIT = 10_000


def _restricted(stmt, principal: Principal | None):
    return stmt if principal is None else restrict_to_locations(stmt, principal, beneficiary_location())


def by_status_and_area(session: Session, programme_id: int, *, principal: Principal | None = None,
                       level: int | str | None = None) -> list[dict[str, Any]]:
    """Per area of one level: beneficiaries in each status and in all."""
    programme = get_programme(session, programme_id)
    names = reg.level_names(session)
    depth = (reg.resolve_level(session, level, field="level") if level not in (None, "")
             else min(programme.district_level, len(names) - 1))
    home, area = Location.__table__.alias("home"), Location.__table__.alias("area")
    ancestor = home.c.path[depth + 1]
    counts = [func.count().filter(Beneficiary.status == s.value).label(s.value) for s in BeneficiaryStatus]
    inner = _restricted(with_people(select(ancestor.label("area_id"), *counts, func.count().label("total"))
                                    .select_from(Beneficiary))
                        .outerjoin(home, home.c.id == beneficiary_location())
                        .where(Beneficiary.programme_id == programme.id), principal).group_by(ancestor).subquery()
    rows = session.execute(select(area.c.code, area.c.name, *[inner.c[s.value] for s in BeneficiaryStatus],
                                  inner.c.total).select_from(inner).outerjoin(area, area.c.id == inner.c.area_id)
                           .order_by(inner.c.total.desc(), area.c.name)).all()
    level_label = reg.level_name(names, depth)
    out = []
    for r in rows:
        row = {"area": r[0], "name": r[1], "level": level_label}
        row.update({s.value: int(r[2 + i]) for i, s in enumerate(BeneficiaryStatus)})
        row["total"] = int(r[-1])
        out.append(row)
    return out


def by_cycle(session: Session, programme_id: int, *, principal: Principal | None = None) -> list[dict[str, Any]]:
    """Per payment cycle (oldest first): lines and amounts planned, paid, failed and pending."""
    programme = get_programme(session, programme_id)
    line = PayrollLine
    is_ = lambda status: line.status == status  # noqa: E731
    figures = (select(line.cycle_id.label("cycle_id"), func.count().label("lines"), func.sum(line.amount).label("planned"),
                      func.count().filter(is_(LineStatus.paid)).label("paid_lines"),
                      func.coalesce(func.sum(line.amount).filter(is_(LineStatus.paid)), 0).label("paid"),
                      func.count().filter(is_(LineStatus.failed)).label("failed_lines"),
                      func.coalesce(func.sum(line.amount).filter(is_(LineStatus.failed)), 0).label("failed"))
               .select_from(line).join(Payroll, Payroll.id == line.payroll_id)
               .join(Beneficiary, Beneficiary.id == line.beneficiary_id))
    if is_restricted(principal):  # people are joined only to restrict by location
        figures = _restricted(with_people(figures), principal)
    figures = figures.where(
        Payroll.status != PayrollStatus.rejected, Beneficiary.programme_id == programme.id).group_by(line.cycle_id)
    sub = figures.subquery()
    rows = session.execute(select(PaymentCycle.id, PaymentCycle.period_start, PaymentCycle.period_end,
                                  PaymentCycle.status, sub.c.lines, sub.c.planned, sub.c.paid_lines, sub.c.paid,
                                  sub.c.failed_lines, sub.c.failed)
                           .outerjoin(sub, sub.c.cycle_id == PaymentCycle.id)
                           .where(PaymentCycle.programme_id == programme.id)
                           .order_by(PaymentCycle.period_start)).all()
    out = []
    for r in rows:
        planned, paid, failed = int(r[5] or 0), int(r[7] or 0), int(r[9] or 0)
        out.append({"cycle_id": r[0], "period_start": r[1].isoformat(), "period_end": r[2].isoformat(), "status": r[3],
                    "lines": int(r[4] or 0), "planned": planned, "paid_lines": int(r[6] or 0), "paid": paid,
                    "failed_lines": int(r[8] or 0), "failed": failed, "pending": planned - paid - failed,
                    "currency": programme.currency})
    return out


def failed_payments(session: Session, programme_id: int, *, principal: Principal | None = None,
                    limit: int = FAILED_LIMIT) -> list[dict[str, Any]]:
    """The failed payroll lines of the programme, newest cycle first (at most ``limit``)."""
    programme = get_programme(session, programme_id)
    district, head = Location.__table__.alias("district"), Individual.__table__.alias("head")
    stmt = (select(PaymentCycle.period_start, PayrollLine.payroll_id, PayrollLine.id, PayrollLine.beneficiary_id,
                   func.coalesce(Individual.scheme_number, head.c.scheme_number), district.c.name, PaymentPoint.code,
                   PayrollLine.amount, PayrollLine.failure)
            .select_from(PayrollLine).join(PaymentCycle, PaymentCycle.id == PayrollLine.cycle_id)
            .join(Beneficiary, Beneficiary.id == PayrollLine.beneficiary_id))
    stmt = (_restricted(with_people(stmt), principal)
            .outerjoin(head, head.c.id == Household.head_id)
            .outerjoin(district, district.c.id == PayrollLine.district_id)
            .outerjoin(PaymentPoint, PaymentPoint.id == PayrollLine.payment_point_id)
            .where(PaymentCycle.programme_id == programme.id, PayrollLine.status == LineStatus.failed)
            .order_by(PaymentCycle.period_start.desc(), PayrollLine.id).limit(limit))
    return [{"period_start": r[0].isoformat(), "payroll_id": r[1], "line_id": r[2], "beneficiary_id": r[3],
             "scheme_number": r[4], "district": r[5], "payment_point": r[6], "amount": int(r[7]),
             "currency": programme.currency, "failure": r[8]} for r in session.execute(stmt).all()]


def report(session: Session, programme_id: int, kind: str, *, principal: Principal | None = None,
           level: int | str | None = None) -> list[dict[str, Any]]:
    if kind not in KINDS:
        raise ValidationError(_("Unknown report."), errors={"kind": [_("one of: %(values)s", values=", ".join(KINDS))]})
    if kind == "beneficiaries":
        return by_status_and_area(session, programme_id, principal=principal, level=level)
    if kind == "cycles":
        return by_cycle(session, programme_id, principal=principal)
    return failed_payments(session, programme_id, principal=principal)


__all__ = ["KINDS", "by_status_and_area", "by_cycle", "failed_payments", "report"]
