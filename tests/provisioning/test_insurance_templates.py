"""A pilot scheme made from the ``health-insurance`` or ``employment-injury`` template with demo data
can start the same day: its product, priced catalogue and paid policies are there, and the eligibility
API answers "covered" for a demo insuree (a household member; a worker via the employer). One tenant
per template for the whole module (provisioning with demo data is slow)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from schemehost.platform.extensions import db as sadb
from schemehost.platform.tenancy import open_tenant_session
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.models import Employer, Policy, PolicyMember, WorkIncident
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import PriceList, PriceListLine
from schemehost.tenants.registry.people import Individual


def _pilot(app, template: str):
    from schemehost.platform.partners.models import Partner
    from schemehost.provisioning.create import create_tenant

    saved = app.config.get("DEMO_HOUSEHOLDS")
    app.config["DEMO_HOUSEHOLDS"] = 40
    try:
        with app.app_context():
            partner = Partner(slug=f"pp{uuid.uuid4().hex[:8]}", name="Pilot partner")
            sadb.session.add(partner)
            sadb.session.commit()
            res = create_tenant(sadb.session, f"pilot{uuid.uuid4().hex[:8]}", name="Pilot", partner=partner.slug,
                                template=template, demo_data=True, cold=True)
            sadb.session.commit()
            res.after_commit(wait=True)
            sadb.session.refresh(res.tenant)
            tenant = res.tenant
            assert tenant.status == "active"
            return tenant.slug, tenant.schema_name, tenant.role_name
    finally:
        app.config["DEMO_HOUSEHOLDS"] = saved


@pytest.fixture(scope="module")
def health(app):
    return _pilot(app, "health-insurance")


@pytest.fixture(scope="module")
def injury(app):
    return _pilot(app, "employment-injury")


class _Session:
    def __init__(self, app, pilot):
        self.app, self.pilot = app, pilot

    def __enter__(self):
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.s = open_tenant_session(sadb.engine, self.pilot[1], self.pilot[2])
        return self.s

    def __exit__(self, *exc):
        self.s.close()
        self.ctx.pop()


def _eligible(client, client_token, slug: str, insuree: str, service: str) -> dict:
    token = client_token(slug, scopes=("insurance.eligibility",))
    resp = client.get(f"/t/{slug}/api/v1/eligibility?insuree={insuree}&service={service}",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    return resp.json


def test_a_health_insurance_pilot_has_a_priced_product_and_paid_household_policies(app, health, client,
                                                                                   client_token):
    with _Session(app, health) as s:
        product = ins.product_valid_on(s, "CHF-BASIC", date.today())
        assert (product.holder, product.lump_sum, product.threshold, product.premium_adult) == (
            "household", 3_000_000, 6, 500_000)
        assert product.cost_sharing == {"ceiling_policy_in_patient": 150_000_000}
        covered = {c["code"]: c["limit_count"] for c in ins.coverage(s, product.id)}
        assert len(covered) == 14 and covered["OPD-CONS"] == 6 and covered["LAB-MRDT"] is None
        plist = s.execute(select(PriceList).where(PriceList.code == "PL-CHF-BASIC")).scalar_one()
        assert plist.facility_id is None and plist.currency == "TZS"
        assert s.execute(select(PriceListLine).where(PriceListLine.price_list_id == plist.id)).all().__len__() == 14
        facility = reg.get_facility_by_code(s, "KON-DH")
        quote = reg.price_for(s, facility.id, "OPD-CONS", date.today())
        assert (quote.amount, quote.source) == (500_000, "shared")
        policies = s.execute(select(Policy)).scalars().all()
        assert 0 < len(policies) <= 20 and all(p.status == "active" and p.paid >= p.value for p in policies)
        number = s.execute(select(Individual.scheme_number).join(
            PolicyMember, PolicyMember.individual_id == Individual.id).order_by(Individual.id).limit(1)).scalar_one()
    answer = _eligible(client, client_token, health[0], number, "OPD-CONS")
    assert answer["covered"] and answer["limits"]["count"]["remaining"] == 6


def test_an_employment_injury_pilot_covers_workers_via_their_employer(app, injury, client, client_token):
    with _Session(app, injury) as s:
        product = ins.product_valid_on(s, "EII-STD", date.today())
        assert (product.holder, str(product.wage_rate_percent), product.requires_incident) == (
            "employer", "1.400", True)
        assert s.execute(select(PriceList.code)).scalars().all() == ["PL-EII-STD"]
        employers = s.execute(select(Employer).order_by(Employer.code)).scalars().all()
        assert [e.code for e in employers] == ["EMP-0001", "EMP-0002", "EMP-0003"]
        assert employers[0].sector == "construction" and employers[0].registration_no == "PAN-301234567"
        policies = s.execute(select(Policy).order_by(Policy.id)).scalars().all()
        assert [p.employer_id for p in policies] == [e.id for e in employers]
        assert all(p.holder == "employer" and p.status == "active" and p.paid == p.value > 0 and p.adults == 6
                   for p in policies)
        workers = ins.workers(s, policies[0].id)
        assert len(workers) == 6 and workers[0]["wage"] >= 1_730_000
        incidents = s.execute(select(WorkIncident).order_by(WorkIncident.id)).scalars().all()
        assert [(i.status, i.kind) for i in incidents] == [("accepted", "accident"), ("reported", "commuting")]
        assert incidents[0].individual_id in {w["individual_id"] for w in workers}
        number = next(w["scheme_number"] for w in workers)
    answer = _eligible(client, client_token, injury[0], number, "EMG-TRIAGE")
    assert answer["covered"] and answer["policy"]["id"] == policies[0].id
