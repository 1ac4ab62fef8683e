"""The voucher console in a real browser (Debian's Chromium driven by Playwright), from a programme
to the money: a programme manager defines a programme (a bad tariff is reported beside its field,
the rest of the form kept), issues a voucher by scheme number and gets its printable card with a QR
code; after a redemption, a payment officer batches the period's redemptions into a claim, confirms
the sampled redemption, approves and pays the claim, and the reports show the redeemed service."""

from __future__ import annotations

import json

import pytest

from schemehost.tenants.vouchers import codes
from schemehost.tenants.vouchers import services as vs

from .._browser import sign_in
from .conftest import ELIGIBILITY

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_programme_issue_card_and_reimbursement(page, new_context, base_url, world, tenant_user):
    from playwright.sync_api import expect

    slug = world.tenant.slug
    _uid, email, password = tenant_user(world.tenant, roles=("tenant_admin",))
    sign_in(page, slug, email, password)

    page.goto(f"/t/{slug}/vouchers/programmes/new")
    page.locator("input[name=code]").fill("PNC-B")
    page.locator("input[name=name]").fill("Postnatal care")
    page.locator("input[name=validity_days]").fill("120")
    page.locator("input[name=budget_ceiling]").fill("500000")
    for n, (code, name, tariff, count) in enumerate((("PNC", "Postnatal visit", "2500", "2"),
                                                     ("TR", "Transport", "five", "1"))):
        page.locator(f"input[name=services-{n}-code]").fill(code)
        page.locator(f"input[name=services-{n}-name]").fill(name)
        page.locator(f"input[name=services-{n}-tariff]").fill(tariff)
        page.locator(f"input[name=services-{n}-count]").fill(count)
    page.locator("input[name=facilities][value=CSI-A]").check()
    page.locator("textarea[name=eligibility]").fill(json.dumps(ELIGIBILITY))
    page.locator("form.form button[type=submit]").click()
    # the bad tariff is named beside its field; what was typed is kept
    expect(page.locator("#services .field-error")).to_have_count(1)
    expect(page.locator("input[name=services-0-name]")).to_have_value("Postnatal visit")
    page.locator("input[name=services-1-tariff]").fill("5000")
    page.locator("form.form button[type=submit]").click()
    expect(page.locator("#budget")).to_be_visible()
    expect(page.locator("#services")).to_contain_text("Postnatal visit")
    programme_path = page.url.split(base_url, 1)[-1]
    admin_page = page

    # issue one voucher by scheme number (amina is VS0): the card page follows, with its QR code
    page.locator("#issue-one input[name=scheme_number]").fill("VS0")
    page.locator("#issue-one button[type=submit]").click()
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(".card svg")).to_have_count(1)
    code = page.url.rsplit("=", 1)[1]
    assert codes.is_valid(code)
    expect(page.locator(".card")).to_contain_text(codes.grouped(code))

    with world.tenant.session() as s:
        vs.redeem(s, code, service_code="PNC", facility_id=world.facilities["CSI-A"])
        s.commit()

    # the payment officer: batch, confirm the sampled redemption, approve, pay
    _uid, email, password = tenant_user(world.tenant, roles=("payment_officer",))
    page = new_context().new_page()
    sign_in(page, slug, email, password)
    page.goto(f"/t/{slug}/vouchers/claims")
    page.locator("#batch input[name=period_start]").fill("2000-01-01")
    page.locator("#batch input[name=period_end]").fill("2100-01-01")
    page.locator("#batch input[name=facility]").fill("CSI-A")
    page.locator("#batch input[name=sample_percent]").fill("100")
    page.locator("#batch button[type=submit]").click()
    page.goto(f"/t/{slug}/vouchers/claims?facility=CSI-A")
    page.locator("tr[data-claim] a").first.click()
    row = page.locator("tr[data-verification=flagged]")
    expect(row).to_have_count(1)
    row.locator("button[value=confirm]").click()
    expect(page.locator("tr[data-verification=flagged]")).to_have_count(0)
    page.locator("#approve button").click()
    page.locator("#pay input[name=reference]").fill("TRF-42")
    page.locator("#pay button").click()
    expect(page.locator("#summary")).to_have_attribute("data-status", "paid")
    expect(page.locator("body")).to_contain_text("TRF-42")
    admin_page.goto(f"{programme_path}/reports")
    # one of the two postnatal visits issued has been used
    row = admin_page.locator("#report-services tr", has_text="Postnatal visit")
    expect(row.locator("td").nth(1)).to_have_text("2")
    expect(row.locator("td").nth(2)).to_have_text("1")
