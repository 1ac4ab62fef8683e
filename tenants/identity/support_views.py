"""Pages of operator support access.

Operator console: "Open support session" on a tenant's page
(``/console/tenants/<slug>/support``) and ending one (``/console/support/<id>/end``).
Tenant console: the banner while a support session is active (with "End support
session", ``POST /t/<slug>/support/end``), and the list of support sessions for
the tenant's admins (``/t/<slug>/support-sessions`` and
``GET /t/<slug>/api/v1/support-sessions``, with ``users.manage`` or ``audit.read``).
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, Flask, abort, flash, g, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from schemehost.platform.errors import AppError, Forbidden
from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity import support
from schemehost.tenants.identity.audit_schemas import SupportListQuerySchema, SupportSessionSchema
from schemehost.tenants.identity.audit_views import tenant_time
from schemehost.tenants.identity.principal import require

console_bp = Blueprint("console_support", __name__, url_prefix="/console")
bp = tenant_blueprint("tenant_support", __name__)
api_bp = ApiBlueprint("support_sessions", __name__, url_prefix="/t/<slug>/api/v1",
                      description="Operator support sessions into this scheme (read-only)")

#: Either permission lets a tenant admin see the support sessions.
VIEWERS = ("users.manage", "audit.read")


def any_permission_required(*permissions: str):
    """Decorator: needs one of ``permissions`` (401 without a principal, 403 without any of them).
    Records the last as ``__permission__`` (for the permission matrix: put there the one every built-in
    role that may see the page holds) and all of them as ``__any_permission__``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = g.get("principal")
            if principal is None or not any(principal.can(p) for p in permissions):
                require(permissions[-1])  # raises the 401 or 403
            return view(*args, **kwargs)

        wrapper.__permission__ = permissions[-1]
        wrapper.__any_permission__ = permissions
        return wrapper

    return decorator


class SupportOpenForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), description=_l(
        "Why you need to enter this scheme, e.g. the ticket you are working on. The scheme's "
        "administrators see it."), render_kw={"rows": 3, "maxlength": support.MAX_REASON, "required": True,
                                              "minlength": support.MIN_REASON})
    minutes = StringField(_l("Duration (minutes)"), default=str(support.DEFAULT_MINUTES),
                           description=_l("At most %(n)d minutes.", n=support.MAX_MINUTES),
                           render_kw={"min": 1, "max": support.MAX_MINUTES, "type": "number"})


class EndForm(FlaskForm):
    """Only a CSRF token."""


# ---- operator console ---------------------------------------------------------------------------------

def _operator() -> Operator:
    operator = db.session.get(Operator, current_user.id)
    if operator is None:
        abort(403)
    return operator


@console_bp.route("/tenants/<slug>/support", methods=["GET", "POST"])
def open_session(slug: str):
    from schemehost.platform.operators.roles import visible_tenant

    tenant = visible_tenant(db.session, slug)  # another partner's tenant is 404 to partner staff
    operator = _operator()
    if not support.may_support(operator, tenant):
        raise Forbidden(_("Your role may not open support sessions into this scheme."))
    form = SupportOpenForm()
    status = 200
    if request.method == "POST":
        if not form.validate():
            status = 400
        else:
            tsession = support.open_tenant_session_for(db.session, tenant)
            try:
                access = support.open_support_session(db.session, tsession, tenant, operator,
                                                      reason=form.reason.data or "", minutes=form.minutes.data)
                tsession.commit()  # the tenant sees the session before it can be used
            except AppError as err:
                tsession.rollback()
                db.session.rollback()
                _attach(form, err)
                status = err.status
            else:
                db.session.commit()
                response = redirect(url_for("tenant_console.home", slug=tenant.slug))
                support.set_support_cookie(response, access, tenant.slug)
                return response
            finally:
                tsession.close()
    return render_template("operators/support_open.html", tenant=tenant, form=form,
                           max_minutes=support.MAX_MINUTES), status


def _attach(form: SupportOpenForm, err: AppError) -> None:
    leftover = []
    for field, messages in (err.errors or {}).items():
        target = getattr(form, field, None) if field in ("reason", "minutes") else None
        if target is not None:
            target.errors = list(target.errors) + [str(m) for m in messages]
        else:
            leftover.extend(str(m) for m in messages)
    if leftover or not err.errors:
        form.form_errors = list(form.form_errors) + [str(err.detail)] + leftover


@console_bp.post("/support/<int:access_id>/end")
def end_session(access_id: int):
    from schemehost.platform.tenants.models import Tenant

    EndForm()  # the CSRF token was checked before the view ran
    access = support.get_support_access(db.session, access_id, for_update=True)
    tenant = db.session.get(Tenant, access.tenant_id)
    tsession = support.open_tenant_session_for(db.session, tenant)
    try:
        support.end_support_session(db.session, tsession, access, operator=_operator())
        tsession.commit()
    finally:
        tsession.close()
    db.session.commit()
    flash(_("The support session in %(slug)s has ended.", slug=tenant.slug), "success")
    response = redirect(url_for("console_tenants.detail", slug=tenant.slug))
    support.clear_support_cookie(response, tenant.id, tenant.slug)
    return response


# ---- tenant console -----------------------------------------------------------------------------------

@bp.post("/support/end")
def end_own():
    """End the support session this browser is in (the banner's button)."""
    EndForm()
    access = g.get("support_access")
    if access is None:
        raise Forbidden(_("This browser is not in a support session of this scheme."))
    access = support.get_support_access(db.session, access.id, for_update=True)
    support.end_support_session(db.session, tenant_session(), access, operator=_support_operator(access))
    # the request boundary commits the tenant session first, then the control session (a flash
    # would stay in this tenant's session cookie: the console page shows the ended session instead)
    response = redirect(url_for("console_tenants.detail", slug=g.tenant.slug))
    support.clear_support_cookie(response, g.tenant.id, g.tenant.slug)
    return response


def _support_operator(access) -> Operator:
    operator = db.session.get(Operator, access.operator_id)
    if operator is None:
        abort(403)
    return operator


@bp.get("/support-sessions")
@any_permission_required(*VIEWERS)
def index():
    rows = support.list_support_sessions(tenant_session(), limit=200)
    return render_template("tenant/support_sessions.html", rows=[support.support_session_dict(r) for r in rows],
                           tenant_time=tenant_time, zone=g.tenant.timezone)


bind_to_tenant(api_bp)


@api_bp.route("/support-sessions")
class SupportSessions(MethodView):
    @any_permission_required(*VIEWERS)
    @api_bp.arguments(SupportListQuerySchema, location="query")
    @api_bp.response(200, SupportSessionSchema(many=True))
    def get(self, query):
        """Operator support sessions into this scheme, newest first (who, why, when, until when)."""
        rows = support.list_support_sessions(tenant_session(), limit=query["limit"])
        return [support.support_session_dict(r) for r in rows]


def _banner():
    """The support banner's facts while this request is in a support session."""
    access = g.get("support_access")
    if access is None or g.get("tenant") is None:
        return {}
    return {"support_banner": {
        "operator": g.get("support_operator"), "reason": access.reason,
        "until": tenant_time(access.expires_at, "short"), "until_iso": access.expires_at.isoformat(),
        # a read-only scheme refuses writes under /t/<slug>/: end it from the operator console then
        "end_here": g.tenant.status == "active",
        "end_url": (url_for("tenant_support.end_own") if g.tenant.status == "active"
                    else url_for("console_tenants.detail", slug=g.tenant.slug)),
    }}


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    app.register_blueprint(console_bp)
    app.register_blueprint(bp)
    api.register_blueprint(api_bp)
    add_nav("tenant_support.index", _l("Support sessions"), permission="audit.read", order=85)
    app.context_processor(_banner)
    app.add_template_global(
        lambda tenant_id: support.list_control_support(db.session, tenant_id), "control_support_sessions")
