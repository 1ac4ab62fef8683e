"""Helpers shared by the console and operator tests (imported, not a conftest)."""

from __future__ import annotations

import re
import threading
import time
import uuid
from contextlib import contextmanager

from werkzeug.serving import make_server

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'type="hidden" name="csrf_token" value="([^"]+)"')


#: TOTP secrets and unused recovery codes of the operators made here, by e-mail.
SECRETS: dict[str, str] = {}
RECOVERY_CODES: dict[str, list[str]] = {}
_used_steps: dict[str, set[int]] = {}


def make_operator(app, *, role: str = "platform_admin", password: str = PASSWORD, enrol: bool = True,
                  partner: str | None = None) -> str:
    """Create an operator with a unique e-mail through the service; returns the e-mail.

    With ``enrol`` (the default) the operator has also set up TOTP (through the service, with a code
    computed like an authenticator app would), so :func:`sign_in` completes both steps."""
    import pyotp

    from schemehost.platform import mfa
    from schemehost.platform.extensions import db
    from schemehost.platform.operators.services import create_operator

    email = f"op-{uuid.uuid4().hex[:10]}@example.org"
    with app.app_context():
        operator = create_operator(db.session, email, password=password, role=role, partner=partner)
        if enrol:
            secret = mfa.new_secret()
            step = int(time.time()) // 30
            codes = mfa.confirm_enrolment(db.session, mfa.OPERATORS, operator, secret,
                                          pyotp.TOTP(secret).generate_otp(step))
            assert codes is not None
            remember_secret(email, secret, used_step=step, recovery_codes=codes)
        db.session.commit()
    return email


def remember_secret(email: str, secret: str, *, used_step: int | None = None,
                    recovery_codes: list[str] | None = None) -> None:
    """Keep an operator's TOTP secret so that :func:`totp_code` can answer for its app."""
    email = email.lower()
    SECRETS[email] = secret
    _used_steps[email] = {used_step} if used_step is not None else set()
    RECOVERY_CODES[email] = list(recovery_codes or [])


def totp_code(email: str) -> str:
    """A code the operator's app would show that the server has not accepted yet (each time step
    is accepted once); a recovery code when the three steps around now are used up."""
    import pyotp

    email = email.lower()
    totp, used = pyotp.TOTP(SECRETS[email]), _used_steps[email]
    now = time.time()
    step = int(now) // 30
    candidates = [step, step + 1] + ([step - 1] if now % 30 < 20 else [])  # step - 1 expires soonest
    for candidate in candidates:
        if candidate not in used:
            used.add(candidate)
            return totp.generate_otp(candidate)
    return RECOVERY_CODES[email].pop()


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def own_address(client) -> str:
    """Give a test client its own client address (once): the sign-in rate limits count per
    address, and every test client would otherwise share 127.0.0.1 for the whole run."""
    if client.environ_base.get("REMOTE_ADDR", "127.0.0.1") == "127.0.0.1":
        n = uuid.uuid4().int
        client.environ_base["REMOTE_ADDR"] = f"10.{n % 250 + 1}.{n // 250 % 250 + 1}.{n // 62500 % 250 + 1}"
    return client.environ_base["REMOTE_ADDR"]


def sign_in(client, email: str, password: str = PASSWORD, *, next_: str = "", code: str | None = None):
    """Sign in through the console's forms: password, then (when asked) a TOTP code of the
    operator's app. Returns the last response (the password step's when it did not pass)."""
    own_address(client)
    page = client.get("/console/sign-in")
    resp = client.post("/console/sign-in", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password,
        "next": next_,
    })
    if resp.status_code != 302 or resp.headers["Location"] != "/console/sign-in/code":
        return resp
    return form_post(client, "/console/sign-in/code", {"code": code or totp_code(email)})


def sign_in_page(page, base_url: str, email: str, password: str = PASSWORD, *, path: str = "/console/",
                 second_factor: bool = True) -> None:
    """Sign an operator in in a browser: open ``path`` (the sign-in form is shown in its place), give the
    password, then, with ``second_factor``, a code of the operator's app (the tests know its secret)."""
    page.goto(f"{base_url}{path}")
    assert "/console/sign-in" in page.url
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if second_factor:
        page.wait_for_url(f"{base_url}/console/sign-in/code")
        page.get_by_label("Code").fill(totp_code(email))
        page.get_by_role("button", name="Verify").click()


def form_post(client, path: str, data: dict, **kw):
    """GET the form at ``path`` for its CSRF token, then POST ``data`` to it."""
    page = client.get(path, **kw)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data}, **kw)


@contextmanager
def live_server(app):
    """The real app served on a free localhost port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
