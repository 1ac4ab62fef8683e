"""The health-insurance template's demo data: its CHF-BASIC product (lump sum for up to 6 members,
500.00 per member above), the catalogue entries it covers and paid policies that make the eligibility
check answer "covered" on a fresh demo scheme; the employment-injury template's wage-based product is
left out."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from schemehost.platform.extensions import db as sadb
from schemehost.platform.tenancy import open_tenant_session
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.demo import product_input
from schemehost.tenants.insurance.models import InsuranceProduct, Policy, PolicyMember
from schemehost.tenants.registry.people import Individual


def _demo_tenant(app, template):
    from schemehost.platform.partners.models import Partner
    from schemehost.provisioning.create import create_tenant

    partner = Partner(slug=f"id{uuid.uuid4().hex[:8]}", name="Demo partner")
    sadb.session.add(partner)
    sadb.session.commit()
    res = create_tenant(sadb.session, f"id{uuid.uuid4().hex[:8]}", name="Demo insurance", partner=partner.slug,
                        template=template, demo_data=True, cold=True)
    sadb.session.commit()
    res.after_commit(wait=True)
    sadb.session.refresh(res.tenant)
    assert res.tenant.status == "active"
    return res.tenant


def test_the_health_insurance_demo_has_its_product_and_paid_policies(app, monkeypatch):
    monkeypatch.setitem(app.config, "DEMO_HOUSEHOLDS", 30)
    with app.app_context():
        tenant = _demo_tenant(app, "health-insurance")
        s = open_tenant_session(sadb.engine, tenant.schema_name, tenant.role_name)
        try:
            product = ins.product_valid_on(s, "CHF-BASIC", date.today())
            assert (product.lump_sum, product.threshold, product.premium_adult, product.premium_child) == (
                3_000_000, 6, 500_000, 500_000)
            assert (product.waiting_period_days, product.currency, product.max_members) == (30, "TZS", None)
            assert {c["code"] for c in ins.coverage(s, product.id)} >= {"OPD-CONS", "MED-PARA500"}
            policies = s.execute(select(Policy)).scalars().all()
            assert 0 < len(policies) <= 20 and all(p.status == "active" and p.paid == p.value for p in policies)
            number = s.execute(select(Individual.scheme_number).join(
                PolicyMember, PolicyMember.individual_id == Individual.id).limit(1)).scalar_one()
            answer = ins.eligibility.check(s, insuree=number, code="OPD-CONS", kind="service", day=date.today(),
                                           principal=None)
            assert answer.covered and answer.limits["count"]["remaining"] == 6
        finally:
            s.close()


def test_a_wage_based_template_product_is_not_made_yet():
    employer = {"code": "EII-STD", "name": "Employment injury", "module": "insurance",
                "details": {"payer": "employer", "contribution_rate": "0.014"}}
    assert product_input(employer, date(2027, 5, 1)) is None
    family = {"code": "F", "name": "Family", "details": {"lump_sum": 10, "max_members": 4, "extra_member": 3,
                                                         "waiting_period_days": 7}}
    assert product_input(family, date(2027, 5, 1)) == {
        "code": "F", "name": "Family", "valid_from": date(2027, 1, 1), "lump_sum": 10, "threshold": 4,
        "max_members": None, "premium_adult": 3, "premium_child": 3, "waiting_period_days": 7,
        "insurance_period_months": 12}
