"""Insurance reports (decision 0327), one set-wise query each, as lists of flat rows that the console,
the JSON API and CSV share (amounts: integers of minor units, with their currency):

- ``policies``: policies by status and area (a location level of the holder — the household, or the
  employer — default the second level, e.g. districts);
- ``contributions``: contributions collected per month of payment;
- ``claims``: claims by status, with the amounts claimed and valuated;
- ``months`` and ``facilities``: amounts claimed against amounts valuated, per month of the claim's
  date and per facility.

A location-restricted principal counts only policies and contributions of holders within its
locations, and claims of facilities within them. ``date_from``/``date_to`` (included) limit
contributions by the day paid and claims by the day claimed. Policy statuses are the stored ones
(kept current by the daily status refresh).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.insurance.claims.models import ClaimStatus, InsuranceClaim
from schemehost.tenants.insurance.models import Contribution, Employer, Policy, PolicyStatus
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import HealthFacility, Location
from schemehost.tenants.registry.people import Household

KINDS = ("policies", "contributions", "claims", "months", "facilities")
#: the furthest apart ``date_from`` and ``date_to`` may be (ten years of months)
MAX_DAYS = 3660


def _holder_location():
    return func.coalesce(Household.location_id, Employer.location_id)


def _with_holders(stmt: Select) -> Select:
    return (stmt.outerjoin(Household, Household.id == Policy.household_id)
            .outerjoin(Employer, Employer.id == Policy.employer_id))


def _restricted(stmt: Select, principal: Principal | None, column) -> Select:
    return stmt if principal is None else restrict_to_locations(stmt, principal, column)


def check_dates(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_to < date_from:
        raise ValidationError(_("The report's dates are not valid."),
                              errors={"date_to": [_("before the start of the period")]})
    if date_from and date_to and (date_to - date_from).days > MAX_DAYS:
        raise ValidationError(_("The report's dates are not valid."),
                              errors={"date_to": [_("a period of at most %(n)d days", n=MAX_DAYS)]})


def _between(column, date_from: date | None, date_to: date | None) -> list:
    return [c for c in ((column >= date_from) if date_from else None,
                        (column <= date_to) if date_to else None) if c is not None]


def policies_by_status_and_area(session: Session, *, principal: Principal | None = None,
                                level: int | str | None = None) -> list[dict[str, Any]]:
    """Per area of one level (largest first): policies in each status and in all."""
    names = reg.level_names(session)
    depth = reg.resolve_level(session, level, field="level") if level not in (None, "") else min(1, len(names) - 1)
    home, area = Location.__table__.alias("home"), Location.__table__.alias("area")
    ancestor = home.c.path[depth + 1]
    counts = [func.count().filter(Policy.status == s.value).label(s.value) for s in PolicyStatus]
    inner = _with_holders(select(ancestor.label("area_id"), *counts, func.count().label("total")).select_from(Policy))
    inner = _restricted(inner.outerjoin(home, home.c.id == _holder_location()), principal, _holder_location())
    inner = inner.group_by(ancestor).subquery()
    rows = session.execute(select(area.c.code, area.c.name, *[inner.c[s.value] for s in PolicyStatus], inner.c.total)
                           .select_from(inner).outerjoin(area, area.c.id == inner.c.area_id)
                           .order_by(inner.c.total.desc(), area.c.name)).all()
    label = reg.level_name(names, depth)
    out = []
    for r in rows:
        row: dict[str, Any] = {"area": r[0], "name": r[1], "level": label}
        row.update({s.value: int(r[2 + i]) for i, s in enumerate(PolicyStatus)})
        row["total"] = int(r[-1])
        out.append(row)
    return out


def contributions_by_month(session: Session, *, principal: Principal | None = None, date_from: date | None = None,
                           date_to: date | None = None) -> list[dict[str, Any]]:
    """Per month of payment (oldest first) and currency: contributions and their amount."""
    check_dates(date_from, date_to)
    month = func.to_char(Contribution.paid_on, "YYYY-MM")
    stmt = _with_holders(select(month, Contribution.currency, func.count(), func.sum(Contribution.amount))
                         .select_from(Contribution).join(Policy, Policy.id == Contribution.policy_id))
    stmt = _restricted(stmt, principal, _holder_location()).where(*_between(Contribution.paid_on, date_from, date_to))
    rows = session.execute(stmt.group_by(month, Contribution.currency).order_by(month, Contribution.currency)).all()
    return [{"month": r[0], "currency": r[1], "contributions": int(r[2]), "amount": int(r[3])} for r in rows]


def _claims(stmt: Select, principal: Principal | None, date_from: date | None, date_to: date | None) -> Select:
    stmt = stmt.select_from(InsuranceClaim).join(HealthFacility, HealthFacility.id == InsuranceClaim.facility_id)
    return _restricted(stmt, principal, HealthFacility.location_id).where(
        *_between(InsuranceClaim.date_claimed, date_from, date_to))


def claims_by_status(session: Session, *, principal: Principal | None = None, date_from: date | None = None,
                     date_to: date | None = None) -> list[dict[str, Any]]:
    """Per claim status (every status, in the order claims move) and currency: claims, the amount
    claimed and the amount valuated."""
    check_dates(date_from, date_to)
    stmt = _claims(select(InsuranceClaim.status, InsuranceClaim.currency, func.count(),
                          func.sum(InsuranceClaim.claimed), func.coalesce(func.sum(InsuranceClaim.valuated), 0)),
                   principal, date_from, date_to).group_by(InsuranceClaim.status, InsuranceClaim.currency)
    found = {(r[0], r[1]): r for r in session.execute(stmt).all()}
    currencies = sorted({c for _s, c in found}) or [None]
    out = []
    for status in ClaimStatus:
        for currency in currencies:
            r = found.get((status.value, currency))
            out.append({"status": status.value, "currency": currency, "claims": int(r[2]) if r else 0,
                        "claimed": int(r[3]) if r else 0, "valuated": int(r[4]) if r else 0})
    return out


def _amounts() -> list:
    is_valuated = InsuranceClaim.status == ClaimStatus.valuated.value
    return [func.count().label("claims"), func.sum(InsuranceClaim.claimed).label("claimed"),
            func.count().filter(is_valuated).label("valuated_claims"),
            func.coalesce(func.sum(InsuranceClaim.claimed).filter(is_valuated), 0).label("claimed_valuated"),
            func.coalesce(func.sum(InsuranceClaim.valuated).filter(is_valuated), 0).label("valuated")]


def _amount_row(r) -> dict[str, Any]:
    return {"claims": int(r.claims), "claimed": int(r.claimed), "valuated_claims": int(r.valuated_claims),
            "claimed_valuated": int(r.claimed_valuated), "valuated": int(r.valuated)}


def amounts_by_month(session: Session, *, principal: Principal | None = None, date_from: date | None = None,
                     date_to: date | None = None) -> list[dict[str, Any]]:
    """Per month of the claims' date (oldest first) and currency: claims and amount claimed; of them
    the valuated claims, what they claimed and what was valuated."""
    check_dates(date_from, date_to)
    month = func.to_char(InsuranceClaim.date_claimed, "YYYY-MM").label("month")
    stmt = _claims(select(month, InsuranceClaim.currency, *_amounts()), principal, date_from, date_to)
    rows = session.execute(stmt.group_by(month, InsuranceClaim.currency).order_by(month, InsuranceClaim.currency))
    return [{"month": r.month, "currency": r.currency, **_amount_row(r)} for r in rows]


def amounts_by_facility(session: Session, *, principal: Principal | None = None, date_from: date | None = None,
                        date_to: date | None = None) -> list[dict[str, Any]]:
    """Per facility (most claimed first) and currency: the same figures as :func:`amounts_by_month`."""
    check_dates(date_from, date_to)
    stmt = _claims(select(HealthFacility.code.label("facility"), HealthFacility.name.label("name"),
                          InsuranceClaim.currency, *_amounts()), principal, date_from, date_to)
    rows = session.execute(stmt.group_by(HealthFacility.code, HealthFacility.name, InsuranceClaim.currency)
                           .order_by(func.sum(InsuranceClaim.claimed).desc(), HealthFacility.code))
    return [{"facility": r.facility, "name": r.name, "currency": r.currency, **_amount_row(r)} for r in rows]


def report(session: Session, kind: str, *, principal: Principal | None = None, level: int | str | None = None,
           date_from: date | None = None, date_to: date | None = None) -> list[dict[str, Any]]:
    """Report ``kind`` (one of :data:`KINDS`); 422 for another kind or bad options."""
    if kind not in KINDS:
        raise ValidationError(_("Unknown report."), errors={"kind": [_("one of: %(values)s", values=", ".join(KINDS))]})
    if kind == "policies":
        return policies_by_status_and_area(session, principal=principal, level=level)
    fn = {"contributions": contributions_by_month, "claims": claims_by_status, "months": amounts_by_month,
          "facilities": amounts_by_facility}[kind]
    return fn(session, principal=principal, date_from=date_from, date_to=date_to)


__all__ = ["KINDS", "policies_by_status_and_area", "contributions_by_month", "claims_by_status",
           "amounts_by_month", "amounts_by_facility", "report", "check_dates"]
