"""Support access and the audit log in a real browser (Debian's Chromium driven by Playwright).

An operator opens a support session with a reason, lands in the tenant console
under the banner and ends it; a tenant admin filters the audit log and
downloads it as CSV.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _console_support import make_operator, sign_in_page  # noqa: E402

from ._browser import sign_in  # noqa: E402

REASON = "Ticket 4521: the enrolment list shows duplicates"

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def test_operator_opens_a_support_session_sees_the_banner_and_ends_it(app, base_url, page, make_tenant):
    tenant = make_tenant()
    email = make_operator(app)
    sign_in_page(page, base_url, email, path=f"/console/tenants/{tenant.slug}")
    page.wait_for_url(f"{base_url}/console/tenants/{tenant.slug}")

    page.get_by_role("link", name="Open support session").click()
    page.get_by_label("Reason").fill("too short")
    page.get_by_role("button", name="Open support session").click()
    expect(page.locator(".field-error")).to_have_text("State the reason in at least 10 characters.")
    page.get_by_label("Reason").fill(REASON)
    page.get_by_label("Duration (minutes)").fill("20")
    page.get_by_role("button", name="Open support session").click()

    page.wait_for_url(f"{base_url}/t/{tenant.slug}/")
    banner = page.locator("#support-banner")
    expect(banner).to_contain_text(f"Support session by {email}")
    expect(banner).to_contain_text(REASON)
    page.get_by_role("link", name="Audit log").first.click()
    expect(page.locator("#audit")).to_contain_text("support_open")
    expect(page.locator("#support-banner")).to_be_visible()

    page.get_by_role("button", name="End support session").click()
    page.wait_for_url(f"{base_url}/console/tenants/{tenant.slug}")
    expect(page.locator("#support-sessions")).to_contain_text(REASON)
    expect(page.locator("#support-sessions").get_by_role("button", name="End support session")).to_have_count(0)
    page.goto(f"{base_url}/t/{tenant.slug}/audit")
    assert "/login" in page.url  # no way back in without a new session
    expect(page.locator("#support-banner")).to_have_count(0)


def test_tenant_admin_filters_the_audit_log_and_downloads_it(app, base_url, page, make_tenant, tenant_user):
    from schemehost.tenants.identity import audit

    tenant = make_tenant()
    with tenant.session() as s:
        audit.record(s, "update", "household", "77", before={"size": 4}, after={"size": 5},
                     actor=("user", "5", "Awa Diallo"))
        audit.record(s, "create", "facility", "9", after={"name": "Garoua clinic"}, actor=("user", "5", "Awa Diallo"))
    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    sign_in(page, tenant.slug, email, password)
    page.wait_for_url(re.compile(rf"{re.escape(base_url)}/t/{tenant.slug}/(\?.*)?$"))

    page.get_by_role("link", name="Audit log").first.click()
    page.get_by_label("Entity type").fill("household")
    page.get_by_role("button", name="Filter").click()
    table = page.locator("#audit")
    expect(page.locator("#audit > tbody > tr")).to_have_count(1)
    expect(table).to_contain_text("Awa Diallo")
    expect(table.locator("table.diff del")).to_have_text("4")
    expect(table.locator("table.diff ins")).to_have_text("5")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    download = info.value
    assert download.suggested_filename.startswith(f"audit-{tenant.slug}-") and download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert [(r["action"], r["entity_type"], r["entity_id"]) for r in rows] == [("update", "household", "77")]
