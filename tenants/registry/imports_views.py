"""Console pages of registry import and export (``/t/<slug>/registry/imports/``): upload a file
(dry run by default), follow the job, read the report (and download it), then run the file for
real; template and export links for every kind."""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields import FileField

from schemehost.platform.errors import AppError
from schemehost.platform.extensions import db
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import imports as svc
from schemehost.tenants.registry.imports_api import launch, start_import

bp = tenant_blueprint("tenant_registry_imports", __name__, "/registry/imports")
READ = "registry.read"
IMPORT = "registry.import"
KIND_LABELS = {"locations": _l("Locations"), "facilities": _l("Health facilities"), "households": _l("Households"),
               "individuals": _l("Individuals"), "prices": _l("Prices")}
STATUS_LABELS = {"queued": _l("Waiting"), "running": _l("Running"), "checked": _l("Checked"),
                 "rejected": _l("Not imported: problems found"), "done": _l("Imported"), "failed": _l("Failed")}


class UploadForm(FlaskForm):
    kind = SelectField(choices=list(svc.KINDS), default="individuals")
    file = FileField()


def _can_import() -> bool:
    principal = current_principal()
    return principal is not None and principal.can(IMPORT)


def _index(form: UploadForm, status: int = 200):
    imports = svc.list_imports(tenant_session(), limit=20) if _can_import() else []
    return render_template("tenant/registry/imports/index.html", form=form, kinds=list(svc.KINDS),
                           kind_labels=KIND_LABELS, status_labels=STATUS_LABELS, imports=imports,
                           can_import=_can_import()), status


@bp.get("/")
@permission_required(READ)
def index():
    return _index(UploadForm())


@bp.post("/")
@permission_required(IMPORT)
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        form.form_errors = list(form.form_errors) + [_("The form has expired; try again.")]
        return _index(form, 400)
    try:
        imp = start_import(kind=form.kind.data, upload=request.files.get("file"),
                           dry_run=bool(request.form.get("dry_run")), valid_only=bool(request.form.get("valid_only")))
    except AppError as err:
        for name, messages in (err.errors or {}).items():
            target = form.file if name == "file" else None
            texts = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
            if target is not None:
                target.errors = list(target.errors) + texts
            else:
                form.form_errors = list(form.form_errors) + texts
        if not err.errors:
            form.form_errors = list(form.form_errors) + [str(err.detail)]
        return _index(form, 422)
    return redirect(url_for(".detail", import_id=imp.id))


@bp.get("/<int:import_id>")
@permission_required(IMPORT)
def detail(import_id: int):
    from schemehost.platform.jobs import Job
    from schemehost.tenants.registry.validation import tenant_country

    session = tenant_session()
    imp = svc.get_import(session, import_id)
    job = db.session.get(Job, imp.job_id) if imp.job_id else None
    country = tenant_country(session)
    problems = [svc.problem_dict(p, country) for p in svc.list_problems(session, import_id, limit=200)]
    return render_template("tenant/registry/imports/detail.html", imp=imp, problems=problems,
                           problem_count=svc.count_problems(session, import_id), kind_labels=KIND_LABELS,
                           status_labels=STATUS_LABELS, form=FlaskForm(), can_import=_can_import(),
                           progress={"done": job.progress_done, "total": job.progress_total} if job else None,
                           job_error=job.error if job is not None and job.status == "failed" else None)


@bp.post("/<int:import_id>/run")
@permission_required(IMPORT)
def rerun(import_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for(".detail", import_id=import_id))
    from flask import g

    principal = current_principal()
    imp = svc.services.rerun_import(tenant_session(), db.session, g.tenant.id, import_id,
                                    valid_only=bool(request.form.get("valid_only")),
                                    created_by=principal.name if principal else None)
    imp = launch(imp)
    return redirect(url_for(".detail", import_id=imp.id))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_registry_imports.index", _l("Import and export"), permission=READ, order=29)
