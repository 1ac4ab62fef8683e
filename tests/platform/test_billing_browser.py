"""Billing in a real browser (Debian's Chromium, Playwright): an operator creates a plan, subscribes a
tenant, finds the invoice of the ended period, records a mobile-money payment with its receipt, then the
rest by bank transfer, and opens the printable invoice."""

from __future__ import annotations

from datetime import date

import pytest
from _console_support import make_operator, sign_in_page
from playwright.sync_api import expect

from schemehost.platform.extensions import db

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def test_plan_subscription_invoice_and_payments(app, base_url, page, bare_tenant, tmp_path):
    from schemehost.platform.billing import services as billing
    from schemehost.platform.tenants.models import Tenant

    tenant_id, slug = bare_tenant("br")
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.status = "active"
        partner = tenant.partner.slug
        db.session.commit()
    email = make_operator(app)
    sign_in_page(page, base_url, email)

    page.get_by_role("link", name="Billing").first.click()
    page.get_by_role("link", name="Plans").click()
    page.get_by_label("Partner").select_option(partner)
    page.get_by_label("Code").fill("basic")
    page.get_by_label("Name").fill("Basic")
    page.get_by_label("Currency").fill("XAF")
    page.get_by_label("Fixed fee per period").fill("45000")
    page.get_by_role("button", name="Create plan").click()
    expect(page.locator(f'#plans tr[data-partner="{partner}"][data-code="basic"]')).to_contain_text("45")

    page.get_by_role("link", name="Subscribe a tenant").click()
    page.get_by_label("Tenant slug").fill(slug)
    page.get_by_label("Plan").select_option(label=f"{partner} · Basic (basic)")
    page.get_by_label("Start").fill("2026-01-01")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator(".flash")).to_contain_text(slug)

    with app.app_context():  # the daily run, at the end of January
        billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant_id])
        db.session.commit()
    page.reload()
    row = page.locator("#invoices tbody tr", has_text=slug)
    expect(row).to_contain_text("issued")
    row.get_by_role("link").click()

    receipt = tmp_path / "receipt.jpg"
    receipt.write_bytes(b"\xff\xd8\xff receipt")
    page.get_by_label("Method").select_option("mobile_money")
    page.get_by_label("Amount").fill("20000")
    page.get_by_label("Reference").fill(f"MM-{slug}")
    page.get_by_label("Paid on").fill("2026-02-05")
    page.get_by_label("Proof (receipt, scan; at most 5 MB)").set_input_files(str(receipt))
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator("#outstanding")).to_contain_text("25")
    expect(page.locator("#payments")).to_contain_text("receipt.jpg")

    page.get_by_label("Method").select_option("bank")
    page.get_by_label("Amount").fill("25000")
    page.get_by_label("Reference").fill(f"TRF-{slug}")
    page.get_by_label("Paid on").fill("2026-02-06")
    page.get_by_role("button", name="Record payment").click()
    expect(page.locator("#invoice-status")).to_have_text("paid")

    refused = []
    page.on("console", lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.get_by_role("link", name="Printable invoice").click()
    expect(page.locator("#doc-title")).to_contain_text(f"Invoice {partner.upper()}-000001")
    assert page.locator("#total").evaluate("e => getComputedStyle(e).textAlign") == "right"  # its stylesheet applies
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_visible()
    assert refused == []
