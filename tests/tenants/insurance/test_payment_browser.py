"""Facility payment and reports in a real browser (Debian's Chromium driven by Playwright): a payment
officer makes a statement (a period ending before it starts is shown beside its field, then fixed),
sees its claims and total, then a second officer approves it and marks it paid; the reports page
shows the claims by status."""

from __future__ import annotations

import pytest

from .._browser import sign_in
from .payment_data import build_payment_world

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_make_approve_and_pay_a_statement_then_read_the_reports(page, make_tenant, tenant_user):
    from playwright.sync_api import expect

    world = build_payment_world(make_tenant("health-insurance", prefix="pb"))
    _uid, maker, password = tenant_user(world.tenant, roles=("payment_officer", "auditor"))
    _uid2, checker, password2 = tenant_user(world.tenant, roles=("payment_officer",))
    sign_in(page, world.slug, maker, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Facility payment").click()
    form = page.locator("#statement-form")
    form.get_by_label("Facility code").fill("FN")
    form.get_by_label("Valuated from").fill("2026-10-31")
    form.get_by_label("Valuated until").fill("2026-10-01")
    form.get_by_role("button", name="Make the statement").click()
    expect(page.locator(".field-error")).to_contain_text(["before the start of the period"])
    form = page.locator("#statement-form")
    form.get_by_label("Valuated from").fill("2026-10-01")
    form.get_by_label("Valuated until").fill("2026-10-31")
    form.get_by_role("button", name="Make the statement").click()
    expect(page.locator(".flash-success")).to_contain_text("2 claims")
    expect(page.locator("#total")).to_contain_text("1,400.00")
    expect(page.locator("#claims tbody tr")).to_have_count(2)
    expect(page.locator("#summary")).to_have_attribute("data-status", "draft")
    # whoever made it cannot approve it
    page.get_by_role("button", name="Approve the statement").click()
    expect(page.locator("#problem")).to_contain_text("another person must")
    statement_url = page.url

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, world.slug, checker, password2)
    page.goto(statement_url)
    page.get_by_role("button", name="Approve the statement").click()
    expect(page.locator("#summary")).to_have_attribute("data-status", "approved")
    # printed, the statement stands alone: no menu, forms or download links
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.locator("#pay")).to_be_hidden()
    expect(page.locator("#csv")).to_be_hidden()
    expect(page.locator("#claims")).to_be_visible()
    page.screenshot(path="/tmp/facpay-statement-print.png", full_page=True)
    page.emulate_media(media="screen")
    pay = page.locator("#pay")
    pay.get_by_label("Paid on").fill("2026-11-05")
    pay.get_by_label("Payment reference").fill("TRF-77")
    pay.get_by_role("button", name="Mark paid").click()
    expect(page.locator("#paid")).to_contain_text("TRF-77")
    expect(page.locator("#summary")).to_have_attribute("data-status", "paid")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, world.slug, maker, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Insurance reports").click()
    expect(page.locator('#report-claims tr[data-status="valuated"] .count')).to_have_text("5")
    expect(page.locator('#report-policies tr[data-area="DN"] .total')).to_have_text("2")
    page.screenshot(path="/tmp/facpay-reports.png", full_page=True)
