"""Voucher console pages: the programme form (services, facilities, eligibility, budget in major
units), the programme page with its budget, issuing one voucher by scheme number, the printable
cards with QR codes, and the redemption desk with its refusals; pages need their permissions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from schemehost.tenants.vouchers import codes

from .conftest import ELIGIBILITY

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402


def signed_in(app, tenant, tenant_user, roles):
    _uid, email, password = tenant_user(tenant, roles=roles)
    client = app.test_client()
    own_address(client)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302
    return client


def test_programme_form_issue_cards_and_redeem(app, world, tenant_user):
    slug = world.tenant.slug
    admin = signed_in(app, world.tenant, tenant_user, ("tenant_admin",))
    page = admin.get(f"/t/{slug}/vouchers/programmes/new")
    assert page.status_code == 200 and 'name="services-0-tariff"' in page.get_data(as_text=True)
    form = {"csrf_token": csrf_from(page.get_data(as_text=True)), "code": "PNC", "name": "Postnatal",
            "validity_days": "90", "budget_ceiling": "1 000 000", "facilities": ["CSI-A"],
            "eligibility": json.dumps(ELIGIBILITY),
            "services-0-code": "PNC", "services-0-name": "Postnatal visit", "services-0-tariff": "2500",
            "services-0-count": "2", "services-1-code": "TR", "services-1-name": "Transport",
            "services-1-tariff": "abc", "services-1-count": "1"}
    bad = admin.post(f"/t/{slug}/vouchers/programmes/new", data=form)
    html = bad.get_data(as_text=True)  # the tenant speaks French: the message names the currency
    assert bad.status_code == 422 and 'class="field-error"' in html and "XAF" in html.split('name="services-1-tariff"')[1][:400]
    form["services-1-tariff"] = "5000"
    resp = admin.post(f"/t/{slug}/vouchers/programmes/new", data=form)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    programme_url = resp.headers["Location"]
    html = admin.get(programme_url).get_data(as_text=True)
    assert 'id="budget"' in html and "PNC" in html and "Centre CSI-A" in html
    # issue one voucher by scheme number (amina is VS0); a man is refused beside the field
    csrf = csrf_from(html)
    refused = admin.post(programme_url + "/issue", data={"csrf_token": csrf, "scheme_number": "VS4"})
    assert refused.status_code == 422 and 'class="field-error"' in refused.get_data(as_text=True)
    resp = admin.post(programme_url + "/issue", data={"csrf_token": csrf, "scheme_number": "VS0"})
    assert resp.status_code == 302 and "/cards?code=" in resp.headers["Location"]
    code = resp.headers["Location"].rsplit("=", 1)[1]
    assert codes.is_valid(code)
    cards = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert cards.count('class="card"') == 1 and "<svg" in cards and codes.grouped(code) in cards
    # the redemption desk
    cashier = signed_in(app, world.tenant, tenant_user, ("facility_cashier",))
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert cashier.get(f"/t/{slug}/vouchers/redeem", query_string={"code": wrong}).status_code == 422
    found = cashier.get(f"/t/{slug}/vouchers/redeem", query_string={"code": codes.grouped(code)})
    assert found.status_code == 302
    desk = cashier.get(found.headers["Location"]).get_data(as_text=True)
    assert "amina" in desk and 'data-service="PNC"' in desk
    csrf = csrf_from(desk)
    other = cashier.post(found.headers["Location"], data={"csrf_token": csrf, "service": "PNC", "facility": "CSI-B"})
    assert other.status_code == 409 and 'id="refusal"' in other.get_data(as_text=True)
    ok = cashier.post(found.headers["Location"], data={"csrf_token": csrf, "service": "TR", "facility": "CSI-A"})
    assert ok.status_code == 302
    again = cashier.post(found.headers["Location"], data={"csrf_token": csrf, "service": "TR", "facility": "CSI-A"})
    assert again.status_code in (409, 422)  # transport used: no longer offered, and refused if posted anyway
    # a cashier may not manage programmes; an enrolment officer may not redeem
    assert cashier.get(f"/t/{slug}/vouchers/programmes/new").status_code == 403
    officer = signed_in(app, world.tenant, tenant_user, ("enrolment_officer",))
    assert officer.get(f"/t/{slug}/vouchers/redeem").status_code == 403
    assert officer.get(programme_url).status_code == 200


def test_reimbursement_pages(app, world, tenant_user):
    from schemehost.tenants.vouchers import services as vs

    with world.tenant.session() as s:
        code = vs.issue_voucher(s, world.programme_id, world.people["amina"], principal=None).code
        vs.redeem(s, code, service_code="CPN", facility_id=world.facilities["CSI-A"])
    slug = world.tenant.slug
    cashier = signed_in(app, world.tenant, tenant_user, ("facility_cashier",))
    assert cashier.get(f"/t/{slug}/vouchers/claims").status_code == 403
    payer = signed_in(app, world.tenant, tenant_user, ("payment_officer",))
    page = payer.get(f"/t/{slug}/vouchers/claims")
    assert page.status_code == 200
    csrf = csrf_from(page.get_data(as_text=True))
    bad = payer.post(f"/t/{slug}/vouchers/claims", data={"csrf_token": csrf, "period_start": "2000-01-01",
                                                          "period_end": "2100-01-01", "facility": "NOPE",
                                                          "sample_percent": "100"})
    assert bad.status_code == 422 and 'class="field-error"' in bad.get_data(as_text=True)
    resp = payer.post(f"/t/{slug}/vouchers/claims", data={"csrf_token": csrf, "period_start": "2000-01-01",
                                                           "period_end": "2100-01-01", "facility": "",
                                                           "sample_percent": "100"})
    assert resp.status_code == 302
    listing = payer.get(f"/t/{slug}/vouchers/claims", query_string={"facility": "CSI-A"}).get_data(as_text=True)
    claim_id = int(listing.split('data-claim="')[1].split('"')[0])
    url = f"/t/{slug}/vouchers/claims/{claim_id}"
    html = payer.get(url).get_data(as_text=True)
    redemption = int(html.split('data-redemption="')[1].split('"')[0])
    assert 'data-verification="flagged"' in html
    early = payer.post(url, data={"csrf_token": csrf, "action": "approve"})
    assert early.status_code == 409 and 'id="problem"' in early.get_data(as_text=True)
    assert payer.post(url, data={"csrf_token": csrf, "action": "confirm", "redemption_id": redemption}).status_code == 302
    assert payer.post(url, data={"csrf_token": csrf, "action": "approve"}).status_code == 302
    assert payer.post(url, data={"csrf_token": csrf, "action": "pay", "reference": ""}).status_code == 422
    assert payer.post(url, data={"csrf_token": csrf, "action": "pay", "reference": "TRF-9"}).status_code == 302
    html = payer.get(url).get_data(as_text=True)
    assert 'data-status="paid"' in html and "TRF-9" in html


def test_reports_and_reminders_pages(app, world, tenant_user):
    from schemehost.tenants.vouchers import services as vs

    with world.tenant.session() as s:
        code = vs.issue_voucher(s, world.programme_id, world.people["amina"], principal=None).code
        vs.redeem(s, code, service_code="CPN", facility_id=world.facilities["CSI-A"])
    slug, pid = world.tenant.slug, world.programme_id
    auditor = signed_in(app, world.tenant, tenant_user, ("auditor",))
    page = auditor.get(f"/t/{slug}/vouchers/programmes/{pid}/reports", query_string={"level": "3"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="report-services"' in html and 'data-facility="CSI-A"' in html and 'data-area="V1"' in html
    assert 'class="chart bar"' in html
    # the page's CSV links work with the console's sign-in (the API's CSV takes bearer tokens only)
    link = html.split('id="csv-facilities"')[0].rsplit('href="', 1)[1].split('"')[0]
    facilities = auditor.get(link.replace("&amp;", "&"))
    assert facilities.status_code == 200 and facilities.mimetype == "text/csv"
    assert facilities.get_data(as_text=True).splitlines()[0].startswith("facility,name,redemptions")
    officer = signed_in(app, world.tenant, tenant_user, ("enrolment_officer",))
    assert officer.get(f"/t/{slug}/vouchers/programmes/{pid}/reports").status_code == 403
    html = officer.get(f"/t/{slug}/vouchers/programmes/{pid}/reminders", query_string={"idle_days": 0}).get_data(as_text=True)
    assert f'data-code="{code}"' in html and "1 / 2" in html


def test_cancel_and_reissue_pages(app, world, tenant_user):
    from schemehost.tenants.vouchers import services as vs

    with world.tenant.session() as s:
        old = vs.issue_voucher(s, world.programme_id, world.people["amina"], principal=None).code
    slug = world.tenant.slug
    officer = signed_in(app, world.tenant, tenant_user, ("enrolment_officer",))
    found = officer.get(f"/t/{slug}/vouchers/find", query_string={"code": codes.grouped(old)})
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/vouchers/v/{old}")
    page = officer.get(found.headers["Location"])
    csrf = csrf_from(page.get_data(as_text=True))
    assert officer.post(found.headers["Location"], data={"csrf_token": csrf, "action": "reissue",
                                                         "reason": ""}).status_code == 422
    resp = officer.post(found.headers["Location"], data={"csrf_token": csrf, "action": "reissue", "reason": "lost"})
    assert resp.status_code == 302
    new = resp.headers["Location"].rsplit("/", 1)[1]
    assert new != old and codes.is_valid(new)
    assert 'data-status="cancelled"' in officer.get(f"/t/{slug}/vouchers/v/{old}").get_data(as_text=True)
    resp = officer.post(f"/t/{slug}/vouchers/v/{new}", data={"csrf_token": csrf, "action": "cancel", "reason": "moved"})
    assert resp.status_code == 302
    assert 'data-status="cancelled"' in officer.get(f"/t/{slug}/vouchers/v/{new}").get_data(as_text=True)
    cashier = signed_in(app, world.tenant, tenant_user, ("facility_cashier",))
    assert cashier.get(f"/t/{slug}/vouchers/v/{new}").status_code == 403


def test_bulk_issuance_button_runs_the_job(app, world, tenant_user, monkeypatch):
    monkeypatch.setitem(app.config, "VOUCHERS_JOBS_INLINE", True)
    slug, pid = world.tenant.slug, world.programme_id
    officer = signed_in(app, world.tenant, tenant_user, ("enrolment_officer",))
    page = officer.get(f"/t/{slug}/vouchers/programmes/{pid}")
    csrf = csrf_from(page.get_data(as_text=True))
    assert officer.post(f"/t/{slug}/vouchers/programmes/{pid}/bulk", data={}).status_code == 400  # no CSRF token
    resp = officer.post(f"/t/{slug}/vouchers/programmes/{pid}/bulk", data={"csrf_token": csrf})
    assert resp.status_code == 302
    html = officer.get(resp.headers["Location"]).get_data(as_text=True)
    assert "flash-success" in html and "4" in html.split('class="flash flash-success"')[1].split("</p>")[0]
    cards = officer.get(f"/t/{slug}/vouchers/programmes/{pid}/cards").get_data(as_text=True)
    assert cards.count('class="card"') == 4 and cards.count('class="sheet"') == 1
