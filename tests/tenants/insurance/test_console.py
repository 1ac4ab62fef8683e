"""Insurance console pages with a signed-in tenant user: the product form (errors beside fields, a
new version for a product in use), enrolment and contributions, the eligibility page, permissions."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select

from schemehost.tenants.insurance.models import Contribution, InsuranceProduct, Policy

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402

TODAY = date.today()


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


FORM = {"code": "CHF", "name": "Family cover", "valid_from": "2020-01-01", "insurance_period_months": "12",
        "lump_sum": "30000", "threshold": "6", "premium_adult": "5000", "premium_child": "5000", "adult_age": "18",
        "waiting_period_days": "30", "copayment_percent": "10", "cycle_starts": "",
        "coverage": "CONS; 4;;\nPARA;; 2000; 20", "ceiling_policy_in_patient": "500000",
        "renewal_reminder_days": "30"}


def test_the_product_form_creates_reports_errors_and_versions(app, scheme, tenant_user):
    admin = _signed_in(app, scheme.tenant, tenant_user, ("tenant_admin",))
    base = f"/t/{scheme.slug}/insurance/products"
    bad = _post(admin, f"{base}/new", f"{base}/new", {**FORM, "code": "bad code", "valid_to": "2019-01-01",
                                                      "lump_sum": "12.345", "coverage": "CONS; 4\nNOPE",
                                                      "ceiling_policy_in_patient": "-1", "cycle_starts": "02-30"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "An amount with at most 2 decimals" in html  # lump sum in TZS
    assert "Line" in html or "1 to 50 letters" in html
    fixed = _post(admin, f"{base}/new", f"{base}/new", {**FORM, "coverage": "CONS; 4\nNOPE; 2"})
    assert fixed.status_code == 422
    assert "Line 2: No item or service with this code in the catalogue." in fixed.get_data(as_text=True)
    created = _post(admin, f"{base}/new", f"{base}/new", FORM)
    assert created.status_code == 302, created.get_data(as_text=True)
    with scheme.tenant.session() as s:
        product = s.execute(select(InsuranceProduct)).scalar_one()
        assert (product.lump_sum, product.premium_adult, product.cost_sharing) == (
            3_000_000, 500_000, {"ceiling_policy_in_patient": 50_000_000})
    page = admin.get(f"{base}/{product.id}").get_data(as_text=True)
    assert 'value="30000.00"' in page and "PARA; ; 2000.00; 20.00" in page
    assert admin.get(f"{base}/").get_data(as_text=True).count('data-code="CHF"') == 1
    # once a policy uses it, a change of the rules makes version 2
    household, _m, _n = scheme.household("1980-01-01")
    officer = _signed_in(app, scheme.tenant, tenant_user, ("enrolment_officer",))
    enrolled = _post(officer, f"/t/{scheme.slug}/insurance/policies/", f"/t/{scheme.slug}/insurance/policies/",
                     {"household_id": str(household), "product_code": "CHF", "enrol_date": TODAY.isoformat()})
    assert enrolled.status_code == 302, enrolled.get_data(as_text=True)
    changed = _post(admin, f"{base}/{product.id}", f"{base}/{product.id}", {**FORM, "lump_sum": "40000"})
    assert changed.status_code == 302, [l for l in changed.get_data(as_text=True).splitlines() if "error" in l]
    with scheme.tenant.session() as s:
        versions = s.execute(select(InsuranceProduct.version, InsuranceProduct.lump_sum)
                             .order_by(InsuranceProduct.version)).all()
        assert versions == [(1, 3_000_000), (2, 4_000_000)]
    assert "version 2 was made" in admin.get(changed.headers["Location"]).get_data(as_text=True)
    # the enrolment officer cannot change products
    assert _post(officer, f"{base}/{product.id}", f"{base}/{product.id}", FORM).status_code == 403
    assert officer.get(f"{base}/new").status_code == 403


def test_enrol_pay_and_check_coverage_from_the_console(app, scheme, tenant_user):
    admin = _signed_in(app, scheme.tenant, tenant_user, ("tenant_admin",))
    assert _post(admin, f"/t/{scheme.slug}/insurance/products/new", f"/t/{scheme.slug}/insurance/products/new",
                 {**FORM, "waiting_period_days": "0"}).status_code == 302
    household, _members, numbers = scheme.household("1980-01-01", "2016-01-01")
    officer = _signed_in(app, scheme.tenant, tenant_user, ("enrolment_officer",))
    policies = f"/t/{scheme.slug}/insurance/policies/"
    refused = _post(officer, policies, policies, {"household_id": "987654", "product_code": "CHF"})
    assert refused.status_code == 404 and "unknown household" in refused.get_data(as_text=True)
    resp = _post(officer, policies, policies, {"household_id": str(household), "product_code": "CHF",
                                               "enrol_date": (TODAY - timedelta(days=3)).isoformat()})
    assert resp.status_code == 302
    url = resp.headers["Location"]
    assert "30,000.00" in officer.get(url).get_data(as_text=True) or "30 000,00" in officer.get(url).get_data(
        as_text=True)
    bad = _post(officer, url, url, {"amount": "abc", "paid_on": TODAY.isoformat(), "method": "cash",
                                    "receipt_no": "C-1"})
    assert bad.status_code == 422 and "An amount with at most 2 decimals" in bad.get_data(as_text=True)
    paid = _post(officer, url, url, {"amount": "30000", "paid_on": TODAY.isoformat(), "method": "cash",
                                     "receipt_no": "C-1", "payer": "Head"})
    assert paid.status_code == 302
    again = _post(officer, url, url, {"amount": "1", "paid_on": TODAY.isoformat(), "method": "cash",
                                      "receipt_no": "C-1"})
    assert again.status_code == 409 and "already recorded" in again.get_data(as_text=True)
    with scheme.tenant.session() as s:
        assert s.execute(select(Policy.status)).scalar_one() == "active"
        assert s.execute(select(Contribution.receipt_no)).scalars().all() == ["C-1"]
    # facility staff check coverage
    cashier = _signed_in(app, scheme.tenant, tenant_user, ("facility_cashier",))
    check = f"/t/{scheme.slug}/insurance/eligibility/"
    ok = cashier.get(check, query_string={"insuree": numbers[0], "code": "CONS"}).get_data(as_text=True)
    assert 'data-covered="yes"' in ok and "4 of 4" in ok
    no = cashier.get(check, query_string={"insuree": numbers[0], "code": "XRAY"}).get_data(as_text=True)
    assert 'data-reason="not_covered"' in no
    empty = cashier.get(check, query_string={"insuree": "", "code": ""})
    assert empty.status_code == 422 and "The number on the insuree" in empty.get_data(as_text=True)
    assert cashier.get(check).status_code == 200
    assert cashier.get(policies).status_code == 403  # facility staff do not read policies


def test_another_tenants_pages_are_closed(app, scheme, tenant_user, make_tenant):
    from .conftest import build_scheme

    other = build_scheme(make_tenant("health-insurance"))
    admin = _signed_in(app, scheme.tenant, tenant_user, ("tenant_admin",))
    resp = admin.get(f"/t/{other.slug}/insurance/products/")
    assert resp.status_code in (302, 401, 403)
