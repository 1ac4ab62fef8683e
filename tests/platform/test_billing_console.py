"""Billing console pages (operator) and the tenant's own billing page and API: forms, payments with proof,
printable invoice, and no tenant seeing another's invoices."""

from __future__ import annotations

import io
import re
import sys
from datetime import date
from pathlib import Path

import pytest
from _console_support import csrf_from, form_post, make_operator, sign_in

from schemehost.platform.billing import services as billing
from schemehost.platform.extensions import db
from schemehost.platform.tenants.models import Tenant

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import plan  # noqa: E402

HTML = {"Accept": "text/html"}


@pytest.fixture
def admin(app, client):
    sign_in(client, make_operator(app))
    return client


def _invoice_for(app, handle, fixed_fee=25000):
    """Subscribe ``handle`` from 2026-01-01 and invoice January; returns the invoice id."""
    with app.app_context():
        tenant = db.session.get(Tenant, handle.id)
        billing.update_partner_profile(db.session, tenant.partner, legal_name="Hosting Partner SARL",
                                       address="BP 123\nYaoundé", payment_instructions="Orange Money 699 00 00 00")
        billing.subscribe(db.session, tenant, plan(tenant.partner, f"c{handle.id}", fixed_fee=fixed_fee, prices=[]),
                          start=date(2026, 1, 1), actor="test")
        [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[handle.id])
        db.session.commit()
        return invoice.id


def test_plan_form_shows_field_errors_then_creates(admin, partner):
    page = admin.get("/console/billing/plans")
    assert page.status_code == 200
    bad = form_post(admin, "/console/billing/plans", {"partner": partner, "code": "web", "name": "Web plan",
                                                      "currency": "ZZZ", "period": "monthly", "fixed_fee": "10",
                                                      "setup_fee": "0", "trial_days": "0", "meter": "",
                                                      "read_only_after_days": "30", "suspend_after_days": "60"})
    assert bad.status_code == 422
    assert "ISO 4217" in bad.get_data(as_text=True)
    ok = form_post(admin, "/console/billing/plans", {"partner": partner, "code": "web", "name": "Web plan",
                                                     "currency": "TZS", "period": "monthly", "fixed_fee": "150,000.50",
                                                     "setup_fee": "0", "trial_days": "0",
                                                     "meter": "active_individuals", "included": "100",
                                                     "unit_price": "12.5", "read_only_after_days": "30",
                                                     "suspend_after_days": "60"})
    assert ok.status_code == 302
    html = admin.get("/console/billing/plans").get_data(as_text=True)
    assert 'data-code="web"' in html and "1250" not in html
    with admin.application.app_context():
        [web] = [p for p in billing.list_plans(db.session) if p.code == "web"]
        assert web.fixed_fee == 15000050 and web.prices[0].tiers[0]["unit_amount"] == "1250"


def test_invoice_page_records_a_payment_with_proof_and_prints(app, admin, make_tenant):
    handle = make_tenant("blank")
    invoice_id = _invoice_for(app, handle)
    page = admin.get(f"/console/billing/invoices/{invoice_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-kind="fixed"' in html
    resp = admin.post(f"/console/billing/invoices/{invoice_id}/payments", content_type="multipart/form-data", data={
        "csrf_token": csrf_from(html), "method": "mobile_money", "amount": "10000", "reference": "OM-778",
        "paid_on": "2026-02-03", "proof": (io.BytesIO(b"%PDF-1.4 receipt"), "receipt.pdf", "application/pdf")})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    html = admin.get(f"/console/billing/invoices/{invoice_id}").get_data(as_text=True)
    assert "OM-778" in html and "receipt.pdf" in html
    proof_url = re.search(r'href="(/console/billing/payments/\d+/proof)"', html).group(1)
    assert admin.get(proof_url).data == b"%PDF-1.4 receipt"
    # more than outstanding: the field says so, nothing recorded
    over = admin.post(f"/console/billing/invoices/{invoice_id}/payments", data={
        "csrf_token": csrf_from(html), "method": "bank", "amount": "999999", "reference": "X-1", "paid_on": "2026-02-04"})
    assert over.status_code == 422 and "X-1" not in admin.get(f"/console/billing/invoices/{invoice_id}").get_data(as_text=True)
    printed = admin.get(f"/console/billing/invoices/{invoice_id}/print").get_data(as_text=True)
    assert "Hosting Partner SARL" in printed and "Orange Money" in printed and re.search(r"Invoice [A-Z0-9-]+-\d{6}", printed)


def test_tenant_sees_only_its_own_billing_even_when_suspended(app, client, make_tenant, tenant_user, client_token):
    from tests.tenants.test_sessions import sign_in as tenant_sign_in

    mine, other = make_tenant("blank"), make_tenant("blank")
    my_invoice, other_invoice = _invoice_for(app, mine), _invoice_for(app, other, fixed_fee=99000)
    token = client_token(mine, scopes=("billing.manage",))
    auth = {"Authorization": f"Bearer {token}"}
    listing = client.get(f"/t/{mine.slug}/api/v1/billing/invoices", headers=auth)
    assert listing.status_code == 200 and [i["id"] for i in listing.json] == [my_invoice]
    assert client.get(f"/t/{mine.slug}/api/v1/billing/invoices/{other_invoice}", headers=auth).status_code == 404
    no_perm = client_token(mine, scopes=("settings.manage",))
    assert client.get(f"/t/{mine.slug}/api/v1/billing/invoices",
                      headers={"Authorization": f"Bearer {no_perm}"}).status_code == 403

    _uid, email, password = tenant_user(mine)
    assert tenant_sign_in(client, mine, email, password).status_code == 302
    page = client.get(f"/t/{mine.slug}/billing/", headers=HTML)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'data-id="{my_invoice}"' in html and f'data-id="{other_invoice}"' not in html
    assert client.get(f"/t/{mine.slug}/billing/invoices/{other_invoice}", headers=HTML).status_code == 404

    with app.app_context():
        from schemehost.provisioning.lifecycle import suspend_tenant

        suspend_tenant(db.session, mine.slug, actor="test", reason="billing test")
        db.session.commit()
    # suspended: the billing page and the printable invoice stay open, the API does not
    suspended_page = client.get(f"/t/{mine.slug}/billing/", headers=HTML)
    assert suspended_page.status_code == 200 and 'id="status-banner"' in suspended_page.get_data(as_text=True)
    printed = client.get(f"/t/{mine.slug}/billing/invoices/{my_invoice}", headers=HTML)
    assert printed.status_code == 200 and "Hosting Partner SARL" in printed.get_data(as_text=True)
    assert client.get(f"/t/{mine.slug}/api/v1/billing/invoices", headers=auth).status_code == 423


def test_cost_of_service_page_csv_and_api(app, admin, api, make_tenant):
    from schemehost.platform.billing.meters import store_usage

    handle = make_tenant("blank")
    _invoice_for(app, handle, fixed_fee=40000)
    with app.app_context():
        store_usage(db.session, [(handle.id, "storage_mb", date(2026, 1, 3), 9), (handle.id, "storage_mb", date(2026, 1, 9), 12)])
        db.session.commit()
    page = admin.get("/console/billing/cost?month=2026-01").get_data(as_text=True)
    assert f'data-tenant="{handle.slug}"' in page
    csv_text = admin.get("/console/billing/cost.csv?month=2026-01").get_data(as_text=True)
    import csv

    [row] = [r for r in csv.DictReader(io.StringIO(csv_text)) if r["tenant"] == handle.slug]
    assert (row["storage_mb"], row["job_seconds"], row["billed"], row["currency"]) == ("12", "0.0", "40000", "XAF")
    usage = admin.get(f"/console/billing/usage/{handle.slug}?start=2026-01-01&end=2026-02-01").get_data(as_text=True)
    assert 'data-meter="storage_mb"' in usage and '<progress max="12" value="9">' in usage
    rows = api.get("/api/v1/billing/cost-of-service?month=2026-01").json
    [mine] = [r for r in rows if r["tenant"] == handle.slug]
    assert mine["storage_mb"] == 12 and mine["billed"] == 40000 and mine["currency"] == "XAF"
    assert api.get("/api/v1/billing/cost-of-service?month=2026-13").status_code == 422


def test_partner_staff_see_only_their_partners_billing_and_support_cannot_change_it(app, client, bare_tenant):
    from schemehost.platform.billing.meters import store_usage

    ids = []
    for prefix in ("ma", "mb"):
        tenant_id, _slug = bare_tenant(prefix)
        with app.app_context():
            tenant = db.session.get(Tenant, tenant_id)
            tenant.status = "active"
            billing.subscribe(db.session, tenant, plan(tenant.partner, f"s{tenant_id}", prices=[]),
                              start=date(2026, 1, 1), actor="test")
            [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant_id])
            store_usage(db.session, [(tenant_id, "active_individuals", date(2026, 2, 2), 5)])
            ids.append((tenant.slug, tenant.partner.slug, invoice.id))
            db.session.commit()
    (mine, my_partner, my_invoice), (theirs, _their_partner, their_invoice) = ids

    sign_in(client, make_operator(app, role="partner_staff", partner=my_partner))
    assert client.get(f"/console/billing/invoices/{my_invoice}", headers=HTML).status_code == 200
    assert client.get(f"/console/billing/invoices/{their_invoice}", headers=HTML).status_code == 404
    assert client.get(f"/console/billing/invoices/{their_invoice}/print", headers=HTML).status_code == 404
    assert client.get(f"/console/billing/usage/{theirs}", headers=HTML).status_code == 404
    overview = client.get("/console/billing/", headers=HTML).get_data(as_text=True)
    assert f'data-id="{my_invoice}"' in overview and f'data-id="{their_invoice}"' not in overview
    client.post("/console/sign-out", data={"csrf_token": csrf_from(overview)})

    sign_in(client, make_operator(app, role="support"))
    page = client.get(f"/console/billing/invoices/{my_invoice}", headers=HTML)
    assert page.status_code == 200 and 'id="payment-form"' not in page.get_data(as_text=True)
    resp = client.post(f"/console/billing/invoices/{my_invoice}/payments", headers=HTML, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "method": "cash", "amount": "1", "reference": "S-1",
        "paid_on": "2026-02-03"})
    assert resp.status_code == 403
    with app.app_context():
        assert billing.list_payments(db.session, my_invoice) == []


def test_change_plan_and_cancel_from_the_console(app, admin, bare_tenant):
    tenant_id, slug = bare_tenant("cp")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.status = "active"
        basic = plan(tenant.partner, "basic", fixed_fee=31000, prices=[])
        plus = plan(tenant.partner, "plus", fixed_fee=62000, prices=[])
        plan(tenant.partner, "dollars", currency="USD", prices=[])
        billing.subscribe(db.session, tenant, basic, start=date(2026, 3, 1), actor="test")
        plus_id = plus.id
        db.session.commit()
    page = admin.get(f"/console/billing/usage/{slug}").get_data(as_text=True)
    assert 'id="change-plan-form"' in page and "(dollars)" not in page  # only plans it may change to
    bad = admin.post(f"/console/billing/usage/{slug}/change-plan",
                     data={"csrf_token": csrf_from(page), "plan": str(plus_id), "on": "2026-05-01"})
    assert bad.status_code == 422 and "bill the ended period first" in bad.get_data(as_text=True)
    ok = admin.post(f"/console/billing/usage/{slug}/change-plan",
                    data={"csrf_token": csrf_from(page), "plan": str(plus_id), "on": "2026-03-11"})
    assert ok.status_code == 302
    assert admin.post(f"/console/billing/usage/{slug}/cancel", data={"csrf_token": csrf_from(page)}).status_code == 302
    assert "Keep the subscription" in admin.get(f"/console/billing/usage/{slug}").get_data(as_text=True)
    with app.app_context():
        [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 4, 1), tenant_ids=[tenant_id])
        assert [(l.kind, l.amount) for l in invoice.lines] == [("proration", 10000), ("fixed", 42000)]
        assert billing.live_subscription(db.session, tenant_id) is None
        db.session.rollback()


def test_overview_charts_each_tenants_latest_usage_of_a_meter(app, admin, make_tenant):
    from datetime import timedelta

    from schemehost.platform.billing.meters import store_usage

    small, large = make_tenant("blank"), make_tenant("blank")
    with app.app_context():
        today = billing.billing_today()
        store_usage(db.session, [(small.id, "active_households", today - timedelta(days=40), 900),  # too old
                                 (small.id, "active_households", today - timedelta(days=2), 40),
                                 (small.id, "active_households", today - timedelta(days=1), 45),
                                 (large.id, "active_households", today - timedelta(days=1), 300)])
        db.session.commit()
    html = admin.get("/console/billing/?meter=active_households", headers=HTML).get_data(as_text=True)
    rows = re.findall(r'<tr data-tenant="([^"]+)">.*?class="num">(\d+)</td>.*?<progress max="(\d+)" value="(\d+)"',
                      html, re.S)
    mine = [(t, int(v), int(m)) for t, v, m, _p in rows if t in (small.slug, large.slug)]
    # largest first; the latest day counts, not the highest or an old one
    assert [t for t, _v, _m in mine] == [large.slug, small.slug]
    assert dict((t, v) for t, v, _m in mine) == {large.slug: 300, small.slug: 45}
    assert all(m >= 300 for _t, _v, m in mine)
    # an unknown meter falls back to the default one instead of failing
    assert admin.get("/console/billing/?meter=nope", headers=HTML).status_code == 200
