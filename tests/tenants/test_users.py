"""Tenant users: invitations and resets by e-mail (a local SMTP server), deactivation, sign-in checks,
the users API (real OAuth client tokens) and the console and public pages."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from contextlib import contextmanager

import pytest
from argon2 import PasswordHasher
from flask import g
from sqlalchemy import select, text, update

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.mail import MailNotSent
from schemehost.platform.passwords import hasher
from schemehost.platform.ratelimit import limiter
from schemehost.platform.tenancy import tenant_session
from schemehost.platform.tenants.routing import load_tenant_ref
from schemehost.tenants.core.models import User
from schemehost.tenants.identity import users
from schemehost.tenants.identity.models import AuditEntry, UserToken
from schemehost.tenants.identity.principal import Principal

GOOD = "plantain market at dawn"
OTHER_GOOD = "seven quiet rivers north"
LINK_RE = re.compile(r"(https?://\S+?/login/(?:invite|reset)/([A-Za-z0-9_\-]+))")
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|type="hidden" name="csrf_token" value="([^"]+)"')


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("blank")


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    limiter.reset()  # every test starts with the reset endpoints' full budget
    yield
    limiter.reset()


@contextmanager
def in_tenant(app, tenant):
    """A request context of ``tenant`` (``g.tenant`` set) yielding its tenant session; commits on success."""
    with app.test_request_context(f"/t/{tenant.slug}/"):
        g.tenant = load_tenant_ref(tenant.slug)
        session = tenant_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
            g.pop("tenant_session", None)


def admin_principal(tenant, user_id=1, name="Admin Person"):
    return Principal(kind="user", id=str(user_id), name=name, tenant_id=tenant.id, permissions=frozenset({"*"}))


def link_token(message) -> tuple[str, str]:
    match = LINK_RE.search(message.get_body(preferencelist=("plain",)).get_content())
    assert match, "no link in the e-mail"
    return match.group(1), match.group(2)


def invite(app, tenant, smtp_server, email=None, name="Ama Owusu", **kw):
    email = email or f"ama.{tenant.slug}@example.org"
    with in_tenant(app, tenant) as s:
        view = users.invite_user(s, email, name, invited_by=admin_principal(tenant), **kw)
    link, token = link_token(smtp_server.to(email)[-1])
    return view, token


def audit_rows(tenant, entity_id=None):
    with tenant.session() as s:
        stmt = select(AuditEntry).where(AuditEntry.entity_type == "user").order_by(AuditEntry.id)
        if entity_id is not None:
            stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
        return list(s.execute(stmt).scalars())


def stored_user(tenant, user_id) -> User:
    with tenant.session() as s:
        return s.get(User, user_id)


# ---- invitations ---------------------------------------------------------------------------------


def test_invitation_mail_in_the_users_language_and_accepting_sets_the_password(app, tenant, smtp_server):
    view, token = invite(app, tenant, smtp_server, name="Ama Owusu", role_codes=["auditor"], locale="fr")
    assert view.status == "pending" and view.roles == ["auditor"] and view.locale == "fr"
    message = smtp_server.messages[-1]
    assert message["Subject"] == f"Vous êtes invité(e) à Scheme {tenant.slug}"
    body = smtp_server.text(message)
    assert "Bonjour Ama Owusu," in body and "Admin Person" in body and f"/t/{tenant.slug}/login/invite/" in body
    assert message.get_body(preferencelist=("html",)) is not None
    with in_tenant(app, tenant) as s:
        assert users.authenticate(s, view.email, GOOD) is None  # no password yet
        accepted = users.accept_invitation(s, token, GOOD)
    assert accepted.status == "active"
    with in_tenant(app, tenant) as s:
        user = users.authenticate(s, view.email.upper(), GOOD)
        assert user is not None and user.id == view.id
        assert users.authenticate(s, view.email, OTHER_GOOD) is None


def test_the_link_token_is_stored_only_as_its_sha256(app, tenant, smtp_server):
    view, token = invite(app, tenant, smtp_server)
    with tenant.session() as s:
        rows = s.execute(select(UserToken).where(UserToken.user_id == view.id)).scalars().all()
    assert [(r.purpose, r.token_hash) for r in rows] == [("invite", hashlib.sha256(token.encode()).hexdigest())]
    assert 6.99 < (rows[0].expires_at - rows[0].created_at).total_seconds() / 86400 < 7.01


def test_policy_failure_keeps_the_invitation_usable_and_a_replayed_link_is_refused(app, tenant, smtp_server):
    view, token = invite(app, tenant, smtp_server, name="Ama Owusu")
    with pytest.raises(ValidationError) as err, in_tenant(app, tenant) as s:
        users.accept_invitation(s, token, "Password2024!")
    assert err.value.status == 422 and "most commonly used" in " ".join(err.value.errors["password"])
    with in_tenant(app, tenant) as s:
        users.accept_invitation(s, token, GOOD)
    with pytest.raises(users.LinkInvalid) as err, in_tenant(app, tenant) as s:
        users.accept_invitation(s, token, OTHER_GOOD)
    assert err.value.status == 410 and err.value.errors == {"token": ["already used or replaced"]}
    with in_tenant(app, tenant) as s:  # the replay changed nothing
        assert users.authenticate(s, view.email, GOOD) is not None
        assert users.authenticate(s, view.email, OTHER_GOOD) is None


def test_reinviting_a_pending_user_replaces_the_link_and_an_accepted_user_cannot_be_invited_again(
        app, tenant, smtp_server):
    view, first = invite(app, tenant, smtp_server, role_codes=["auditor"])
    again, second = invite(app, tenant, smtp_server, name="Ama K. Owusu", role_codes=["read_only"])
    assert again.id == view.id and again.name == "Ama K. Owusu" and again.roles == ["auditor", "read_only"]
    with pytest.raises(users.LinkInvalid), in_tenant(app, tenant) as s:
        users.accept_invitation(s, first, GOOD)
    with in_tenant(app, tenant) as s:
        users.accept_invitation(s, second, GOOD)
    with pytest.raises(Conflict) as err, in_tenant(app, tenant) as s:
        users.invite_user(s, view.email.upper(), "Someone", invited_by=None)
    assert err.value.status == 409 and list(err.value.errors) == ["email"]
    assert [r.action for r in audit_rows(tenant, view.id)] == ["invite", "reinvite", "accept_invitation"]


def test_bad_invitations_are_refused_field_by_field_and_nothing_is_created(app, tenant, smtp_server):
    with pytest.raises(ValidationError) as err, in_tenant(app, tenant) as s:
        users.invite_user(s, "not-an-address", " ", role_codes=["auditor", "no_such_role"], locale="de",
                          invited_by=None)
    assert set(err.value.errors) == {"email", "name", "roles", "locale"}
    assert err.value.errors["roles"] == {1: ["unknown role 'no_such_role'"]}
    with tenant.session() as s:
        assert s.execute(select(User.id)).first() is None
    assert smtp_server.messages == []


def test_an_invitation_whose_mail_cannot_be_sent_is_not_kept(app, tenant):
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)  # nothing listens there
    try:
        with pytest.raises(MailNotSent) as err, in_tenant(app, tenant) as s:
            users.invite_user(s, "kwame@example.org", "Kwame", invited_by=None)
    finally:
        app.config.update(saved)
    assert err.value.status == 503
    with tenant.session() as s:
        assert s.execute(select(User.id)).first() is None


def test_an_expired_invitation_is_refused_and_changes_nothing(app, tenant, smtp_server):
    view, token = invite(app, tenant, smtp_server)
    with tenant.session() as s:
        s.execute(update(UserToken).values(expires_at=text("now() - interval '1 minute'")))
    with pytest.raises(users.LinkInvalid) as err, in_tenant(app, tenant) as s:
        users.accept_invitation(s, token, GOOD)
    assert err.value.status == 410 and err.value.errors == {"token": ["expired"]}
    assert stored_user(tenant, view.id).password_hash is None


# ---- password reset ------------------------------------------------------------------------------


def test_reset_answers_the_same_for_unknown_addresses_and_sends_nothing(app, tenant, tenant_user, smtp_server):
    _uid, email, _pw = tenant_user(tenant)
    with in_tenant(app, tenant) as s:
        assert users.request_password_reset(s, "nobody@example.org") is None
        assert users.request_password_reset(s, f"  {email.upper()} ") is None
    assert [str(m["To"]) for m in smtp_server.messages] == [email]


def test_reset_link_is_single_use_signs_out_everywhere_and_older_links_stop_working(
        app, tenant, tenant_user, smtp_server):
    uid, email, old_password = tenant_user(tenant, name="Efua Mensah")
    with in_tenant(app, tenant) as s:
        users.request_password_reset(s, email)
    _link, first = link_token(smtp_server.messages[-1])
    with in_tenant(app, tenant) as s:
        users.request_password_reset(s, email)
    _link, second = link_token(smtp_server.messages[-1])
    assert "expires in 60 minutes" in smtp_server.text(smtp_server.messages[-1])
    with pytest.raises(users.LinkInvalid), in_tenant(app, tenant) as s:
        users.reset_password(s, first, GOOD)  # replaced by the newer request
    version = stored_user(tenant, uid).session_version
    with in_tenant(app, tenant) as s:
        users.reset_password(s, second, GOOD)
    user = stored_user(tenant, uid)
    assert user.session_version == version + 1 and user.password_changed_at is not None
    with pytest.raises(users.LinkInvalid), in_tenant(app, tenant) as s:
        users.reset_password(s, second, OTHER_GOOD)  # replay
    with in_tenant(app, tenant) as s:
        assert users.authenticate(s, email, GOOD) is not None
        assert users.authenticate(s, email, old_password) is None
        assert users.authenticate(s, email, OTHER_GOOD) is None


def test_an_expired_or_unknown_reset_link_is_refused_and_changes_nothing(app, tenant, tenant_user, smtp_server):
    uid, email, password = tenant_user(tenant)
    with in_tenant(app, tenant) as s:
        users.request_password_reset(s, email)
    _link, token = link_token(smtp_server.messages[-1])
    with tenant.session() as s:
        s.execute(update(UserToken).values(expires_at=text("now() - interval '1 second'")))
    for bad in (token, "x" * 43, ""):
        with pytest.raises(users.LinkInvalid), in_tenant(app, tenant) as s:
            users.reset_password(s, bad, GOOD)
    with in_tenant(app, tenant) as s:
        assert users.authenticate(s, email, password) is not None
    with pytest.raises(users.LinkInvalid), in_tenant(app, tenant) as s:  # an invitation link is not a reset link
        users.invite_user(s, "new@example.org", "New", invited_by=None)
        invite_token = link_token(smtp_server.messages[-1])[1]
        users.reset_password(s, invite_token, GOOD)


def test_a_reset_link_from_another_scheme_does_not_work_here(app, make_tenant, tenant_user, smtp_server):
    a, b = make_tenant("blank"), make_tenant("blank")
    _uid, email, _pw = tenant_user(a)
    tenant_user(b, email=email)  # the same person in both schemes
    with in_tenant(app, a) as s:
        users.request_password_reset(s, email)
    _link, token = link_token(smtp_server.messages[-1])
    with pytest.raises(users.LinkInvalid), in_tenant(app, b) as s:
        users.reset_password(s, token, GOOD)


# ---- deactivation and signing in -----------------------------------------------------------------


def test_deactivation_blocks_sign_in_signs_out_and_reactivation_restores(app, tenant, tenant_user, smtp_server):
    tenant_user(tenant)  # another administrator
    uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    with in_tenant(app, tenant) as s:
        users.request_password_reset(s, email)
    _link, token = link_token(smtp_server.messages[-1])
    version = stored_user(tenant, uid).session_version
    with in_tenant(app, tenant) as s:
        assert users.deactivate_user(s, uid).status == "deactivated"
        assert users.authenticate(s, email, password) is None
    assert stored_user(tenant, uid).session_version == version + 1
    with pytest.raises(users.LinkInvalid), in_tenant(app, tenant) as s:
        users.reset_password(s, token, GOOD)  # links die with the deactivation
    with in_tenant(app, tenant) as s:
        users.request_password_reset(s, email)  # no link for a deactivated user
    assert len(smtp_server.messages) == 1
    with in_tenant(app, tenant) as s:
        assert users.reactivate_user(s, uid).status == "active"
        assert users.authenticate(s, email, password) is not None
    actions = [(r.action, r.before, r.after) for r in audit_rows(tenant, uid)]
    assert ("deactivate", {"email": email, "name": "Test User", "locale": None, "is_active": True},
            {"email": email, "name": "Test User", "locale": None, "is_active": False}) in actions
    assert [a[0] for a in actions][-1] == "reactivate"


def test_the_last_active_administrator_cannot_be_deactivated(app, tenant, tenant_user):
    admin, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    other, _e2, _p2 = tenant_user(tenant, roles=("auditor",))
    with pytest.raises(Conflict) as err, in_tenant(app, tenant) as s:
        users.deactivate_user(s, admin)
    assert err.value.status == 409 and list(err.value.errors) == ["is_active"]
    with in_tenant(app, tenant) as s:  # the refusal left everything as it was, in the same transaction too
        with pytest.raises(Conflict):
            users.update_user(s, admin, name="Renamed", is_active=False)
        assert s.get(User, admin).is_active and s.get(User, admin).name == "Test User"
        users.deactivate_user(s, other)  # not an administrator: fine
    assert stored_user(tenant, admin).is_active and not stored_user(tenant, other).is_active


def test_authenticate_refuses_unknown_pending_and_wrong_and_upgrades_old_hashes(app, tenant, tenant_user,
                                                                                 smtp_server):
    uid, email, password = tenant_user(tenant)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(password)
    with tenant.session() as s:
        s.execute(update(User).where(User.id == uid).values(password_hash=old))
    invite(app, tenant, smtp_server, email="pending@example.org")
    with in_tenant(app, tenant) as s:
        assert users.authenticate(s, "nobody@example.org", password) is None
        assert users.authenticate(s, "pending@example.org", "") is None
        assert users.authenticate(s, email, "wrong password here") is None
        assert stored_hash(s, uid) == old  # a failed sign-in changes nothing
        assert users.authenticate(s, email, password).id == uid
    upgraded = stored_user(tenant, uid).password_hash
    assert upgraded != old and not hasher.check_needs_rehash(upgraded)


def stored_hash(session, uid):
    return session.execute(select(User.password_hash).where(User.id == uid)).scalar_one()


def test_update_user_changes_name_and_language_and_audits_it(app, tenant, tenant_user):
    uid, _e, _p = tenant_user(tenant)
    with pytest.raises(ValidationError) as err, in_tenant(app, tenant) as s:
        users.update_user(s, uid, name="", locale="xx")
    assert set(err.value.errors) == {"name", "locale"}
    with in_tenant(app, tenant) as s:
        view = users.update_user(s, uid, name=" Abena ", locale="fr")
    assert (view.name, view.locale) == ("Abena", "fr")
    with in_tenant(app, tenant) as s:
        assert users.update_user(s, uid, clear_locale=True).locale is None
        with pytest.raises(NotFound):
            users.update_user(s, 999999, name="Nobody")
    entry = audit_rows(tenant, uid)[-2]
    assert entry.action == "update" and (entry.before["name"], entry.after["name"]) == ("Test User", "Abena")


def test_audit_entries_never_hold_passwords_hashes_or_tokens(app, tenant, tenant_user, smtp_server):
    tenant_user(tenant)
    view, token = invite(app, tenant, smtp_server)
    with in_tenant(app, tenant) as s:
        users.accept_invitation(s, token, GOOD)
        users.request_password_reset(s, view.email)
    reset_token = link_token(smtp_server.messages[-1])[1]
    with in_tenant(app, tenant) as s:
        users.reset_password(s, reset_token, OTHER_GOOD)
        users.deactivate_user(s, view.id)
    rows = audit_rows(tenant, view.id)
    assert [r.action for r in rows] == ["invite", "accept_invitation", "request_password_reset", "reset_password",
                                        "deactivate"]
    assert rows[0].actor_type == "user" and rows[0].actor_name == "Admin Person"
    dump = json.dumps([[r.before, r.after, r.details] for r in rows])
    for secret in (token, reset_token, GOOD, OTHER_GOOD, "$argon2", hashlib.sha256(token.encode()).hexdigest()):
        assert secret not in dump


def test_no_personal_data_in_log_lines(app, client, tenant, tenant_user, smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    _uid, email, _pw = tenant_user(tenant, name="Yaw Boateng")
    view, token = invite(app, tenant, smtp_server, email="akosua.private@example.org", name="Akosua Private")
    with in_tenant(app, tenant) as s:
        users.accept_invitation(s, token, GOOD)
    page = client.get(f"/t/{tenant.slug}/login/reset")
    client.post(f"/t/{tenant.slug}/login/reset", data={"csrf_token": csrf(page), "email": email})
    app.config["SMTP_PORT"], port = 1, app.config["SMTP_PORT"]  # a mail failure is logged too
    try:
        page = client.get(f"/t/{tenant.slug}/login/reset")
        resp = client.post(f"/t/{tenant.slug}/login/reset", data={"csrf_token": csrf(page), "email": email})
    finally:
        app.config["SMTP_PORT"] = port
    assert resp.status_code == 200  # the same answer although the mail could not be sent
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # not the test's SMTP server
    logged = " ".join(f"{r.getMessage()} {r.args} {r.exc_text}" for r in ours)
    assert "mail not sent" in logged
    for personal in (email, "akosua", "Akosua", "Yaw Boateng", token, GOOD, "example.org"):
        assert personal not in logged


# ---- the users API ---------------------------------------------------------------------------------


def bearer(tenant, *scopes):
    """A real access token of a new API client of ``tenant`` holding ``scopes``."""
    from schemehost.tenants.identity import clients

    with tenant.session() as s:
        client, _secret = clients.create_client(s, "tests", list(scopes), created_by="tests")
        token, _row = clients.issue_token(s, client, list(scopes), ttl_s=600)
    return {"Authorization": f"Bearer {token}"}


def test_users_api_needs_credentials_and_users_manage(client, tenant):
    base = f"/t/{tenant.slug}/api/v1/users"
    resp = client.get(base)
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    weak = bearer(tenant, "audit.read")
    for method, path, body in (("get", base, None), ("post", base, {"email": "a@example.org", "name": "A"}),
                               ("get", f"{base}/1", None), ("patch", f"{base}/1", {"name": "B"})):
        resp = getattr(client, method)(path, headers=weak, json=body)
        assert resp.status_code == 403, (method, path)
        assert resp.get_json()["errors"] == {"permission": ["users.manage"]}


def test_users_api_invites_lists_reads_and_changes_users(client, tenant, tenant_user, smtp_server):
    admin_id, admin_email, _pw = tenant_user(tenant, name="Admin One")
    auth = bearer(tenant, "users.manage")
    base = f"/t/{tenant.slug}/api/v1/users"
    resp = client.post(base, headers=auth, json={"email": "Kojo@Example.org", "name": "Kojo", "roles": ["auditor"]})
    assert resp.status_code == 201, resp.get_json()
    created = resp.get_json()
    assert created["email"] == "kojo@example.org" and created["status"] == "pending" and created["roles"] == ["auditor"]
    assert resp.headers["Location"].endswith(f"{base}/{created['id']}")
    assert smtp_server.to("kojo@example.org")
    for body in (created, client.get(f"{base}/{created['id']}", headers=auth).get_json()):
        assert not {"password_hash", "totp_secret", "sso_subject"} & set(body)
    assert client.get(f"{base}/{admin_id}", headers=auth).get_json()["roles"] == ["tenant_admin"]
    resp = client.patch(f"{base}/{created['id']}", headers=auth, json={"name": "Kojo A.", "locale": "fr"})
    assert resp.status_code == 200 and (resp.get_json()["name"], resp.get_json()["locale"]) == ("Kojo A.", "fr")
    resp = client.patch(f"{base}/{created['id']}", headers=auth, json={"is_active": False})
    assert resp.get_json()["status"] == "deactivated"
    entry = audit_rows(tenant, created["id"])[-1]
    assert entry.action == "deactivate" and entry.actor_type == "client"


def test_users_api_pages_by_id(client, tenant, tenant_user):
    ids = [tenant_user(tenant)[0] for _ in range(3)]
    auth = bearer(tenant, "users.manage")
    base = f"/t/{tenant.slug}/api/v1/users"
    first = client.get(f"{base}?limit=2", headers=auth)
    assert [u["id"] for u in first.get_json()] == ids[:2]
    next_url = re.match(r"<([^>]+)>; rel=\"next\"", first.headers["Link"]).group(1)
    second = client.get(next_url, headers=auth)
    assert [u["id"] for u in second.get_json()] == ids[2:] and "Link" not in second.headers
    assert client.get(f"{base}?limit=0", headers=auth).status_code == 422


def test_users_api_errors_are_problems_with_field_errors(client, tenant, tenant_user, smtp_server):
    admin_id, admin_email, _pw = tenant_user(tenant)
    auth = bearer(tenant, "users.manage")
    base = f"/t/{tenant.slug}/api/v1/users"
    cases = [
        ("post", base, {"name": "No e-mail"}, 422, {"email"}),
        ("post", base, {"email": "bad", "name": "X", "roles": ["ghost"]}, 422, {"email", "roles"}),
        ("post", base, {"email": admin_email, "name": "Again"}, 409, {"email"}),
        ("patch", f"{base}/{admin_id}", {"password_hash": "x"}, 422, {"password_hash"}),
        ("patch", f"{base}/{admin_id}", {"locale": "de"}, 422, {"locale"}),
        ("patch", f"{base}/{admin_id}", {"is_active": False}, 409, {"is_active"}),
        ("patch", f"{base}/{admin_id}", {}, 422, {"_schema"}),
    ]
    for method, path, body, status, fields in cases:
        resp = getattr(client, method)(path, headers=auth, json=body)
        problem = resp.get_json()
        assert (resp.status_code, resp.mimetype) == (status, "application/problem+json"), (body, problem)
        assert set(problem["errors"]) == fields, (body, problem)
    resp = client.get(f"{base}/999999", headers=auth)
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert stored_user(tenant, admin_id).is_active


def test_users_api_never_crosses_schemes(client, make_tenant, tenant_user):
    a, b = make_tenant("blank"), make_tenant("blank")
    b_user, _e, _p = tenant_user(b, name="Only In B")
    tenant_user(a)
    auth_a = bearer(a, "users.manage")
    resp = client.get(f"/t/{a.slug}/api/v1/users/{b_user + 1000}", headers=auth_a)
    assert resp.status_code == 404
    listed = client.get(f"/t/{a.slug}/api/v1/users", headers=auth_a).get_json()
    assert "Only In B" not in json.dumps(listed)
    resp = client.get(f"/t/{b.slug}/api/v1/users", headers=auth_a)  # A's token at B
    assert resp.status_code == 401 and "Only In B" not in resp.get_data(as_text=True)


# ---- console and public pages ---------------------------------------------------------------------


def csrf(page) -> str:
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def sign_in(client, tenant, email, password):
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={"csrf_token": csrf(page), "email": email,
                                                         "password": password})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]


def test_console_lists_invites_and_deactivates_users(client, tenant, tenant_user, smtp_server):
    _admin, email, password = tenant_user(tenant, name="Adwoa Admin")
    other, _e, _p = tenant_user(tenant, name="Kofi Other", roles=("auditor",))
    sign_in(client, tenant, email, password)
    page = client.get(f"/t/{tenant.slug}/users")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Adwoa Admin" in html and "Kofi Other" in html
    assert f'href="/t/{tenant.slug}/users"' in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)

    form = client.get(f"/t/{tenant.slug}/users/invite")
    assert 'value="auditor"' in form.get_data(as_text=True)
    resp = client.post(f"/t/{tenant.slug}/users/invite", data={
        "csrf_token": csrf(form), "email": email, "name": "Dup", "roles": ["auditor"], "locale": ""})
    assert resp.status_code == 409 and "already used by a user" in resp.get_data(as_text=True)
    resp = client.post(f"/t/{tenant.slug}/users/invite", data={
        "csrf_token": csrf(form), "email": "esi@example.org", "name": "Esi", "roles": ["auditor"], "locale": "fr"})
    assert resp.status_code == 302 and smtp_server.to("esi@example.org")
    detail = client.get(resp.headers["Location"])
    assert "Esi" in detail.get_data(as_text=True) and "Invited" in detail.get_data(as_text=True)

    user_page = client.get(f"/t/{tenant.slug}/users/{other}")
    resp = client.post(f"/t/{tenant.slug}/users/{other}/deactivate", data={"csrf_token": csrf(user_page)})
    assert resp.status_code == 302 and not stored_user(tenant, other).is_active
    resp = client.post(f"/t/{tenant.slug}/users/{other}/deactivate", data={})  # no CSRF token
    assert resp.status_code == 400


def test_console_refuses_the_last_admin_and_users_without_users_manage(client, app, tenant, tenant_user):
    admin, email, password = tenant_user(tenant, name="Sole Admin")
    page = client.get(f"/t/{tenant.slug}/users")
    assert page.status_code == 302 and "/login" in page.headers["Location"]  # not signed in
    sign_in(client, tenant, email, password)
    user_page = client.get(f"/t/{tenant.slug}/users/{admin}")
    resp = client.post(f"/t/{tenant.slug}/users/{admin}/deactivate", data={"csrf_token": csrf(user_page)},
                       follow_redirects=True)
    assert "last active tenant administrator" in resp.get_data(as_text=True)
    assert stored_user(tenant, admin).is_active

    other_client = app.test_client()
    _uid, auditor_email, auditor_password = tenant_user(tenant, roles=("auditor",))
    sign_in(other_client, tenant, auditor_email, auditor_password)
    assert other_client.get(f"/t/{tenant.slug}/users").status_code == 403
    assert f'href="/t/{tenant.slug}/users"' not in other_client.get(f"/t/{tenant.slug}/").get_data(as_text=True)


def test_public_reset_pages_answer_the_same_and_lead_to_sign_in(client, tenant, tenant_user, smtp_server):
    uid, email, _pw = tenant_user(tenant)
    answers = []
    for address in (email, "stranger@example.org"):
        page = client.get(f"/t/{tenant.slug}/login/reset")
        resp = client.post(f"/t/{tenant.slug}/login/reset", data={"csrf_token": csrf(page), "email": address})
        answers.append((resp.status_code, resp.get_data(as_text=True).replace(csrf(page), "")))
    assert answers[0] == answers[1] and answers[0][0] == 200 and "Check your e-mail" in answers[0][1]
    link, token = link_token(smtp_server.to(email)[-1])
    path = f"/t/{tenant.slug}/login/reset/{token}"
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    resp = client.post(path, data={"csrf_token": csrf(page), "password": "qwertyuiop12",
                                   "confirm": "qwertyuiop12"})
    assert resp.status_code == 422 and "simple sequences" in resp.get_data(as_text=True)
    resp = client.post(path, data={"csrf_token": csrf(page), "password": GOOD, "confirm": GOOD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/t/{tenant.slug}/login")
    replay = client.post(path, data={"csrf_token": csrf(page), "password": OTHER_GOOD, "confirm": OTHER_GOOD})
    assert replay.status_code == 410 and "already used" in replay.get_data(as_text=True)
    assert client.get(f"/t/{tenant.slug}/login/invite/{'y' * 43}").status_code == 410


def test_public_pages_stay_open_for_a_suspended_scheme(app, client, tenant, tenant_user, smtp_server):
    from schemehost.platform.extensions import db
    from schemehost.provisioning.lifecycle import suspend_tenant

    _uid, email, _pw = tenant_user(tenant)
    with app.app_context():
        suspend_tenant(db.session, tenant.slug, actor="tests", reason="unpaid")
        db.session.commit()
    assert client.get(f"/t/{tenant.slug}/users").status_code == 423
    page = client.get(f"/t/{tenant.slug}/login/reset")
    assert page.status_code == 200
    resp = client.post(f"/t/{tenant.slug}/login/reset", data={"csrf_token": csrf(page), "email": email})
    assert resp.status_code == 200 and smtp_server.to(email)


def test_reset_requests_are_rate_limited(app, client, tenant):
    saved = app.config["RESET_LIMIT"]
    app.config["RESET_LIMIT"] = "2 per minute"
    try:
        page = client.get(f"/t/{tenant.slug}/login/reset")
        statuses = [client.post(f"/t/{tenant.slug}/login/reset", data={"csrf_token": csrf(page), "email": ""}
                                ).status_code for _ in range(3)]
        token_page = client.post(f"/t/{tenant.slug}/login/reset/{'z' * 43}", data={"csrf_token": csrf(page)})
    finally:
        app.config["RESET_LIMIT"] = saved
    assert statuses == [422, 422, 429]
    assert token_page.status_code == 410  # each form has its own budget
