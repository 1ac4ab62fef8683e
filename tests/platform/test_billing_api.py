"""Billing control API: plans, subscriptions, usage, runs, invoices, payments; roles and problem+json."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from schemehost.platform.extensions import db

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import TIERS  # noqa: E402

PLAN = {"code": "std", "name": "Standard", "currency": "XAF", "fixed_fee": 30000, "setup_fee": 0,
        "prices": [{"meter": "active_individuals", "included": 10, "tiers": TIERS}]}


@pytest.fixture
def billed(app, api, bare_tenant):
    """A tenant row made active, its partner's plan and a subscription from 2026-01-01."""
    from schemehost.platform.tenants.models import Tenant

    tenant_id, slug = bare_tenant("bl")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.status = "active"
        partner = tenant.partner.slug
        db.session.commit()
    resp = api.post("/api/v1/billing/plans", json={**PLAN, "partner": partner})
    assert resp.status_code == 201, resp.json
    plan_id = resp.json["id"]
    resp = api.post(f"/api/v1/tenants/{slug}/subscription", json={"plan": plan_id, "start": "2026-01-01"})
    assert resp.status_code == 201, resp.json
    return {"slug": slug, "partner": partner, "plan": plan_id}


def _staff(app, partner_slug, role="partner_staff"):
    from schemehost.platform.operators.services import create_operator, issue_token
    import uuid

    with app.app_context():
        op = create_operator(db.session, f"s{uuid.uuid4().hex[:8]}@example.org", password="correct horse battery",
                             role=role, partner=partner_slug if role == "partner_staff" else None)
        token = issue_token(db.session, op, "tests")
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_bad_plan_is_a_problem_with_field_errors_and_creates_nothing(api, partner):
    resp = api.post("/api/v1/billing/plans", json={**PLAN, "partner": partner, "currency": "EURO",
                                                   "prices": [{"meter": "nope", "tiers": [{"up_to": 1, "unit_amount": "1"}]}]})
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"
    assert {"currency", "prices"} <= set(resp.json["errors"])
    assert api.get(f"/api/v1/billing/plans?partner={partner}").json == []


def test_run_invoices_the_period_and_payments_settle_it(app, api, billed):
    slug = billed["slug"]
    resp = api.post("/api/v1/billing/run", json={"today": "2026-02-01"})
    assert resp.status_code == 200 and resp.json["invoices"] >= 1, resp.json
    [inv] = api.get(f"/api/v1/billing/invoices?tenant={slug}").json
    assert inv["status"] == "issued" and inv["total"] == 30000 and inv["outstanding"] == 30000
    assert inv["lines"][0]["kind"] == "fixed"
    bad = api.post(f"/api/v1/billing/invoices/{inv['id']}/payments",
                   json={"method": "cheque", "amount": 0, "reference": "", "paid_on": "x"})
    assert bad.status_code == 422 and {"method", "amount", "paid_on"} <= set(bad.json["errors"])
    assert api.get(f"/api/v1/billing/invoices/{inv['id']}/payments").json == []
    paid = api.post(f"/api/v1/billing/invoices/{inv['id']}/payments",
                    json={"method": "cash", "amount": 12000, "reference": "RC-7", "paid_on": "2026-02-03",
                          "proof": base64.b64encode(b"receipt").decode(), "proof_name": "rc7.jpg"})
    assert paid.status_code == 201 and paid.json["proof_name"] == "rc7.jpg"
    assert api.get(f"/api/v1/billing/invoices/{inv['id']}").json["outstanding"] == 18000
    api.post(f"/api/v1/billing/invoices/{inv['id']}/payments",
             json={"method": "bank", "amount": 18000, "reference": "TRF-1", "paid_on": "2026-02-04"})
    assert api.get(f"/api/v1/billing/invoices/{inv['id']}").json["status"] == "paid"


def test_plan_change_and_cancel_through_the_api(api, billed):
    slug, partner = billed["slug"], billed["partner"]
    plus = api.post("/api/v1/billing/plans", json={**PLAN, "partner": partner, "code": "plus", "fixed_fee": 62000,
                                                   "prices": []}).json["id"]
    resp = api.patch(f"/api/v1/tenants/{slug}/subscription", json={"plan": plus, "on": "2026-01-11"})
    assert resp.status_code == 200 and resp.json["plan"]["code"] == "plus"
    resp = api.post(f"/api/v1/tenants/{slug}/subscription/cancel", json={})
    assert resp.json["cancel_at_period_end"] is True
    events = [e["kind"] for e in api.get(f"/api/v1/tenants/{slug}/events").json]
    assert events[-2:] == ["plan_changed", "subscription_canceling"]


def test_partner_staff_see_only_their_partner_and_support_only_reads(app, api, billed, bare_tenant):
    other_id, other_slug = bare_tenant("ot")
    with app.app_context():
        from schemehost.platform.tenants.models import Tenant

        other_partner = db.session.get(Tenant, other_id).partner.slug
    api.post("/api/v1/billing/run", json={"today": "2026-02-01"})
    staff = _staff(app, other_partner)
    client = api  # same test client underneath
    assert client.get(f"/api/v1/billing/plans/{billed['plan']}", headers=staff).status_code == 404
    assert client.get(f"/api/v1/billing/invoices?tenant={billed['slug']}", headers=staff).status_code == 404
    assert client.get("/api/v1/billing/invoices", headers=staff).json == []
    assert client.post("/api/v1/billing/run", json={}, headers=staff).status_code == 403
    assert client.put(f"/api/v1/billing/partners/{other_partner}/platform-fee", json={"kind": "percent", "percent": "5"},
                      headers=staff).status_code == 403
    own = client.post("/api/v1/billing/plans", json={**PLAN, "partner": other_partner}, headers=staff)
    assert own.status_code == 201
    support = _staff(app, None, role="support")
    assert client.get(f"/api/v1/billing/plans/{billed['plan']}", headers=support).status_code == 200
    resp = client.post("/api/v1/billing/plans", json={**PLAN, "partner": billed["partner"], "code": "x"},
                       headers=support)
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"


def test_usage_of_the_current_period(api, billed, app):
    from datetime import date

    from schemehost.platform.billing.meters import store_usage
    from schemehost.platform.tenants.models import Tenant
    from sqlalchemy import select

    with app.app_context():
        tid = db.session.execute(select(Tenant.id).where(Tenant.slug == billed["slug"])).scalar()
        store_usage(db.session, [(tid, "active_individuals", date(2026, 1, 5), 12),
                                 (tid, "active_individuals", date(2026, 1, 6), 15)])
        db.session.commit()
    body = api.get(f"/api/v1/tenants/{billed['slug']}/usage").json
    assert body["start"] == "2026-01-01"
    [people] = body["meters"]
    assert people["max"] == 15 and len(people["days"]) == 2
