"""Operator accounts (CLI), console sign-in, sessions, CSRF and security headers."""

from __future__ import annotations

import json

import pytest
from _console_support import PASSWORD, csrf_from, make_operator, sign_in
from sqlalchemy import select, update

from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator, OperatorToken
from schemehost.platform.ratelimit import limiter


def _operators(runner) -> dict[str, dict]:
    result = runner("operators", "list", "--json")
    assert result.exit_code == 0, result.output
    return {o["email"]: o for o in json.loads(result.output)}


# ---- CLI ---------------------------------------------------------------------


def test_create_from_stdin_then_list(runner, unique):
    email = f"{unique('Ops')}@Example.org"
    result = runner("operators", "create", email, "--role", "support", "--password-stdin",
                    input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert f"operator {email.lower()} created (support)" in result.output
    listed = _operators(runner)
    assert listed[email.lower()]["role"] == "support"
    assert "password" not in json.dumps(listed[email.lower()])
    plain = runner("operators", "list").output
    assert email.lower() in plain


def test_create_prompts_twice_with_hidden_input(runner, unique):
    email = f"{unique('prompt')}@example.org"
    result = runner("operators", "create", email, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Repeat the password" in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert email in _operators(runner)


def test_create_mismatched_passwords_creates_nothing(runner, unique):
    email = f"{unique('mismatch')}@example.org"
    result = runner("operators", "create", email, input=f"{PASSWORD}\nsomething else entirely\n")
    assert result.exit_code == 1
    assert email not in _operators(runner)


@pytest.mark.parametrize("email,password,expected", [
    ("not-an-email", PASSWORD, "Enter a valid e-mail address"),
    ("short@example.org", "tiny", "at least 12 characters"),
    ("repeat@example.org", "aaaaaaaaaaaaaaaa", "more variety"),
])
def test_create_bad_input_is_explained_and_changes_nothing(runner, email, password, expected):
    result = runner("operators", "create", email, "--password-stdin", input=password + "\n")
    assert result.exit_code == 1
    assert expected in result.output
    assert "Traceback" not in result.output
    assert email not in _operators(runner)


def test_create_bad_email_fails_before_asking_for_a_password(runner):
    result = runner("operators", "create", "nobody-at-all")
    assert result.exit_code == 1
    assert "Enter a valid e-mail address" in result.output
    assert "Password" not in result.output


def test_create_unknown_role_is_refused(runner, unique):
    result = runner("operators", "create", f"{unique('r')}@example.org", "--role", "king",
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code != 0
    assert "king" in result.output


def test_create_taken_email_exits_1(runner, unique):
    email = f"{unique('dup')}@example.org"
    assert runner("operators", "create", email, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    result = runner("operators", "create", email.upper(), "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "already exists" in result.output


def test_token_is_printed_once_and_opens_the_api(app, runner, client):
    email = make_operator(app)
    result = runner("operators", "token", email, "--name", "ci")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("sho_")
    with app.app_context():
        stored = db.session.execute(select(OperatorToken.token_hash, OperatorToken.name)
                                    .join(Operator).where(Operator.email == email)).one()
    assert stored.name == "ci" and token not in stored.token_hash
    assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/v1/jobs").status_code == 401


def test_token_for_unknown_operator_exits_1(runner):
    result = runner("operators", "token", "ghost@example.org")
    assert result.exit_code == 1
    assert "No operator" in result.output


# ---- sign-in -------------------------------------------------------------------


def test_console_requires_sign_in(client):
    for path in ("/console/", "/console/tenants/", "/console/tenants/new", "/console/tenants/x"):
        resp = client.get(path)
        assert resp.status_code == 302, path
        assert resp.headers["Location"].startswith("/console/sign-in?next=")
    assert client.get("/").headers["Location"] == "/console/"


def test_sign_in_sets_a_protected_session_and_goes_to_next(app, client):
    email = make_operator(app)
    resp = sign_in(client, email.upper(), next_="/console/tenants/?status=active")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/console/tenants/?status=active"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/console/tenants/")
    assert page.status_code == 200
    assert email in page.get_data(as_text=True)


def test_sign_in_never_redirects_off_site(app, client):
    email = make_operator(app)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        resp = sign_in(client, email, next_=target)
        assert resp.headers["Location"] == "/console/", target
        token = csrf_from(client.get("/console/tenants/").get_data(as_text=True))
        client.post("/console/sign-out", data={"csrf_token": token})


def test_wrong_password_shows_the_error_and_signs_nobody_in(app, client):
    email = make_operator(app)
    resp = sign_in(client, email, "wrong password, sorry")
    assert resp.status_code == 401
    assert "The e-mail address or the password is wrong." in resp.get_data(as_text=True)
    assert client.get("/console/tenants/").status_code == 302
    unknown = sign_in(client, "nobody@example.org", "wrong password, sorry")
    assert unknown.status_code == 401
    assert "The e-mail address or the password is wrong." in unknown.get_data(as_text=True)


def test_inactive_operator_cannot_sign_in_and_is_signed_out(app, client):
    email = make_operator(app)
    assert sign_in(client, email).status_code == 302
    with app.app_context():
        db.session.execute(update(Operator).where(Operator.email == email).values(is_active=False))
        db.session.commit()
    assert client.get("/console/tenants/").status_code == 302
    assert sign_in(client, email).status_code == 401


def test_repeated_failed_sign_ins_get_429_until_the_window_passes(app, client):
    email = make_operator(app)
    previous = app.config["SIGNIN_LIMIT"]
    app.config["SIGNIN_LIMIT"] = "3 per 15 minutes"
    limiter.reset()
    try:
        for _ in range(3):
            assert sign_in(client, email, "not the password!").status_code == 401
        blocked = sign_in(client, email)  # even the right password waits now
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60 + 1
        assert client.get("/console/tenants/").status_code == 302
        # the budget is per client address: guesses from elsewhere do not lock the operator out
        elsewhere = app.test_client()
        elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.44"
        assert sign_in(elsewhere, email).status_code == 302
    finally:
        app.config["SIGNIN_LIMIT"] = previous
        limiter.reset()
    assert sign_in(client, email).status_code == 302


def test_sign_out_needs_csrf_and_ends_the_session(app, client):
    email = make_operator(app)
    sign_in(client, email)
    assert client.post("/console/sign-out").status_code == 400
    assert client.get("/console/tenants/").status_code == 200
    token = csrf_from(client.get("/console/tenants/").get_data(as_text=True))
    resp = client.post("/console/sign-out", data={"csrf_token": token})
    assert resp.headers["Location"] == "/console/sign-in"
    assert client.get("/console/tenants/").status_code == 302


# ---- session versions ----------------------------------------------------------------


def test_bumping_session_version_signs_out_everywhere(app, runner):
    email = make_operator(app)
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, email)
    sign_in(phone, email)
    assert laptop.get("/console/tenants/").status_code == 200
    assert phone.get("/console/tenants/").status_code == 200
    result = runner("operators", "sign-out", email)
    assert result.exit_code == 0, result.output
    assert laptop.get("/console/tenants/").status_code == 302
    assert phone.get("/console/tenants/").status_code == 302
    assert sign_in(laptop, email).status_code == 302  # a new sign-in works again
    assert laptop.get("/console/tenants/").status_code == 200


def test_password_change_signs_out_and_old_password_stops_working(app, runner, client):
    email = make_operator(app)
    sign_in(client, email)
    new_password = "another long passphrase"
    result = runner("operators", "password", email, "--password-stdin", input=new_password + "\n")
    assert result.exit_code == 0, result.output
    assert client.get("/console/tenants/").status_code == 302
    assert sign_in(client, email).status_code == 401
    assert sign_in(client, email, new_password).status_code == 302
    weak = runner("operators", "password", email, "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output


def test_session_cookie_of_another_installation_is_refused(app, client):
    """A cookie holding a valid id but a forged version does not sign anybody in."""
    email = make_operator(app)
    with app.app_context():
        op_id = db.session.execute(select(Operator.id).where(Operator.email == email)).scalar_one()
    with client.session_transaction("/console/") as sess:
        sess["_user_id"] = f"{op_id}:999"
        sess["_fresh"] = True
    assert client.get("/console/tenants/").status_code == 302


# ---- CSRF ------------------------------------------------------------------------


def test_console_post_without_csrf_is_refused(app, client):
    email = make_operator(app)
    resp = client.post("/console/sign-in", data={"email": email, "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/console/tenants/").status_code == 302
    sign_in(client, email)
    refused = client.post("/console/tenants/new", data={"slug": "no-csrf", "name": "x"},
                          headers={"Accept": "application/json"})
    assert refused.status_code == 400
    assert refused.json["type"].endswith("/csrf-failed")
    wrong = client.post("/console/tenants/new", data={"slug": "no-csrf", "name": "x", "csrf_token": "forged"},
                        headers={"Accept": "text/html"})
    assert wrong.status_code == 400
    assert "Reload the page and try again" in wrong.get_data(as_text=True)


def test_bearer_apis_are_exempt_from_csrf(api):
    resp = api.post("/api/v1/tenants", json={})
    assert resp.status_code != 400 or "csrf" not in resp.get_data(as_text=True).lower()
    assert resp.status_code == 422
    assert resp.mimetype == "application/problem+json"


def test_csrf_exemption_covers_paths_not_blueprints():
    from schemehost.platform.console.security import is_csrf_exempt

    assert is_csrf_exempt("/api/v1/tenants")
    assert is_csrf_exempt("/api/v1/anything-added-later")
    assert is_csrf_exempt("/t/cm-north/api/v1/households")
    assert is_csrf_exempt("/t/cm-north/fhir/R4/Patient")
    assert not is_csrf_exempt("/console/tenants/new")
    assert not is_csrf_exempt("/t/cm-north/sign-in")
    assert not is_csrf_exempt("/apiary")


# ---- security headers ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/sign-in", "/api/v1/jobs", "/healthz", "/nowhere", "/static/console.css"])
def test_security_headers_on_every_response(client, path):
    resp = client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_console_pages_have_no_inline_script_or_style(app, client):
    email = make_operator(app)
    sign_in(client, email)
    for path in ("/console/sign-in", "/console/tenants/", "/console/tenants/new"):
        html = client.get(path).get_data(as_text=True)
        assert "<script" not in html and "style=" not in html and "<style" not in html, path


# ---- roles and languages --------------------------------------------------------------


def test_support_role_reads_but_cannot_change_tenants(app, client):
    email = make_operator(app, role="support")
    sign_in(client, email)
    listing = client.get("/console/tenants/")
    assert listing.status_code == 200
    assert "/console/tenants/new" not in listing.get_data(as_text=True)
    assert client.get("/console/tenants/new", headers={"Accept": "text/html"}).status_code == 403


def test_language_from_query_cookie_then_accept_language(app, client):
    page = client.get("/console/sign-in", headers={"Accept-Language": "fr-CM,fr;q=0.9,en;q=0.5"})
    assert "Connexion à la console" in page.get_data(as_text=True)
    assert '<html lang="fr">' in page.get_data(as_text=True)
    chosen = client.get("/console/sign-in?lang=en", headers={"Accept-Language": "fr"})
    assert "Sign in to the console" in chosen.get_data(as_text=True)
    assert "lang=en" in chosen.headers["Set-Cookie"] and "HttpOnly" in chosen.headers["Set-Cookie"]
    remembered = client.get("/console/sign-in", headers={"Accept-Language": "fr"})
    assert "Sign in to the console" in remembered.get_data(as_text=True)  # the cookie wins
    client.get("/console/sign-in?lang=fr")
    assert "Connexion à la console" in client.get("/console/sign-in").get_data(as_text=True)
    ignored = client.get("/console/sign-in?lang=xx")
    assert "Connexion à la console" in ignored.get_data(as_text=True)


def test_errors_are_in_the_users_language(app, client):
    email = make_operator(app)
    sign_in(client, email)
    html = client.get("/console/nowhere", headers={"Accept": "text/html", "Accept-Language": "fr"})
    assert html.status_code == 404
    body = html.get_data(as_text=True)
    assert "<h1>Introuvable</h1>" in body and "Il n&#39;y a rien à cette adresse." in body
    problem = client.get("/api/v1/jobs", headers={"Accept-Language": "fr"})
    assert problem.status_code == 401
    assert problem.json["title"] == "Authentification requise"


def test_wrong_password_message_in_french(app):
    email = make_operator(app)
    client = app.test_client()
    page = client.get("/console/sign-in?lang=fr")
    resp = client.post("/console/sign-in", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                 "email": email, "password": "nope nope nope"})
    assert "L&#39;adresse e-mail ou le mot de passe est incorrect." in resp.get_data(as_text=True)
