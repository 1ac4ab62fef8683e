"""Tenant console pages of sessions: sign-in, sign-out and the user's account page."""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Length

from schemehost.platform.errors import Forbidden
from schemehost.platform.ratelimit import limiter, signin_failed, signin_limit
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import tenant_blueprint
from schemehost.tenants.identity import sessions, users
from schemehost.tenants.identity.principal import current_principal

bp = tenant_blueprint("tenant_auth", __name__)


class TenantSignInForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(_l("Enter your e-mail address.")), Length(max=254)],
                       render_kw={"autocomplete": "username", "autofocus": True})
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                         Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField(_l("Keep me signed in on this device"),
                            description=_l("Otherwise you are signed out when the browser closes."))
    next = HiddenField()


class PostForm(FlaskForm):
    """Only a CSRF token: sign-out buttons are POST forms so other sites cannot press them."""


def _signed_in_user():
    principal = current_principal()
    return principal if principal is not None and principal.kind == "user" else None


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(signin_limit, methods=["POST"], deduct_when=signin_failed)
def login():
    if _signed_in_user() is not None:
        return redirect(sessions.safe_next(request.args.get("next")))
    form = TenantSignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error, status = None, 200
    if form.validate_on_submit():
        user = users.authenticate(tenant_session(), form.email.data, form.password.data)
        if user is None:
            sessions.record_failed_sign_in(form.email.data)
            error, status = _("The e-mail address or the password is wrong."), 401
        else:
            return redirect(sessions.start_sign_in(user, next_url=sessions.safe_next(form.next.data),
                                                   remember=form.remember.data))
    elif request.method == "POST":
        status = 400
    return render_template("tenant/sign_in.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    sessions.sign_out()
    flash(_("You are signed out."), "info")
    return redirect(url_for("tenant_auth.login"))


@bp.get("/account")
def account():
    principal = _signed_in_user()
    if principal is None:
        raise Forbidden(_("Only a user of this scheme has an account page."))
    user = users.get_user(tenant_session(), int(principal.id))
    return render_template("tenant/account.html", user=user, form=PostForm())


@bp.post("/account/sign-out-everywhere")
def sign_out_everywhere():
    principal = _signed_in_user()
    if principal is None:
        raise Forbidden(_("Only a user of this scheme has an account page."))
    sessions.end_all_sessions(tenant_session(), int(principal.id))
    sessions.sign_out(record=False)  # the bump is the audit entry
    flash(_("You are signed out on every device."), "info")
    return redirect(url_for("tenant_auth.login"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
