"""OpenID Connect single sign-on, end to end against a real OpenID provider started locally
(npm ``oidc-provider`` under Node.js, tests/peers/oidc).

The browser is played by the Flask test client (our app) and a ``requests`` session (the
provider's pages). Attacks are made at the network boundary: a small HTTP proxy in front of
the provider lies about its issuer or tampers with the token endpoint's answer.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import pytest
import requests
from sqlalchemy import select

from schemehost.platform.errors import ValidationError
from schemehost.tenants.core.models import User
from schemehost.tenants.identity import sso
from schemehost.tenants.identity.models import AuditEntry, Role, UserRole

from .conftest import oidc_peer_skip_reason, running_oidc_provider

APP = "http://localhost"  # the test client's address


# ---- helpers ------------------------------------------------------------------------------------------


def own_address(client) -> None:
    """Give the test client its own client address: sign-in rate limits count per address."""
    n = uuid.uuid4().int
    client.environ_base["REMOTE_ADDR"] = f"10.{n % 250 + 1}.{n // 250 % 250 + 1}.{n // 62500 % 250 + 1}"


def callback_uri(slug: str, base: str = APP) -> str:
    return f"{base}/t/{slug}/login/sso/callback"


def configure(tenant, issuer: str, client: tuple[str, str], **options) -> None:
    with tenant.session() as s:
        sso.configure_provider(s, issuer=issuer, client_id=client[0], client_secret=client[1], **options)


def add_user(tenant, email: str, *, name: str = "Invited Person", roles=(), password_hash=None,
             is_active: bool = True) -> int:
    """A user as an invitation leaves it (no password yet), with roles."""
    with tenant.session() as s:
        user = User(email=email, name=name, password_hash=password_hash, is_active=is_active)
        s.add(user)
        s.flush()
        for code in roles:
            s.add(UserRole(user_id=user.id, role_id=s.execute(select(Role.id).where(Role.code == code)).scalar_one()))
        return user.id


def user_row(tenant, email: str) -> dict | None:
    with tenant.session() as s:
        user = s.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            return None
        roles = sorted(s.execute(select(Role.code).join(UserRole, UserRole.role_id == Role.id)
                                 .where(UserRole.user_id == user.id)).scalars())
        return {"id": user.id, "sso_subject": user.sso_subject, "roles": roles, "is_active": user.is_active}


def audit_rows(tenant, action: str) -> list[AuditEntry]:
    with tenant.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
                    .scalars())


class Browser:
    """One person's browser: the test client for our app, a requests session for the provider."""

    def __init__(self, client):
        self.client = client
        own_address(client)
        self.idp = requests.Session()

    def start(self, slug: str, **args):
        resp = self.client.get(f"/t/{slug}/login/sso" + (f"?{urlencode(args)}" if args else ""))
        return resp

    def at_provider(self, authorization_url: str, login: str, password: str) -> str:
        """Sign in at the provider's own page (unless it still knows this browser); returns the URL
        it sends the browser back to."""
        base = authorization_url.split("/auth?", 1)[0]
        resp = self.idp.get(authorization_url, allow_redirects=False, timeout=10)
        while True:
            if resp.status_code in (302, 303):
                location = urljoin(resp.url, resp.headers["Location"])
                if not location.startswith(base + "/"):
                    return location  # back to the scheme
                resp = self.idp.get(location, allow_redirects=False, timeout=10)
            elif resp.status_code == 200 and 'name="password"' in resp.text:
                action = re.search(r'<form method="post" action="([^"]+)"', resp.text).group(1)
                resp = self.idp.post(urljoin(resp.url, action), data={"login": login, "password": password},
                                     allow_redirects=False, timeout=10)
                login = None  # once
            else:
                raise AssertionError(f"the provider did not send the browser back: {resp.status_code} "
                                     f"{resp.text[:500]}")

    def back(self, url: str):
        parts = urlsplit(url)
        return self.client.get(parts.path + ("?" + parts.query if parts.query else ""))

    def sign_in(self, slug: str, login: str, password: str):
        start = self.start(slug)
        assert start.status_code == 302, start.get_data(as_text=True)
        return self.back(self.at_provider(start.headers["Location"], login, password))


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def refused(resp, reason_text: str | None = None) -> None:
    assert resp.status_code == 403, (resp.status_code, resp.get_data(as_text=True)[:500])
    body = resp.get_data(as_text=True)
    assert "Single sign-on failed" in body
    if reason_text:
        assert reason_text in body


@pytest.fixture
def browser(client):
    return Browser(client)


@pytest.fixture
def scheme(make_tenant, oidc_provider):
    """A tenant whose provider is the local one, with its own registered client."""
    tenant = make_tenant()
    tenant.client = oidc_provider.register_client(callback_uri(tenant.slug))
    configure(tenant, oidc_provider.issuer, tenant.client)
    return tenant


# ---- a proxy in front of the provider (the network boundary) ------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tamper_claims(id_token: str) -> str:
    """Same header and signature, another person in the payload."""
    header, payload, signature = id_token.split(".")
    claims = json.loads(_unb64(payload))
    claims.update(sub="mallory", email="mallory@example.org", roles=["scheme-admins"])
    return ".".join([header, _b64(json.dumps(claims).encode()), signature])


def tamper_signature(id_token: str) -> str:
    """Signed again with the attacker's own RSA key (same kid): claims intact, signature wrong."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import RSAKey

    header, payload, _signature = id_token.split(".")
    head = json.loads(_unb64(header))
    key = RSAKey.generate_key(2048, parameters={"kid": head.get("kid")})
    return jose_jwt.encode({"alg": "RS256", "kid": head.get("kid")}, json.loads(_unb64(payload)), key)


def tamper_alg_none(id_token: str) -> str:
    """The "none" algorithm: no signature at all."""
    _header, payload, _signature = id_token.split(".")
    return ".".join([_b64(b'{"alg":"none","typ":"JWT"}'), payload, ""])


class Proxy:
    """An HTTP proxy to an upstream provider. ``own_issuer`` makes the discovery document name the
    proxy as the issuer (while the tokens keep the upstream's); ``tamper`` rewrites the ID token in
    the token endpoint's answer. ``id_tokens`` keeps the (untampered) ID tokens that went through."""

    def __init__(self):
        self.upstream: str | None = None
        self.own_issuer = False
        self.tamper = None
        self.id_tokens: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                dropped = ("content-length", "connection") + (("host",) if proxy.own_issuer else ())
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                resp = requests.request(method, proxy.upstream + self.path, headers=headers, data=body,
                                        allow_redirects=False, timeout=10)
                content = resp.content
                path = urlsplit(self.path).path
                if path == "/.well-known/openid-configuration" and proxy.own_issuer:
                    doc = resp.json()
                    doc["issuer"] = proxy.url
                    content = json.dumps(doc).encode()
                elif path == "/token" and resp.ok:
                    token = resp.json()
                    if "id_token" in token:
                        proxy.id_tokens.append(token["id_token"])
                        if proxy.tamper is not None:
                            token["id_token"] = proxy.tamper(token["id_token"])
                    content = json.dumps(token).encode()
                self.send_response(resp.status_code)
                for key, value in resp.raw.headers.items():  # each Set-Cookie on its own
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "keep-alive",
                                           "content-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(content)

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="oidc-proxy")
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def impostor(oidc_provider):
    """A proxy to the real provider whose discovery document claims the proxy is the issuer."""
    proxy = Proxy()
    proxy.upstream, proxy.own_issuer = oidc_provider.issuer, True
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def mitm():
    """A second provider that is reached (and names itself) through a proxy, so that the proxy can
    rewrite the token endpoint's answer while everything else stays genuine."""
    reason = oidc_peer_skip_reason()
    if reason:
        pytest.skip(reason)
    proxy = Proxy()
    with running_oidc_provider(issuer=proxy.url) as (provider, own_url):
        proxy.upstream = own_url
        provider.register_client = _registrar(proxy.url)
        proxy.provider = provider
        yield proxy
    proxy.close()


def _registrar(base: str):
    def register(*redirect_uris: str) -> tuple[str, str]:
        resp = requests.post(f"{base}/reg", timeout=10, json={
            "redirect_uris": list(redirect_uris), "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic"})
        assert resp.status_code == 201, resp.text
        return resp.json()["client_id"], resp.json()["client_secret"]

    return register


# ---- configuration ----------------------------------------------------------------------------------


def test_configuration_is_checked_field_by_field(make_tenant, oidc_provider):
    tenant = make_tenant()
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            sso.configure_provider(s, issuer="http://idp.example.org", client_id="", client_secret=None,
                                   role_claim="roles", role_map={"admins": "no_such_role"})
        errors = err.value.errors
        assert "https://" in errors["issuer"][0]
        assert set(errors) >= {"issuer", "client_id", "client_secret", "role_map"}
        assert "no_such_role" in errors["role_map"][0]

        with pytest.raises(ValidationError) as err:
            sso.configure_provider(s, issuer=oidc_provider.issuer, client_id="c", client_secret="s",
                                   role_map={"admins": "tenant_admin"})
        assert set(err.value.errors) == {"role_claim"}

        # the provider names itself by another address than the one entered
        other = oidc_provider.issuer.replace("127.0.0.1", "localhost")
        with pytest.raises(ValidationError) as err:
            sso.configure_provider(s, issuer=other, client_id="c", client_secret="s")
        assert oidc_provider.issuer in err.value.errors["issuer"][0]

        # nothing answers there
        with pytest.raises(ValidationError) as err:
            sso.configure_provider(s, issuer="http://127.0.0.1:9", client_id="c", client_secret="s")
        assert "does not answer" in err.value.errors["issuer"][0]
        # ...but a disabled provider can be saved while it is down
        sso.configure_provider(s, issuer="http://127.0.0.1:9", client_id="c", client_secret="s", enabled=False)
        assert sso.sso_enabled(s) is False
    assert len(audit_rows(tenant, "create")) >= 1


def test_secret_is_encrypted_at_rest_and_kept_when_left_out(make_tenant, oidc_provider):
    tenant = make_tenant()
    configure(tenant, oidc_provider.issuer, ("client-1", "the-first-secret"))
    with tenant.session() as s:
        stored = sso.get_provider(s).client_secret
        assert "the-first-secret" not in stored
        sso.configure_provider(s, issuer=oidc_provider.issuer, client_id="client-2")  # secret kept
        assert sso.get_provider(s).client_secret == stored
        assert sso._client_secret(sso.get_provider(s)) == "the-first-secret"
        assert sso.sso_enabled(s) is True
        assert sso.provider_name(s) == "127.0.0.1"
    [update] = audit_rows(tenant, "update")
    assert update.before["client_id"] == "client-1" and update.after["client_id"] == "client-2"
    assert "the-first-secret" not in json.dumps([update.before, update.after, update.details])


# ---- signing in: refusals (no session needed) --------------------------------------------------------


def test_start_redirects_to_the_provider_with_pkce_state_and_nonce(scheme, browser, oidc_provider):
    resp = browser.start(scheme.slug)
    assert resp.status_code == 302
    url = resp.headers["Location"]
    assert url.startswith(oidc_provider.issuer + "/auth?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["client_id"] == scheme.client[0]
    assert query["redirect_uri"] == callback_uri(scheme.slug)
    assert query["response_type"] == "code" and "openid" in query["scope"].split()
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20


def test_sso_pages_answer_404_when_not_configured(make_tenant, browser):
    tenant = make_tenant()
    assert browser.start(tenant.slug).status_code == 404


def test_state_mismatch_is_refused(scheme, browser, oidc_provider):
    add_user(scheme, "alice@example.org")
    start = browser.start(scheme.slug)
    back = browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass")
    refused(browser.back(with_query(back, state="forged-state-value-000000")), "start again")
    # the pending sign-in was spent by the refused attempt: the genuine answer no longer works either
    refused(browser.back(back))
    assert user_row(scheme, "alice@example.org")["sso_subject"] is None
    reasons = [e.details["reason"] for e in audit_rows(scheme, "sign_in_failed")]
    assert reasons == ["state_mismatch", "state_mismatch"]


def test_callback_without_a_started_sign_in_is_refused(scheme, client):
    own_address(client)
    refused(client.get(f"/t/{scheme.slug}/login/sso/callback?code=abc&state=def"))


def test_person_without_account_is_refused_unless_auto_create(scheme, browser, oidc_provider):
    refused(browser.sign_in(scheme.slug, "bob@example.org", "bob-pass"), "invitation")
    assert user_row(scheme, "bob@example.org") is None
    assert [e.details for e in audit_rows(scheme, "sign_in_failed")] == [{"method": "sso", "reason": "no_account"}]


def test_unverified_email_does_not_link_an_account(scheme, browser):
    add_user(scheme, "carol@example.org")
    refused(browser.sign_in(scheme.slug, "carol@example.org", "carol-pass"))
    assert user_row(scheme, "carol@example.org")["sso_subject"] is None


def test_deactivated_user_is_refused(scheme, browser):
    add_user(scheme, "alice@example.org", is_active=False)
    refused(browser.sign_in(scheme.slug, "alice@example.org", "alice-pass"), "deactivated")
    assert user_row(scheme, "alice@example.org")["sso_subject"] is None
    [failure] = audit_rows(scheme, "sign_in_failed")
    assert failure.entity_id == str(user_row(scheme, "alice@example.org")["id"])
    assert failure.details == {"method": "sso", "reason": "inactive_account"}


def test_account_linked_to_another_identity_is_refused(scheme, browser, oidc_provider):
    """Alice's account is linked to another subject: a second identity with her e-mail cannot take it."""
    add_user(scheme, "alice@example.org")
    with scheme.session() as s:
        s.execute(select(User).where(User.email == "alice@example.org")).scalar_one().sso_subject = (
            f"{oidc_provider.issuer} alice-old")
    refused(browser.sign_in(scheme.slug, "alice@example.org", "alice-pass"), "another identity")
    assert user_row(scheme, "alice@example.org")["sso_subject"] == f"{oidc_provider.issuer} alice-old"


def test_provider_with_wrong_issuer_is_refused_at_callback(make_tenant, impostor, oidc_provider, browser):
    """The tenant trusts an address whose discovery document claims to be the issuer, but the
    answers and ID tokens come from another issuer."""
    tenant = make_tenant()
    add_user(tenant, "alice@example.org")
    client = oidc_provider.register_client(callback_uri(tenant.slug))
    configure(tenant, impostor.url, client)  # its discovery document agrees, so saving passes

    start = browser.start(tenant.slug)
    assert start.headers["Location"].startswith(oidc_provider.issuer)
    back = browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass")
    assert parse_qs(urlsplit(back).query)["iss"] == [oidc_provider.issuer]
    refused(browser.back(back), "another provider")  # the answer names its issuer (RFC 9207)

    # without the iss parameter, the ID token's own issuer gives it away
    start = browser.start(tenant.slug)
    back = browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass")
    refused(browser.back(with_query(back, iss=None)), "another provider")

    assert user_row(tenant, "alice@example.org")["sso_subject"] is None
    assert [e.details["reason"] for e in audit_rows(tenant, "sign_in_failed")] == ["wrong_issuer", "wrong_issuer"]


@pytest.mark.parametrize("tamper", [tamper_claims, tamper_signature, tamper_alg_none],
                         ids=["claims-altered", "resigned-with-other-key", "alg-none"])
def test_tampered_id_token_is_refused(make_tenant, mitm, browser, tamper):
    tenant = make_tenant()
    add_user(tenant, "alice@example.org")
    add_user(tenant, "mallory@example.org")
    configure(tenant, mitm.url, mitm.provider.register_client(callback_uri(tenant.slug)),
              auto_create=True, role_claim="roles", role_map={"scheme-admins": "tenant_admin"})
    mitm.tamper = tamper
    try:
        refused(browser.sign_in(tenant.slug, "alice@example.org", "alice-pass"), "ID token")
    finally:
        mitm.tamper = None
    assert user_row(tenant, "alice@example.org")["sso_subject"] is None
    assert user_row(tenant, "mallory@example.org") == {
        "id": user_row(tenant, "mallory@example.org")["id"], "sso_subject": None, "roles": [], "is_active": True}
    assert [e.details["reason"] for e in audit_rows(tenant, "sign_in_failed")] == ["invalid_id_token"]


def test_id_token_checks_on_a_genuine_token(make_tenant, mitm, browser, app):
    """A genuine ID token (taken at the proxy) is refused when expired, for another audience, with
    another nonce or from another issuer; accepted otherwise."""
    tenant = make_tenant()
    client = mitm.provider.register_client(callback_uri(tenant.slug))
    configure(tenant, mitm.url, client)
    mitm.id_tokens.clear()
    browser.sign_in(tenant.slug, "bob@example.org", "bob-pass")  # refused (no account), token seen
    [id_token] = mitm.id_tokens
    payload = json.loads(_unb64(id_token.split(".")[1]))
    jwks = requests.get(f"{mitm.url}/jwks", timeout=10).json()
    ok = dict(issuer=mitm.url, client_id=client[0], nonce=payload["nonce"], jwks=jwks)
    with app.app_context():
        assert sso.validate_id_token(id_token, **ok)["sub"] == "bob"
        for changes in ({"now": payload["exp"] + 3600}, {"client_id": "another-client"},
                        {"nonce": "another-nonce"}, {"issuer": "https://idp.example.org"},
                        {"jwks": {"keys": []}}, {"algorithms": ["ES256"]}):
            with pytest.raises(sso.SsoFailed):
                sso.validate_id_token(id_token, **{**ok, **changes})


def test_callback_of_another_tenant_is_refused(make_tenant, oidc_provider, browser):
    """A sign-in started at scheme A cannot be completed at scheme B, which trusts the same provider."""
    a, b = make_tenant(), make_tenant()
    for tenant in (a, b):
        add_user(tenant, "alice@example.org")
        configure(tenant, oidc_provider.issuer, oidc_provider.register_client(callback_uri(tenant.slug)))

    start = browser.start(a.slug)
    back_a = browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass")
    query = urlsplit(back_a).query
    # B never started a sign-in in this browser
    refused(browser.client.get(f"/t/{b.slug}/login/sso/callback?{query}"), "start again")

    # B started one too: A's code (with B's state) is not B's to exchange
    start_b = browser.start(b.slug)
    state_b = parse_qs(urlsplit(start_b.headers["Location"]).query)["state"][0]
    start = browser.start(a.slug)
    back_a = browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass")
    refused(browser.back(with_query(back_a.replace(f"/t/{a.slug}/", f"/t/{b.slug}/"), state=state_b)))

    assert user_row(b, "alice@example.org")["sso_subject"] is None
    assert user_row(a, "alice@example.org")["sso_subject"] is None
    assert [e.details["reason"] for e in audit_rows(b, "sign_in_failed")] == ["state_mismatch",
                                                                               "token_exchange_failed"]
    assert audit_rows(a, "sign_in_failed") == []


# ---- signing in: success ------------------------------------------------------------------------------


def signed_in_as(browser, slug: str) -> str | None:
    page = browser.client.get(f"/t/{slug}/")
    match = re.search(r"Signed in as ([^.<]+)\.", page.get_data(as_text=True))
    return match.group(1) if page.status_code == 200 and match else None


def test_first_sign_in_links_the_invited_user(scheme, browser, oidc_provider, client):
    user_id = add_user(scheme, "alice@example.org", name="Alice (invited)", roles=("enrolment_officer",))
    resp = browser.sign_in(scheme.slug, "alice@example.org", "alice-pass")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{scheme.slug}/"
    assert signed_in_as(browser, scheme.slug) == "Alice (invited)"
    row = user_row(scheme, "alice@example.org")
    assert row["id"] == user_id and row["sso_subject"] == f"{oidc_provider.issuer} alice"
    assert row["roles"] == ["enrolment_officer"]  # no role claim configured: roles stay the console's
    [link] = audit_rows(scheme, "sso_link")
    assert link.entity_id == str(user_id) and link.after == {"sso_subject": f"{oidc_provider.issuer} alice"}
    [sign_in] = audit_rows(scheme, "sign_in")
    assert sign_in.details == {"method": "sso"} and sign_in.actor_id == str(user_id)

    # the next sign-in finds the user by the linked identity, even after an e-mail change here
    with scheme.session() as s:
        s.get(User, user_id).email = "alice.new@example.org"
    other = Browser(scheme.app.test_client())
    assert other.sign_in(scheme.slug, "alice", "alice-pass").status_code == 302
    assert signed_in_as(other, scheme.slug) == "Alice (invited)"
    assert len(audit_rows(scheme, "sso_link")) == 1 and len(audit_rows(scheme, "sign_in")) == 2


def test_next_page_is_kept_across_the_provider(scheme, browser):
    add_user(scheme, "alice@example.org")
    start = browser.start(scheme.slug, next=f"/t/{scheme.slug}/settings/sso")
    resp = browser.back(browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass"))
    assert resp.headers["Location"] == f"/t/{scheme.slug}/settings/sso"
    start = browser.start(scheme.slug, next="https://evil.example.org/")
    resp = browser.back(browser.at_provider(start.headers["Location"], "alice@example.org", "alice-pass"))
    assert resp.headers["Location"] == f"/t/{scheme.slug}/"


def test_roles_follow_the_role_claim_at_each_sign_in(scheme, browser, oidc_provider):
    user_id = add_user(scheme, "alice@example.org", roles=("read_only",))
    configure(scheme, oidc_provider.issuer, scheme.client, role_claim="roles",
              role_map={"scheme-admins": "tenant_admin", "staff": "enrolment_officer", "claims-team": "auditor"})
    assert browser.sign_in(scheme.slug, "alice@example.org", "alice-pass").status_code == 302
    assert user_row(scheme, "alice@example.org")["roles"] == ["enrolment_officer", "tenant_admin"]
    [change] = audit_rows(scheme, "role_change")
    assert change.entity_id == str(user_id)
    assert change.before == {"roles": ["read_only"]}
    assert change.after == {"roles": ["enrolment_officer", "tenant_admin"]}
    assert change.details == {"source": "sso", "claim": "roles"}
    # the signed-in user holds the mapped permissions at once
    assert browser.client.get(f"/t/{scheme.slug}/settings/sso").status_code == 200

    # the administrator remaps the claim: the next sign-in applies it
    configure(scheme, oidc_provider.issuer, scheme.client, role_claim="roles", role_map={"staff": "auditor"})
    other = Browser(scheme.app.test_client())
    assert other.sign_in(scheme.slug, "alice@example.org", "alice-pass").status_code == 302
    assert user_row(scheme, "alice@example.org")["roles"] == ["auditor"]
    assert other.client.get(f"/t/{scheme.slug}/settings/sso").status_code == 403
    # unchanged roles: no new entry
    third = Browser(scheme.app.test_client())
    assert third.sign_in(scheme.slug, "alice@example.org", "alice-pass").status_code == 302
    assert len(audit_rows(scheme, "role_change")) == 2


def test_auto_create_makes_an_account_with_mapped_roles(scheme, browser, oidc_provider):
    configure(scheme, oidc_provider.issuer, scheme.client, auto_create=True, role_claim="roles",
              role_map={"claims-team": "auditor"})
    assert browser.sign_in(scheme.slug, "bob@example.org", "bob-pass").status_code == 302
    assert signed_in_as(browser, scheme.slug) == "Bob Mbarga"
    row = user_row(scheme, "bob@example.org")
    assert row["sso_subject"] == f"{oidc_provider.issuer} bob" and row["roles"] == ["auditor"]
    [created] = [e for e in audit_rows(scheme, "create") if e.entity_type == "user"]
    assert created.after["email"] == "bob@example.org" and created.details == {"source": "sso"}
    # without a verified e-mail there is no account to create
    refused(Browser(scheme.app.test_client()).sign_in(scheme.slug, "carol@example.org", "carol-pass"))
    assert user_row(scheme, "carol@example.org") is None


def test_genuine_token_through_the_proxy_signs_in(make_tenant, mitm, browser):
    """The proxy itself is transparent: without tampering the same flow succeeds."""
    tenant = make_tenant()
    add_user(tenant, "alice@example.org", name="Alice")
    configure(tenant, mitm.url, mitm.provider.register_client(callback_uri(tenant.slug)))
    assert browser.sign_in(tenant.slug, "alice@example.org", "alice-pass").status_code == 302
    assert signed_in_as(browser, tenant.slug) == "Alice"


# ---- API and settings page ----------------------------------------------------------------------------


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_api_configures_without_ever_returning_the_secret(make_tenant, oidc_provider, client, client_token):
    tenant = make_tenant()
    token = client_token(tenant, scopes=("users.manage",))
    path = f"/t/{tenant.slug}/api/v1/sso"
    missing = client.get(path, headers=bearer(token))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"

    body = {"issuer": oidc_provider.issuer, "client_id": "portal", "client_secret": "s3cret-value-xyz",
            "role_claim": "roles", "role_map": {"scheme-admins": "tenant_admin"}, "auto_create": True}
    put = client.put(path, json=body, headers=bearer(token))
    assert put.status_code == 200, put.get_data(as_text=True)
    for resp in (put, client.get(path, headers=bearer(token))):
        assert resp.json["client_secret_set"] is True
        assert resp.json["redirect_uri"] == callback_uri(tenant.slug)
        assert resp.json["role_map"] == {"scheme-admins": "tenant_admin"} and resp.json["auto_create"] is True
        assert "client_secret" not in resp.json
        assert "s3cret-value-xyz" not in resp.get_data(as_text=True)
    # the secret is not in the audit log either
    with tenant.session() as s:
        assert "s3cret-value-xyz" not in json.dumps([[e.before, e.after, e.details] for e in s.execute(
            select(AuditEntry)).scalars()])

    # a change without the secret keeps it
    assert client.put(path, json={**body, "client_secret": None, "client_id": "portal-2"},
                      headers=bearer(token)).status_code == 200
    with tenant.session() as s:
        assert sso._client_secret(sso.get_provider(s)) == "s3cret-value-xyz"

    assert client.delete(path, headers=bearer(token)).status_code == 204
    assert client.get(path, headers=bearer(token)).status_code == 404
    assert [e.action for e in audit_rows(tenant, "delete")] == ["delete"]


def test_api_validation_errors_are_problem_json_with_field_errors(make_tenant, oidc_provider, client,
                                                                  client_token):
    tenant = make_tenant()
    token = client_token(tenant, scopes=("users.manage",))
    path = f"/t/{tenant.slug}/api/v1/sso"
    resp = client.put(path, json={"issuer": "http://idp.example.org", "client_id": "",
                                  "role_claim": "roles", "role_map": {"x": "no_such_role"}}, headers=bearer(token))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert resp.json["type"].endswith("/validation-error")
    assert set(resp.json["errors"]) == {"issuer", "client_id", "client_secret", "role_map"}

    resp = client.put(path, json={"issuer": oidc_provider.issuer.replace("127.0.0.1", "localhost"),
                                  "client_id": "c", "client_secret": "s"}, headers=bearer(token))
    assert resp.status_code == 422 and oidc_provider.issuer in resp.json["errors"]["issuer"][0]

    resp = client.put(path, json={"issuer": oidc_provider.issuer, "client_id": "c", "client_secret": "s",
                                  "enabled": "maybe", "unknown": 1}, headers=bearer(token))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert {"enabled", "unknown"} <= set(resp.json["errors"])
    assert client.get(path, headers=bearer(token)).status_code == 404  # nothing was saved


def test_api_needs_users_manage_and_stays_in_its_tenant(make_tenant, oidc_provider, client, client_token):
    a, b = make_tenant(), make_tenant()
    configure(a, oidc_provider.issuer, ("client-a", "secret-a"))
    path_a = f"/t/{a.slug}/api/v1/sso"
    assert client.get(path_a).status_code == 401
    weak = client_token(a, scopes=("settings.manage",))
    resp = client.get(path_a, headers=bearer(weak))
    assert resp.status_code == 403 and resp.json["missing_permission"] == "users.manage"
    # a token of tenant B, even with users.manage, is nothing at tenant A
    token_b = client_token(b, scopes=("users.manage",))
    assert client.get(path_a, headers=bearer(token_b)).status_code == 401
    assert client.delete(path_a, headers=bearer(token_b)).status_code == 401
    assert client.get(f"/t/{b.slug}/api/v1/sso", headers=bearer(token_b)).status_code == 404
    with a.session() as s:
        assert sso.get_provider(s) is not None


def test_settings_page_saves_and_removes_the_provider(scheme, browser, oidc_provider):
    add_user(scheme, "alice@example.org", roles=("tenant_admin",))
    assert browser.sign_in(scheme.slug, "alice@example.org", "alice-pass").status_code == 302
    page = browser.client.get(f"/t/{scheme.slug}/settings/sso")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and callback_uri(scheme.slug) in html
    assert oidc_provider.issuer in html and scheme.client[1] not in html  # the secret is never shown
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    form = {"csrf_token": csrf, "issuer": oidc_provider.issuer, "client_id": scheme.client[0], "client_secret": "",
            "role_claim": "roles", "role_map": "scheme-admins = tenant_admin\nnot a pair", "enabled": "y"}
    bad = browser.client.post(f"/t/{scheme.slug}/settings/sso", data=form)
    assert bad.status_code == 422 and "Line 2 is not" in bad.get_data(as_text=True)

    form["role_map"] = "scheme-admins = tenant_admin\nstaff = auditor"
    saved = browser.client.post(f"/t/{scheme.slug}/settings/sso", data=form)
    assert saved.status_code == 302
    with scheme.session() as s:
        settings = sso.provider_settings(s)
        assert settings.role_map == {"scheme-admins": "tenant_admin", "staff": "auditor"}
        assert sso._client_secret(sso.get_provider(s)) == scheme.client[1]  # kept

    removed = browser.client.post(f"/t/{scheme.slug}/settings/sso/remove", data={"csrf_token": csrf})
    assert removed.status_code == 302
    with scheme.session() as s:
        assert sso.get_provider(s) is None and sso.sso_enabled(s) is False


def test_missing_role_claim_takes_the_roles_away(scheme, browser, oidc_provider):
    """The provider decides: a person whose token carries no role claim keeps no mapped role."""
    add_user(scheme, "dan@example.org", roles=("auditor",))
    configure(scheme, oidc_provider.issuer, scheme.client, role_claim="roles", role_map={"staff": "auditor"})
    start = browser.start(scheme.slug)
    assert "roles" in parse_qs(urlsplit(start.headers["Location"]).query)["scope"][0].split()
    assert browser.back(browser.at_provider(start.headers["Location"], "dan", "dan-pass")).status_code == 302
    assert user_row(scheme, "dan@example.org")["roles"] == []
    [change] = audit_rows(scheme, "role_change")
    assert change.details["claim_missing"] is True and change.before == {"roles": ["auditor"]}


def test_sign_in_link_for_the_sign_in_page(scheme, app, oidc_provider):
    from schemehost.tenants.identity.sso_views import sso_sign_in_link

    with app.test_request_context(f"/t/{scheme.slug}/login"):
        app.preprocess_request()
        link = sso_sign_in_link(f"/t/{scheme.slug}/users/")
        assert link == {"url": f"/t/{scheme.slug}/login/sso?next=/t/{scheme.slug}/users/",
                        "label": "Sign in with 127.0.0.1"}
    with scheme.session() as s:
        sso.configure_provider(s, issuer=oidc_provider.issuer, client_id=scheme.client[0], enabled=False)
    with app.test_request_context(f"/t/{scheme.slug}/login"):
        app.preprocess_request()
        assert sso_sign_in_link() is None


def test_failed_callbacks_are_rate_limited(scheme, client, app, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNIN_LIMIT", "2 per minute")
    own_address(client)
    path = f"/t/{scheme.slug}/login/sso/callback?code=guess&state=guess"
    assert [client.get(path).status_code for _ in range(3)] == [403, 403, 429]
    assert client.get(path).headers["Retry-After"].isdigit()
