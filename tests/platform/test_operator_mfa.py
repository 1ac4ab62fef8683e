"""Operators' second factor: forced enrolment, codes, recovery codes, the pending state, reset."""

from __future__ import annotations

import html
import re
import time

import pyotp
import pytest
from _console_support import (PASSWORD, RECOVERY_CODES, csrf_from, form_post, make_operator, own_address,
                              remember_secret, sign_in, totp_code)
from sqlalchemy import select

from schemehost.platform import mfa
from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator, OperatorAudit, OperatorRecoveryCode

SECRET_RE = re.compile(r'<code class="totp-secret" id="totp-secret">([A-Z2-7 ]+)</code>')
QR_RE = re.compile(r'<p class="qr"><img src="([^"]+)"')
CODES_RE = re.compile(r"<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>")


def password_step(client, email: str, password: str = PASSWORD, *, next_: str = ""):
    own_address(client)
    page = client.get("/console/sign-in")
    return client.post("/console/sign-in", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                 "email": email, "password": password, "next": next_})


def enrol(client, email: str) -> tuple[str, list[str]]:
    """First sign-in of an operator without TOTP, through the pages; returns (secret, recovery codes)."""
    resp = password_step(client, email)
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/sign-in/enrol"
    page = client.get("/console/sign-in/enrol").get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    step = int(time.time()) // 30
    done = client.post("/console/sign-in/enrol", data={"csrf_token": csrf_from(page),
                                                       "code": pyotp.TOTP(secret).generate_otp(step)})
    assert done.status_code == 200, done.status_code
    codes = CODES_RE.findall(done.get_data(as_text=True))
    remember_secret(email, secret, used_step=step, recovery_codes=codes)
    return secret, codes


def audit_actions(app, email: str) -> list[str]:
    """The second-factor entries about the operator in the control-plane audit log."""
    with app.app_context():
        op_id = db.session.execute(select(Operator.id).where(Operator.email == email)).scalar_one()
        return list(db.session.execute(select(OperatorAudit.action).where(
            OperatorAudit.target_id == str(op_id), OperatorAudit.target_type == "operator",
            OperatorAudit.action.startswith("operator.mfa_")).order_by(OperatorAudit.id)).scalars())


# ---- enrolment -----------------------------------------------------------------------------------


def test_first_sign_in_forces_enrolment_before_any_console_page(app, client):
    email = make_operator(app, enrol=False)
    resp = password_step(client, email, next_="/console/tenants/?status=active")
    assert resp.headers["Location"] == "/console/sign-in/enrol"
    for path in ("/console/", "/console/tenants/", "/console/tenants/new", "/console/sign-in/code"):
        blocked = client.get(path)
        assert blocked.status_code == 302, path
        assert blocked.headers["Location"].startswith(("/console/sign-in?next=", "/console/sign-in/enrol")), path

    page = client.get("/console/sign-in/enrol")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    secret = SECRET_RE.search(body).group(1).replace(" ", "")
    assert client.get("/console/sign-in/enrol").get_data(as_text=True).count(SECRET_RE.search(body).group(1)) == 1
    # the QR code is an inline SVG of the otpauth URI with the issuer "schemehost"
    qr = html.unescape(QR_RE.search(body).group(1))
    assert qr.startswith("data:image/svg+xml")
    with app.app_context():
        uri = mfa.provisioning_uri(secret, account=email, issuer="schemehost")
        assert qr == mfa.qr_data_uri(uri)
    assert "issuer=schemehost" in uri and secret in uri

    wrong = client.post("/console/sign-in/enrol", data={"csrf_token": csrf_from(body), "code": "000000"})
    assert wrong.status_code == 422
    assert "This code is not right" in wrong.get_data(as_text=True)
    assert client.get("/console/tenants/").status_code == 302

    step = int(time.time()) // 30
    done = client.post("/console/sign-in/enrol", data={"csrf_token": csrf_from(body),
                                                       "code": pyotp.TOTP(secret).generate_otp(step)})
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    codes = CODES_RE.findall(text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert 'href="/console/tenants/?status=active"' in text
    assert client.get("/console/tenants/").status_code == 200  # signed in now

    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.email == email)).scalar_one()
        assert op.totp_enabled_at is not None and secret not in op.totp_secret
        assert mfa.decrypt_secret(op.totp_secret) == secret
        stored = list(db.session.execute(select(OperatorRecoveryCode.code_hash)
                                         .where(OperatorRecoveryCode.operator_id == op.id)).scalars())
    assert len(stored) == 10 and not any(c.replace("-", "") in h or c in h for c in codes for h in stored)
    assert client.get("/console/sign-in/enrol").status_code == 302  # the pending state is gone
    assert audit_actions(app, email) == ["operator.mfa_failed", "operator.mfa_enrol"]


def test_enrolled_operator_signs_in_with_a_code_and_replays_are_refused(app, client):
    email = make_operator(app, enrol=False)
    secret, _codes = enrol(client, email)
    client.post("/console/sign-out", data={"csrf_token": csrf_from(client.get("/console/tenants/").get_data(as_text=True))})

    resp = password_step(client, email, next_="/console/tenants/")
    assert resp.headers["Location"] == "/console/sign-in/code"
    assert client.get("/console/sign-in/enrol").headers["Location"] == "/console/sign-in/code"
    assert client.get("/console/tenants/").status_code == 302
    wrong = form_post(client, "/console/sign-in/code", {"code": "123 456"})
    assert wrong.status_code == 401
    assert "This code is not right" in wrong.get_data(as_text=True)
    assert client.get("/console/tenants/").status_code == 302

    code = totp_code(email)
    spaced = f"{code[:3]} {code[3:]}"
    ok = form_post(client, "/console/sign-in/code", {"code": spaced})
    assert ok.status_code == 302 and ok.headers["Location"] == "/console/tenants/"
    assert client.get("/console/tenants/").status_code == 200

    other = app.test_client()  # somebody who saw the code over the operator's shoulder
    assert password_step(other, email).headers["Location"] == "/console/sign-in/code"
    replay = form_post(other, "/console/sign-in/code", {"code": code})
    assert replay.status_code == 401
    assert other.get("/console/tenants/").status_code == 302
    assert audit_actions(app, email).count("operator.mfa_failed") == 2


def test_recovery_code_works_once(app, client):
    email = make_operator(app)
    code = RECOVERY_CODES[email][0]
    assert password_step(client, email).headers["Location"] == "/console/sign-in/code"
    ok = form_post(client, "/console/sign-in/code", {"code": code.upper().replace("-", " ")})
    assert ok.status_code == 302
    page = client.get(ok.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "You signed in with a recovery code; 9 are left." in page

    again = app.test_client()
    password_step(again, email)
    used = form_post(again, "/console/sign-in/code", {"code": code})
    assert used.status_code == 401
    assert again.get("/console/tenants/").status_code == 302
    assert audit_actions(app, email)[-2:] == ["operator.mfa_recovery_code", "operator.mfa_failed"]


def test_pending_state_expires_and_follows_the_session_version(app, client, runner):
    email = make_operator(app)
    password_step(client, email)
    with client.session_transaction("/console/sign-in") as sess:  # the console's cookie
        pending = dict(sess["operator_mfa"])
        assert set(pending) >= {"id", "version", "at"} and "_user_id" not in sess
        sess["operator_mfa"] = {**pending, "at": pending["at"] - 301}
    csrf = csrf_from(client.get("/console/sign-in").get_data(as_text=True))
    expired = client.post("/console/sign-in/code", data={"csrf_token": csrf, "code": totp_code(email)})
    assert expired.status_code == 302 and expired.headers["Location"] == "/console/sign-in"
    assert "Your sign-in has expired" in client.get("/console/sign-in").get_data(as_text=True)
    assert client.get("/console/tenants/").status_code == 302

    password_step(client, email)
    page = client.get("/console/sign-in/code").get_data(as_text=True)
    assert runner("operators", "sign-out", email).exit_code == 0  # bumps the session version
    late = client.post("/console/sign-in/code", data={"csrf_token": csrf_from(page), "code": totp_code(email)})
    assert late.status_code == 302 and late.headers["Location"] == "/console/sign-in"
    assert client.get("/console/tenants/").status_code == 302


def test_code_pages_without_a_password_first_send_to_sign_in(client):
    for path in ("/console/sign-in/code", "/console/sign-in/enrol"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/console/sign-in", path


@pytest.fixture
def small_signin_limit(app):
    from schemehost.platform.ratelimit import limiter

    previous = app.config["SIGNIN_LIMIT"]
    app.config["SIGNIN_LIMIT"] = "3 per minute"
    limiter.reset()
    yield 3
    app.config["SIGNIN_LIMIT"] = previous
    limiter.reset()


def test_guessing_codes_is_rate_limited(app, client, small_signin_limit):
    email = make_operator(app)
    password_step(client, email)
    page = client.get("/console/sign-in/code").get_data(as_text=True)
    statuses = [client.post("/console/sign-in/code", data={"csrf_token": csrf_from(page), "code": f"{n:06d}"},
                            headers={"Accept": "application/json"}).status_code for n in range(small_signin_limit + 1)]
    assert statuses == [401] * small_signin_limit + [429]
    limited = client.post("/console/sign-in/code", data={"csrf_token": csrf_from(page), "code": totp_code(email)},
                          headers={"Accept": "application/json"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert client.get("/console/tenants/").status_code == 302


def test_reset_mfa_makes_the_operator_enrol_again(app, client, runner):
    email = make_operator(app)
    assert sign_in(client, email).status_code == 302
    result = runner("operators", "reset-mfa", email.upper())
    assert result.exit_code == 0, result.output
    assert "cleared" in result.output
    assert client.get("/console/tenants/").status_code == 302  # signed out everywhere
    with app.app_context():
        op = db.session.execute(select(Operator).where(Operator.email == email)).scalar_one()
        assert op.totp_secret is None and op.totp_enabled_at is None
        assert not db.session.execute(select(OperatorRecoveryCode).where(OperatorRecoveryCode.operator_id == op.id)).first()
    assert password_step(client, email).headers["Location"] == "/console/sign-in/enrol"
    enrol(client, email)
    assert client.get("/console/tenants/").status_code == 200
    assert "operator.mfa_reset" in audit_actions(app, email)
    missing = runner("operators", "reset-mfa", "ghost@example.org")
    assert missing.exit_code == 1 and "No operator" in missing.output


def test_api_tokens_need_no_second_factor(app, runner, client):
    email = make_operator(app, enrol=False)
    token = runner("operators", "token", email).stdout.strip().splitlines()[0]
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200


# ---- the shared mechanism ----------------------------------------------------------------------------


def test_codes_are_digits_within_one_step(app):
    secret = mfa.new_secret()
    totp = pyotp.TOTP(secret)
    now = 1_800_000_015.0
    step = int(now) // 30
    for offset in (-1, 0, 1):
        assert mfa.matching_step(secret, totp.generate_otp(step + offset), at=now) == step + offset
    for offset in (-2, 2):
        assert mfa.matching_step(secret, totp.generate_otp(step + offset), at=now) is None
    code = totp.generate_otp(step)
    assert mfa.matching_step(secret, f" {code[:3]}  {code[3:]} ", at=now) == step
    for bad in (None, "", "12345", "1234567", "12a456", f"{code}-"):
        assert mfa.matching_step(secret, bad, at=now) is None, bad
    with app.app_context():
        key = f"test:{secret}"
        assert mfa.verify_totp(secret, code, replay_key=key, at=now)
        assert not mfa.verify_totp(secret, code, replay_key=key, at=now)  # used once
        assert mfa.verify_totp(secret, totp.generate_otp(step + 1), replay_key=key, at=now)


def test_recovery_codes_are_friendly_and_forgiving():
    codes = mfa.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}", c) for c in codes)
    raw = codes[0].replace("-", "")
    assert mfa.normalize_recovery_code(f" {codes[0].upper()} ") == raw
    assert mfa.normalize_recovery_code("0a1b-2c3d-4e5f-6g7h".replace("0", "O").replace("1", "l")) == "0a1b2c3d4e5f6g7h"
    for bad in ("", "123456", raw[:-1], raw + "x", "uuuu-uuuu-uuuu-uuuu"):
        assert mfa.normalize_recovery_code(bad) is None, bad
    assert mfa.hash_recovery_code(1, raw) != mfa.hash_recovery_code(2, raw)


@pytest.mark.parametrize("lang,text", [("fr", "Saisissez votre code")])
def test_code_page_in_french(app, client, lang, text):
    email = make_operator(app)
    client.get(f"/console/sign-in?lang={lang}")
    password_step(client, email)
    assert text in client.get("/console/sign-in/code").get_data(as_text=True)
