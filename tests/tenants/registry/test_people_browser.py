"""People in a real browser on a phone-sized screen (Debian's Chromium driven by Playwright): enrol
a household, find its head by a misspelt name, register a probable duplicate, dismiss the flag."""

from __future__ import annotations

import pytest

from .._browser import sign_in
from ._people import people_tenant  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def test_enrol_search_misspelt_flag_and_dismiss(page, people_tenant, tenant_user):
    from playwright.sync_api import expect

    tenant, ids = people_tenant
    _uid, email, password = tenant_user(tenant)
    sign_in(page, tenant.slug, email, password)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Households").click()
    page.get_by_role("link", name="Enrol a household").click()
    form = page.locator("#household-form")
    form.get_by_label("Village").select_option(label="Place N-R-T-U (N-R-T-U)")
    head = form.locator("fieldset").first
    head.get_by_label("Given name").fill("Élodie")
    head.get_by_label("Family name").fill("Nguyễn")
    head.get_by_label("Sex").select_option("female")
    head.get_by_label("Date of birth", exact=True).fill("1985-07-30")
    head.get_by_label("Phone").fill("0470 12 34 56")
    form.get_by_role("button", name="Enrol").click()
    expect(page.locator(".flash-success")).to_contain_text("Household enrolled.")
    expect(page.locator("#members")).to_contain_text("Élodie Nguyễn")

    nav.get_by_role("link", name="People").click()
    search = page.locator("#people-search")
    search.get_by_label("Name").fill("elodi nguyen")
    search.get_by_role("button", name="Search").click()
    expect(page.locator("#people")).to_contain_text("Élodie Nguyễn")

    page.get_by_role("link", name="Register a person").click()
    page.get_by_label("Given name").fill("Elodie")
    page.get_by_label("Family name").fill("Nguyen")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Date of birth", exact=True).fill("1985-07-30")
    page.get_by_label("Village").select_option(label="Place N-R-T-U (N-R-T-U)")
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".flash-warning")).to_contain_text("may be a duplicate")
    page.get_by_role("link", name="Review duplicates").click()
    card = page.locator("section[data-flag]")
    expect(card).to_have_count(1)
    card.get_by_role("button", name="Different people").click()
    expect(page.locator(".flash-success")).to_contain_text("Kept as two different people.")
    expect(page.locator("section[data-flag]")).to_have_count(0)
