"""Console sign-in and sign-out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user

from schemehost.platform.audit import record_failed_sign_in
from schemehost.platform.extensions import db
from schemehost.platform.operators import services
from schemehost.platform.operators.forms import SignInForm, SignOutForm
from schemehost.platform.operators.mfa_views import begin_second_factor
from schemehost.platform.ratelimit import limiter, signin_failed, signin_limit

bp = Blueprint("console_auth", __name__, url_prefix="/console")


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the console home (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.home")


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=signin_failed)  # 429 with Retry-After
def sign_in():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    status = 200
    if form.validate_on_submit():
        email = services.normalize_email(form.email.data)
        operator = services.authenticate(db.session, email, form.password.data)
        if operator is None:
            record_failed_sign_in(email)  # in its own transaction: this request rolls back
            error = _("The e-mail address or the password is wrong.")
            status = 401
        else:
            # signed in only after the second factor (operators/mfa_views.py)
            return begin_second_factor(operator, safe_next(form.next.data))
    elif request.method == "POST":
        status = 400
    return render_template("operators/sign_in.html", form=form, error=error), status


@bp.post("/sign-out")
def sign_out():
    SignOutForm()  # the CSRF token was checked before the view ran
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect(url_for("console_auth.sign_in"))
