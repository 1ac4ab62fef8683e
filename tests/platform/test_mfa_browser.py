"""Second factor in a real browser (Debian's Chromium driven by Playwright): an operator's forced
enrolment at first sign-in, and a tenant user enrolling because the scheme requires it."""

from __future__ import annotations

import time

import pyotp
import pytest
from _console_support import PASSWORD, make_operator, sign_in_page
from playwright.sync_api import expect

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def _enrol_from_page(page) -> tuple[pyotp.TOTP, int]:
    """Read the key under the QR code like a user typing it into an app; confirm with its code."""
    expect(page.get_by_role("heading", name="Set up your second factor")).to_be_visible()
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    totp = pyotp.TOTP(page.locator("#totp-secret").inner_text().replace(" ", ""))
    step = int(time.time()) // 30
    page.get_by_label("Code from the app").fill(totp.generate_otp(step))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    return totp, step


def test_operator_enrols_at_first_sign_in_then_signs_in_with_a_code(app, base_url, page):
    email = make_operator(app, enrol=False)
    sign_in_page(page, base_url, email, path="/console/tenants/", second_factor=False)
    page.wait_for_url(f"{base_url}/console/sign-in/enrol")
    page.goto(f"{base_url}/console/tenants/")  # no console page before the second factor
    assert "/console/sign-in" in page.url and "enrol" not in page.url
    page.goto(f"{base_url}/console/sign-in/enrol")

    totp, step = _enrol_from_page(page)
    page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url(f"{base_url}/console/tenants/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/console/sign-in/code")
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".form-errors")).to_contain_text("This code is not right")
    page.get_by_label("Code").fill(totp.generate_otp(step + 1))  # the app's next code
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(f"{base_url}/console/tenants/")
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()


def test_tenant_user_enrols_when_the_scheme_requires_it(app, base_url, page, make_tenant, tenant_user):
    from schemehost.tenants.core.services import put_setting

    tenant = make_tenant()
    _uid, email, password = tenant_user(tenant, name="Awa Fotso")
    with tenant.session() as s:
        put_setting(s, "security", {"mfa_required": True})

    page.goto(f"{base_url}/t/{tenant.slug}/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/login/mfa/enrol")
    expect(page.get_by_text("requires a code from an authenticator app")).to_be_visible()
    _enrol_from_page(page)
    page.get_by_role("link", name="I have saved them, continue").click()
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/")
    expect(page.get_by_text("Signed in as Awa Fotso.")).to_be_visible()
