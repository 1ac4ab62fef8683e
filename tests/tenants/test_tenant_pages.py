"""The tenant sign-in page offers the password reset, and single sign-on once the scheme configures it."""

from tests.tenants.test_sso import configure


def test_sign_in_page_links_to_password_reset_and_no_sso_by_default(make_tenant, client):
    tenant = make_tenant()
    page = client.get(f"/t/{tenant.slug}/login").get_data(as_text=True)
    assert f'href="/t/{tenant.slug}/login/reset"' in page
    assert "/login/sso" not in page


def test_sign_in_page_offers_the_schemes_identity_provider(make_tenant, client, oidc_provider):
    tenant = make_tenant()
    configure(tenant, oidc_provider.issuer, oidc_provider.register_client(
        f"http://localhost/t/{tenant.slug}/login/sso/callback"))
    page = client.get(f"/t/{tenant.slug}/login?next=/t/{tenant.slug}/audit").get_data(as_text=True)
    assert f"/t/{tenant.slug}/login/sso?next=" in page


def test_error_page_inside_a_scheme_uses_the_schemes_layout_in_the_users_language(make_tenant, tenant_user,
                                                                                    client):
    from tests.tenants.test_sessions import sign_in

    tenant = make_tenant()
    user_id, email, password = tenant_user(tenant)
    with tenant.session() as s:
        from schemehost.tenants.core.models import User

        s.get(User, user_id).locale = "fr"
    assert sign_in(client, tenant, email, password).status_code == 302
    page = client.get(f"/t/{tenant.slug}/no-such-page", headers={"Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 404
    assert f"Scheme {tenant.slug}" in html and "/console/tenants" not in html
    assert "Retour à l’accueil du régime" in html
