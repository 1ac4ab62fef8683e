"""Dunning end to end with a controllable clock: overdue → reminder → read-only → suspended → paid → active."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from schemehost.platform.billing import dunning
from schemehost.platform.billing import services as billing
from schemehost.platform.extensions import db
from schemehost.platform.tenants.models import Tenant, TenantEvent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import new_partner, plan, tenant_row  # noqa: E402

DUNNING = {"due_days": 7, "reminder_days": 3, "read_only_after_days": 5, "suspend_after_days": 10, "prices": []}


@pytest.fixture
def clock(app):
    """Set the app's billing date (``BILLING_TODAY``) for API calls; restored afterwards."""
    saved = app.config.get("BILLING_TODAY")

    def set_today(day: str) -> None:
        app.config["BILLING_TODAY"] = day

    yield set_today
    app.config["BILLING_TODAY"] = saved


def _put(tenant_api, slug, value):
    return tenant_api.put(f"/t/{slug}/api/v1/settings/display_name", json={"value": f"Scheme {value}"})


def test_overdue_read_only_suspended_paid_active(app, api, tenant_api, make_tenant, smtp_server, clock):
    handle = make_tenant("blank")
    slug = handle.slug
    tenant_api.token(slug)  # a token while the tenant is active
    with app.app_context():
        tenant = db.session.get(Tenant, handle.id)
        p = plan(tenant.partner, **DUNNING)
        billing.subscribe(db.session, tenant, p, start=date(2026, 1, 1), billing_email="finance@scheme.example",
                          actor="test")
        db.session.commit()

    def run(day):
        resp = api.post("/api/v1/billing/run", json={"today": day, "meter": False})
        assert resp.status_code == 200, resp.json
        return resp.json

    def steps():
        """This tenant's billing events so far (the run covers the whole database: other tests' tenants
        may be overdue too, so the run's own counts are not this tenant's)."""
        return [(e["kind"], e["to_status"]) for e in api.get(f"/api/v1/tenants/{slug}/events").json
                if e["kind"].startswith("billing_")]

    reminder, read_only = ("billing_reminder", None), ("billing_read_only", "read_only")
    suspended, resumed = ("billing_suspended", "suspended"), ("billing_resumed", "active")
    assert run("2026-02-01")["invoices"] >= 1
    [invoice] = api.get(f"/api/v1/billing/invoices?tenant={slug}").json
    assert invoice["due_on"] == "2026-02-08"
    run("2026-02-08")
    assert steps() == []

    # one day overdue: a reminder, still writable
    run("2026-02-09")
    assert steps() == [reminder]
    [mail] = smtp_server.to("finance@scheme.example")
    assert invoice["number"] in mail["Subject"]
    assert _put(tenant_api, slug, 1).status_code == 200
    run("2026-02-10")
    assert steps() == [reminder]  # next one after 3 days

    # five days overdue: read-only (writes 423, reads go on)
    assert run("2026-02-13")["dunning"]["read_only"] >= 1
    assert steps() == [reminder, reminder, read_only]
    assert _put(tenant_api, slug, 2).status_code == 423
    assert tenant_api.get(f"/t/{slug}/api/v1/settings").status_code == 200

    # ten days overdue: suspended (reads 423 too)
    assert run("2026-02-18")["dunning"]["suspended"] >= 1
    assert steps() == [reminder, reminder, read_only, reminder, suspended]
    assert tenant_api.get(f"/t/{slug}/api/v1/settings").status_code == 423
    assert api.get(f"/api/v1/tenants/{slug}").json["status"] == "suspended"

    # a partial payment does not resume it; the settling one does
    clock("2026-02-19")
    api.post(f"/api/v1/billing/invoices/{invoice['id']}/payments",
             json={"method": "mobile_money", "amount": 10000, "reference": f"MM-{slug}-1", "paid_on": "2026-02-19"})
    assert api.get(f"/api/v1/tenants/{slug}").json["status"] == "suspended"
    api.post(f"/api/v1/billing/invoices/{invoice['id']}/payments",
             json={"method": "mobile_money", "amount": 20000, "reference": f"MM-{slug}-2", "paid_on": "2026-02-19"})
    assert api.get(f"/api/v1/tenants/{slug}").json["status"] == "active"
    assert _put(tenant_api, slug, 3).status_code == 200
    assert steps() == [reminder, reminder, read_only, reminder, suspended, resumed]


def test_an_extension_lifts_read_only_and_a_payment_never_resumes_an_operator_suspension(app_ctx):
    partner = new_partner()
    tenant = tenant_row(partner)
    billing.subscribe(db.session, tenant, plan(partner, **DUNNING), start=date(2026, 1, 1), actor="test")
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant.id])
    sent = []
    dunning.run_dunning(db.session, today=date(2026, 2, 14), send=lambda *a: sent.append(a))
    assert tenant.status == "read_only"
    assert [a[1].id for a in sent if a[1].tenant_id == tenant.id] == [invoice.id]  # one reminder, to its payer
    dunning.extend(db.session, invoice, until=date(2026, 3, 1), today=date(2026, 2, 14), actor="operator:x",
                   reason="ministry budget delayed")
    assert tenant.status == "active"
    dunning.run_dunning(db.session, today=date(2026, 3, 1), send=lambda *a: sent.append(a))
    assert tenant.status == "active"

    # an operator suspends it for another reason: paying does not lift that
    from schemehost.provisioning.lifecycle import suspend_tenant

    suspend_tenant(db.session, tenant.slug, actor="operator:x", reason="abuse")
    billing.record_payment(db.session, invoice, method="bank", amount=invoice.total, reference=f"T-{tenant.id}",
                           paid_on=date(2026, 3, 2), actor="test")
    assert invoice.status == "paid" and tenant.status == "suspended"
    kinds = db.session.execute(select(TenantEvent.kind).where(TenantEvent.tenant_id == tenant.id)
                               .order_by(TenantEvent.id)).scalars().all()
    assert kinds == ["subscribed", "billing_reminder", "billing_read_only", "billing_extension", "billing_resumed",
                     "suspended"]
