"""Managing API clients: the API (clients.manage), the rules on names and scopes, rotation and
revocation, the secret shown once, audit entries, and the console pages."""

import hashlib
import itertools
import json
import re

import pytest
from sqlalchemy import select, text

from schemehost.tenants.identity.models import AuditEntry, OAuthClient

PROBLEM = "application/problem+json"
MANAGE = ("clients.manage", "settings.manage", "audit.read", "registry.read")
_addresses = itertools.count(1)


def token_for(client, slug, client_id, secret, scope=None):
    n = next(_addresses)
    data = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    return client.post(f"/t/{slug}/oauth/token", data=data, auth=(client_id, secret),
                       environ_base={"REMOTE_ADDR": f"10.201.{n >> 8 & 255}.{n & 255}"})


class Api:
    """The test client on one tenant's API with one bearer token."""

    def __init__(self, client, slug, token):
        self.client, self.slug, self.token = client, slug, token

    def __getattr__(self, method):
        def call(path, **kw):
            return getattr(self.client, method)(f"/t/{self.slug}/api/v1{path}",
                                                headers={"Authorization": f"Bearer {self.token}"}, **kw)
        return call


@pytest.fixture
def admin_api(client, make_tenant, client_token):
    """(tenant, Api) with a client token holding clients.manage and a few other permissions."""
    tenant = make_tenant()
    return tenant, Api(client, tenant.slug, client_token(tenant, MANAGE))


def test_create_shows_the_secret_once_and_it_works(client, admin_api):
    tenant, api = admin_api
    resp = api.post("/clients", json={"name": "DHIS2 export", "scopes": ["registry.read", "audit.read"]})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["client_id"].startswith("shc_") and len(body["client_id"]) == 24
    assert body["client_secret"].startswith("shs_") and len(body["client_secret"]) >= 4 + 43
    assert body["scopes"] == ["audit.read", "registry.read"] and body["active"] is True
    assert resp.headers["Location"].endswith(f"/t/{tenant.slug}/api/v1/clients/{body['client_id']}")
    assert resp.headers["Cache-Control"] == "no-store"
    secret = body["client_secret"]
    # never again: not in the list, not in the item, not in the database
    listed = api.get("/clients")
    assert listed.status_code == 200 and body["client_id"] in [c["client_id"] for c in listed.json]
    item = api.get(f"/clients/{body['client_id']}")
    assert item.status_code == 200 and item.json["name"] == "DHIS2 export"
    for resp in (listed, item):
        assert secret not in resp.get_data(as_text=True) and "client_secret" not in resp.get_data(as_text=True)
    with tenant.session() as s:
        stored = s.execute(select(OAuthClient.secret_hash).where(OAuthClient.client_id == body["client_id"])).scalar()
        dump = " ".join(s.execute(text(f"SELECT row_to_json(c)::text FROM {tenant.schema}.oauth_clients c")).scalars())
    assert stored == "sha256$" + hashlib.sha256(secret.encode()).hexdigest() and secret not in dump
    issued = token_for(client, tenant.slug, body["client_id"], secret)
    assert issued.status_code == 200 and issued.json["scope"] == "audit.read registry.read"


@pytest.mark.parametrize("body, field, words", [
    ({"name": "", "scopes": ["audit.read"]}, "name", "name"),
    ({"name": "x" * 201, "scopes": ["audit.read"]}, "name", ""),
    ({"scopes": ["audit.read"]}, "name", ""),
    ({"name": "No scopes", "scopes": []}, "scopes", "at least one"),
    ({"name": "Everything", "scopes": ["*"]}, "scopes", "'*'"),
    ({"name": "Unknown", "scopes": ["registry.teleport"]}, "scopes", "unknown permission"),
    ({"name": "Not enabled", "scopes": ["claims.review"]}, "scopes", "insurance"),
    ({"name": "Not held", "scopes": ["users.manage"]}, "scopes", "you do not hold"),
    ({"name": "Wrong type", "scopes": "audit.read"}, "scopes", ""),
])
def test_bad_input_is_422_with_field_errors(admin_api, body, field, words):
    tenant, api = admin_api
    resp = api.post("/clients", json=body)
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert field in resp.json["errors"]
    assert words in json.dumps(resp.json["errors"][field])
    with tenant.session() as s:
        assert s.execute(select(OAuthClient).where(OAuthClient.name != "test client")).first() is None


def test_managing_clients_needs_clients_manage(client, make_tenant, client_token):
    tenant = make_tenant()
    api = Api(client, tenant.slug, client_token(tenant, ("settings.manage", "audit.read")))
    for method, path, kw in [("get", "/clients", {}), ("post", "/clients", {"json": {"name": "x", "scopes": ["audit.read"]}}),
                             ("get", "/clients/shc_x", {}), ("post", "/clients/shc_x/rotate", {}),
                             ("delete", "/clients/shc_x", {})]:
        resp = getattr(api, method)(path, **kw)
        assert resp.status_code == 403 and resp.mimetype == PROBLEM, path
        assert resp.json["missing_permission"] == "clients.manage"
    assert client.get(f"/t/{tenant.slug}/api/v1/clients").status_code == 401


def test_rotate_replaces_the_secret_and_ends_its_tokens(client, admin_api):
    tenant, api = admin_api
    created = api.post("/clients", json={"name": "App", "scopes": ["audit.read"]}).json
    client_id, old_secret = created["client_id"], created["client_secret"]
    old_token = token_for(client, tenant.slug, client_id, old_secret).json["access_token"]
    rotated = api.post(f"/clients/{client_id}/rotate")
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    new_secret = rotated.json["client_secret"]
    assert new_secret != old_secret and rotated.json["rotated_at"]
    assert token_for(client, tenant.slug, client_id, old_secret).status_code == 401
    assert token_for(client, tenant.slug, client_id, new_secret).status_code == 200
    resp = client.get(f"/t/{tenant.slug}/api/v1/settings", headers={"Authorization": f"Bearer {old_token}"})
    assert resp.status_code == 401 and resp.json["reason"] == "revoked"


def test_revoke_is_final(client, admin_api):
    tenant, api = admin_api
    created = api.post("/clients", json={"name": "Old app", "scopes": ["audit.read"]}).json
    client_id, secret = created["client_id"], created["client_secret"]
    token = token_for(client, tenant.slug, client_id, secret).json["access_token"]
    assert api.delete(f"/clients/{client_id}").status_code == 204
    again = api.delete(f"/clients/{client_id}")
    assert again.status_code == 409 and again.mimetype == PROBLEM and "client_id" in again.json["errors"]
    assert api.post(f"/clients/{client_id}/rotate").status_code == 409
    assert api.get(f"/clients/{client_id}").json["active"] is False
    assert token_for(client, tenant.slug, client_id, secret).status_code == 401
    resp = client.get(f"/t/{tenant.slug}/api/v1/settings", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and resp.json["reason"] == "client_revoked"
    active = api.get("/clients", query_string={"include_revoked": "false"}).json
    assert client_id not in [c["client_id"] for c in active]
    missing = api.delete("/clients/shc_doesnotexist")
    assert missing.status_code == 404 and "client_id" in missing.json["errors"]


def test_another_tenants_client_is_not_found(client, make_tenant, client_token):
    a, b = make_tenant(prefix="ca"), make_tenant(prefix="cb")
    api_a = Api(client, a.slug, client_token(a, MANAGE))
    api_b = Api(client, b.slug, client_token(b, MANAGE))
    created = api_a.post("/clients", json={"name": "A's client", "scopes": ["audit.read"]}).json
    client_id = created["client_id"]
    for method, path in [("get", f"/clients/{client_id}"), ("post", f"/clients/{client_id}/rotate"),
                         ("delete", f"/clients/{client_id}")]:
        resp = getattr(api_b, method)(path)
        assert resp.status_code == 404, path
    assert "A's client" not in api_b.get("/clients").get_data(as_text=True)
    assert api_a.get(f"/clients/{client_id}").json["active"] is True


def test_every_change_is_audited_without_secrets(client, admin_api):
    tenant, api = admin_api
    created = api.post("/clients", json={"name": "Audited app", "scopes": ["audit.read"]}).json
    client_id = created["client_id"]
    rotated = api.post(f"/clients/{client_id}/rotate").json
    token = token_for(client, tenant.slug, client_id, rotated["client_secret"]).json["access_token"]
    api.delete(f"/clients/{client_id}")
    with tenant.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.entity_id == client_id)
                            .order_by(AuditEntry.id)).scalars().all()
        dump = " ".join(s.execute(text(f"SELECT row_to_json(a)::text FROM {tenant.schema}.audit_log a")).scalars())
    assert [e.action for e in entries] == ["create", "rotate_secret", "token_issue", "revoke"]
    create, rotate, issue, revoke = entries
    assert create.actor_type == "client" and create.actor_name == "test client"
    assert create.after == {"name": "Audited app", "scopes": ["audit.read"]}
    assert issue.actor_type == "client" and issue.actor_id == client_id
    assert revoke.details == {"tokens_revoked": 1}
    for value in (created["client_secret"], rotated["client_secret"], token):
        assert value not in dump


# ---- console -----------------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|type="hidden" name="csrf_token" value="([^"]+)"')


def csrf(html):
    m = CSRF.search(html)
    return m.group(1) or m.group(2)


def test_console_pages_create_rotate_revoke(app, client, make_tenant, client_token):
    """The console pages with a principal holding clients.manage (here an API token; the browser test
    signs a tenant admin in)."""
    tenant = make_tenant()
    auth = {"Authorization": f"Bearer {client_token(tenant, MANAGE)}"}
    base = f"/t/{tenant.slug}/clients"
    assert client.get(f"{base}/", headers=auth).status_code == 200
    form = client.get(f"{base}/new", headers=auth)
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and 'value="audit.read"' in html
    assert 'value="users.manage"' not in html and 'value="claims.review"' not in html  # not held / not enabled
    bad = client.post(f"{base}/new", headers=auth, data={"csrf_token": csrf(html), "name": "Console app"})
    assert bad.status_code == 422 and "at least one" in bad.get_data(as_text=True)
    made = client.post(f"{base}/new", headers=auth,
                       data={"csrf_token": csrf(html), "name": "Console app", "scopes": ["audit.read"]})
    page = made.get_data(as_text=True)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="client-secret"[^>]*>([^<]+)<', page).group(1)
    client_id = re.search(r'id="client-id"[^>]*>([^<]+)<', page).group(1)
    assert secret.startswith("shs_") and token_for(client, tenant.slug, client_id, secret).status_code == 200
    listing = client.get(f"{base}/", headers=auth).get_data(as_text=True)
    assert client_id in listing and "Console app" in listing and secret not in listing
    # rotate: confirm page, then the new secret once
    confirm = client.get(f"{base}/{client_id}/rotate", headers=auth)
    assert confirm.status_code == 200
    rotated = client.post(f"{base}/{client_id}/rotate", headers=auth,
                          data={"csrf_token": csrf(confirm.get_data(as_text=True))})
    new_secret = re.search(r'id="client-secret"[^>]*>([^<]+)<', rotated.get_data(as_text=True)).group(1)
    assert new_secret != secret and token_for(client, tenant.slug, client_id, secret).status_code == 401
    # revoke
    confirm = client.get(f"{base}/{client_id}/revoke", headers=auth)
    done = client.post(f"{base}/{client_id}/revoke", headers=auth,
                       data={"csrf_token": csrf(confirm.get_data(as_text=True))})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"{base}/")
    assert token_for(client, tenant.slug, client_id, new_secret).status_code == 401
    again = client.post(f"{base}/{client_id}/revoke", headers=auth,
                        data={"csrf_token": csrf(confirm.get_data(as_text=True))})
    assert again.status_code == 409
    # without the form's CSRF token nothing happens
    forged = client.post(f"{base}/new", headers=auth, data={"name": "Forged", "scopes": ["audit.read"]})
    assert forged.status_code == 400
    assert "Forged" not in client.get(f"{base}/", headers=auth).get_data(as_text=True)


def test_console_pages_need_clients_manage(client, make_tenant, client_token):
    tenant = make_tenant()
    auth = {"Authorization": f"Bearer {client_token(tenant, ('audit.read',))}"}
    for path in ("/", "/new", "/shc_x/rotate", "/shc_x/revoke"):
        assert client.get(f"/t/{tenant.slug}/clients{path}", headers=auth).status_code == 403
    assert client.get(f"/t/{tenant.slug}/clients/").status_code in (302, 401)
