"""Template demo data of the cash-transfers module (decision 0410): the template's transfer programmes
(``demo.programmes`` with ``module: transfers``) created active through the services, payment points
(the template's ``payment_point`` facilities as agents, its mobile-money providers as mobile-money
points, and a branch in every other district with beneficiaries), everyone eligible enrolled and
validated, each beneficiary assigned to a payment point of their district, and the current month's
cycle open with its payroll generated and awaiting approval (by any user: the demo generated it).

A programme's ``details`` use the programme fields of ``services.create_programme`` (amounts in minor
units); ``benefit_amount`` is read as ``base_amount``. ``demo_payroll: false`` leaves the cycle without
a payroll.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER

log = logging.getLogger("schemehost.transfers.demo")
ACTOR = ("system", "demo", None)
KEYS = ("target", "eligibility", "benefit_kind", "base_amount", "per_child_amount", "child_max_age", "max_children",
        "cap_amount", "frequency", "budget_ceiling", "max_beneficiaries", "district_level")


def programme_input(item: dict[str, Any], currency: str) -> dict[str, Any]:
    """The input of ``services.create_programme`` for one template programme (made active)."""
    details = dict(item.get("details") or {})
    if "benefit_amount" in details:
        details.setdefault("base_amount", details.pop("benefit_amount"))
    values = {k: details[k] for k in KEYS if k in details}
    return {**values, "code": item["code"], "name": item["name"], "currency": details.get("currency", currency),
            "status": "active"}


def _payment_points(session: Session, template, district_level: int) -> list[int]:
    """The template's payment points, then a branch in each district with households and no point yet."""
    from schemehost.tenants.registry.models import Location
    from schemehost.tenants.registry.people import Household
    from schemehost.tenants.transfers import services as tr

    existing = {p.code for p in tr.list_payment_points(session)}
    by_code = dict(session.execute(select(Location.code, Location.id)).all())
    demo = template.demo or {}
    wanted = [(f["code"], f["name"], "agent", f.get("location")) for f in demo.get("facilities") or []
              if f.get("kind") == "payment_point"]
    wanted += [(o["code"], o["name"], "mobile_money", o.get("location")) for o in demo.get("organisations") or []
               if o.get("kind") == "mobile_money_provider"]
    made = []
    for code, name, kind, location in wanted:
        if code in existing or location not in by_code:
            continue
        made.append(tr.create_payment_point(session, code=code, name=name, kind=kind, location_id=by_code[location]).id)
        existing.add(code)
    home = Location.__table__.alias("home")
    district = home.c.path[district_level + 1]
    covered = {row[0] for row in session.execute(
        select(Location.path[district_level + 1]).select_from(tr.PaymentPoint)
        .join(Location, Location.id == tr.PaymentPoint.location_id)).all()}
    districts = session.execute(select(Location.id, Location.code, Location.name).where(
        Location.id.in_(select(district).select_from(Household).join(home, home.c.id == Household.location_id)))
        .order_by(Location.code)).all()
    for location_id, code, name in districts:
        if location_id in covered or f"PP-{code}"[:40] in existing:
            continue
        made.append(tr.create_payment_point(session, code=f"PP-{code}"[:40], name=f"{name} branch"[:200],
                                            kind="branch", location_id=location_id).id)
    return made


def seed_programmes(conn: Connection, schema: str, template, *, today: date | None = None) -> dict[str, int]:
    """Create the template's transfer programmes in ``schema`` (in ``conn``'s transaction) with payment
    points, validated beneficiaries and an open cycle whose payroll awaits approval; returns {programme
    code: beneficiaries}. Runs after the registry's demo data."""
    from schemehost.tenants.registry import eligibility as el
    from schemehost.tenants.registry.models import Location
    from schemehost.tenants.transfers import enrolment as en
    from schemehost.tenants.transfers import services as tr
    from schemehost.tenants.transfers.models import PaymentPoint

    items = [p for p in (template.demo or {}).get("programmes", []) if p.get("module") == "transfers"]
    if not items:
        return {}
    bound = conn.execution_options(schema_translate_map={TENANT_PLACEHOLDER: schema})
    session = Session(bind=bound, join_transaction_mode="create_savepoint")
    made: dict[str, int] = {}
    try:
        for item in items:
            programme = tr.create_programme(session, **programme_input(item, template.currency))
            _payment_points(session, template, programme.district_level)
            counts = en.enrol_bulk(session, programme.id, reason="demo data", actor=ACTOR)
            en.change_status_bulk(session, programme.id, to="active", reason="validated (demo data)",
                                  spec={"status": "potential"}, actor=ACTOR)
            level = programme.district_level
            points = session.execute(select(PaymentPoint.id, Location.path[level + 1])
                                     .join(Location, Location.id == PaymentPoint.location_id)
                                     .where(PaymentPoint.kind != "mobile_money")
                                     .order_by(PaymentPoint.kind.desc(), PaymentPoint.id)).all()
            for point_id, district_id in points:  # branches first, agents last: an agent serves its district
                if district_id is not None:
                    en.assign_point_bulk(session, programme.id, point_id,
                                         spec={"location_id": district_id, "status": "active"})
            day = (today or el.tenant_today(session)).replace(day=1)
            cycle = tr.open_cycle(session, programme.id, day)
            if counts["enrolled"] and (item.get("details") or {}).get("demo_payroll", True):
                tr.generate_payroll(session, cycle.id, principal=None)
            made[programme.code] = counts["enrolled"]
        session.commit()  # releases the savepoint: the caller's transaction commits or rolls back
    finally:
        session.close()
    return made
