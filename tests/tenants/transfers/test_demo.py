"""The cash-transfer template's demo data: an active programme with validated beneficiaries (as many
as its rule selects), payment points with a manager-less branch per district, everyone assigned to a
point of their district, and this month's cycle open with a payroll awaiting approval."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from schemehost.platform.extensions import db as sadb
from schemehost.platform.tenancy import open_tenant_session
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.transfers import services as tr
from schemehost.tenants.transfers.models import Beneficiary, PaymentCycle, PaymentPoint, Payroll


def test_demo_tenant_has_a_programme_beneficiaries_points_and_a_payroll_to_approve(app, monkeypatch):
    from schemehost.platform.partners.models import Partner
    from schemehost.provisioning.create import create_tenant

    monkeypatch.setitem(app.config, "DEMO_HOUSEHOLDS", 60)
    with app.app_context():
        partner = Partner(slug=f"td{uuid.uuid4().hex[:8]}", name="Demo partner")
        sadb.session.add(partner)
        sadb.session.commit()
        res = create_tenant(sadb.session, f"td{uuid.uuid4().hex[:8]}", name="Demo transfers", partner=partner.slug,
                            template="cash-transfer", demo_data=True, cold=True)
        sadb.session.commit()
        res.after_commit(wait=True)
        sadb.session.refresh(res.tenant)
        tenant = res.tenant
        assert tenant.status == "active"
        s = open_tenant_session(sadb.engine, tenant.schema_name, tenant.role_name)
        try:
            (programme,) = tr.list_programmes(s)
            assert (programme.code, programme.status, programme.currency) == ("NAFA-DEMO", "active", "GMD")
            selected = s.execute(select(func.count()).select_from(el.compile_filter(
                s, programme.eligibility, target="households").subquery())).scalar_one()
            statuses = dict(s.execute(select(Beneficiary.status, func.count()).group_by(Beneficiary.status)).all())
            assert selected > 0 and statuses == {"active": selected}
            points = {p.code: p for p in s.execute(select(PaymentPoint)).scalars()}
            assert {"PP-ESS", "PP-KUD", "MM-DEMO"} <= set(points)
            assert points["PP-ESS"].kind == "agent" and points["MM-DEMO"].kind == "mobile_money"
            unassigned = s.execute(select(func.count()).where(Beneficiary.payment_point_id.is_(None))).scalar_one()
            assert unassigned == 0
            (cycle,) = s.execute(select(PaymentCycle)).scalars()
            assert cycle.status == "open" and cycle.period_start.day == 1
            (payroll,) = s.execute(select(Payroll).where(Payroll.cycle_id == cycle.id)).scalars()
            assert payroll.status == "pending_approval" and payroll.lines == selected
            assert 150000 * selected <= payroll.total <= 250000 * selected
        finally:
            s.close()
