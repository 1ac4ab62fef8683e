"""The operator console's second sign-in step: enrol a TOTP app, or enter a code.

After a correct password, :func:`begin_second_factor` keeps only a *pending*
state in the session (operator id, session version, time, where to go next)
and sends the operator here; Flask-Login signs the operator in only once the
second factor is right. An operator without TOTP must enrol first (every
operator needs it); the recovery codes are shown once, right after.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import login_user
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from schemehost.platform import mfa
from schemehost.platform.audit import record_operator
from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator
from schemehost.platform.operators.sessions import PUBLIC_ENDPOINTS, ConsoleOperator
from schemehost.platform.ratelimit import limiter, signin_limit

bp = Blueprint("console_mfa", __name__, url_prefix="/console/sign-in")

#: Session key of the half-finished sign-in.
PENDING = "operator_mfa"


def begin_second_factor(operator: Operator, next_url: str) -> Response:
    """After a correct password: forget the old session, remember who is half signed in, and
    ask for the second factor (enrolment first when the operator has none)."""
    session.clear()  # nothing from before sign-in survives it
    session[PENDING] = {"id": operator.id, "version": operator.session_version, "at": int(time.time()),
                        "next": next_url}
    return redirect(url_for("console_mfa.verify" if mfa.is_enabled(operator) else "console_mfa.enrol"))


def _pending() -> tuple[Operator, dict] | None:
    """The operator of a live pending sign-in whose account has not changed since the password."""
    pending = mfa.read_pending(PENDING)
    if pending is None:
        return None
    op_id = pending.get("id")
    operator = db.session.get(Operator, op_id) if isinstance(op_id, int) else None
    if operator is None or not operator.is_active or operator.session_version != pending.get("version"):
        session.pop(PENDING, None)
        return None
    return operator, pending


def _start_again() -> Response:
    flash(_("Your sign-in has expired. Sign in again."), "info")
    return redirect(url_for("console_auth.sign_in"))


def _next_url(pending: dict) -> str:
    from schemehost.platform.operators.views import safe_next  # views imports this module

    target = pending.get("next")
    return safe_next(target if isinstance(target, str) else None)


def _sign_in(operator: Operator) -> None:
    session.clear()
    login_user(ConsoleOperator(operator))
    session.permanent = True


def _audit(operator: Operator, action: str, details: dict | None = None, *, own_transaction: bool = False) -> None:
    """An entry in the control-plane audit log; ``own_transaction`` for failures, whose request
    rolls back (the entry must stay)."""
    if own_transaction:
        with Session(db.engine) as s:
            record_operator(s, action, operator=operator, target_type="operator", target_id=operator.id,
                            details=details)
            s.commit()
    else:
        record_operator(db.session, action, operator=operator, target_type="operator", target_id=operator.id,
                        details=details)


@bp.route("/code", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=mfa.attempt_refused)
def verify():
    found = _pending()
    if found is None:
        return _start_again()
    operator, pending = found
    if not mfa.is_enabled(operator):
        return redirect(url_for(".enrol"))
    form = mfa.CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        method = mfa.verify_second_factor(db.session, mfa.OPERATORS, operator, form.code.data)
        if method is not None:
            target = _next_url(pending)
            _sign_in(operator)
            if method == "recovery_code":
                left = mfa.recovery_codes_left(db.session, mfa.OPERATORS, operator)
                _audit(operator, "operator.mfa_recovery_code", {"left": left})
                flash(ngettext("You signed in with a recovery code; %(num)d is left.",
                               "You signed in with a recovery code; %(num)d are left.", left), "info")
            return redirect(target)
        _audit(operator, "operator.mfa_failed", own_transaction=True)
        error, status = _("This code is not right. Enter the current code from your app, or a recovery code."), 401
    elif request.method == "POST":
        status = 400
    return render_template("operators/mfa_verify.html", form=form, error=error), status


@bp.route("/enrol", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=mfa.attempt_refused)
def enrol():
    found = _pending()
    if found is None:
        return _start_again()
    operator, pending = found
    if mfa.is_enabled(operator):
        return redirect(url_for(".verify"))
    secret = mfa.enrolment_secret(PENDING)
    form = mfa.EnrolForm()
    status = 200
    if form.validate_on_submit():
        codes = mfa.confirm_enrolment(db.session, mfa.OPERATORS, operator, secret, form.code.data)
        if codes is not None:
            target = _next_url(pending)
            _sign_in(operator)
            _audit(operator, "operator.mfa_enrol")
            return render_template("operators/mfa_codes.html", codes=codes, next_url=target)
        _audit(operator, "operator.mfa_failed", {"during": "enrolment"}, own_transaction=True)
        form.code.errors.append(_("This code is not right. Check the time on your phone and enter the code "
                                  "the app shows now."))
        status = 422
    elif request.method == "POST":
        status = 400
    uri = mfa.provisioning_uri(secret, account=operator.email, issuer=mfa.OPERATOR_ISSUER)
    return render_template("operators/mfa_enrol.html", form=form, qr=mfa.qr_data_uri(uri),
                           secret=mfa.grouped(secret)), status


def init_app(app: Flask) -> None:
    # reachable without a signed-in operator: they need (and check) the pending state instead
    PUBLIC_ENDPOINTS.update({"console_mfa.verify", "console_mfa.enrol"})
    app.register_blueprint(bp)
