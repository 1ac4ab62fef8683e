"""OAuth 2 client credentials per tenant: the token endpoint, bearer tokens on the tenant API, and
every way a token stops working (wrong secret, revoked, expired, another tenant, wrong scope)."""

import base64
import hashlib
import itertools
import json

import pytest
from sqlalchemy import select, text, update

from schemehost.tenants.identity.clients import create_client, revoke_client
from schemehost.tenants.identity.models import AuditEntry, OAuthToken

PROBLEM = "application/problem+json"
_addresses = itertools.count(1)


def fresh_address() -> str:
    """A client address of its own, so the token endpoint's rate limit counts only this test's calls."""
    n = next(_addresses)
    return f"10.200.{n >> 8 & 255}.{n & 255}"


def new_client(tenant, scopes=("settings.manage",), name="Sync job"):
    with tenant.session() as s:
        client, secret = create_client(s, name, list(scopes), created_by="tests", actor=("system", "t", "t"))
        return client.client_id, secret


def ask_token(client, slug, client_id, secret, *, how="basic", scope=None, address=None):
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    kw = {"environ_base": {"REMOTE_ADDR": address or fresh_address()}}
    if how == "basic":
        kw["auth"] = (client_id, secret)
    else:
        data |= {"client_id": client_id, "client_secret": secret}
    return client.post(f"/t/{slug}/oauth/token", data=data, **kw)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("how", ["basic", "post"])
def test_a_client_gets_a_token_and_uses_the_tenant_api(client, make_tenant, how):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    resp = ask_token(client, tenant.slug, client_id, secret, how=how)
    assert resp.status_code == 200, resp.json
    body = resp.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600 and body["scope"] == "settings.manage"
    assert body["access_token"].startswith("sht_") and "refresh_token" not in body
    assert resp.headers["Cache-Control"] == "no-store"
    token = body["access_token"]
    assert client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token)).status_code == 200
    put = client.put(f"/t/{tenant.slug}/api/v1/settings/display_name", json={"value": "North"}, headers=bearer(token))
    assert put.status_code == 200 and put.json["value"] == "North"
    # only the SHA-256 of the token is stored
    with tenant.session() as s:
        rows = s.execute(select(OAuthToken.token_hash, OAuthToken.scopes)).all()
        dump = s.execute(text(f"SELECT row_to_json(t)::text FROM {tenant.schema}.oauth_tokens t")).scalars().all()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(), ["settings.manage"])]
    assert token not in " ".join(dump)


def test_whoami_tells_the_client_and_its_scopes(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant, ("audit.read", "settings.manage"), name="Reporting")
    token = ask_token(client, tenant.slug, client_id, secret, scope="audit.read").json["access_token"]
    me = client.get(f"/t/{tenant.slug}/api/v1/whoami", headers=bearer(token))
    assert me.status_code == 200
    assert me.json == {"kind": "client", "id": client_id, "name": "Reporting", "permissions": ["audit.read"]}


def test_wrong_secret_and_unknown_client_are_refused_alike(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    wrong = ask_token(client, tenant.slug, client_id, secret + "x")
    unknown = ask_token(client, tenant.slug, "shc_" + "A" * 20, secret)
    not_ours = ask_token(client, tenant.slug, "someone-else", secret, how="post")
    for resp in (wrong, unknown):
        assert resp.status_code == 401 and resp.json["error"] == "invalid_client"
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert wrong.json == unknown.json
    assert not_ours.status_code == 401 and not_ours.json == wrong.json
    empty = client.post(f"/t/{tenant.slug}/oauth/token", data={"grant_type": "client_credentials"},
                        environ_base={"REMOTE_ADDR": fresh_address()})
    assert empty.status_code == 401 and empty.json["error"] == "invalid_client"
    with tenant.session() as s:
        assert s.execute(select(OAuthToken)).first() is None


def test_malformed_basic_credentials_are_refused_not_crashed(client, make_tenant):
    tenant = make_tenant()
    for raw in (b"\xff\xfe:\xff", b"no-colon-\xc3"):
        header = "Basic " + base64.b64encode(raw).decode()
        resp = client.post(f"/t/{tenant.slug}/oauth/token", data={"grant_type": "client_credentials"},
                           headers={"Authorization": header}, environ_base={"REMOTE_ADDR": fresh_address()})
        assert resp.status_code == 401 and resp.json["error"] == "invalid_client"
    garbage = client.post(f"/t/{tenant.slug}/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": "Basic %%%"}, environ_base={"REMOTE_ADDR": fresh_address()})
    assert garbage.status_code == 401


def test_other_grants_and_methods_are_refused(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    password = client.post(f"/t/{tenant.slug}/oauth/token", auth=(client_id, secret),
                           data={"grant_type": "password", "username": "a", "password": "b"},
                           environ_base={"REMOTE_ADDR": fresh_address()})
    assert password.status_code == 400 and password.json["error"] == "unsupported_grant_type"
    get = client.get(f"/t/{tenant.slug}/oauth/token")
    assert get.status_code == 405 and get.mimetype == PROBLEM


def test_a_revoked_client_gets_no_token_and_its_tokens_stop(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    token = ask_token(client, tenant.slug, client_id, secret).json["access_token"]
    with tenant.session() as s:
        revoke_client(s, client_id, actor=("system", "t", "t"))
    refused = ask_token(client, tenant.slug, client_id, secret)
    assert refused.status_code == 401 and refused.json["error"] == "invalid_client"
    assert "revoked" in refused.json["error_description"]
    # a wrong secret for a revoked client learns nothing more than for any client
    assert "revoked" not in ask_token(client, tenant.slug, client_id, "shs_wrong").json["error_description"]
    resp = client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token))
    assert resp.status_code == 401 and resp.mimetype == PROBLEM
    assert resp.json["reason"] in ("client_revoked", "revoked") and resp.json["detail"]
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_an_expired_token_is_refused_with_its_reason(app, client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    app.config["OAUTH_TOKEN_TTL_S"] = 30
    try:
        issued = ask_token(client, tenant.slug, client_id, secret).json
    finally:
        app.config["OAUTH_TOKEN_TTL_S"] = 600
    assert issued["expires_in"] == 30
    token = issued["access_token"]
    assert client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token)).status_code == 200
    with tenant.session() as s:
        s.execute(update(OAuthToken).values(expires_at=text("now() - interval '1 second'")))
    resp = client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token))
    assert resp.status_code == 401 and resp.mimetype == PROBLEM
    assert resp.json["reason"] == "expired" and "expired" in resp.json["detail"]
    assert 'error="invalid_token"' in resp.headers["WWW-Authenticate"]


def test_a_client_revokes_its_own_token(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    other_id, other_secret = new_client(tenant, name="Other")
    token = ask_token(client, tenant.slug, client_id, secret).json["access_token"]
    # another client of the tenant cannot revoke it (answered like an unknown token: 200, nothing done)
    resp = client.post(f"/t/{tenant.slug}/oauth/revoke", data={"token": token}, auth=(other_id, other_secret),
                       environ_base={"REMOTE_ADDR": fresh_address()})
    assert resp.status_code == 200
    assert client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token)).status_code == 200
    resp = client.post(f"/t/{tenant.slug}/oauth/revoke", data={"token": token}, auth=(client_id, secret),
                       environ_base={"REMOTE_ADDR": fresh_address()})
    assert resp.status_code == 200
    refused = client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token))
    assert refused.status_code == 401 and refused.json["reason"] == "revoked"


def test_a_token_of_tenant_a_is_nothing_at_tenant_b(client, make_tenant):
    a, b = make_tenant(prefix="oa"), make_tenant(prefix="ob")
    client_id, secret = new_client(a, ("settings.manage", "clients.manage"))
    token = ask_token(client, a.slug, client_id, secret).json["access_token"]
    assert client.put(f"/t/{a.slug}/api/v1/settings/display_name", json={"value": "Only A"},
                      headers=bearer(token)).status_code == 200
    for method, path in [("get", "/api/v1/settings"), ("get", "/api/v1/settings/display_name"),
                         ("put", "/api/v1/settings/display_name"), ("get", "/api/v1/clients"),
                         ("get", f"/api/v1/clients/{client_id}"), ("get", "/api/v1/whoami"), ("get", "/")]:
        resp = getattr(client, method)(f"/t/{b.slug}{path}", headers=bearer(token), json={"value": "x"})
        assert resp.status_code == 401, (path, resp.status_code)
        assert resp.json["reason"] == "unknown"
        shown = json.dumps({k: v for k, v in resp.json.items() if k != "instance"})  # instance echoes the path
        assert "Only A" not in shown and client_id not in shown and "Sync job" not in shown
    # A's client credentials do not exist at B's token endpoint
    at_b = ask_token(client, b.slug, client_id, secret)
    assert at_b.status_code == 401 and at_b.json["error"] == "invalid_client"
    with b.session() as s:
        assert s.execute(select(OAuthToken)).first() is None


def test_scope_rules(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant, ("audit.read", "settings.manage"))
    narrow = ask_token(client, tenant.slug, client_id, secret, scope="audit.read")
    assert narrow.status_code == 200 and narrow.json["scope"] == "audit.read"
    token = narrow.json["access_token"]
    # the token holds only the scope asked for: changing a setting needs settings.manage
    assert client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(token)).status_code == 200
    resp = client.put(f"/t/{tenant.slug}/api/v1/settings/display_name", json={"value": "x"}, headers=bearer(token))
    assert resp.status_code == 403 and resp.mimetype == PROBLEM
    assert resp.json["missing_permission"] == "settings.manage"
    # asking for more than the client has is refused, not trimmed
    wider = ask_token(client, tenant.slug, client_id, secret, scope="audit.read users.manage")
    assert wider.status_code == 400 and wider.json["error"] == "invalid_scope"
    assert "users.manage" in wider.json["error_description"]
    odd = ask_token(client, tenant.slug, client_id, secret, scope="é")
    assert odd.status_code == 400 and odd.json["error"] == "invalid_scope"


def test_operator_tokens_are_for_the_control_api_only(client, make_tenant, operator_token):
    tenant = make_tenant()
    resp = client.get(f"/t/{tenant.slug}/api/v1/settings", headers=bearer(operator_token))
    assert resp.status_code == 401 and resp.mimetype == PROBLEM and resp.json["reason"] == "operator_token"
    assert client.get("/api/v1/tenants", headers=bearer(operator_token)).status_code == 200
    for junk in ("sht_nothing", "xyz", ""):
        resp = client.get(f"/t/{tenant.slug}/api/v1/settings", headers={"Authorization": f"Bearer {junk}"})
        assert resp.status_code == 401 and resp.mimetype == PROBLEM


def test_the_token_endpoint_is_rate_limited(app, client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant)
    address = fresh_address()
    app.config["TOKEN_LIMIT"] = "3 per minute"
    try:
        codes = [ask_token(client, tenant.slug, client_id, "shs_guess", address=address).status_code
                 for _ in range(4)]
        last = ask_token(client, tenant.slug, client_id, secret, address=address)
    finally:
        app.config["TOKEN_LIMIT"] = "60 per minute"
    assert codes == [401, 401, 401, 429]
    assert last.status_code == 429 and last.mimetype == PROBLEM and int(last.headers["Retry-After"]) > 0


def test_token_issue_is_audited_without_secrets(client, make_tenant):
    tenant = make_tenant()
    client_id, secret = new_client(tenant, name="Audited")
    token = ask_token(client, tenant.slug, client_id, secret).json["access_token"]
    with tenant.session() as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars().all()
        dump = json.dumps([s.execute(text(f"SELECT row_to_json(a)::text FROM {tenant.schema}.audit_log a"))
                           .scalars().all()])
    issue = [e for e in entries if e.action == "token_issue"]
    assert len(issue) == 1
    assert (issue[0].actor_type, issue[0].actor_id, issue[0].actor_name) == ("client", client_id, "Audited")
    assert issue[0].entity_type == "oauth_client" and issue[0].entity_id == client_id
    assert issue[0].details["scopes"] == ["settings.manage"]
    assert token not in dump and secret not in dump
    assert hashlib.sha256(token.encode()).hexdigest() not in dump
