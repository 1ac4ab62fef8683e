"""API clients in the tenant console, in a real browser (Debian's Chromium driven by Playwright): a
tenant admin creates a client and sees its secret once, gives it a new secret, then revokes it."""

from __future__ import annotations


import pytest
from playwright.sync_api import expect

from ._browser import sign_in


pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def ask_token(client, slug, client_id, secret):
    return client.post(f"/t/{slug}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(client_id, secret), environ_base={"REMOTE_ADDR": "10.203.0.1"})


def test_an_admin_creates_rotates_and_revokes_an_api_client(base_url, page, client, make_tenant, tenant_user):
    tenant = make_tenant()
    _uid, email, password = tenant_user(tenant, name="Amina Diallo")

    page.goto(f"{base_url}/t/{tenant.slug}/clients/")
    assert f"/t/{tenant.slug}/login" in page.url
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/clients/")
    expect(page.get_by_role("heading", name="API clients")).to_be_visible()
    expect(page.get_by_text("No API client yet.")).to_be_visible()

    page.get_by_role("link", name="New API client").click()
    page.get_by_role("button", name="Create client").click()  # nothing chosen: told what is missing
    expect(page.get_by_text("Give the client a name.")).to_be_visible()
    page.get_by_label("Name").fill("DHIS2 export")
    page.get_by_role("button", name="Create client").click()
    expect(page.get_by_text("Choose at least one scope")).to_be_visible()
    page.get_by_label("audit.read — Read the audit log").check()
    page.get_by_label("registry.read — Read locations, facilities, households and individuals").check()
    page.get_by_role("button", name="Create client").click()

    expect(page.get_by_role("heading", name="API client DHIS2 export is ready")).to_be_visible()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    client_id = page.locator("#client-id").inner_text().strip()
    secret = page.locator("#client-secret").inner_text().strip()
    assert client_id.startswith("shc_") and secret.startswith("shs_")
    token = ask_token(client, tenant.slug, client_id, secret)
    assert token.status_code == 200 and token.json["scope"] == "audit.read registry.read"

    page.get_by_role("link", name="I have copied the secret").click()
    row = page.locator(f"tr[data-client-id='{client_id}']")
    expect(row).to_contain_text("DHIS2 export")
    expect(row).to_contain_text("Amina Diallo")
    assert secret not in page.content()

    row.get_by_role("link", name="New secret").click()
    page.get_by_role("button", name="New secret").click()
    expect(page.get_by_role("heading", name="New secret for DHIS2 export")).to_be_visible()
    new_secret = page.locator("#client-secret").inner_text().strip()
    assert new_secret != secret
    assert ask_token(client, tenant.slug, client_id, secret).status_code == 401
    assert ask_token(client, tenant.slug, client_id, new_secret).status_code == 200

    page.goto(f"{base_url}/t/{tenant.slug}/clients/")
    page.locator(f"tr[data-client-id='{client_id}']").get_by_role("link", name="Revoke").click()
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/clients/")
    expect(page.get_by_text("API client DHIS2 export is revoked.")).to_be_visible()
    expect(page.locator(f"tr[data-client-id='{client_id}']")).to_contain_text("revoked")
    assert ask_token(client, tenant.slug, client_id, new_secret).status_code == 401


def test_the_menu_offers_api_clients_only_to_those_who_manage_them(base_url, page, make_tenant, tenant_user):
    tenant = make_tenant()
    _uid, email, password = tenant_user(tenant, roles=("auditor",))
    sign_in(page, tenant.slug, email, password)
    page.wait_for_url(f"{base_url}/t/{tenant.slug}/")
    expect(page.get_by_role("link", name="API clients")).to_have_count(0)
    response = page.goto(f"{base_url}/t/{tenant.slug}/clients/")
    assert response.status == 403
