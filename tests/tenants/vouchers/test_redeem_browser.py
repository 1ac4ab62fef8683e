"""The redemption desk in a real browser (Debian's Chromium driven by Playwright) on a phone-sized
screen: a facility cashier types a code with a typo (refused before any lookup), types it right,
sees the beneficiary and what remains, redeems a service, is refused the delivery before an
antenatal visit, and sees the antenatal visit count go down."""

from __future__ import annotations

import pytest

from schemehost.tenants.vouchers import codes
from schemehost.tenants.vouchers import services as vs

from .._browser import sign_in

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def test_a_cashier_redeems_on_a_phone(page, world, tenant_user):
    from playwright.sync_api import expect

    with world.tenant.session() as s:
        code = vs.issue_voucher(s, world.programme_id, world.people["amina"], principal=None).code
    _uid, email, password = tenant_user(world.tenant, roles=("facility_cashier",))
    slug = world.tenant.slug
    sign_in(page, slug, email, password)
    page.goto(f"/t/{slug}/vouchers/redeem")

    typo = code[:5] + code[6] + code[5] + code[7:] if code[5] != code[6] else code[:-1] + str((int(code[-1]) + 1) % 10)
    page.locator("#code").fill(codes.grouped(typo))
    page.locator("#lookup button[type=submit]").click()
    expect(page.locator("#lookup .field-error")).to_be_visible()
    expect(page.locator("#voucher")).to_have_count(0)

    page.locator("#code").fill(codes.grouped(code))
    page.locator("#lookup button[type=submit]").click()
    voucher = page.locator("#voucher")
    expect(voucher).to_contain_text("amina")
    expect(voucher.locator("tr[data-service=CPN]")).to_contain_text("0 / 2")

    page.locator("#service").select_option("ACC")
    page.locator("#facility").select_option("CSI-A")
    page.locator("#redeem button[type=submit]").click()
    expect(page.locator("#refusal")).to_be_visible()  # delivery needs an antenatal visit first

    page.locator("#service").select_option("CPN")
    page.locator("#facility").select_option("CSI-A")
    page.locator("#redeem button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator("#voucher tr[data-service=CPN]")).to_contain_text("1 / 2")
    expect(page.locator("#voucher")).to_have_attribute("data-status", "partially_redeemed")
    # the page fits a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
