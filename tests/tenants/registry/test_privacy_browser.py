"""Subject access and erasure in a real browser (Debian's Chromium driven by Playwright): an
administrator reads what is held on a person, is stopped by the confirmation, then erases the record."""

from __future__ import annotations

from datetime import date

import pytest

from .._browser import sign_in

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def test_subject_access_page_and_erasure_with_confirmation(page, tenant, tree, tenant_user):
    from playwright.sync_api import expect

    from schemehost.tenants.registry.people import Individual

    with tenant.session() as s:
        person = Individual(given_name="Mariam", family_name="Ndiaye", name_search="mariam ndiaye", sex="female",
                            birth_date=date(1990, 4, 9), scheme_number="B-0001", phone="+255754123456",
                            location_id=tree["N-R-T-U"])
        s.add(person)
        s.flush()
        pid = person.id
    _uid, email, password = tenant_user(tenant)
    sign_in(page, tenant.slug, email, password)

    page.goto(f"/t/{tenant.slug}/registry/individuals/{pid}/consents")
    page.get_by_label("Purpose").fill("data_sharing")
    page.get_by_label("Evidence").fill("form 12")
    page.get_by_role("button", name="Record").click()
    expect(page.locator(".flash-success")).to_contain_text("Consent recorded.")
    page.get_by_role("link", name="Personal data held (subject access)").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Mariam Ndiaye")
    record = page.locator("#record")
    expect(record).to_contain_text("+255754123456")
    expect(record).to_contain_text("1990-04-09")
    expect(page.get_by_role("link", name="Download as JSON")).to_be_visible()

    erase = page.locator("#erase")
    erase.get_by_label("Record number").fill(str(pid + 1000))
    erase.get_by_label("I understand that erasure cannot be undone.").check()
    erase.get_by_role("button", name="Erase").click()
    expect(page.locator("#erase .field-error")).to_contain_text("does not match")
    expect(page.locator("#record")).to_contain_text("Mariam")  # nothing erased

    erase = page.locator("#erase")
    erase.get_by_label("Record number").fill(str(pid))
    erase.get_by_label("I understand that erasure cannot be undone.").check()
    erase.get_by_role("button", name="Erase").click()
    expect(page.locator(".flash-success")).to_contain_text("The record was erased")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Erased #{pid}")
    expect(page.locator("#record")).not_to_contain_text("+255754123456")
    expect(page.locator("#record")).to_contain_text("1990-07-01")
    expect(page.locator("#erase")).to_have_count(0)
