"""Tenant console sessions: sign-in and sign-out, cookies bound to their tenant, expiry, sign-in limits."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
from flask import request as flask_request
from sqlalchemy import select, update

from schemehost.platform.ratelimit import limiter
from schemehost.tenants.core.models import Setting, User
from schemehost.tenants.identity.models import AuditEntry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _console_support import make_operator, sign_in as operator_sign_in  # noqa: E402

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|type="hidden" name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def sign_in(client, tenant, email, password, *, next_="", remember=False, **kw):
    page = client.get(f"/t/{tenant.slug}/login", **kw)
    assert page.status_code == 200, page.status_code
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password,
            "next": next_}
    if remember:
        data["remember"] = "y"
    return client.post(f"/t/{tenant.slug}/login", data=data, **kw)


def post_form(client, page_path, action, **kw):
    """POST the CSRF-protected form of ``page_path`` to ``action``."""
    page = client.get(page_path)
    assert page.status_code == 200, page.status_code
    return client.post(action, data={"csrf_token": csrf_from(page.get_data(as_text=True))}, **kw)


def signed_in(client, tenant) -> bool:
    resp = client.get(f"/t/{tenant.slug}/")
    assert resp.status_code in (200, 302), resp.status_code
    return resp.status_code == 200


def cookie_of(client, name):
    cookie = next((c for c in client._cookies.values() if c.key == name), None)
    assert cookie is not None, f"no cookie {name}"
    return cookie


def set_cookies(resp) -> list[str]:
    return resp.headers.getlist("Set-Cookie")


def audit_rows(tenant, action):
    with tenant.session() as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars().all()


@pytest.fixture
def tenant_a(make_tenant):
    return make_tenant()


@pytest.fixture
def tenant_b(make_tenant):
    return make_tenant()


@pytest.fixture
def signed_in_a(app, tenant_a, tenant_user):
    """A client signed in to tenant A, and the user's (id, email, password)."""
    user = tenant_user(tenant_a)
    client = app.test_client()
    assert sign_in(client, tenant_a, user[1], user[2]).status_code == 302
    return client, user


# ---- signing in and out ---------------------------------------------------------------------------


def test_console_pages_need_sign_in_and_sign_in_goes_to_next(app, client, tenant_a, tenant_user):
    user_id, email, password = tenant_user(tenant_a, name="Amina Diallo")
    slug = tenant_a.slug
    resp = client.get(f"/t/{slug}/account?tab=1")
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/t/{slug}/login?next=/t/{slug}/account?tab%3D1"
    resp = sign_in(client, tenant_a, email.upper(), password, next_=f"/t/{slug}/account?tab=1")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{slug}/account?tab=1"
    home = client.get(f"/t/{slug}/").get_data(as_text=True)
    assert "Amina Diallo" in home and f"/t/{slug}/logout" in home  # the account block
    account = client.get(f"/t/{slug}/account").get_data(as_text=True)
    assert email in account and "Sign out everywhere" in account
    # signing in again while signed in just goes on
    assert client.get(f"/t/{slug}/login").headers["Location"] == f"/t/{slug}/"

    resp = post_form(client, f"/t/{slug}/", f"/t/{slug}/logout")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{slug}/login"
    assert "You are signed out." in client.get(f"/t/{slug}/login").get_data(as_text=True)
    assert not signed_in(client, tenant_a)
    with tenant_a.session() as s:
        assert s.get(User, user_id).last_sign_in_at is not None
    entries = audit_rows(tenant_a, "sign_in")
    assert [(e.actor_type, e.actor_id, e.entity_id, e.details) for e in entries] == [
        ("user", str(user_id), str(user_id), {"method": "password"})]
    assert [e.entity_id for e in audit_rows(tenant_a, "sign_out")] == [str(user_id)]


def test_wrong_password_unknown_email_and_inactive_user_are_refused_and_audited(app, client, tenant_a,
                                                                                 tenant_user):
    user_id, email, password = tenant_user(tenant_a)
    wrong = sign_in(client, tenant_a, email, "not the password at all")
    assert wrong.status_code == 401
    assert "The e-mail address or the password is wrong." in wrong.get_data(as_text=True)
    unknown = sign_in(client, tenant_a, "nobody@example.org", password)
    assert unknown.status_code == 401
    assert "The e-mail address or the password is wrong." in unknown.get_data(as_text=True)
    with tenant_a.session() as s:
        s.execute(update(User).where(User.id == user_id).values(is_active=False))
    assert sign_in(client, tenant_a, email, password).status_code == 401
    assert not signed_in(client, tenant_a)

    failed = audit_rows(tenant_a, "sign_in_failed")
    assert [(e.actor_type, e.entity_type, e.entity_id) for e in failed] == [
        ("anonymous", "user", str(user_id)), ("anonymous", "user", None), ("anonymous", "user", str(user_id))]
    assert all(e.ip for e in failed)
    for e in failed:  # never the password, not even the e-mail typed
        text = repr((e.before, e.after, e.details, e.actor_name))
        assert "not the password" not in text and password not in text and "nobody@" not in text
    assert audit_rows(tenant_a, "sign_in") == []


def test_sign_in_form_needs_its_fields_and_csrf(app, client, tenant_a, tenant_user):
    _uid, email, password = tenant_user(tenant_a)
    slug = tenant_a.slug
    no_csrf = client.post(f"/t/{slug}/login", data={"email": email, "password": password})
    assert no_csrf.status_code == 400
    assert not signed_in(client, tenant_a)
    page = client.get(f"/t/{slug}/login").get_data(as_text=True)
    empty = client.post(f"/t/{slug}/login", data={"csrf_token": csrf_from(page), "email": "", "password": ""})
    assert empty.status_code == 400
    assert "Enter your e-mail address." in empty.get_data(as_text=True)


def test_sign_out_and_sign_out_everywhere_need_csrf(signed_in_a, tenant_a):
    client, _user = signed_in_a
    slug = tenant_a.slug
    assert client.post(f"/t/{slug}/logout").status_code == 400
    assert client.post(f"/t/{slug}/account/sign-out-everywhere", data={"csrf_token": "forged"}).status_code == 400
    assert signed_in(client, tenant_a)


def test_sign_in_never_redirects_outside_its_tenant(app, tenant_a, tenant_b, tenant_user):
    _uid, email, password = tenant_user(tenant_a)
    a, b = tenant_a.slug, tenant_b.slug
    for target in ("//evil.example/", "https://evil.example/t/x/", "/\\evil.example", "/console/tenants/",
                   f"/t/{b}/", f"/t/{a}/%2e%2e/{b}/", f"/t/{a}/../{b}/", "javascript:alert(1)", f"/t/{a}"):
        resp = sign_in(app.test_client(), tenant_a, email, password, next_=target)
        assert resp.status_code == 302
        assert resp.headers["Location"] == f"/t/{a}/", target
    resp = sign_in(app.test_client(), tenant_a, email, password, next_=f"/t/{a}/account?x=1")
    assert resp.headers["Location"] == f"/t/{a}/account?x=1"


def test_the_api_answers_401_not_a_sign_in_page(signed_in_a, tenant_a, client):
    signed_client, _user = signed_in_a
    for c in (client, signed_client):  # a console session is no API credential
        resp = c.get(f"/t/{tenant_a.slug}/api/v1/settings")
        assert resp.status_code == 401
        assert resp.mimetype == "application/problem+json"
        assert not set_cookies(resp)


# ---- cookies --------------------------------------------------------------------------------------


def test_session_cookie_is_the_tenants_own(app, client, tenant_a, tenant_user):
    _uid, email, password = tenant_user(tenant_a)
    resp = sign_in(client, tenant_a, email, password)
    cookies = set_cookies(resp)
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie.startswith(f"sh_t{tenant_a.id}=")
    assert f"Path=/t/{tenant_a.slug}/" in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Domain" not in cookie and "Expires" not in cookie  # a browser-session cookie
    assert "Secure" not in cookie  # SESSION_COOKIE_SECURE is off in tests

    remembered = app.test_client()
    cookie = set_cookies(sign_in(remembered, tenant_a, email, password, remember=True))[0]
    assert "Expires=" in cookie and "Domain" not in cookie

    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        cookie = set_cookies(app.test_client().get(f"/t/{tenant_a.slug}/login"))[0]
        assert "Secure" in cookie and f"Path=/t/{tenant_a.slug}/" in cookie
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False


def test_no_session_cookie_outside_the_console_and_tenant_pages(client, signed_in_a, tenant_a):
    signed_client, _user = signed_in_a
    for path in ("/healthz", "/api/v1/jobs", f"/t/{tenant_a.slug}/api/v1/settings", "/static/console.css"):
        assert not set_cookies(signed_client.get(path)), path
    console = client.get("/console/sign-in")
    (cookie,) = set_cookies(console)
    assert cookie.startswith("sh_console=") and "Path=/console;" in cookie and "Domain" not in cookie


def test_a_tenant_on_its_own_host_gets_a_host_only_cookie_for_its_root(app, client, tenant_a, tenant_user):
    _uid, email, password = tenant_user(tenant_a)
    host = f"{tenant_a.slug}.{app.config['BASE_DOMAIN']}"
    page = client.get("/login", headers={"Host": host})
    assert page.status_code == 200
    (cookie,) = set_cookies(page)
    assert cookie.startswith(f"sh_t{tenant_a.id}=") and "Path=/;" in cookie and "Domain" not in cookie


# ---- the cross-session matrix ---------------------------------------------------------------------


def test_a_cookie_of_tenant_a_opens_nothing_else(app, signed_in_a, tenant_a, tenant_b, tenant_user):
    client, _user = signed_in_a
    tenant_user(tenant_b)  # B has users too (and user ids repeat across schemes)
    value = cookie_of(client, f"sh_t{tenant_a.id}").value
    assert signed_in(client, tenant_a)
    # the browser does not even send it to B; copied under B's name and path, B refuses it
    assert not signed_in(client, tenant_b)
    for name in (f"sh_t{tenant_b.id}", f"sh_t{tenant_a.id}"):
        other = app.test_client()
        other.set_cookie(name, value, path=f"/t/{tenant_b.slug}/")
        assert not signed_in(other, tenant_b), name
    # nor is it an operator console session
    other = app.test_client()
    other.set_cookie("sh_console", value, path="/console")
    resp = other.get("/console/tenants/")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/console/sign-in")


def test_a_session_signed_for_b_holding_a_user_of_a_is_refused(app, signed_in_a, tenant_a, tenant_b):
    """Even with the signing key, an id naming tenant A never loads in tenant B."""
    client, (user_id, _email, _pw) = signed_in_a
    data = decode(app, tenant_a, cookie_of(client, f"sh_t{tenant_a.id}").value)
    assert data["_user_id"] == f"t:{tenant_a.id}:{user_id}:1"
    other = app.test_client()
    other.set_cookie(f"sh_t{tenant_b.id}", encode(app, tenant_b, data), path=f"/t/{tenant_b.slug}/")
    assert not signed_in(other, tenant_b)


def test_an_operator_console_cookie_opens_no_tenant(app, tenant_a, tenant_user):
    tenant_user(tenant_a)
    operator = app.test_client()
    assert operator_sign_in(operator, make_operator(app)).status_code == 302
    assert operator.get("/console/tenants/").status_code == 200
    value = cookie_of(operator, "sh_console").value
    assert not signed_in(operator, tenant_a)
    other = app.test_client()
    other.set_cookie(f"sh_t{tenant_a.id}", value, path=f"/t/{tenant_a.slug}/")
    assert not signed_in(other, tenant_a)


# ---- ending sessions ------------------------------------------------------------------------------


def test_sign_out_everywhere_ends_the_sessions_of_every_browser(app, tenant_a, tenant_user):
    user_id, email, password = tenant_user(tenant_a)
    laptop, phone = app.test_client(), app.test_client()
    for c in (laptop, phone):
        assert sign_in(c, tenant_a, email, password).status_code == 302
    resp = post_form(phone, f"/t/{tenant_a.slug}/account", f"/t/{tenant_a.slug}/account/sign-out-everywhere")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{tenant_a.slug}/login"
    assert not signed_in(laptop, tenant_a) and not signed_in(phone, tenant_a)
    entries = audit_rows(tenant_a, "sign_out_everywhere")
    assert [(e.entity_id, e.before, e.after) for e in entries] == [
        (str(user_id), {"session_version": 1}, {"session_version": 2})]
    assert sign_in(laptop, tenant_a, email, password).status_code == 302  # a new sign-in works
    assert signed_in(laptop, tenant_a)


def test_a_deactivated_users_session_dies_on_the_next_request(signed_in_a, tenant_a):
    client, (user_id, _email, _pw) = signed_in_a
    assert signed_in(client, tenant_a)
    with tenant_a.session() as s:
        s.execute(update(User).where(User.id == user_id).values(is_active=False))
    resp = client.get(f"/t/{tenant_a.slug}/account")
    assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/t/{tenant_a.slug}/login")
    with tenant_a.session() as s:
        s.execute(update(User).where(User.id == user_id).values(is_active=True))
    assert not signed_in(client, tenant_a)  # the sign-in was forgotten, not just suspended


def _scope(app, tenant):
    with app.test_request_context(f"/t/{tenant.slug}/"):
        return app.session_interface.scope_for(app, flask_request)


def decode(app, tenant, value):
    return app.session_interface.signer(app, _scope(app, tenant)).loads(value)


def encode(app, tenant, data):
    return app.session_interface.signer(app, _scope(app, tenant)).dumps(data)


def _age(app, client, tenant, **seconds_ago):
    """Move the session's clocks back (what a browser left alone for that long would send)."""
    name = f"sh_t{tenant.id}"
    data = decode(app, tenant, cookie_of(client, name).value)
    for key, ago in seconds_ago.items():
        data[key] = int(time.time()) - ago
    client.set_cookie(name, encode(app, tenant, data), path=f"/t/{tenant.slug}/")


def test_sessions_end_after_the_idle_timeout(app, signed_in_a, tenant_a):
    client, _user = signed_in_a
    idle = app.config["SESSION_IDLE_MINUTES"] * 60
    _age(app, client, tenant_a, _seen=idle - 120)
    assert signed_in(client, tenant_a)  # active a little before the timeout: still signed in
    _age(app, client, tenant_a, _seen=idle + 60)
    resp = client.get(f"/t/{tenant_a.slug}/")
    assert resp.status_code == 302
    assert any(c.startswith(f"sh_t{tenant_a.id}=") for c in set_cookies(resp))  # the cookie is replaced
    assert "Your session has expired. Sign in again." in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert not signed_in(client, tenant_a)


def test_sessions_end_after_their_lifetime_however_active(app, signed_in_a, tenant_a):
    client, _user = signed_in_a
    lifetime = app.config["TENANT_SESSION_HOURS"] * 3600
    _age(app, client, tenant_a, _created=lifetime - 600, _seen=0)
    assert signed_in(client, tenant_a)
    _age(app, client, tenant_a, _created=lifetime + 60, _seen=0)
    assert not signed_in(client, tenant_a)


# ---- second factor --------------------------------------------------------------------------------


def _needs_mfa_pages(app):
    if "tenant_mfa.verify" not in app.view_functions:
        pytest.skip("the second-factor pages (tenant_mfa) are not built yet")


def test_an_enrolled_user_is_not_signed_in_before_the_second_factor(app, client, tenant_a, tenant_user):
    _needs_mfa_pages(app)
    user_id, email, password = tenant_user(tenant_a)
    with tenant_a.session() as s:
        s.execute(update(User).where(User.id == user_id).values(totp_enabled_at=User.created_at))
    next_ = f"/t/{tenant_a.slug}/account"
    resp = sign_in(client, tenant_a, email, password, next_=next_)
    assert resp.status_code == 302
    with app.test_request_context(f"/t/{tenant_a.slug}/"):
        from flask import g, url_for

        g.tenant = app.extensions["schemehost.tenant_refs"].get(tenant_a.slug)
        assert resp.headers["Location"] == url_for("tenant_mfa.verify")
    with client.session_transaction(f"/t/{tenant_a.slug}/") as sess:
        pending = dict(sess["mfa_pending"])
        assert "_user_id" not in sess
    assert pending["user"] == user_id and pending["version"] == 1 and pending["next"] == next_
    assert audit_rows(tenant_a, "sign_in") == []


def test_a_scheme_requiring_a_second_factor_sends_users_to_enrol(app, client, tenant_a, tenant_user):
    _needs_mfa_pages(app)
    _uid, email, password = tenant_user(tenant_a)
    with tenant_a.session() as s:
        s.merge(Setting(key="security", value={"mfa_required": True}))
    resp = sign_in(client, tenant_a, email, password)
    assert resp.status_code == 302
    with app.test_request_context(f"/t/{tenant_a.slug}/"):
        from flask import g, url_for

        g.tenant = app.extensions["schemehost.tenant_refs"].get(tenant_a.slug)
        assert resp.headers["Location"] == url_for("tenant_mfa.enrol")
    assert audit_rows(tenant_a, "sign_in") == []


# ---- brute force ----------------------------------------------------------------------------------


@pytest.fixture
def small_signin_limit(app):
    previous = app.config["SIGNIN_LIMIT"]
    app.config["SIGNIN_LIMIT"] = "3 per minute"
    limiter.reset()
    yield 3
    app.config["SIGNIN_LIMIT"] = previous
    limiter.reset()


def test_brute_force_on_the_tenant_sign_in_gets_429(app, client, tenant_a, tenant_user, small_signin_limit):
    _uid, email, password = tenant_user(tenant_a)
    for _ in range(small_signin_limit):
        assert sign_in(client, tenant_a, email, "guess guess guess").status_code == 401
    blocked = sign_in(client, tenant_a, email, password, headers={"Accept": "text/html"})  # even the right one
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 61  # the window of "3 per minute"
    assert not signed_in(client, tenant_a)
    # another address is not locked out by this one's guesses
    elsewhere = app.test_client()
    resp = sign_in(elsewhere, tenant_a, email, password, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert resp.status_code == 302


def test_successful_sign_ins_do_not_use_up_the_limit(app, tenant_a, tenant_user, small_signin_limit):
    _uid, email, password = tenant_user(tenant_a)
    for _ in range(small_signin_limit + 1):
        assert sign_in(app.test_client(), tenant_a, email, password).status_code == 302
