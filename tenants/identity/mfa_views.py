"""Tenant users' second factor: the sign-in step, required enrolment, and the account page.

After a correct password, ``sessions.start_sign_in`` keeps a pending state in
the tenant's session (``mfa_pending``: user id, session version, time, next
page) when the user has TOTP or the tenant's ``security`` setting requires it,
and sends the browser here. The user is signed in (``complete_sign_in``) only
once the code is right. From ``/account/mfa`` a signed-in user turns the
second factor on, makes new recovery codes, or turns it off when the scheme
does not require it. The mechanism is the platform's (:mod:`schemehost.platform.mfa`).
"""

from __future__ import annotations

from flask import Flask, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.wrappers import Response
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

from schemehost.platform import mfa
from schemehost.platform.errors import Forbidden
from schemehost.platform.ratelimit import limiter, signin_limit
from schemehost.platform.tenancy import open_tenant_session, server_engine, tenant_session
from schemehost.tenants.console import tenant_blueprint
from schemehost.tenants.core.models import User
from schemehost.tenants.identity import audit, sessions, users
from schemehost.tenants.identity.models import RecoveryCode
from schemehost.tenants.identity.principal import current_principal

bp = tenant_blueprint("tenant_mfa", __name__)

#: Session key of a voluntary enrolment's candidate secret (account page).
SETUP_KEY = "mfa_setup"


def user_factor() -> mfa.Factor:
    """Where the users of this request's tenant keep their second factor."""
    return mfa.Factor(RecoveryCode, "user_id", f"t{g.tenant.id}")


def _actor(user: User) -> tuple[str, str, str]:
    return "user", str(user.id), user.name


def _record_apart(user: User, action: str, details: dict) -> None:
    """Audit a refused attempt in a transaction of its own (the refused request rolls back)."""
    tenant = g.tenant
    s = open_tenant_session(server_engine(tenant.server_dsn), tenant.schema_name, tenant.role_name)
    try:
        audit.record(s, action, "user", user.id, details=details, actor=_actor(user))
        s.commit()
    finally:
        s.close()


# ---- the second sign-in step ------------------------------------------------------------------------


def _pending() -> tuple[User, dict] | None:
    """The user of a live pending sign-in whose account has not changed since the password."""
    pending = mfa.read_pending(sessions.PENDING_KEY)
    if pending is None:
        return None
    user_id = pending.get("user")
    user = tenant_session().get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.is_active or user.session_version != pending.get("version"):
        session.pop(sessions.PENDING_KEY, None)
        return None
    return user, pending


def _start_again() -> Response:
    flash(_("Your sign-in has expired. Sign in again."), "info")
    return redirect(url_for("tenant_auth.login"))


def _complete(user: User, pending: dict, method: str) -> str:
    """Sign the user in (the pending state goes with the old session); returns where to go."""
    target = sessions.safe_next(pending.get("next"))
    sessions.complete_sign_in(user, remember=bool(pending.get("remember")), method=method)
    return target


@bp.route("/login/mfa", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=mfa.attempt_refused)
def verify():
    found = _pending()
    if found is None:
        return _start_again()
    user, pending = found
    if not mfa.is_enabled(user):
        return redirect(url_for(".enrol"))
    form = mfa.CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        db_session = tenant_session()
        method = mfa.verify_second_factor(db_session, user_factor(), user, form.code.data)
        if method is not None:
            target = _complete(user, pending, f"password+{method}")
            if method == "recovery_code":
                left = mfa.recovery_codes_left(db_session, user_factor(), user)
                audit.record(db_session, "mfa_recovery_code_used", "user", user.id, details={"left": left},
                             actor=_actor(user))
                flash(ngettext("You signed in with a recovery code; %(num)d is left.",
                               "You signed in with a recovery code; %(num)d are left.", left), "info")
            return redirect(target)
        sessions.record_failed_sign_in(user.email, method="totp")
        error, status = _("This code is not right. Enter the current code from your app, or a recovery code."), 401
    elif request.method == "POST":
        status = 400
    return render_template("tenant/mfa_verify.html", form=form, error=error), status


@bp.route("/login/mfa/enrol", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=mfa.attempt_refused)
def enrol():
    found = _pending()
    if found is None:
        return _start_again()
    user, pending = found
    if mfa.is_enabled(user):
        return redirect(url_for(".verify"))
    secret = mfa.enrolment_secret(sessions.PENDING_KEY)
    form = mfa.EnrolForm()
    status = 200
    if form.validate_on_submit():
        codes = mfa.confirm_enrolment(tenant_session(), user_factor(), user, secret, form.code.data)
        if codes is not None:
            audit.record(tenant_session(), "mfa_enrolled", "user", user.id, details={"during": "sign_in"},
                         actor=_actor(user))
            target = _complete(user, pending, "password+totp")
            return render_template("tenant/mfa_codes.html", codes=codes, next_url=target, enrolled=True)
        sessions.record_failed_sign_in(user.email, method="totp_enrolment")
        form.code.errors.append(_("This code is not right. Check the time on your phone and enter the code "
                                  "the app shows now."))
        status = 422
    elif request.method == "POST":
        status = 400
    return render_template("tenant/mfa_enrol.html", form=form, during_sign_in=True,
                           **_enrol_context(user, secret)), status


def _enrol_context(user: User, secret: str) -> dict:
    uri = mfa.provisioning_uri(secret, account=user.email, issuer=g.tenant.name)
    return {"qr": mfa.qr_data_uri(uri), "secret": mfa.grouped(secret)}


# ---- the account page -------------------------------------------------------------------------------


class SetupForm(mfa.EnrolForm):
    password = PasswordField(_l("Current password"), validators=[DataRequired(_l("Enter your password.")),
                                                                 Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


def _account_user() -> User:
    """The signed-in user of this tenant (the console guard sent everyone else to sign in)."""
    principal = current_principal()
    if principal is None or principal.kind != "user":
        raise Forbidden(_("Only a user of this scheme has an account page."))
    return tenant_session().get(User, int(principal.id))


def _proof_ok(user: User, form: mfa.ProofForm) -> bool:
    """The current password or a current code from the user's app (used up): either will do."""
    if form.password.data and users.authenticate(tenant_session(), user.email, form.password.data) is not None:
        return True
    if form.code.data and mfa.is_enabled(user):
        return mfa.verify_totp(mfa.decrypt_secret(user.totp_secret), form.code.data,
                               replay_key=user_factor().replay_key(user))
    return False


def _account_page(user: User, *, error: str | None = None, status: int = 200, proof: mfa.ProofForm | None = None):
    db_session = tenant_session()
    return render_template(
        "tenant/mfa_account.html", user=user, enabled=mfa.is_enabled(user),
        required=sessions.mfa_required(db_session),
        codes_left=mfa.recovery_codes_left(db_session, user_factor(), user) if mfa.is_enabled(user) else 0,
        proof=proof or mfa.ProofForm(), error=error,
    ), status


@bp.get("/account/mfa")
def account():
    return _account_page(_account_user())


@bp.route("/account/mfa/setup", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=mfa.attempt_refused)
def setup():
    user = _account_user()
    if mfa.is_enabled(user):
        return redirect(url_for(".account"))
    secret = mfa.enrolment_secret(SETUP_KEY)
    form = SetupForm()
    status = 200
    if form.validate_on_submit():
        if users.authenticate(tenant_session(), user.email, form.password.data) is None:
            form.password.errors.append(_("The password is wrong."))
            _record_apart(user, "mfa_failed", {"during": "setup", "proof": "password"})
            status = 422
        else:
            codes = mfa.confirm_enrolment(tenant_session(), user_factor(), user, secret, form.code.data)
            if codes is not None:
                session.pop(SETUP_KEY, None)
                audit.record(tenant_session(), "mfa_enrolled", "user", user.id, details={"during": "account"},
                             actor=_actor(user))
                return render_template("tenant/mfa_codes.html", codes=codes, next_url=url_for(".account"),
                                       enrolled=True)
            form.code.errors.append(_("This code is not right. Check the time on your phone and enter the code "
                                      "the app shows now."))
            _record_apart(user, "mfa_failed", {"during": "setup", "proof": "code"})
            status = 422
    elif request.method == "POST":
        status = 400
    return render_template("tenant/mfa_enrol.html", form=form, during_sign_in=False,
                           **_enrol_context(user, secret)), status


@bp.post("/account/mfa/recovery-codes")
@limiter.limit(signin_limit, deduct_when=mfa.attempt_refused)
def regenerate():
    user = _account_user()
    form = mfa.ProofForm()
    if not mfa.is_enabled(user):
        return redirect(url_for(".account"))
    if not (form.validate_on_submit() and _proof_ok(user, form)):
        _record_apart(user, "mfa_failed", {"during": "recovery_codes"})
        return _account_page(user, error=_("Enter your current password or a current code from your app."),
                             status=422, proof=form)
    codes = mfa.regenerate_recovery_codes(tenant_session(), user_factor(), user)
    audit.record(tenant_session(), "mfa_recovery_codes_new", "user", user.id, actor=_actor(user))
    return render_template("tenant/mfa_codes.html", codes=codes, next_url=url_for(".account"), enrolled=False)


@bp.post("/account/mfa/disable")
@limiter.limit(signin_limit, deduct_when=mfa.attempt_refused)
def disable():
    user = _account_user()
    form = mfa.ProofForm()
    if sessions.mfa_required(tenant_session()):
        return _account_page(user, error=_("%(scheme)s requires a second factor of every user; it cannot be "
                                           "turned off.", scheme=g.tenant.name), status=409)
    if not mfa.is_enabled(user):
        return redirect(url_for(".account"))
    if not (form.validate_on_submit() and _proof_ok(user, form)):
        _record_apart(user, "mfa_failed", {"during": "disable"})
        return _account_page(user, error=_("Enter your current password or a current code from your app."),
                             status=422, proof=form)
    mfa.disable(tenant_session(), user_factor(), user)
    audit.record(tenant_session(), "mfa_disabled", "user", user.id, actor=_actor(user))
    flash(_("The second factor is off. You sign in with your password alone."), "info")
    return redirect(url_for(".account"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
