"""Links a tenant's pages build (``/t/<slug>/...``) keep working on the tenant's own host,
and the gate's open paths match whole path segments."""

import sqlalchemy as sa

from schemehost.platform.extensions import db


def test_prefixed_link_on_the_tenants_own_host_is_not_doubled(app, tenant_api, make_tenant):
    tenant = make_tenant()
    base = app.config["BASE_DOMAIN"]
    host = f"http://{tenant.slug}.{base}"
    plain = tenant_api.get("/api/v1/settings/currency", slug=tenant.slug, base_url=host)
    prefixed = tenant_api.get(f"/t/{tenant.slug}/api/v1/settings/currency", slug=tenant.slug, base_url=host)
    assert plain.status_code == prefixed.status_code == 200
    assert plain.json == prefixed.json


def test_suspended_tenant_opens_only_whole_open_segments(app, client, make_tenant):
    tenant = make_tenant()
    with app.app_context():
        db.session.execute(sa.text("UPDATE control.tenants SET status = 'suspended' WHERE id = :id"),
                           {"id": tenant.id})
        db.session.commit()
    app.extensions["schemehost.tenant_refs"].forget([tenant.slug])
    assert client.get(f"/t/{tenant.slug}/login").status_code == 200
    # an API client can still get and revoke its tokens (the OAuth endpoints answer, with OAuth errors)
    for path in ("oauth/token", "oauth/revoke"):
        assert client.post(f"/t/{tenant.slug}/{path}", data={}).status_code != 423, path
    for path in ("loginfoo", "billing-export", "webhooksx"):
        assert client.get(f"/t/{tenant.slug}/{path}").status_code == 423, path
