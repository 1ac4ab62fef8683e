"""The product form and the coverage check in a real browser (Debian's Chromium driven by Playwright):
a tenant administrator defines a product (a mistake is shown beside its field, then fixed), a household
is enrolled and paid, and facility staff check an insuree's coverage."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemehost.tenants.insurance import services as ins

from .._browser import sign_in
from .conftest import build_scheme

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_define_a_product_then_check_coverage(page, make_tenant, tenant_user):
    from playwright.sync_api import expect

    scheme = build_scheme(make_tenant("health-insurance"))
    _uid, email, password = tenant_user(scheme.tenant)
    sign_in(page, scheme.slug, email, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Insurance products").click()
    page.get_by_role("link", name="New product").click()
    form = page.locator("#product-form")
    form.get_by_label("Code").fill("CHF")
    form.get_by_label("Name", exact=True).fill("Family cover")
    form.get_by_label("Valid from").fill("2020-01-01")
    form.get_by_label("Insurance period (months)").fill("12")
    form.get_by_label("Lump sum per household").fill("30000")
    form.get_by_label("Members covered by the lump sum").fill("6")
    form.get_by_label("Covered items and services").fill("CONS; 4\nNOPE")
    form.get_by_role("button", name="Create").click()
    expect(page.locator(".field-error")).to_contain_text(["Line 2: No item or service with this code"])
    form = page.locator("#product-form")
    form.get_by_label("Covered items and services").fill("CONS; 4")
    form.get_by_role("button", name="Create").click()
    expect(page.locator(".flash-success")).to_contain_text("Product CHF created.")
    expect(page.locator("#product-form").get_by_label("Lump sum per household")).to_have_value("30000.00")

    household, _members, numbers = scheme.household("1980-01-01", "2016-01-01")
    with scheme.tenant.session() as s:
        product = ins.product_valid_on(s, "CHF", date.today())
        policy = ins.enrol(s, household_id=household, product_id=product.id, principal=None,
                           enrol_date=date.today() - timedelta(days=5))
        ins.record_contribution(s, policy.id, amount=policy.value, paid_on=date.today() - timedelta(days=5),
                                method="cash", receipt_no="B-1", principal=None)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Check coverage").click()
    page.get_by_label("Insuree number").fill(numbers[1])
    page.get_by_label("Item or service (code)").fill("CONS")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#verdict")).to_have_text("Covered")
    expect(page.locator("#count-left")).to_have_text("4 of 4")
    page.get_by_label("Item or service (code)").fill("XRAY")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#verdict")).to_have_text("Not covered")
    expect(page.locator("#reason")).to_have_text("The product does not cover this item or service.")
