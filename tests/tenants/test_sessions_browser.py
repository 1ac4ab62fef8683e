"""Tenant sign-in and sign-out in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect


pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_sign_in_and_out_in_a_browser_with_a_cookie_only_for_its_scheme(base_url, context, make_tenant,
                                                                        tenant_user):
    tenant, other = make_tenant(), make_tenant()
    _uid, email, password = tenant_user(tenant, name="Kofi Mensah")
    page = context.new_page()

    page.goto(f"{base_url}/t/{tenant.slug}/account")
    assert f"/t/{tenant.slug}/login" in page.url  # a console page needs a signed-in user
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/account")  # back where the user was going
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("link", name="Kofi Mensah")).to_be_visible()

    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies[f"sh_t{tenant.id}"]
    assert session["path"] == f"/t/{tenant.slug}/"
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert session["domain"] == "127.0.0.1"  # host-only: no Domain attribute was sent
    assert session["expires"] == -1  # ends with the browser ("keep me signed in" was not ticked)

    # the same browser is a stranger to another scheme
    page.goto(f"{base_url}/t/{other.slug}/")
    assert f"/t/{other.slug}/login" in page.url

    page.goto(f"{base_url}/t/{tenant.slug}/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/login")
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{base_url}/t/{tenant.slug}/")
    assert f"/t/{tenant.slug}/login" in page.url
