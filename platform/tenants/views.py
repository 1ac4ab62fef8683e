"""Console pages for tenants: list, create, detail, lifecycle actions.

Views parse the form, call one provisioning service and render; the rules
(slug, transitions, grace period) live in ``schemehost.provisioning``. What an
operator's role may see and change is in ``operators.roles``: partner staff
see only their partner's tenants (others are 404), support only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from schemehost.platform.errors import AppError, Conflict, Forbidden, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.jobs import list_jobs
from schemehost.platform.operators import roles as operator_roles
from schemehost.platform.operators.auth import actor
from schemehost.platform.partners.services import list_partners
from schemehost.platform.tenancy import slug_problem
from schemehost.platform.tenants.forms import TenantActionForm, TenantCreateForm
from schemehost.platform.tenants.models import TenantStatus
from schemehost.provisioning import create as provisioning
from schemehost.provisioning import lifecycle
from schemehost.provisioning.templates import list_templates

bp = Blueprint("console_tenants", __name__, url_prefix="/console/tenants")
PAGE_SIZE = 100  # rows per page: the list stays light on a slow connection

STATUS_LABELS = {
    "provisioning": _l("provisioning"),
    "active": _l("active"),
    "read_only": _l("read-only"),
    "suspended": _l("suspended"),
    "archived": _l("archived"),
    "failed": _l("failed"),
}

EVENT_LABELS = {
    "created": _l("created"),
    "provisioning_started": _l("provisioning started"),
    "provisioning_failed": _l("provisioning failed"),
    "provisioning_retried": _l("provisioning retried"),
    "suspended": _l("suspended"),
    "resumed": _l("resumed"),
    "read_only": _l("made read-only"),
    "archived": _l("archived"),
    "deleted": _l("deleted"),
}

JOB_STATUS_LABELS = {
    "queued": _l("queued"),
    "running": _l("running"),
    "succeeded": _l("succeeded"),
    "failed": _l("failed"),
}


@dataclass(frozen=True)
class Action:
    name: str
    label: object
    question: object
    danger: bool
    admin_only: bool = False


ACTIONS: dict[str, Action] = {
    "suspend": Action("suspend", _l("Suspend"), _l("Suspend this tenant? Its users can sign in and pay, "
                                                     "but cannot change anything until it is resumed."), True),
    "resume": Action("resume", _l("Resume"), _l("Resume this tenant? Its users can work normally again."), False),
    "archive": Action("archive", _l("Archive"), _l("Archive this tenant? It stops answering (410 Gone); "
                                                     "it can be deleted after the grace period."), True),
    "delete": Action("delete", _l("Delete"), _l("Delete this tenant for good? Its schema, role and all its "
                                                  "data are dropped. This cannot be undone."), True),
    "retry": Action("retry", _l("Retry provisioning"), _l("Build this tenant again?"), False),
}

#: Which actions each status offers (the services still enforce the lifecycle).
STATUS_ACTIONS: dict[str, tuple[str, ...]] = {
    TenantStatus.active: ("suspend", "archive"),
    TenantStatus.read_only: ("resume", "suspend", "archive"),
    TenantStatus.suspended: ("resume", "archive"),
    TenantStatus.archived: ("delete",),
    TenantStatus.failed: ("retry", "delete"),
    TenantStatus.provisioning: (),
}


@bp.app_context_processor
def _labels():
    return {"status_labels": STATUS_LABELS, "event_labels": EVENT_LABELS, "job_status_labels": JOB_STATUS_LABELS}


def _require_manager() -> None:
    if not current_user.can_manage_tenants:
        raise Forbidden(_("Your role may look at tenants but not change them."))


@bp.get("/")
def index():
    status = request.args.get("status") or None
    partner = request.args.get("partner") or None
    if status is not None and status not in STATUS_LABELS:
        status = None
    tenants = operator_roles.visible(lifecycle.list_tenants(db.session, status=status, partner=partner))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pages = max(1, -(-len(tenants) // PAGE_SIZE))
    page = min(page, pages)
    shown = tenants[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return render_template("tenants/list.html", tenants=shown, total=len(tenants), page=page, pages=pages,
                           status=status, partner=partner,
                           partners=operator_roles.visible_partners(list_partners(db.session)))


def _fill_choices(form: TenantCreateForm, templates) -> None:
    form.partner.choices = [("", _("Choose a partner"))] + [
        (p.slug, f"{p.name} ({p.slug})") for p in operator_roles.visible_partners(list_partners(db.session))]
    form.template.choices = [(t.name, t.title) for t in templates]


@bp.route("/new", methods=["GET", "POST"])
def new():
    _require_manager()
    templates = list_templates()
    form = TenantCreateForm()
    _fill_choices(form, templates)
    status = 200
    if request.method == "GET" and not form.template.data and templates:
        form.template.data = "blank" if any(t.name == "blank" for t in templates) else templates[0].name
    if form.validate_on_submit():
        operator_roles.check_partner(db.session, form.partner.data)
        try:
            provisioned = provisioning.create_tenant(
                db.session, form.slug.data.strip(), name=form.name.data, partner=form.partner.data,
                template=form.template.data, demo_data=bool(form.demo_data.data), actor=actor())
        except (ValidationError, Conflict) as err:
            db.session.rollback()
            _attach_errors(form, err)
            status = 422 if isinstance(err, ValidationError) else 409
        else:
            slug = provisioned.tenant.slug
            db.session.commit()
            provisioned.after_commit(wait=bool(current_app.config.get("CONSOLE_BUILD_INLINE", False)))
            if provisioned.path == "warm" or provisioned.tenant.status == TenantStatus.active:
                flash(_("Tenant %(slug)s is ready.", slug=slug), "success")
            else:
                flash(_("Tenant %(slug)s is being built; this page updates by itself.", slug=slug), "info")
            return redirect(url_for(".detail", slug=slug))
    elif request.method == "POST":
        # the form stopped at missing fields: still tell what is wrong with the slug now
        slug = (form.slug.data or "").strip()
        problem = slug_problem(slug) if slug and not form.slug.errors else None
        if problem:
            form.slug.errors = list(form.slug.errors) + [problem]
        status = 422
    return render_template("tenants/new.html", form=form, templates={t.name: t for t in templates}), status


def _attach_errors(form: TenantCreateForm, err: AppError) -> None:
    """Show a service's field errors next to the fields; the rest above the form."""
    leftover = []
    if isinstance(err, Conflict) and "slug" in (err.errors or {}):
        form.slug.errors = list(form.slug.errors) + [_("This slug is already taken; choose another one.")]
        return
    for field, messages in (err.errors or {}).items():
        messages = messages if isinstance(messages, list) else [messages]
        target = getattr(form, field, None) if field in ("slug", "name", "partner", "template") else None
        if target is not None:
            target.errors = list(target.errors) + [str(m) for m in messages]
        else:
            leftover.extend(str(m) for m in messages)
    if leftover or not err.errors:
        form.form_errors = list(form.form_errors) + [str(err.detail)] + leftover


@bp.get("/<slug>")
def detail(slug: str):
    tenant = operator_roles.visible_tenant(db.session, slug)
    events = lifecycle.tenant_events(db.session, tenant.id)
    jobs, _total = list_jobs(db.session, tenant=slug, limit=20)
    busy = tenant.status == TenantStatus.provisioning or any(j.status in ("queued", "running") for j in jobs)
    actions = [ACTIONS[a] for a in STATUS_ACTIONS.get(tenant.status, ())]
    return render_template("tenants/detail.html", tenant=tenant, events=list(reversed(events)), jobs=jobs,
                           actions=actions, busy=busy)


@bp.route("/<slug>/<action>", methods=["GET", "POST"])
def act(slug: str, action: str):
    if action not in ACTIONS:
        abort(404)
    _require_manager()
    spec = ACTIONS[action]
    tenant = operator_roles.visible_tenant(db.session, slug)
    form = TenantActionForm()
    status = 200
    if form.validate_on_submit():
        reason = (form.reason.data or "").strip() or None
        try:
            message = _perform(action, slug, form, reason)
        except (ValidationError, Conflict) as err:
            db.session.rollback()
            form.form_errors = list(form.form_errors) + [_action_problem(action, slug, err)]
            status = 409 if isinstance(err, Conflict) else 422
        else:
            if message is not None:
                flash(message, "success")
                if action == "delete":
                    return redirect(url_for(".index"))
                return redirect(url_for(".detail", slug=slug))
            status = 422
    elif request.method == "POST":
        status = 422
    return render_template("tenants/confirm.html", tenant=tenant, action=spec, form=form,
                           can_force=current_user.is_platform_admin), status


def _action_problem(action: str, slug: str, err: AppError) -> str:
    """Why ``action`` was refused, in the operator's language."""
    deletable_at = err.extra.get("deletable_at")
    if deletable_at:
        when = format_datetime(datetime.fromisoformat(deletable_at), "medium")
        return _("This tenant can be deleted from %(when)s, when its grace period ends; "
                 "a platform admin may delete it earlier.", when=when)
    if isinstance(err, Conflict):
        current = lifecycle.get_tenant(db.session, slug).status
        return _("This is not possible while the tenant is %(status)s.",
                 status=STATUS_LABELS.get(current, current))
    return str(err.detail)


def _perform(action: str, slug: str, form: TenantActionForm, reason: str | None) -> str | None:
    """Run ``action``; the flash message, or None when the form needs correcting."""
    who = actor()
    if action == "suspend":
        lifecycle.suspend_tenant(db.session, slug, actor=who, reason=reason)
        return _("Tenant %(slug)s is suspended.", slug=slug)
    if action == "resume":
        lifecycle.resume_tenant(db.session, slug, actor=who, reason=reason)
        return _("Tenant %(slug)s is active again.", slug=slug)
    if action == "archive":
        lifecycle.archive_tenant(db.session, slug, actor=who, reason=reason)
        return _("Tenant %(slug)s is archived.", slug=slug)
    if action == "retry":
        provisioned = provisioning.retry_tenant(db.session, slug, actor=who)
        db.session.commit()
        provisioned.after_commit(wait=bool(current_app.config.get("CONSOLE_BUILD_INLINE", False)))
        return _("Tenant %(slug)s is being built again.", slug=slug)
    # delete
    if (form.confirm_slug.data or "").strip() != slug:
        form.confirm_slug.errors = list(form.confirm_slug.errors) + [
            _("Type %(slug)s exactly to confirm.", slug=slug)]
        return None
    force = bool(form.force.data)
    if force and not current_user.is_platform_admin:
        raise Forbidden(_("Only a platform admin may delete before the grace period ends."))
    lifecycle.delete_tenant(db.session, slug, actor=who, force=force)
    return _("Tenant %(slug)s is deleted.", slug=slug)
