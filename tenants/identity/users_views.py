"""Console pages of tenant users, and the public pages behind e-mailed links.

Console (``users.manage``): ``/t/<slug>/users`` (list), ``/users/invite``,
``/users/<id>`` (deactivate, reactivate, send the invitation again).
Public (open even while the scheme is suspended, being under ``/login``):
``/t/<slug>/login/invite/<token>``, ``/login/reset`` and ``/login/reset/<token>``.
"""

from __future__ import annotations

from flask import Flask, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError
from wtforms.fields.choices import SelectChoice

from schemehost.platform.errors import AppError, ValidationError
from schemehost.platform.ratelimit import limiter, reset_limit
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity import users
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.identity.users_forms import InviteForm, ResetRequestForm, SetPasswordForm, UserActionForm

bp = tenant_blueprint("tenant_users", __name__)
MANAGE = "users.manage"
PAGE = 50

STATUS_LABELS = {"pending": _l("Invited"), "active": _l("Active"), "deactivated": _l("Deactivated")}


# ---- console -------------------------------------------------------------------------------------


@bp.get("/users")
@permission_required(MANAGE)
def index():
    after = request.args.get("after", type=int)
    page, next_after = users.list_users(tenant_session(), limit=PAGE, after_id=after)
    return render_template("tenant/users/index.html", users=page, next_after=next_after,
                           status_labels=STATUS_LABELS)


@bp.route("/users/invite", methods=["GET", "POST"])
@permission_required(MANAGE)
def invite():
    session = tenant_session()
    form = InviteForm()
    form.roles.choices = [SelectChoice(code, name) for code, name in users.role_choices(session)]
    status = 200
    if form.validate_on_submit():
        try:
            user = users.invite_user(session, form.email.data, form.name.data, role_codes=form.roles.data or (),
                                     invited_by=current_principal(), locale=form.locale.data or None)
        except (ValidationError, AppError) as err:
            if err.status >= 500:
                raise
            _field_errors(form, err)
            status = err.status
        else:
            flash(_("The invitation was sent to %(name)s.", name=user.name), "success")
            return redirect(url_for("tenant_users.detail", user_id=user.id))
    elif request.method == "POST":
        status = 422
    return render_template("tenant/users/invite.html", form=form), status


@bp.get("/users/<int:user_id>")
@permission_required(MANAGE)
def detail(user_id: int):
    user = users.get_user(tenant_session(), user_id)
    return render_template("tenant/users/detail.html", user=user, form=UserActionForm(),
                           status_labels=STATUS_LABELS)


@bp.post("/users/<int:user_id>/<any(deactivate, reactivate, reinvite):action>")
@permission_required(MANAGE)
def act(user_id: int, action: str):
    UserActionForm()  # the CSRF token was checked before the view ran
    session = tenant_session()
    try:
        if action == "deactivate":
            user = users.deactivate_user(session, user_id)
            flash(_("%(name)s can no longer sign in and was signed out.", name=user.name), "success")
        elif action == "reactivate":
            user = users.reactivate_user(session, user_id)
            flash(_("%(name)s can sign in again.", name=user.name), "success")
        else:
            user = users.get_user(session, user_id)
            if user.status != "pending":
                flash(_("%(name)s has already accepted the invitation.", name=user.name), "error")
            else:
                users.invite_user(session, user.email, user.name, invited_by=current_principal())
                flash(_("A new invitation was sent to %(name)s; the earlier link no longer works.",
                        name=user.name), "success")
    except AppError as err:
        if err.status >= 500 or err.status == 404:
            raise
        session.rollback()  # the redirect below would otherwise commit
        flash(err.detail, "error")
    return redirect(url_for("tenant_users.detail", user_id=user_id))


# ---- public pages behind e-mailed links ----------------------------------------------------------


@bp.route("/login/invite/<token>", methods=["GET", "POST"])
@limiter.limit(reset_limit, methods=["POST"])
def accept_invitation(token: str):
    return _set_password_page(token, users.INVITE, users.accept_invitation,
                              title=_("Welcome to %(scheme)s", scheme=g.tenant.name),
                              done=_("Your password is set. Sign in with your e-mail and new password."))


@bp.route("/login/reset", methods=["GET", "POST"])
@limiter.limit(reset_limit, methods=["POST"])
def reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        users.request_password_reset(tenant_session(), form.email.data)
        return _no_store(render_template("tenant/users/reset_sent.html"))
    status = 422 if request.method == "POST" else 200
    return _no_store(render_template("tenant/users/reset_request.html", form=form)), status


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
@limiter.limit(reset_limit, methods=["POST"])
def reset_password(token: str):
    return _set_password_page(token, users.RESET, users.reset_password, title=_("Choose a new password"),
                              done=_("Your password is changed and you were signed out everywhere. "
                                     "Sign in with your new password."))


def _set_password_page(token: str, purpose: str, service, *, title: str, done: str):
    session = tenant_session()
    try:
        user = users.check_token(session, token, purpose)
    except users.LinkInvalid as err:
        return _link_invalid(err, purpose)
    form = SetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            service(session, token, form.password.data)
        except users.LinkInvalid as err:
            return _link_invalid(err, purpose)
        except ValidationError as err:
            _field_errors(form, err)
            status = 422
        else:
            flash(done, "success")
            return redirect(_sign_in_url())
    elif request.method == "POST":
        status = 422
    return _no_store(render_template("tenant/users/set_password.html", form=form, title=title,
                                     user=user)), status


def _link_invalid(err: AppError, purpose: str):
    page = render_template("tenant/users/link_invalid.html", problem=err, purpose=purpose)
    return _no_store(page), err.status


def _sign_in_url() -> str:
    try:
        return url_for("tenant_auth.login")
    except BuildError:  # the sign-in page belongs to the sessions part; its path is fixed
        return f"/t/{g.tenant.slug}/login"


def _no_store(body):
    """Pages with a link token in their address are kept out of every cache."""
    from flask import make_response

    resp = make_response(body)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def _field_errors(form, err: AppError) -> None:
    """Put a service's field errors beside the form's fields (the rest above the form)."""
    for name, messages in (err.errors or {}).items():
        field = getattr(form, name, None)
        texts = list(messages.values()) if isinstance(messages, dict) else messages
        flat = [str(m) for item in texts for m in (item if isinstance(item, list) else [item])]
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors) + flat
        else:
            form.form_errors.extend(flat)
    if not err.errors:
        form.form_errors.append(str(err.detail))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_users.index", _l("Users"), permission=MANAGE, order=80)
