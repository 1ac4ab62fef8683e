"""Claims in a real browser (Debian's Chromium driven by Playwright): a facility cashier types a claim
from paper (a line added by typing into the last row, the total shown, a wrong code shown on its row,
then fixed), and a claims reviewer runs the checks and adjusts a line."""

from __future__ import annotations

import pytest

from .._browser import sign_in
from .claims_world import VISIT, build_world

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_enter_a_claim_then_review_it(app, page, make_tenant, tenant_user, monkeypatch):
    from playwright.sync_api import expect

    monkeypatch.setitem(app.config, "CLAIMS_JOBS_INLINE", True)  # the check button's job runs in the request
    world = build_world(make_tenant("health-insurance"))
    _uid, email, password = tenant_user(world.tenant, roles=("facility_cashier",))
    sign_in(page, world.slug, email, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Claims").click()
    page.get_by_role("link", name="New claim").click()
    expect(page.get_by_label("Facility (code)")).to_be_focused()
    page.keyboard.type("HC1")
    page.keyboard.press("Tab")
    page.keyboard.type("P-100")
    page.get_by_label("Insuree number").fill(world.numbers[0])
    page.get_by_label("From").fill(VISIT.isoformat())
    page.get_by_label("Main diagnosis (ICD-10)").fill("B54")
    for i in range(8):
        page.get_by_label(f"Line {i + 1}: item or service").fill("PARA" if i < 7 else "NOPE")
        page.get_by_label(f"Line {i + 1}: quantity").fill("1")
        page.get_by_label(f"Line {i + 1}: unit price").fill("2")
    expect(page.get_by_label("Line 9: item or service")).to_be_visible()  # typing into the last row added one
    expect(page.locator("#total")).to_have_text("16.00 TZS")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("tr[data-row='7'] .field-error")).to_have_text(
        "No item or service of the catalogue has the code NOPE.")
    page.get_by_label("Line 8: item or service").fill("CONS")
    page.get_by_label("Line 8: unit price").fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".flash-success")).to_contain_text("Claim P-100 saved")
    expect(page.locator("#claimed")).to_contain_text("64.00")  # 7 × 2.00 + the price list's 50.00

    page.context.clear_cookies()
    _uid, email, password = tenant_user(world.tenant, roles=("claims_reviewer",))
    sign_in(page, world.slug, email, password)
    page.goto(f"/t/{world.slug}/claims/")
    page.get_by_role("button", name="Check entered claims").click()
    expect(page.locator(".flash-success")).to_contain_text("1 claims checked")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review claims").click()
    page.get_by_role("link", name="P-100").click()
    page.get_by_label("Line 8: decision").select_option("adjust")
    page.get_by_label("Line 8: approved price").fill("40")
    page.get_by_label("Line 8: reason").select_option("wrong_price")
    page.get_by_role("button", name="Save the review").click()
    expect(page.locator("#status")).to_have_text("Processed")
    expect(page.locator("#approved")).to_contain_text("54.00")
