"""Voucher reports of one programme (set-wise SQL, one query each): use by service, by facility and
by area (a location level of the beneficiaries, e.g. districts), days from issuance to each
service, and the reminders list (live vouchers with a service still due and no visit for a while).

Each report is a list of flat rows (dicts) so that the console, the API and CSV share it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import HealthFacility, Location
from schemehost.tenants.registry.people import Individual
from schemehost.tenants.reporting import to_csv  # noqa: F401  (re-exported: the API's CSV)
from schemehost.tenants.vouchers.models import LIVE, ProgrammeService, Redemption, Voucher
from schemehost.tenants.vouchers.services import get_programme, services_of

KINDS = ("services", "facilities", "areas", "timing")
#: vouchers with a value: the cancelled records that keep a lost card's old code (value 0) are left out
_REAL = Voucher.value > 0


def by_service(session: Session, programme_id: int) -> list[dict[str, Any]]:
    """Per service: uses the issued vouchers entitle, uses redeemed, and their amount."""
    programme = get_programme(session, programme_id)
    issued = session.execute(select(func.count()).where(Voucher.programme_id == programme.id, _REAL)).scalar_one()
    used = (select(Redemption.service_id, func.count().label("n"), func.sum(Redemption.amount).label("amount"))
            .group_by(Redemption.service_id).subquery())
    rows = session.execute(select(ProgrammeService.code, ProgrammeService.name, ProgrammeService.count,
                                  func.coalesce(used.c.n, 0), func.coalesce(used.c.amount, 0))
                           .outerjoin(used, used.c.service_id == ProgrammeService.id)
                           .where(ProgrammeService.programme_id == programme.id)
                           .order_by(ProgrammeService.position)).all()
    return [{"service": r[0], "name": r[1], "entitled": issued * r[2], "redeemed": int(r[3]), "amount": int(r[4]),
             "currency": programme.currency} for r in rows]


def by_facility(session: Session, programme_id: int) -> list[dict[str, Any]]:
    """Per facility that redeemed vouchers of the programme: redemptions, vouchers served and amount."""
    programme = get_programme(session, programme_id)
    rows = session.execute(select(HealthFacility.code, HealthFacility.name, func.count(Redemption.id),
                                  func.count(func.distinct(Redemption.voucher_id)), func.sum(Redemption.amount))
                           .join(Redemption, Redemption.facility_id == HealthFacility.id)
                           .join(Voucher, Voucher.id == Redemption.voucher_id)
                           .where(Voucher.programme_id == programme.id)
                           .group_by(HealthFacility.code, HealthFacility.name)
                           .order_by(func.sum(Redemption.amount).desc(), HealthFacility.code)).all()
    return [{"facility": r[0], "name": r[1], "redemptions": int(r[2]), "vouchers": int(r[3]), "amount": int(r[4]),
             "currency": programme.currency} for r in rows]


def by_area(session: Session, programme_id: int, *, level: int | str | None = None) -> list[dict[str, Any]]:
    """Per location of one level (default the second, e.g. districts) of the beneficiaries: vouchers
    issued, vouchers used at least once, redemptions and their amount."""
    programme = get_programme(session, programme_id)
    names = reg.level_names(session)
    depth = reg.resolve_level(session, level, field="level") if level not in (None, "") else min(1, len(names) - 1)
    used = (select(Redemption.voucher_id, func.count().label("n"), func.sum(Redemption.amount).label("amount"))
            .group_by(Redemption.voucher_id).subquery())
    home = Location.__table__.alias("home")
    area = Location.__table__.alias("area")
    ancestor = home.c.path[depth + 1]
    inner = (select(ancestor.label("area_id"), func.count(Voucher.id).label("issued"),
                    func.count(used.c.voucher_id).label("used"), func.coalesce(func.sum(used.c.n), 0).label("n"),
                    func.coalesce(func.sum(used.c.amount), 0).label("amount"))
             .select_from(Voucher).join(Individual, Individual.id == Voucher.individual_id)
             .join(home, home.c.id == Individual.location_id).outerjoin(used, used.c.voucher_id == Voucher.id)
             .where(Voucher.programme_id == programme.id, _REAL).group_by(ancestor).subquery())
    rows = session.execute(select(area.c.code, area.c.name, inner.c.issued, inner.c.used, inner.c.n, inner.c.amount)
                           .select_from(inner).outerjoin(area, area.c.id == inner.c.area_id)
                           .order_by(inner.c.issued.desc(), area.c.name)).all()
    return [{"area": r[0], "name": r[1], "level": reg.level_name(names, depth), "issued": int(r[2]),
             "used": int(r[3]), "redemptions": int(r[4]), "amount": int(r[5]), "currency": programme.currency}
            for r in rows]


def timing(session: Session, programme_id: int) -> list[dict[str, Any]]:
    """Per service: how many vouchers used it, and the median and 90th percentile of days from the
    voucher's issuance to its first use of that service (e.g. issuance to delivery)."""
    programme = get_programme(session, programme_id)
    first = (select(Redemption.voucher_id, Redemption.service_id, func.min(Redemption.redeemed_at).label("at"))
             .group_by(Redemption.voucher_id, Redemption.service_id).subquery())
    days = func.extract("epoch", first.c.at - Voucher.issued_at) / 86400
    stats = (select(first.c.service_id, func.count().label("n"),
                    func.percentile_cont(0.5).within_group(days).label("median"),
                    func.percentile_cont(0.9).within_group(days).label("p90"))
             .join(Voucher, Voucher.id == first.c.voucher_id).where(Voucher.programme_id == programme.id)
             .group_by(first.c.service_id).subquery())
    rows = session.execute(select(ProgrammeService.code, ProgrammeService.name, stats.c.n, stats.c.median, stats.c.p90)
                           .outerjoin(stats, stats.c.service_id == ProgrammeService.id)
                           .where(ProgrammeService.programme_id == programme.id)
                           .order_by(ProgrammeService.position)).all()
    return [{"service": r[0], "name": r[1], "vouchers": int(r[2] or 0),
             "median_days": None if r[3] is None else round(float(r[3]), 1),
             "p90_days": None if r[4] is None else round(float(r[4]), 1)} for r in rows]


def report(session: Session, programme_id: int, kind: str, **options: Any) -> list[dict[str, Any]]:
    if kind not in KINDS:
        raise ValidationError(_("Unknown report."), errors={"kind": [_("one of: %(values)s", values=", ".join(KINDS))]})
    fn = {"services": by_service, "facilities": by_facility, "areas": by_area, "timing": timing}[kind]
    return fn(session, programme_id, **({"level": options.get("level")} if kind == "areas" else {}))


def reminders(session: Session, programme_id: int, *, service_code: str | None = None, idle_days: int = 30,
              principal: Principal | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Live vouchers with uses of ``service_code`` left (default the programme's first service, e.g.
    antenatal visits) whose last visit — or issuance — is ``idle_days`` or more ago: whom to remind,
    oldest first, within the principal's area."""
    programme = get_programme(session, programme_id)
    services = {s.code: s for s in services_of(session, programme.id)}
    service = services.get(service_code) if service_code else next(iter(services.values()), None)
    if service is None:
        raise ValidationError(_("The programme has no service %(code)s.", code=service_code),
                              errors={"service": [_("unknown service")]})
    if not isinstance(idle_days, int) or not 0 <= idle_days <= 3660:
        raise ValidationError(_("Give the idle days as a whole number."), errors={"idle_days": [_("0 to 3660")]})
    uses = (select(Redemption.voucher_id, func.count().filter(Redemption.service_id == service.id).label("used"),
                   func.max(Redemption.redeemed_at).label("last"))
            .group_by(Redemption.voucher_id).subquery())
    last = func.coalesce(uses.c.last, Voucher.issued_at)
    cutoff = func.now() - timedelta(days=idle_days)
    stmt = (select(Voucher.code, Voucher.expires_on, Individual.id, Individual.given_name, Individual.family_name,
                   Individual.phone, Location.name, func.coalesce(uses.c.used, 0), last)
            .join(Individual, Individual.id == Voucher.individual_id)
            .join(Location, Location.id == Individual.location_id)
            .outerjoin(uses, uses.c.voucher_id == Voucher.id)
            .where(Voucher.programme_id == programme.id, Voucher.status.in_([s.value for s in LIVE]),
                   Voucher.expires_on >= el.tenant_today(session),
                   func.coalesce(uses.c.used, 0) < service.count, last <= cutoff)
            .order_by(last, Voucher.id).limit(limit))
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, Individual.location_id)
    return [{"voucher_code": r[0], "expires_on": r[1], "individual_id": r[2], "given_name": r[3], "family_name": r[4],
             "phone": r[5], "village": r[6], "service": service.code, "used": int(r[7]), "count": service.count,
             "last_visit": r[8]} for r in session.execute(stmt).all()]


__all__ = ["KINDS", "by_service", "by_facility", "by_area", "timing", "report", "to_csv", "reminders"]
