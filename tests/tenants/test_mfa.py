"""Tenant users' second factor: the sign-in step, enrolment required by the scheme, the account page."""

from __future__ import annotations

import html
import re
import time

import pyotp
import pytest
from sqlalchemy import select, update

from schemehost.platform import mfa
from schemehost.platform.errors import ValidationError
from schemehost.tenants.core.models import User
from schemehost.tenants.core.services import put_setting
from schemehost.tenants.identity.models import AuditEntry, RecoveryCode

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|type="hidden" name="csrf_token" value="([^"]+)"')
SECRET_RE = re.compile(r'<code class="totp-secret" id="totp-secret">([A-Z2-7 ]+)</code>')
QR_RE = re.compile(r'<p class="qr"><img src="([^"]+)"')
CODES_RE = re.compile(r"<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>")


def csrf_from(page: str) -> str:
    match = CSRF_RE.search(page)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def form_post(client, path: str, data: dict, *, action: str | None = None):
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return client.post(action or path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data})


def password_step(client, tenant, email: str, password: str, *, next_: str = ""):
    return form_post(client, f"/t/{tenant.slug}/login", {"email": email, "password": password, "next": next_})


def signed_in(client, tenant) -> bool:
    return client.get(f"/t/{tenant.slug}/").status_code == 200


class App:
    """A user's authenticator app: codes for the steps around now, each handed out once."""

    def __init__(self, secret: str, used_step: int | None = None) -> None:
        self.totp = pyotp.TOTP(secret)
        self.used = {used_step} if used_step is not None else set()

    def code(self) -> str:
        now = time.time()
        step = int(now) // 30
        for candidate in [step, step + 1] + ([step - 1] if now % 30 < 20 else []):
            if candidate not in self.used:
                self.used.add(candidate)
                return self.totp.generate_otp(candidate)
        raise AssertionError("no unused code left in this time step")

    def peek(self) -> str:
        """The code the app shows now, for a request the server refuses before looking at it."""
        return self.totp.now()


def factor(tenant) -> mfa.Factor:
    return mfa.Factor(RecoveryCode, "user_id", f"t{tenant.id}")


def enrolled_user(tenant, tenant_user, **kw) -> tuple[int, str, str, App, list[str]]:
    """A tenant user who has set up TOTP (through the service): (id, e-mail, password, app, recovery codes)."""
    user_id, email, password = tenant_user(tenant, **kw)
    secret, step = mfa.new_secret(), int(time.time()) // 30
    with tenant.session() as s:
        user = s.get(User, user_id)
        codes = mfa.confirm_enrolment(s, factor(tenant), user, secret, pyotp.TOTP(secret).generate_otp(step))
        assert codes is not None
    return user_id, email, password, App(secret, step), codes


def require_mfa(tenant, required: bool = True) -> None:
    with tenant.session() as s:
        put_setting(s, "security", {"mfa_required": required})


def audit(tenant, *actions: str) -> list[AuditEntry]:
    with tenant.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action.in_(actions))
                              .order_by(AuditEntry.id)).scalars())


@pytest.fixture
def tenant_a(make_tenant):
    return make_tenant()


@pytest.fixture
def tenant_b(make_tenant):
    return make_tenant()


# ---- signing in with a code ----------------------------------------------------------------------


def test_enrolled_user_needs_a_code_and_a_code_works_once(app, client, tenant_a, tenant_user):
    user_id, email, password, phone, _codes = enrolled_user(tenant_a, tenant_user)
    next_ = f"/t/{tenant_a.slug}/account"
    resp = password_step(client, tenant_a, email, password, next_=next_)
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{tenant_a.slug}/login/mfa"
    assert not signed_in(client, tenant_a)
    assert client.get(f"/t/{tenant_a.slug}/login/mfa/enrol").headers["Location"] == f"/t/{tenant_a.slug}/login/mfa"

    wrong = form_post(client, f"/t/{tenant_a.slug}/login/mfa", {"code": "000000"})
    assert wrong.status_code == 401
    assert "This code is not right" in wrong.get_data(as_text=True)
    assert not signed_in(client, tenant_a)

    code = phone.code()
    ok = form_post(client, f"/t/{tenant_a.slug}/login/mfa", {"code": f"{code[:3]} {code[3:]}"})
    assert ok.status_code == 302 and ok.headers["Location"] == next_
    assert signed_in(client, tenant_a)
    assert client.get(f"/t/{tenant_a.slug}/login/mfa").status_code == 302  # the pending state is gone

    thief = app.test_client()  # saw the code over the user's shoulder
    password_step(thief, tenant_a, email, password)
    replay = form_post(thief, f"/t/{tenant_a.slug}/login/mfa", {"code": code})
    assert replay.status_code == 401
    assert not signed_in(thief, tenant_a)

    sign_ins = audit(tenant_a, "sign_in", "sign_in_failed")
    assert [(e.action, e.details["method"]) for e in sign_ins] == [
        ("sign_in_failed", "totp"), ("sign_in", "password+totp"), ("sign_in_failed", "totp")]
    assert all(e.entity_id == str(user_id) for e in sign_ins)


def test_recovery_code_signs_in_once(app, client, tenant_a, tenant_user):
    user_id, email, password, _phone, codes = enrolled_user(tenant_a, tenant_user)
    password_step(client, tenant_a, email, password)
    ok = form_post(client, f"/t/{tenant_a.slug}/login/mfa", {"code": codes[3].upper()})
    assert ok.status_code == 302
    home = client.get(ok.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "You signed in with a recovery code; 9 are left." in home

    again = app.test_client()
    password_step(again, tenant_a, email, password)
    assert form_post(again, f"/t/{tenant_a.slug}/login/mfa", {"code": codes[3]}).status_code == 401
    assert not signed_in(again, tenant_a)
    used = audit(tenant_a, "mfa_recovery_code_used")
    assert len(used) == 1 and used[0].details == {"left": 9} and used[0].actor_id == str(user_id)
    assert audit(tenant_a, "sign_in")[-1].details == {"method": "password+recovery_code"}


def test_pending_state_expires_and_dies_with_the_session_version(app, client, tenant_a, tenant_user):
    user_id, email, password, phone, _codes = enrolled_user(tenant_a, tenant_user)
    password_step(client, tenant_a, email, password)
    with client.session_transaction(f"/t/{tenant_a.slug}/") as sess:
        sess["mfa_pending"] = {**sess["mfa_pending"], "at": int(time.time()) - 301}
    csrf = csrf_from(client.get(f"/t/{tenant_a.slug}/login").get_data(as_text=True))
    late = client.post(f"/t/{tenant_a.slug}/login/mfa", data={"csrf_token": csrf, "code": phone.peek()})
    assert late.status_code == 302 and late.headers["Location"] == f"/t/{tenant_a.slug}/login"
    assert "Your sign-in has expired" in client.get(f"/t/{tenant_a.slug}/login").get_data(as_text=True)
    assert not signed_in(client, tenant_a)

    password_step(client, tenant_a, email, password)
    page = client.get(f"/t/{tenant_a.slug}/login/mfa").get_data(as_text=True)
    with tenant_a.session() as s:  # "sign out everywhere" (or a password reset) meanwhile
        s.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))
    stale = client.post(f"/t/{tenant_a.slug}/login/mfa", data={"csrf_token": csrf_from(page), "code": phone.peek()})
    assert stale.status_code == 302 and stale.headers["Location"] == f"/t/{tenant_a.slug}/login"
    assert not signed_in(client, tenant_a)


def test_a_pending_sign_in_reaches_no_page_and_no_other_tenant(app, client, tenant_a, tenant_b, tenant_user):
    _uid, email, password, phone, _codes = enrolled_user(tenant_a, tenant_user)
    tenant_user(tenant_b, email=email, password=password)  # the same person in another scheme
    password_step(client, tenant_a, email, password)
    for path in ("/", "/account", "/account/mfa", "/account/mfa/setup"):
        resp = client.get(f"/t/{tenant_a.slug}{path}")
        assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/t/{tenant_a.slug}/login"), path
    assert client.get(f"/t/{tenant_a.slug}/api/v1/settings").status_code == 401
    # tenant B has its own cookie: nothing is pending there, and A's code opens nothing
    resp = client.get(f"/t/{tenant_b.slug}/login/mfa")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{tenant_b.slug}/login"
    csrf = csrf_from(client.get(f"/t/{tenant_b.slug}/login").get_data(as_text=True))
    crossed = client.post(f"/t/{tenant_b.slug}/login/mfa", data={"csrf_token": csrf, "code": phone.peek()})
    assert crossed.status_code == 302 and crossed.headers["Location"] == f"/t/{tenant_b.slug}/login"
    assert not signed_in(client, tenant_b)
    assert client.get("/console/tenants/").status_code == 302  # nor the operator console
    # the pending state in A is still there and still needs its code
    assert client.get(f"/t/{tenant_a.slug}/login/mfa").status_code == 200
    assert form_post(client, f"/t/{tenant_a.slug}/login/mfa", {"code": phone.code()}).status_code == 302
    assert signed_in(client, tenant_a) and not signed_in(client, tenant_b)


# ---- a scheme that requires it ---------------------------------------------------------------------


def test_required_by_the_scheme_forces_enrolment_at_sign_in(app, client, tenant_a, tenant_user):
    user_id, email, password = tenant_user(tenant_a)
    require_mfa(tenant_a)
    resp = password_step(client, tenant_a, email, password, next_=f"/t/{tenant_a.slug}/account")
    assert resp.headers["Location"] == f"/t/{tenant_a.slug}/login/mfa/enrol"
    assert client.get(f"/t/{tenant_a.slug}/login/mfa").headers["Location"] == f"/t/{tenant_a.slug}/login/mfa/enrol"
    assert not signed_in(client, tenant_a)

    page = client.get(f"/t/{tenant_a.slug}/login/mfa/enrol").get_data(as_text=True)
    assert "requires a code from an authenticator app" in page
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    with tenant_a.app.app_context():  # the QR code names the scheme as issuer
        uri = mfa.provisioning_uri(secret, account=email, issuer=f"Scheme {tenant_a.slug}")
        assert html.unescape(QR_RE.search(page).group(1)) == mfa.qr_data_uri(uri)
    wrong = client.post(f"/t/{tenant_a.slug}/login/mfa/enrol", data={"csrf_token": csrf_from(page), "code": "999999"})
    assert wrong.status_code == 422 and not signed_in(client, tenant_a)
    phone = App(secret)
    done = client.post(f"/t/{tenant_a.slug}/login/mfa/enrol", data={"csrf_token": csrf_from(page), "code": phone.code()})
    assert done.status_code == 200
    codes = CODES_RE.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    assert f'href="/t/{tenant_a.slug}/account"' in done.get_data(as_text=True)
    assert signed_in(client, tenant_a)
    with tenant_a.session() as s:
        user = s.get(User, user_id)
        assert user.totp_enabled_at is not None and mfa.decrypt_secret(user.totp_secret) == secret
        assert s.execute(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).scalars().all().__len__() == 10
    assert [e.details for e in audit(tenant_a, "mfa_enrolled")] == [{"during": "sign_in"}]
    assert audit(tenant_a, "sign_in")[-1].details == {"method": "password+totp"}

    # the next sign-in asks for a code; the account page cannot turn it off
    other = app.test_client()
    assert password_step(other, tenant_a, email, password).headers["Location"] == f"/t/{tenant_a.slug}/login/mfa"
    account = client.get(f"/t/{tenant_a.slug}/account/mfa").get_data(as_text=True)
    assert "requires a second factor of every user" in account and "Turn the second factor off" not in account
    refused = form_post(client, f"/t/{tenant_a.slug}/account/mfa", {"password": password},
                        action=f"/t/{tenant_a.slug}/account/mfa/disable")
    assert refused.status_code == 409
    with tenant_a.session() as s:
        assert s.get(User, user_id).totp_enabled_at is not None


def test_security_setting_is_a_dict_set_through_the_api(app, client, tenant_a, tenant_user, tenant_api):
    path = f"/t/{tenant_a.slug}/api/v1/settings/security"
    bad = tenant_api.put(path, json={"value": True})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    ok = tenant_api.put(path, json={"value": {"mfa_required": True}})
    assert ok.status_code == 200 and ok.json["value"] == {"mfa_required": True}
    _uid, email, password = tenant_user(tenant_a)
    assert password_step(client, tenant_a, email, password).headers["Location"].endswith("/login/mfa/enrol")
    with tenant_a.session() as s:
        with pytest.raises(ValidationError):
            put_setting(s, "security", "yes")


def test_a_scheme_that_does_not_require_it_lets_users_sign_in_with_a_password(app, client, tenant_a, tenant_user):
    _uid, email, password = tenant_user(tenant_a)
    require_mfa(tenant_a, False)
    resp = password_step(client, tenant_a, email, password)
    assert resp.status_code == 302 and "/login" not in resp.headers["Location"]
    assert signed_in(client, tenant_a)


# ---- the account page ---------------------------------------------------------------------------------


def test_account_page_sets_up_renews_codes_and_turns_off(app, client, tenant_a, tenant_user):
    user_id, email, password = tenant_user(tenant_a)
    password_step(client, tenant_a, email, password)
    assert signed_in(client, tenant_a)
    base = f"/t/{tenant_a.slug}/account/mfa"
    assert f'href="{base}"' in client.get(f"/t/{tenant_a.slug}/account").get_data(as_text=True)
    assert "Set up a second factor" in client.get(base).get_data(as_text=True)

    page = client.get(f"{base}/setup").get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    assert SECRET_RE.search(client.get(f"{base}/setup").get_data(as_text=True)).group(1).replace(" ", "") == secret
    phone = App(secret)
    no_password = client.post(f"{base}/setup", data={"csrf_token": csrf_from(page), "code": "123456",
                                                     "password": "not my password at all"})
    assert no_password.status_code == 422 and "The password is wrong." in no_password.get_data(as_text=True)
    done = client.post(f"{base}/setup", data={"csrf_token": csrf_from(page), "code": phone.code(),
                                              "password": password})
    assert done.status_code == 200
    first_codes = CODES_RE.findall(done.get_data(as_text=True))
    assert len(first_codes) == 10
    assert client.get(f"{base}/setup").headers["Location"] == base
    status = client.get(base).get_data(as_text=True)
    assert '<dd id="codes-left">10</dd>' in status

    refused = form_post(client, base, {"code": "000000"}, action=f"{base}/recovery-codes")
    assert refused.status_code == 422
    renewed = form_post(client, base, {"code": phone.code()}, action=f"{base}/recovery-codes")
    assert renewed.status_code == 200
    new_codes = CODES_RE.findall(renewed.get_data(as_text=True))
    assert len(new_codes) == 10 and not set(new_codes) & set(first_codes)

    # an old recovery code no longer signs in; a new one does
    other = app.test_client()
    password_step(other, tenant_a, email, password)
    assert form_post(other, f"/t/{tenant_a.slug}/login/mfa", {"code": first_codes[0]}).status_code == 401
    assert form_post(other, f"/t/{tenant_a.slug}/login/mfa", {"code": new_codes[0]}).status_code == 302

    wrong = form_post(client, base, {"password": "wrong wrong wrong"}, action=f"{base}/disable")
    assert wrong.status_code == 422
    off = form_post(client, base, {"password": password}, action=f"{base}/disable")
    assert off.status_code == 302 and off.headers["Location"] == base
    assert "You sign in with your password alone." in client.get(base).get_data(as_text=True)
    with tenant_a.session() as s:
        user = s.get(User, user_id)
        assert user.totp_secret is None and user.totp_enabled_at is None
        assert not s.execute(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).first()
    assert [e.action for e in audit(tenant_a, "mfa_enrolled", "mfa_failed", "mfa_recovery_codes_new",
                                    "mfa_disabled")] == [
        "mfa_failed", "mfa_enrolled", "mfa_failed", "mfa_recovery_codes_new", "mfa_failed", "mfa_disabled"]
    fresh = app.test_client()  # signing in needs the password alone again
    assert password_step(fresh, tenant_a, email, password).status_code == 302 and signed_in(fresh, tenant_a)


def test_account_page_is_for_signed_in_users_only(client, tenant_a):
    for path in ("/account/mfa", "/account/mfa/setup"):
        resp = client.get(f"/t/{tenant_a.slug}{path}")
        assert resp.status_code == 302 and resp.headers["Location"].startswith(f"/t/{tenant_a.slug}/login"), path
