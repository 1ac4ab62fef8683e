"""Console pages of cash transfers (``/t/<slug>/transfers/``): the programmes with their beneficiaries
by status, and a programme's page with how many qualify under its rule and where (the registry's
preview), its cycles and payrolls, and the buttons staff need: enrol the eligible (at once, or as a
job with progress), generate a cycle's payroll, approve it (never by whoever generated it), pay it
offline, export it. Further pages: a programme's beneficiaries with a filter and the bulk changes it
drives (status with a reason, payment point), the payment points, a payroll's totals with the upload
of the paid list and its per-row report, and the programme's reports. A refused action shows the
service's message; the rules live in the services. A location-restricted user sees the beneficiary
counts within their locations and the payroll-wide buttons disabled, with why (decision 0417)."""

from __future__ import annotations

from datetime import date

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from schemehost.platform.errors import AppError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required, require
from schemehost.tenants.transfers import services as tr
from schemehost.tenants.transfers.models import PaymentCycle, Payroll
from schemehost.tenants.transfers.views_more import JOB_LABELS, JOB_STATUS_LABELS, register_more

bp = tenant_blueprint("tenant_transfers", __name__, "/transfers", module="transfers")
MANAGE, ENROL = "transfers.programmes.manage", "transfers.enrol"
PREPARE, APPROVE = "transfers.payroll.prepare", "transfers.payroll.approve"
ANY = (MANAGE, ENROL, PREPARE, APPROVE)
PAYROLL_LABELS = {"pending_approval": _l("Pending approval"), "approved": _l("Approved"), "rejected": _l("Rejected"),
                  "paid": _l("Paid"), "reconciled": _l("Reconciled")}


def _read() -> None:
    principal = current_principal()
    if principal is None or not any(principal.can(p) for p in ANY):
        require(MANAGE)


@bp.get("/")
def index():
    _read()
    session = tenant_session()
    programmes = tr.list_programmes(session)
    principal = current_principal()
    return render_template("tenant/transfers/index.html", programmes=programmes,
                           counts=tr.beneficiary_counts(session, [p.id for p in programmes], principal=principal),
                           restricted=tr.is_restricted(principal))


@bp.get("/programmes/<int:programme_id>")
def programme(programme_id: int):
    _read()
    session = tenant_session()
    prog = tr.get_programme(session, programme_id)
    preview = tr.preview_programme(session, programme_id, current_principal())
    cycles = list(session.execute(select(PaymentCycle).where(PaymentCycle.programme_id == programme_id)
                                  .order_by(PaymentCycle.period_start.desc())).scalars())
    payrolls = list(session.execute(select(Payroll).where(Payroll.cycle_id.in_([c.id for c in cycles] or [0]))
                                    .order_by(Payroll.id.desc())).scalars())
    principal = current_principal()
    within = tr.payroll_figures_within(session, [p.id for p in payrolls], principal=principal)
    counts = tr.beneficiary_counts(session, [prog.id], principal=principal).get(prog.id, {})
    # payroll-wide actions are refused to a restricted user (decision 0417): buttons disabled, with why
    return render_template("tenant/transfers/programme.html", programme=prog, preview=preview, cycles=cycles,
                           payrolls=payrolls, within=within, counts=counts, restricted=tr.is_restricted(principal),
                           payroll_labels=PAYROLL_LABELS, today=date.today().replace(day=1).isoformat(),
                           jobs=recent_jobs(programme_id), job_labels=JOB_LABELS,
                           job_status_labels=JOB_STATUS_LABELS)


def _act(programme_id: int, action):
    try:
        message = action(tenant_session())
    except AppError as err:
        tenant_session().rollback()
        flash(str(err.detail), "error")
    else:
        flash(message, "success")
    return redirect(url_for(".programme", programme_id=programme_id))


@bp.post("/programmes/<int:programme_id>/enrol")
@permission_required(ENROL)
def enrol(programme_id: int):
    def run(session):
        counts = tr.enrol_eligible(session, programme_id, reason=request.form.get("reason") or "",
                                   principal=current_principal())
        return _("%(n)s newly enrolled as potential beneficiaries.", n=counts["enrolled"])
    return _act(programme_id, run)


@bp.post("/programmes/<int:programme_id>/cycles")
@permission_required(PREPARE)
def open_cycle(programme_id: int):
    def run(session):
        try:
            start = date.fromisoformat(request.form.get("period_start", ""))
        except ValueError:
            raise AppError(_("Give the first day of the period.")) from None
        cycle = tr.open_cycle(session, programme_id, start)
        return _("Cycle %(start)s to %(end)s opened.", start=cycle.period_start.isoformat(),
                 end=cycle.period_end.isoformat())
    return _act(programme_id, run)


@bp.post("/programmes/<int:programme_id>/cycles/<int:cycle_id>/payroll")
@permission_required(PREPARE)
def generate(programme_id: int, cycle_id: int):
    def run(session):
        if tr.get_cycle(session, cycle_id).programme_id != programme_id:
            raise AppError(_("This cycle belongs to another programme."))
        payroll = tr.generate_payroll(session, cycle_id, principal=current_principal())
        return _("Payroll %(id)s generated: %(n)s lines; another person must approve it.", id=payroll.id,
                 n=payroll.lines)
    return _act(programme_id, run)


@bp.post("/programmes/<int:programme_id>/payrolls/<int:payroll_id>/<any(approve, pay):action>")
@permission_required(APPROVE)
def payroll_action(programme_id: int, payroll_id: int, action: str):
    def run(session):
        if action == "approve":
            tr.approve_payroll(session, payroll_id, principal=current_principal())
            return _("Payroll %(id)s approved.", id=payroll_id)
        tr.pay_payroll(session, payroll_id, via="offline", principal=current_principal())
        return _("Payroll %(id)s released for payment; export it for the payment points.", id=payroll_id)
    return _act(programme_id, run)


@bp.get("/payrolls/<int:payroll_id>/export.<any(csv, xlsx):fmt>")
@permission_required(PREPARE)
def export(payroll_id: int, fmt: str):
    from schemehost.tenants.transfers.api import export_response

    return export_response(payroll_id, fmt)


register_more(bp, _read, _act)


def recent_jobs(programme_id: int) -> list[dict]:
    """The programme's five latest bulk jobs with their progress (control-plane rows of this scheme)."""
    from flask import g

    from schemehost.platform.extensions import db
    from schemehost.platform.jobs import Job
    from schemehost.tenants.transfers.enrolment import JOB_KINDS

    jobs = db.session.execute(select(Job).where(Job.tenant_id == g.tenant.id, Job.kind.in_(JOB_KINDS),
                                                Job.params["programme_id"].as_integer() == programme_id)
                              .order_by(Job.id.desc()).limit(5)).scalars()
    return [{"id": j.id, "kind": j.kind, "status": j.status, "done": j.progress_done or 0, "total": j.progress_total,
             "result": j.result or {}, "error": j.error} for j in jobs]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_transfers.index", _l("Cash transfers"), permission=ENROL, order=55)
