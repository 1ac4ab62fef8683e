"""Control API: ``/api/v1/tenants`` and ``/api/v1/partners`` (operator bearer token required).

Operator roles (``operators.roles``): support operators only read; partner staff see and manage only
their partner's tenants (another partner's tenant is a 404); partners are created by platform admins.
"""

from __future__ import annotations

from flask import g, request, url_for
from flask_babel import gettext as _
from flask.views import MethodView
from flask_smorest import Blueprint

from schemehost.platform.errors import Forbidden
from schemehost.platform.extensions import db
from schemehost.platform.operators import roles as operator_roles
from schemehost.platform.operators.auth import actor
from schemehost.platform.partners import services as partners
from schemehost.platform.tenants import schemas as s
from schemehost.provisioning import lifecycle

bp = Blueprint("tenants", __name__, url_prefix="/api/v1", description="Tenants and partners")


@bp.before_request
def _support_only_reads():
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        operator_roles.require_change()


def _tenant_out(tenant, job_id=None) -> dict:
    data = lifecycle.tenant_dict(tenant)
    data["job"] = f"/api/v1/jobs/{job_id}" if job_id else None
    return data


@bp.route("/tenants")
class Tenants(MethodView):
    @bp.arguments(s.TenantListQuerySchema, location="query")
    @bp.response(200, s.TenantSchema(many=True))
    def get(self, query):
        """List tenants in slug order, optionally by partner and status.

        Paged by keyset: a full page carries ``Link: <...?after=<last slug>>; rel="next"``.
        """
        scope = operator_roles.current_scope()
        if scope.all_tenants:
            tenants = lifecycle.list_tenants(db.session, **query)
        elif scope.partner_id is None:  # partner staff without a partner see nothing
            tenants = []
        else:
            tenants = lifecycle.list_tenants(db.session, partner_id=scope.partner_id, **query)
        headers = {}
        if len(tenants) == query["limit"]:
            args = request.args.to_dict()
            args["after"] = tenants[-1].slug
            headers["Link"] = f'<{url_for("tenants.Tenants", **args)}>; rel="next"'
        return [_tenant_out(t) for t in tenants], 200, headers

    @bp.arguments(s.TenantCreateSchema)
    @bp.response(201, s.TenantSchema)
    @bp.alt_response(202, schema=s.TenantSchema, description="Cold path: building; follow the job link")
    def post(self, body):
        """Create a tenant: 201 when a spare schema was claimed, 202 + job when it is being built."""
        from schemehost.provisioning.create import create_tenant

        operator_roles.check_partner(db.session, body["partner"])
        result = create_tenant(db.session, body["slug"], name=body["name"], partner=body["partner"],
                               template=body["template"], demo_data=body["demo_data"], actor=actor(),
                               cold=body["cold"])
        db.session.commit()
        result.after_commit(wait=False)
        location = {"Location": url_for("tenants.TenantItem", slug=result.tenant.slug)}
        if result.job_id:
            return _tenant_out(result.tenant, result.job_id), 202, location
        return _tenant_out(result.tenant), 201, location


@bp.route("/tenants/<slug>")
class TenantItem(MethodView):
    @bp.response(200, s.TenantSchema)
    def get(self, slug):
        """One tenant."""
        return _tenant_out(operator_roles.visible_tenant(db.session, slug))

    @bp.arguments(s.DeleteQuerySchema, location="query")
    @bp.response(204)
    def delete(self, query, slug):
        """Delete an archived tenant after its grace period (``force`` for platform admins)."""
        operator_roles.visible_tenant(db.session, slug)
        if query["force"] and getattr(g.get("operator"), "role", None) != "platform_admin":
            raise Forbidden(_("Only a platform admin may force a deletion."), errors={"force": [_("not allowed")]})
        lifecycle.delete_tenant(db.session, slug, actor=actor(), force=query["force"])


@bp.route("/tenants/<slug>/events")
class TenantEvents(MethodView):
    @bp.response(200, s.EventSchema(many=True))
    def get(self, slug):
        """Lifecycle events of a tenant, oldest first."""
        tenant = operator_roles.visible_tenant(db.session, slug)
        return [lifecycle.event_dict(e) for e in lifecycle.tenant_events(db.session, tenant.id)]


def _transition_view(action: str, fn):
    @bp.route(f"/tenants/<slug>/{action}", endpoint=f"tenant_{action.replace('-', '_')}", methods=["POST"])
    @bp.arguments(s.TransitionSchema)
    @bp.response(200, s.TenantSchema)
    def view(body, slug):
        operator_roles.visible_tenant(db.session, slug)
        return _tenant_out(fn(db.session, slug, actor=actor(), reason=body.get("reason")))

    view.__doc__ = f"{action.capitalize()} a tenant (recorded as a tenant event)."
    return view


_transition_view("suspend", lifecycle.suspend_tenant)
_transition_view("resume", lifecycle.resume_tenant)
_transition_view("read-only", lifecycle.set_read_only)
_transition_view("archive", lifecycle.archive_tenant)


@bp.route("/tenants/<slug>/retry", methods=["POST"])
@bp.response(202, s.TenantSchema)
def retry(slug):
    """Retry provisioning of a failed tenant (202 + job)."""
    from schemehost.provisioning.create import retry_tenant

    operator_roles.visible_tenant(db.session, slug)
    result = retry_tenant(db.session, slug, actor=actor())
    db.session.commit()
    result.after_commit(wait=False)
    return _tenant_out(result.tenant, result.job_id)


@bp.route("/partners")
class Partners(MethodView):
    @bp.response(200, s.PartnerSchema(many=True))
    def get(self):
        """List partners."""
        return [partners.partner_dict(p) for p in operator_roles.visible_partners(partners.list_partners(db.session))]

    @bp.arguments(s.PartnerCreateSchema)
    @bp.response(201, s.PartnerSchema)
    def post(self, body):
        """Create a partner (platform admins)."""
        operator_roles.require_admin()
        return partners.partner_dict(partners.create_partner(db.session, body.pop("slug"), **body))
