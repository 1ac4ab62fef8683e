"""Import in a real browser (Debian's Chromium driven by Playwright): a scheme administrator
uploads a file as a dry run, reads the report, uploads a corrected file, then imports it for real."""

from __future__ import annotations

import pytest

from schemehost.tenants.registry.people import Individual

from .._browser import sign_in
from ._imports_support import count

pytestmark = pytest.mark.browser

HEADER = "external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,phone,national_id,village\n"


def test_upload_dry_run_report_then_real_run(page, app, tenant, tree, tenant_user, tmp_path):
    from playwright.sync_api import expect

    app.config["REGISTRY_IMPORTS_INLINE"] = True
    try:
        _uid, email, password = tenant_user(tenant)
        sign_in(page, tenant.slug, email, password)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Import and export").click()
        expect(page.get_by_role("heading", name="Import and export", level=1)).to_be_visible()

        bad = tmp_path / "people.csv"
        bad.write_text(HEADER + "P1,H1,head,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n"
                                "P2,H1,child,Paul,Njoya,male,2010-02-30,,,NOWHERE\n", encoding="utf-8")
        form = page.locator("#import-form")
        form.locator("input[type=file]").set_input_files(str(bad))
        form.get_by_role("button", name="Upload").click()  # dry run is ticked by default
        expect(page.locator("#import-status")).to_have_attribute("data-status", "checked")
        report = page.locator("#report")
        expect(report.locator("tbody tr")).to_have_count(2)
        expect(report).to_contain_text("Not a date")
        expect(report).to_contain_text("No location has this code.")
        expect(page.locator("#report-link")).to_be_visible()
        assert count(tenant, Individual) == 0

        # the valid rows only, from the same stored file
        run = page.locator("#run-form")
        run.get_by_label("Import the valid rows only").check()
        run.get_by_role("button", name="Import this file").click()
        expect(page.locator("#import-status")).to_have_attribute("data-status", "done")
        expect(page.locator("[data-count=created]")).to_have_text("1")
        assert count(tenant, Individual) == 1
    finally:
        app.config.pop("REGISTRY_IMPORTS_INLINE", None)
