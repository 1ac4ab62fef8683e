"""More console pages of cash transfers, on the module's blueprint (see ``views.py``): bulk enrolment
as a job, a programme's beneficiaries with a filter and the bulk changes it drives, the payment points
(list, create, edit, deactivate), a payroll's totals with the upload of the paid list (its per-row
report on the page when refused) and the programme's reports with bars and CSV links."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from schemehost.platform.errors import AppError, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.identity.principal import current_principal, permission_required, require
from schemehost.tenants.registry import services as reg
from schemehost.tenants.transfers import enrolment as en
from schemehost.tenants.transfers import points as pts
from schemehost.tenants.transfers import reports as rp
from schemehost.tenants.transfers import services as tr
from schemehost.tenants.transfers.models import BeneficiaryStatus, PayrollStatus
from schemehost.tenants.reporting import csv_response

MANAGE, ENROL = "transfers.programmes.manage", "transfers.enrol"
PREPARE, APPROVE = "transfers.payroll.prepare", "transfers.payroll.approve"
STATUS_LABELS = {"potential": _l("Potential"), "active": _l("Active"), "suspended": _l("Suspended"),
                 "graduated": _l("Graduated")}
KIND_LABELS = {"agent": _l("Agent"), "branch": _l("Branch"), "mobile_money": _l("Mobile money")}
JOB_LABELS = {"transfers.enrol_bulk": _l("Enrolment"), "transfers.status_bulk": _l("Status change")}
JOB_STATUS_LABELS = {"queued": _l("Waiting"), "running": _l("Running"), "succeeded": _l("Finished"),
                     "failed": _l("Failed")}


def _users(session) -> list[tuple[int, str]]:
    from schemehost.tenants.core.models import User

    return [(u.id, f"{u.name} <{u.email}>") for u in session.execute(
        select(User).where(User.is_active.is_(True)).order_by(User.name).limit(500)).scalars()]


def _location_id(session, code: str | None, field: str) -> int | None:
    code = (code or "").strip()
    if not code:
        return None
    try:
        return reg.get_location_by_code(session, code).id
    except AppError:
        raise ValidationError(_("No location with code %(code)s.", code=code),
                              errors={field: [_("unknown location")]}) from None


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() else None


def _filter_from(session, args) -> tuple[dict[str, Any], dict[str, str]]:
    """(the filter, the raw values to put back in the form) from query or form values."""
    raw = {k: (args.get(k) or "").strip() for k in ("status", "location", "point")}
    spec: dict[str, Any] = {}
    if raw["status"]:
        spec["status"] = raw["status"]
    location_id = _location_id(session, raw["location"], "filter.location_id")
    if location_id is not None:
        spec["location_id"] = location_id
    if raw["point"] == "none":
        spec["payment_point_id"] = 0
    elif _int(raw["point"]) is not None:
        spec["payment_point_id"] = _int(raw["point"])
    return spec, raw


def register_more(bp: Blueprint, read_check, act) -> None:
    """Add the pages to the module's blueprint (``read_check`` refuses a principal without any transfers
    permission; ``act(programme_id, fn)`` runs an action and redirects to the programme's page)."""

    @bp.post("/programmes/<int:programme_id>/enrolment-job")
    @permission_required(ENROL)
    def enrol_job(programme_id: int):
        from schemehost.tenants.transfers.api import start_job

        def run(session):
            tr.get_programme(session, programme_id)
            reason = (request.form.get("reason") or "").strip()
            if not reason:
                raise ValidationError(_("Say why."), errors={"reason": [_("required")]})
            job = start_job(en.JOB_ENROL, programme_id, {"reason": reason})
            if job["status"] == "failed":
                raise AppError(job["error"] or _("The job failed."))
            if job["status"] == "succeeded":
                return _("%(n)s newly enrolled as potential beneficiaries.", n=job["result"]["enrolled"])
            return _("Enrolment started (job %(id)s); its progress is shown below.", id=job["job_id"])
        return act(programme_id, run)

    # ---- beneficiaries and bulk changes ---------------------------------------------------------

    def beneficiaries_page(programme_id: int, *, status: int = 200, errors: dict | None = None):
        read_check()
        session = tenant_session()
        programme = tr.get_programme(session, programme_id)
        principal = current_principal()
        source = request.form if request.method == "POST" else request.args
        try:
            spec, raw = _filter_from(session, source)
            spec = en.check_filter(session, spec)
            count = en.count_matching(session, programme_id, spec, principal)
            rows = session.execute(en.matching(programme_id, spec, principal).order_by(None)
                                   .order_by(en.Beneficiary.id).limit(100)).scalars().all()
        except ValidationError as err:
            session.rollback()
            spec, raw, count, rows = {}, {k: (source.get(k) or "") for k in ("status", "location", "point")}, 0, []
            errors = {**(errors or {}), **{k: v for k, v in (err.errors or {}).items()}}
            status = 422
        from schemehost.tenants.transfers.models import Beneficiary

        people = list(session.execute(select(Beneficiary).where(Beneficiary.id.in_(rows or [0]))
                                      .order_by(Beneficiary.id)).scalars())
        return render_template("tenant/transfers/beneficiaries.html", programme=programme, raw=raw, count=count,
                               people=people, points=tr.list_payment_points(session), status_labels=STATUS_LABELS,
                               transitions=tr.TRANSITIONS, errors=errors or {}), status

    @bp.get("/programmes/<int:programme_id>/beneficiaries")
    def beneficiaries(programme_id: int):
        return beneficiaries_page(programme_id)

    @bp.post("/programmes/<int:programme_id>/beneficiaries/status")
    @permission_required(ENROL)
    def bulk_status(programme_id: int):
        from schemehost.tenants.transfers.api import start_job

        session = tenant_session()
        try:
            spec, raw = _filter_from(session, request.form)
            to, reason = request.form.get("to") or "", request.form.get("reason") or ""
            spec = en.check_status_change(session, to, reason, spec)
            job = start_job(en.JOB_STATUS, programme_id, {"to": to, "reason": reason, "filter": spec})
        except ValidationError as err:
            session.rollback()
            flash(str(err.detail), "error")
            return beneficiaries_page(programme_id, status=422, errors=err.errors)
        if job["status"] == "succeeded":
            flash(_("%(n)s beneficiaries are now %(status)s.", n=job["result"]["changed"],
                    status=STATUS_LABELS.get(to, to)), "success")
        elif job["status"] == "failed":
            flash(job["error"] or _("The job failed."), "error")
        else:
            flash(_("Status change started (job %(id)s); its progress is shown on the programme's page.",
                    id=job["job_id"]), "info")
        return redirect(url_for(".beneficiaries", programme_id=programme_id,
                                **{k: v for k, v in raw.items() if v}))

    @bp.post("/programmes/<int:programme_id>/beneficiaries/payment-point")
    @permission_required(ENROL)
    def bulk_point(programme_id: int):
        session = tenant_session()
        try:
            spec, raw = _filter_from(session, request.form)
            point_id = _int(request.form.get("payment_point_id"))
            n = en.assign_point_bulk(session, programme_id, point_id, spec=spec, principal=current_principal())
        except ValidationError as err:
            session.rollback()
            flash(str(err.detail), "error")
            return beneficiaries_page(programme_id, status=422, errors=err.errors)
        flash(_("%(n)s beneficiaries assigned.", n=n), "success")
        return redirect(url_for(".beneficiaries", programme_id=programme_id, **{k: v for k, v in raw.items() if v}))

    # ---- payment points ------------------------------------------------------------------------

    def point_form_values(session) -> dict[str, Any]:
        form = request.form
        return {"code": (form.get("code") or "").strip(), "name": (form.get("name") or "").strip(),
                "kind": form.get("kind") or "", "location_id": _location_id(session, form.get("location"), "location_id"),
                "manager_user_id": _int(form.get("manager_user_id"))}

    def points_page(*, status: int = 200, errors: dict | None = None, point=None, values: dict | None = None):
        read_check()
        session = tenant_session()
        points = tr.list_payment_points(session)
        locations = {p.location_id for p in points} | ({point.location_id} if point is not None else set())
        from schemehost.tenants.registry.models import Location

        codes = dict(session.execute(select(Location.id, Location.code).where(Location.id.in_(locations or {0}))).all())
        return render_template("tenant/transfers/payment_points.html", points=points, point=point,
                               served=pts.beneficiaries_per_point(session), location_codes=codes,
                               users=_users(session), kinds=KIND_LABELS, errors=errors or {},
                               values=values or {}), status

    @bp.get("/payment-points")
    def payment_points():
        return points_page()

    @bp.get("/payment-points/<int:point_id>")
    def payment_point(point_id: int):
        read_check()
        return points_page(point=pts.get_payment_point(tenant_session(), point_id))

    @bp.post("/payment-points")
    @permission_required(MANAGE)
    def create_point():
        session = tenant_session()
        try:
            values = point_form_values(session)
            if values["location_id"] is None:
                raise ValidationError(_("Give the location's code."), errors={"location_id": [_("required")]})
            point = tr.create_payment_point(session, **values)
        except AppError as err:
            session.rollback()
            flash(str(err.detail), "error")
            return points_page(status=err.status, errors=err.errors, values=dict(request.form))
        flash(_("Payment point %(code)s created.", code=point.code), "success")
        return redirect(url_for(".payment_points"))

    @bp.post("/payment-points/<int:point_id>")
    @permission_required(MANAGE)
    def edit_point(point_id: int):
        session = tenant_session()
        point = pts.get_payment_point(session, point_id)
        try:
            values = point_form_values(session)
            if values["location_id"] is None:
                values.pop("location_id")
            values["active"] = request.form.get("active") == "1"
            pts.update_payment_point(session, point_id, **values)
        except AppError as err:
            session.rollback()
            flash(str(err.detail), "error")
            return points_page(status=err.status, errors=err.errors, point=pts.get_payment_point(session, point_id),
                               values=dict(request.form))
        flash(_("Payment point %(code)s saved.", code=point.code), "success")
        return redirect(url_for(".payment_points"))

    # ---- a payroll: totals and the paid list -----------------------------------------------------

    def payroll_page(payroll_id: int, *, status: int = 200, problems: dict | None = None, counts: dict | None = None):
        read_check()
        session = tenant_session()
        payroll = tr.get_payroll(session, payroll_id)
        cycle = tr.get_cycle(session, payroll.cycle_id)
        principal = current_principal()
        within = tr.payroll_figures_within(session, [payroll_id], principal=principal)
        return render_template("tenant/transfers/payroll.html", payroll=payroll, cycle=cycle,
                               programme=tr.get_programme(session, cycle.programme_id),
                               totals=tr.payroll_totals(session, payroll_id, principal=principal),
                               within=within[payroll_id] if within is not None else None,
                               problems=problems or {}, counts=counts,
                               can_upload=payroll.status in (PayrollStatus.paid, PayrollStatus.reconciled)), status

    @bp.get("/payrolls/<int:payroll_id>")
    def payroll(payroll_id: int):
        return payroll_page(payroll_id)

    @bp.post("/payrolls/<int:payroll_id>/paid-list")
    @permission_required(PREPARE)
    def upload_paid_list(payroll_id: int):
        session = tenant_session()
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise ValidationError(_("Choose the paid list (CSV)."), errors={"file": [_("required")]})
            counts = tr.reconcile_upload(session, payroll_id, upload.read(), principal=current_principal())
        except AppError as err:
            session.rollback()
            flash(str(err.detail), "error")
            return payroll_page(payroll_id, status=err.status, problems=err.errors or {})
        session.commit()
        flash(_("Paid list applied: %(paid)s paid, %(failed)s failed, %(unchanged)s unchanged.", paid=counts["paid"],
                failed=counts["failed"], unchanged=counts["unchanged"]), "success")
        return payroll_page(payroll_id, counts=counts)

    # ---- reports -------------------------------------------------------------------------------

    def report_reader():
        principal = current_principal()
        if principal is None or not any(principal.can(p) for p in ("reports.read", MANAGE, ENROL, PREPARE, APPROVE)):
            require("reports.read")
        return principal

    @bp.get("/programmes/<int:programme_id>/reports/<any(beneficiaries, cycles, failed):kind>.csv")
    def report_csv(programme_id: int, kind: str):
        """A report as CSV for the signed-in user (the API's CSV answers bearer tokens)."""
        principal = report_reader()
        level = request.args.get("level") or None
        rows = rp.report(tenant_session(), programme_id, kind, principal=principal, level=level)
        return csv_response(rows, f"transfers-{programme_id}-{kind}.csv")

    @bp.get("/programmes/<int:programme_id>/reports")
    def reports(programme_id: int):
        """Beneficiaries by status and area, planned vs paid per cycle, failed payments: tables with bars
        (progress elements, no scripts) and CSV links, within the user's locations."""
        principal = report_reader()
        session = tenant_session()
        programme = tr.get_programme(session, programme_id)
        level = request.args.get("level") or None
        try:
            tables = {kind: rp.report(session, programme_id, kind, principal=principal, level=level) for kind in rp.KINDS}
        except ValidationError:
            level = None
            tables = {kind: rp.report(session, programme_id, kind, principal=principal) for kind in rp.KINDS}
        return render_template("tenant/transfers/reports.html", programme=programme, tables=tables, level=level or "",
                               levels=reg.level_names(session), status_labels=STATUS_LABELS,
                               statuses=[s.value for s in BeneficiaryStatus])


__all__ = ["register_more", "STATUS_LABELS", "KIND_LABELS", "JOB_LABELS", "JOB_STATUS_LABELS"]
