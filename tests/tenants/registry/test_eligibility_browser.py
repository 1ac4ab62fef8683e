"""The eligibility page in a real browser (Debian's Chromium driven by Playwright): a read-only user
builds a filter from the small form, sees the live preview, edits the JSON and sees it update without
pressing a button, and sees where a broken filter is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .._browser import sign_in

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_eligibility import build_registry  # noqa: E402

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_build_a_filter_and_see_the_live_preview(page, make_tenant, tenant_user):
    from playwright.sync_api import expect

    tenant = make_tenant("blank")
    build_registry(tenant)
    _uid, email, password = tenant_user(tenant, roles=("read_only",))
    sign_in(page, tenant.slug, email, password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Eligibility").click()
    expect(page.get_by_role("heading", name="Eligibility", level=1)).to_be_visible()
    page.get_by_label("Ages on").fill("2026-06-15")
    result = page.locator("#result")

    # the small form: women 15-49 in the North
    quick = page.locator("#quick")
    quick.get_by_label("Sex").select_option("female")
    quick.get_by_label("Age from").fill("15")
    quick.get_by_label("Age to").fill("49")
    quick.get_by_label("Within locations (codes)").fill("N")
    quick.get_by_role("button", name="Use these conditions").click()
    expect(result.locator("#headline")).to_have_text("1 individual qualifies")
    expect(result.locator("#breakdown")).to_contain_text("Riverside")
    expect(page.get_by_label("Filter (JSON)")).to_have_value(
        '{"all": [\n  {"field": "sex", "op": "eq", "value": "female"},\n'
        '  {"field": "age", "op": "between", "value": [15, 49]},\n'
        '  {"field": "location", "op": "within", "value": ["N"]}\n]}')

    # typing in the JSON box updates the preview by itself
    page.get_by_label("Filter (JSON)").fill('{"field": "sex", "op": "eq", "value": "female"}')
    expect(result.locator("#headline")).to_have_text("5 individuals qualify")
    page.get_by_label("Who").select_option("households")
    page.get_by_label("Filter (JSON)").fill('{"field": "members", "op": "gte", "value": 3, '
                                            '"where": {"field": "age", "op": "lt", "value": 5}}')
    expect(result.locator("#headline")).to_have_text("1 household qualifies")
    page.get_by_label("Count by").select_option("Region")
    expect(result.locator("#breakdown")).to_contain_text("North")

    # a mistake is shown at its place in the JSON
    page.get_by_label("Filter (JSON)").fill('{"all": [{"field": "size", "op": "gte", "value": "many"}]}')
    expect(result.locator("#problems")).to_contain_text("all[0].value: expected a whole number")
    page.get_by_label("Filter (JSON)").fill('{"all": [')
    expect(result.locator("#problems")).to_contain_text("not valid JSON")
