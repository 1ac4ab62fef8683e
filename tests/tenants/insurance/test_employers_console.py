"""Employment-injury console pages with signed-in tenant users: the employer form (errors beside
fields), enrolment of the employer in a product, workers added and removed on the policy's page, work
incidents recorded by the enrolment officer and decided by the claims reviewer only."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.models import Employer, PolicyMember, WorkIncident

from .conftest import build_scheme

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402

TODAY = date.today()


@pytest.fixture(scope="module")
def scheme(make_module_tenant):
    scheme = build_scheme(make_module_tenant("employment-injury"))
    with scheme.tenant.session() as s:
        ins.create_product(s, code="EII", name="Employment injury", valid_from=date(2020, 1, 1),
                           insurance_period_months=12, holder="employer", wage_rate_percent="1.4",
                           requires_incident=True, coverage=[{"code": "CONS"}])
    return scheme


def _signed_in(app, tenant, tenant_user, roles):
    client = app.test_client()
    own_address(client)
    _uid, email, password = tenant_user(tenant, roles=roles)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def _post(client, page, action, data):
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={"csrf_token": csrf_from(html), **data})


def test_a_product_for_employers_from_the_product_form(app, scheme, tenant_user):
    admin = _signed_in(app, scheme.tenant, tenant_user, ("tenant_admin",))
    new = f"/t/{scheme.slug}/insurance/products/new"
    form = {"code": "EII-F", "name": "Injury cover", "valid_from": "2020-01-01", "insurance_period_months": "12",
            "holder": "employer", "wage_rate_percent": "1.25", "premium_worker": "50", "requires_incident": "y",
            "coverage": "CONS"}
    both = _post(admin, new, new, form)
    assert both.status_code == 422 and "not both" in both.get_data(as_text=True)
    made = _post(admin, new, new, {**form, "premium_worker": ""})
    assert made.status_code == 302
    with scheme.tenant.session() as s:
        product = ins.product_valid_on(s, "EII-F", TODAY)
        assert (product.holder, str(product.wage_rate_percent), product.requires_incident) == (
            "employer", "1.250", True)
    html = admin.get(made.headers["Location"]).get_data(as_text=True)
    assert 'value="1.25"' in html and 'id="requires_incident"' in html


def test_employers_workers_and_incidents_from_the_console(app, scheme, tenant_user):
    officer = _signed_in(app, scheme.tenant, tenant_user, ("enrolment_officer",))
    base = f"/t/{scheme.slug}/insurance"
    assert "Employers" in officer.get(f"{base}/employers/").get_data(as_text=True)
    form = {"code": "EMP-1", "name": "Himal Brick Works", "registration_no": "PAN-1", "sector": "construction",
            "location": "NOPE", "contact_email": "not-an-address", "status": "active"}
    bad = _post(officer, f"{base}/employers/new", f"{base}/employers/new", form)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "No location with code" in html and "An e-mail address such as" in html
    made = _post(officer, f"{base}/employers/new", f"{base}/employers/new",
                 {**form, "location": "R-D-W-V", "contact_email": "hr@himal.example"})
    assert made.status_code == 302
    with scheme.tenant.session() as s:
        employer_id = s.execute(select(Employer.id).where(Employer.code == "EMP-1")).scalar_one()
    page = f"{base}/employers/{employer_id}"
    assert "Himal Brick Works" in officer.get(page).get_data(as_text=True)
    wrong = _post(officer, page, f"{page}/policies", {"product_code": "NOPE"})
    assert wrong.status_code == 404 and "no version of this product is valid" in wrong.get_data(as_text=True)
    enrolled = _post(officer, page, f"{page}/policies",
                     {"product_code": "EII", "enrol_date": (TODAY - timedelta(days=20)).isoformat()})
    assert enrolled.status_code == 302
    policy_page = enrolled.headers["Location"]
    policy_id = int(policy_page.rstrip("/").split("/")[-1])
    _household, ids, numbers = scheme.household("1984-02-02")
    unknown = _post(officer, policy_page, f"{base}/policies/{policy_id}/workers", {"worker": "NOBODY", "wage": "17300"})
    assert unknown.status_code == 422 and "No person has this number." in unknown.get_data(as_text=True)
    no_wage = _post(officer, policy_page, f"{base}/policies/{policy_id}/workers", {"worker": numbers[0], "wage": ""})
    assert no_wage.status_code == 422 and "The monthly wage is needed" in no_wage.get_data(as_text=True)
    added = _post(officer, policy_page, f"{base}/policies/{policy_id}/workers",
                  {"worker": numbers[0], "wage": "17300.50",
                   "covered_from": (TODAY - timedelta(days=10)).isoformat()})
    assert added.status_code == 302
    html = officer.get(policy_page).get_data(as_text=True)
    assert numbers[0] in html and "Balance due" in html
    with scheme.tenant.session() as s:
        assert s.get(PolicyMember, (policy_id, ids[0])).wage == 1_730_050
    # an incident: recorded by the officer, decided by a claims reviewer only
    recorded = _post(officer, f"{base}/incidents/", f"{base}/incidents/", {
        "employer": "EMP-1", "worker": numbers[0], "incident_date": (TODAY - timedelta(days=2)).isoformat(),
        "reported_on": TODAY.isoformat(), "kind": "accident", "place": "Kiln", "description": "Burnt hand"})
    assert recorded.status_code == 302, recorded.get_data(as_text=True)
    incident_page = recorded.headers["Location"]
    assert "Burnt hand" in officer.get(incident_page).get_data(as_text=True)
    assert _post(officer, incident_page, incident_page, {"decision": "accept"}).status_code == 403
    reviewer = _signed_in(app, scheme.tenant, tenant_user, ("claims_reviewer",))
    queue = reviewer.get(f"{base}/incidents/review").get_data(as_text=True)
    assert "Incidents to decide" in queue and incident_page.split("/")[-1] in queue
    assert officer.get(f"{base}/incidents/review").status_code == 403
    empty = _post(reviewer, incident_page, incident_page, {"decision": "reject", "note": ""})
    assert empty.status_code == 422 and "This is needed." in empty.get_data(as_text=True)
    assert _post(reviewer, incident_page, incident_page, {"decision": "accept", "note": ""}).status_code == 302
    with scheme.tenant.session() as s:
        assert s.execute(select(WorkIncident.status)).scalar_one() == "accepted"
    # the worker leaves
    left = _post(officer, policy_page, f"{base}/policies/{policy_id}/workers/{ids[0]}/leave",
                 {"on": TODAY.isoformat()})
    assert left.status_code == 302
    with scheme.tenant.session() as s:
        assert s.get(PolicyMember, (policy_id, ids[0])).covered_to == TODAY
