"""Import and export API under ``/t/<slug>/api/v1``.

``POST /imports`` (multipart: ``file``, ``kind``, ``dry_run``, ``valid_only``, ``mapping`` as JSON,
``encoding``) keeps the file and starts the import job (202); ``GET /imports/<id>`` gives its
status, progress, counts and the first report rows; ``GET /imports/<id>/report.csv`` the whole
report. Templates: ``GET /import-templates/<kind>.<csv|xlsx>``. Exports:
``GET /exports/<list>.<csv|xlsx>?<filters>``. Importing needs ``registry.import``; templates and
exports need ``registry.read``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, g, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants import reporting
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import imports as imp_services
from schemehost.tenants.registry.imports.services import MAX_BYTES
from schemehost.tenants.registry.services import exports

bp = Blueprint("registry_imports", __name__, url_prefix="/t/<slug>/api/v1",
               description="Registry import (CSV, XLSX) and export")
IMPORT = "registry.import"
READ = "registry.read"
REPORT_PREVIEW = 100


bind_to_tenant(bp)


def _flag(value: Any) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def start_import(*, kind: str, upload, dry_run: bool, valid_only: bool, mapping: dict | None = None,
                 encoding: str | None = None):
    """Keep the uploaded file, commit, and run the job: inline when ``REGISTRY_IMPORTS_INLINE`` is
    set (tests, single-process installs), else deferred to the worker. Returns the import."""
    if upload is None or not getattr(upload, "filename", None):
        message = _("Choose a CSV or XLSX file.")
        raise ValidationError(message, errors={"file": [message]})
    principal = current_principal()
    session = tenant_session()
    imp = imp_services.create_import(
        session, db.session, g.tenant.id, kind=kind, filename=upload.filename, stream=upload.stream,
        dry_run=dry_run, valid_only=valid_only, mapping=mapping, encoding=encoding,
        created_by=principal.name if principal else None,
        max_bytes=current_app.config.get("REGISTRY_IMPORT_MAX_BYTES", MAX_BYTES))
    return launch(imp)


def launch(imp):
    """Commit the new import (row, file, job) and run its job inline or defer it."""
    from schemehost.platform.jobs import Job, launch_job

    principal = current_principal()
    session = tenant_session()

    job = db.session.get(Job, imp.job_id)
    job.params = {**job.params, "audit_actor": list(principal.audit_actor) if principal else None}
    import_id, job_id = imp.id, imp.job_id
    # the import row, its file and the job must be committed before the job can run
    launch_job(job_id, inline_setting="REGISTRY_IMPORTS_INLINE", tenant_session=session)
    session.expire_all()
    return imp_services.get_import(session, import_id)


def import_out(imp, *, problems: int = REPORT_PREVIEW) -> dict[str, Any]:
    from schemehost.platform.jobs import Job
    from schemehost.tenants.registry.validation import tenant_country

    session = tenant_session()
    job = db.session.get(Job, imp.job_id) if imp.job_id else None
    out = imp_services.import_dict(imp, job=job)
    country = tenant_country(session)
    out["problems"] = [imp_services.problem_dict(p, country)
                       for p in imp_services.list_problems(session, imp.id, limit=problems)]
    out["problem_count"] = imp_services.count_problems(session, imp.id)
    out["report_url"] = url_for("registry_imports.ImportReport", import_id=imp.id)
    return out


@bp.route("/imports")
class Imports(MethodView):
    @permission_required(IMPORT)
    def get(self):
        """The latest imports, newest first."""
        limit = request.args.get("limit", "50")
        if not limit.isdigit() or not 1 <= int(limit) <= 200:
            message = _("A whole number from 1 to 200.")
            raise ValidationError(message, errors={"limit": [message]})
        items = imp_services.list_imports(tenant_session(), limit=int(limit))
        return [imp_services.import_dict(i) for i in items]

    @permission_required(IMPORT)
    def post(self):
        """Upload a file (multipart ``file``) and start its import; 202 with the import."""
        form = request.form
        mapping = None
        if form.get("mapping"):
            try:
                mapping = json.loads(form["mapping"])
            except ValueError:
                message = _("A mapping is an object of file column names to field names.")
                raise ValidationError(message, errors={"mapping": [message]}) from None
        imp = start_import(kind=form.get("kind", ""), upload=request.files.get("file"), dry_run=_flag(form.get("dry_run")),
                           valid_only=_flag(form.get("valid_only")), mapping=mapping, encoding=form.get("encoding") or None)
        return import_out(imp), 202, {"Location": url_for("registry_imports.ImportItem", import_id=imp.id)}


@bp.route("/imports/<int:import_id>")
class ImportItem(MethodView):
    @permission_required(IMPORT)
    def get(self, import_id):
        """An import: status, progress, counts and the first rows of its report."""
        return import_out(imp_services.get_import(tenant_session(), import_id))


@bp.route("/imports/<int:import_id>/report.csv")
class ImportReport(MethodView):
    @permission_required(IMPORT)
    def get(self, import_id):
        """The import's whole report as CSV (row, column, value, message)."""
        session = tenant_session()
        imp_services.get_import(session, import_id)
        body = b"".join(imp_services.report_csv(session, import_id))
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="import-{import_id}-report.csv"'})


@bp.route("/import-templates/<kind>.<fmt>")
class ImportTemplate(MethodView):
    @permission_required(READ)
    def get(self, kind, fmt):
        """The template file of a kind (``csv`` or ``xlsx``)."""
        return template_response(kind, fmt)


def template_response(kind: str, fmt: str) -> Response:
    """The template of ``kind`` with the tenant's extra-field columns."""
    from schemehost.tenants.registry.imports.kinds import extra_columns

    imp_services.spec_for(kind)
    extras = extra_columns(tenant_session(), kind)
    if fmt == "csv":
        return Response(imp_services.template_csv(kind, extras), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{kind}-template.csv"'})
    if fmt == "xlsx":
        return Response(imp_services.template_xlsx(kind, extras),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{kind}-template.xlsx"'})
    message = _("Unknown format '%(fmt)s'; csv or xlsx.", fmt=fmt)
    raise ValidationError(message, errors={"format": [message]})


def export_response(name: str, fmt: str, filters: dict[str, Any]) -> Response:
    """Stream list ``name`` as ``fmt`` with ``filters``, in a session of its own (the request's
    transaction ends before the body is sent; the export's cursor lives in its own); bad filters
    answer 422 before streaming starts."""
    principal = current_principal()
    return reporting.stream_export_response(
        lambda session: exports.build_export(session, name, principal=principal, filters=filters), fmt,
        exports.export_filename(name, fmt))


@bp.route("/exports/<name>.<fmt>")
class Export(MethodView):
    @permission_required(READ)
    def get(self, name, fmt):
        """A registry list (locations, facilities, households, individuals, prices) as CSV or XLSX,
        with the list's filters as query parameters; people limited to the caller's locations."""
        return export_response(name, fmt, request.args.to_dict())


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
