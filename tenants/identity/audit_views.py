"""The tenant's audit log, read-only: console page ``/t/<slug>/audit``, CSV export
``/t/<slug>/audit.csv`` and API ``GET /t/<slug>/api/v1/audit`` (all need ``audit.read``).

``init_app`` also wires the control plane's operator audit (``schemehost.platform.audit``):
both logs are one capability, kept in one place.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_datetime
from flask import Flask, Response, g, render_template, request, stream_with_context
from flask.views import MethodView
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import ValidationError as SchemaError

from schemehost.platform.errors import ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity import audit, audit_query
from schemehost.tenants.identity.audit_schemas import AuditPageQuerySchema, AuditPageSchema, AuditQuerySchema
from schemehost.tenants.identity.principal import permission_required

bp = tenant_blueprint("tenant_audit", __name__)
api_bp = ApiBlueprint("audit", __name__, url_prefix="/t/<slug>/api/v1", description="Audit log (read-only)")
PAGE_SIZE = 50

ACTOR_TYPES = {
    "user": _l("user"), "client": _l("API client"), "support": _l("operator support"),
    "operator": _l("operator"), "system": _l("system"),
}
CHANGE_LABELS = {"added": _l("added"), "removed": _l("removed"), "changed": _l("changed")}


bind_to_tenant(api_bp)


def filters_from(query: dict[str, Any]) -> audit_query.AuditFilter:
    """The service filter from loaded query arguments (dates read in the tenant's time zone)."""
    since, until = audit_query.time_range(query.get("from_"), query.get("to"), g.tenant.timezone)
    return audit_query.AuditFilter(
        actor_type=query.get("actor_type"), actor_id=query.get("actor_id"), action=query.get("action"),
        entity_type=query.get("entity_type"), entity_id=query.get("entity_id"), since=since, until=until)


@api_bp.route("/audit")
class AuditLog(MethodView):
    @permission_required("audit.read")
    @api_bp.arguments(AuditPageQuerySchema, location="query")
    @api_bp.response(200, AuditPageSchema)
    def get(self, query):
        """Audit entries, newest first, filtered; follow ``next`` (as ``cursor``) for older ones."""
        page = audit_query.list_audit(tenant_session(), filters_from(query), cursor=query["cursor"],
                                      limit=query["limit"])
        return {"entries": [audit_query.entry_dict(e) for e in page.entries], "next": page.next}


def _filter_args() -> dict[str, str]:
    """The filter arguments of this request as given (for the form, links and the export)."""
    keys = ("actor_type", "actor_id", "action", "entity_type", "entity_id", "from", "to")
    return {k: request.args[k].strip() for k in keys if request.args.get(k, "").strip()}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def tenant_time(value: datetime | None, fmt: str = "medium") -> str:
    """A timestamp in the tenant's time zone and the reader's language."""
    if value is None:
        return ""
    tz = ZoneInfo(g.tenant.timezone)
    return babel_datetime(value.astimezone(tz), fmt, tzinfo=tz, locale=get_locale())


@bp.get("/audit")
@permission_required("audit.read")
def index():
    args = _filter_args()
    errors: dict[str, list[str]] = {}
    entries, next_cursor = [], None
    try:
        query = AuditPageQuerySchema().load({**args, "cursor": request.args.get("cursor") or None,
                                             "limit": PAGE_SIZE})
        page = audit_query.list_audit(tenant_session(), filters_from(query), cursor=query["cursor"],
                                      limit=PAGE_SIZE)
        entries, next_cursor = page.entries, page.next
    except SchemaError as err:
        errors = {k.rstrip("_"): [str(m) for m in v] for k, v in err.messages.items()}
    except ValidationError as err:
        errors = {k: [str(m) for m in v] for k, v in err.errors.items()}
    rows = [(e, audit.diff(e.before, e.after)) for e in entries]
    return render_template(
        "tenant/audit.html", rows=rows, args=args, errors=errors, next_cursor=next_cursor,
        first_page=not request.args.get("cursor"), actor_types=ACTOR_TYPES, change_labels=CHANGE_LABELS,
        to_json=_json, tenant_time=tenant_time, zone=g.tenant.timezone,
    ), (422 if errors else 200)


@bp.get("/audit.csv")
@permission_required("audit.read")
def export():
    """The filtered log as CSV, streamed in batches; the export itself is audited."""
    args = _filter_args()
    try:
        filters = filters_from(AuditQuerySchema().load(args))
    except SchemaError as err:
        raise ValidationError(str(_l("Some fields are not valid.")),
                              errors={k.rstrip("_"): v for k, v in err.messages.items()}) from None
    audit.record(tenant_session(), "export", "audit_log", None, details={"format": "csv", "filters": args})
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    body = stream_with_context(audit_query.csv_chunks(audit_query.iter_audit(tenant_session(), filters)))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="audit-{g.tenant.slug}-{stamp}.csv"',
        "Cache-Control": "no-store",
    })


def init_app(app: Flask) -> None:
    from schemehost.platform import audit as operator_audit
    from schemehost.platform.extensions import api

    app.register_blueprint(bp)
    api.register_blueprint(api_bp)
    add_nav("tenant_audit.index", _l("Audit log"), permission="audit.read", order=80)
    operator_audit.init_app(app)
