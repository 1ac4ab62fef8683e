"""The location tree in a real browser (Debian's Chromium driven by Playwright): a tenant user signs in,
builds Region → District → Village, renames one and opens and closes the tree."""

from __future__ import annotations

import pytest

from .._browser import sign_in

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def test_build_rename_and_browse_the_location_tree(page, tenant, tenant_user):
    from playwright.sync_api import expect

    from schemehost.tenants.core.services import put_setting

    with tenant.session() as s:
        put_setting(s, "location_levels", ["Region", "District", "Village"])
    _uid, email, password = tenant_user(tenant)
    sign_in(page, tenant.slug, email, password)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Locations").click()
    expect(page.get_by_role("heading", name="Locations", level=1)).to_be_visible()

    # a region from the tree page, then a district and a village from each location's page
    new = page.locator("#new-location")
    new.get_by_label("Code").fill("NR")
    new.get_by_label("Name").fill("North")
    new.get_by_role("button", name="Add").click()
    expect(page.locator(".flash-success")).to_contain_text("Location North added.")
    page.get_by_role("link", name="North").click()
    add = page.locator("#add-child")
    expect(add.get_by_role("heading")).to_have_text("Add a District")
    add.get_by_label("Code").fill("NR-RV")
    add.get_by_label("Name").fill("Riverside")
    add.get_by_role("button", name="Add").click()
    page.locator("#children").get_by_role("link", name="Riverside").click()
    add = page.locator("#add-child")
    expect(add.get_by_role("heading")).to_have_text("Add a Village")
    add.get_by_label("Code").fill("NR-RV-01")
    add.get_by_label("Name").fill("Upper Frd")
    add.get_by_role("button", name="Add").click()

    # a duplicate code is refused beside the field
    add = page.locator("#add-child")
    add.get_by_label("Code").fill("NR")
    add.get_by_label("Name").fill("Again")
    add.get_by_role("button", name="Add").click()
    expect(page.locator("#add-child .field-error")).to_have_text("This code is already taken.")

    # rename the village
    page.locator("#children").get_by_role("link", name="Upper Frd").click()
    expect(page.locator("#add-child")).to_have_count(0)  # nothing below the lowest level
    rename = page.locator("#rename")
    rename.get_by_label("Name").fill("Upper Ford")
    rename.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upper Ford")
    expect(page.locator(".crumbs")).to_contain_text("North › Riverside")

    # the tree: the region is open, the district can be opened and closed
    nav.get_by_role("link", name="Locations").click()
    tree = page.locator("#tree")
    district = tree.locator("li[data-code='NR-RV'] > details")
    village = tree.locator("li[data-code='NR-RV-01']")
    expect(tree.locator("li[data-code='NR'] > details")).to_have_attribute("open", "")
    expect(village).to_be_hidden()
    district.locator("summary").click(position={"x": 2, "y": 5})
    expect(village).to_be_visible()
    expect(village).to_contain_text("Upper Ford")
    expect(village).to_contain_text("Village")
    district.locator("summary").click(position={"x": 2, "y": 5})
    expect(village).to_be_hidden()
