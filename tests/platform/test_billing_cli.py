"""``schemehost billing``: plan from a file, subscribe, run with a date, list invoices, record a payment."""

from __future__ import annotations

import json
import re

from schemehost.platform.extensions import db


def test_billing_cli_from_plan_to_paid_invoice(app, runner, bare_tenant, tmp_path):
    from schemehost.platform.tenants.models import Tenant

    tenant_id, slug = bare_tenant("cl")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.status = "active"
        own_partner = tenant.partner.slug
        db.session.commit()
    definition = tmp_path / "plan.json"
    definition.write_text(json.dumps({"code": "cli", "name": "CLI plan", "currency": "TZS", "fixed_fee": 1500000}))
    result = runner("billing", "plan-create", own_partner, str(definition))
    assert result.exit_code == 0, result.output
    plan_id = json.loads(result.output)["id"]
    bad = runner("billing", "plan-create", own_partner, str(definition))
    assert bad.exit_code == 1 and "already" in bad.output
    result = runner("billing", "subscribe", slug, str(plan_id), "--start", "2026-01-01")
    assert result.exit_code == 0, result.output
    result = runner("billing", "run", "--today", "2026-02-01", "--no-meter", "--no-dunning")
    assert result.exit_code == 0 and json.loads(result.output)["invoices"] >= 1, result.output
    listing = runner("billing", "invoices", "--tenant", slug)
    assert "issued" in listing.output and "15,000.00" in listing.output
    invoice_id = int(listing.output.split()[0])
    receipt = tmp_path / "receipt.txt"
    receipt.write_text("M-Pesa receipt")
    result = runner("billing", "pay", str(invoice_id), "--method", "mobile_money", "--amount", "1500000",
                    "--reference", f"MP-{slug}", "--paid-on", "2026-02-02", "--proof", str(receipt))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["proof_name"] == "receipt.txt"
    assert re.search(r"\bpaid\b", runner("billing", "invoices", "--tenant", slug).output)


def test_the_worker_runs_billing_daily(app, bare_tenant):
    """The periodic task ``billing_daily`` (01:30 UTC) runs metering, invoicing and dunning and commits."""
    from datetime import date
    from types import SimpleNamespace

    from schemehost.platform.billing import services as billing
    from schemehost.platform.jobs.app import periodic_tasks
    from schemehost.platform.tenants.models import Tenant

    task = periodic_tasks.tasks["billing_daily"]
    tenant_id, slug = bare_tenant("wk")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.status = "active"
        plan = billing.create_plan(db.session, tenant.partner, code="daily", name="Daily", currency="XAF",
                                   fixed_fee=5000)
        billing.subscribe(db.session, tenant, plan, start=date(2026, 1, 1), actor="test")
        db.session.commit()
    saved = app.config.get("BILLING_TODAY")
    app.config["BILLING_TODAY"] = "2026-02-01"
    try:
        task.func(SimpleNamespace(additional_context={"flask_app": app}), 0)
    finally:
        app.config["BILLING_TODAY"] = saved
    with app.app_context():
        [invoice] = billing.list_invoices(db.session, tenant_id=tenant_id)
        assert invoice.status == "issued" and invoice.total == 5000
