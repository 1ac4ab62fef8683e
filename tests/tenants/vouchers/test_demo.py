"""The maternal-voucher template's demo data: its CS-MERE programme (services with order constraints,
facilities, eligibility, budget) is created and vouchers issued to everyone it selects."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from schemehost.platform.extensions import db as sadb
from schemehost.platform.tenancy import open_tenant_session
from schemehost.tenants.vouchers import codes
from schemehost.tenants.vouchers import services as vs
from schemehost.tenants.vouchers.models import Voucher


def test_demo_tenant_has_the_programme_and_vouchers(app, monkeypatch):
    from schemehost.platform.partners.models import Partner
    from schemehost.provisioning.create import create_tenant

    monkeypatch.setitem(app.config, "DEMO_HOUSEHOLDS", 40)
    with app.app_context():
        partner = Partner(slug=f"vd{uuid.uuid4().hex[:8]}", name="Demo partner")
        sadb.session.add(partner)
        sadb.session.commit()
        res = create_tenant(sadb.session, f"vd{uuid.uuid4().hex[:8]}", name="Demo vouchers", partner=partner.slug,
                            template="maternal-voucher", demo_data=True, cold=True)
        sadb.session.commit()
        res.after_commit(wait=True)
        sadb.session.refresh(res.tenant)
        tenant = res.tenant
        assert tenant.status == "active"
        s = open_tenant_session(sadb.engine, tenant.schema_name, tenant.role_name)
        try:
            programme = vs.get_programme_by_code(s, "CS-MERE")
            services = {x.code: x for x in vs.services_of(s, programme.id)}
            assert list(services) == ["CPN", "ACC", "CES", "CPON", "TRANS"]
            assert (services["ACC"].requires_code, services["ACC"].requires_count) == ("CPN", 1)
            assert programme.currency == "XAF" and len(vs.facility_ids_of(s, programme.id)) == 3
            issued = s.execute(select(Voucher.code, Voucher.individual_id)
                               .where(Voucher.programme_id == programme.id)).all()
            assert issued and all(codes.is_valid(v.code) for v in issued)
            assert all(vs.is_eligible(s, programme, v.individual_id) for v in issued)
            figures = vs.budget(s, programme)
            assert figures["issued_count"] == len(issued) and figures["committed"] == len(issued) * 120000
        finally:
            s.close()
