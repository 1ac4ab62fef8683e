"""Single sign-on in a real browser (Debian's Chromium driven by Playwright) against the local
OpenID provider: a person goes to a page of the scheme, is sent to the provider, signs in there
and comes back signed in, on the page they asked for, with the roles the provider's claim maps to."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from schemehost.tenants.core.models import User
from schemehost.tenants.identity import sso

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_sign_in_with_the_schemes_identity_provider(make_tenant, oidc_provider, base_url, page):
    tenant = make_tenant()
    with tenant.session() as s:
        s.add(User(email="alice@example.org", name="Alice Ngono", password_hash=None, is_active=True))
    client_id, secret = oidc_provider.register_client(f"{base_url}/t/{tenant.slug}/login/sso/callback")
    with tenant.session() as s:
        sso.configure_provider(s, issuer=oidc_provider.issuer, client_id=client_id, client_secret=secret,
                               role_claim="roles", role_map={"scheme-admins": "tenant_admin"})

    page.goto(f"{base_url}/t/{tenant.slug}/login/sso?next=/t/{tenant.slug}/settings/sso")
    page.wait_for_url(f"{oidc_provider.issuer}/interaction/**")
    expect(page.get_by_role("heading", name="Test identity provider")).to_be_visible()
    page.get_by_label("Login").fill("alice@example.org")
    page.get_by_label("Password").fill("alice-pass")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{base_url}/t/{tenant.slug}/settings/sso")
    expect(page.get_by_role("heading", name="Single sign-on")).to_be_visible()  # needs users.manage
    expect(page.locator("#redirect-uri")).to_have_text(f"{base_url}/t/{tenant.slug}/login/sso/callback")
    expect(page.get_by_label("Issuer URL")).to_have_value(oidc_provider.issuer)
    expect(page.get_by_label("Client secret")).to_have_value("")

    page.goto(f"{base_url}/t/{tenant.slug}/")
    expect(page.get_by_text("Signed in as Alice Ngono.")).to_be_visible()
    with tenant.session() as s:
        subject = s.execute(select(User.sso_subject).where(User.email == "alice@example.org")).scalar_one()
    assert subject == f"{oidc_provider.issuer} alice"
