"""Cash-transfers API under ``/t/<slug>/api/v1/transfers``.

Programmes: ``transfers.programmes.manage``; enrolment and beneficiary statuses: ``transfers.enrol``;
generating, rejecting, exporting and reconciling payrolls: ``transfers.payroll.prepare``; approving and
paying them: ``transfers.payroll.approve`` — and never by whoever generated the payroll. Reading needs
any transfers permission. The payroll-wide actions (generate, approve, pay, reject, carry failed lines)
answer 403 to a location-restricted principal (decision 0417); API tokens carry no locations.
"""

from __future__ import annotations

import csv
import io
from functools import wraps

from flask import Flask, Response, request, stream_with_context
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required, require
from schemehost.tenants.transfers import schemas as s
from schemehost.tenants.transfers import services as tr
from schemehost.tenants.reporting import csv_response

bp = Blueprint("transfers", __name__, url_prefix="/t/<slug>/api/v1/transfers",
               description="Cash transfers: programmes, enrolment, payment points, cycles, payrolls")
MANAGE = "transfers.programmes.manage"
ENROL = "transfers.enrol"
PREPARE = "transfers.payroll.prepare"
APPROVE = "transfers.payroll.approve"
ANY = (MANAGE, ENROL, PREPARE, APPROVE)

bind_to_tenant(bp, module="transfers")


def any_transfers_permission(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        principal = current_principal()
        if principal is None or not any(principal.can(p) for p in ANY):
            require(MANAGE)  # 401 without a principal, 403 naming a permission otherwise
        return view(*args, **kwargs)

    return wrapper


@bp.route("/programmes")
class Programmes(MethodView):
    @any_transfers_permission
    @bp.response(200, s.ProgrammeOutSchema(many=True))
    def get(self):
        return tr.list_programmes(tenant_session())

    @permission_required(MANAGE)
    @bp.arguments(s.ProgrammeInSchema)
    @bp.response(201, s.ProgrammeOutSchema)
    def post(self, body):
        """A programme: target, eligibility rule (a registry filter), benefit fixed or by formula (base + per
        child, capped), frequency, budget ceiling per cycle, maximum beneficiaries."""
        return tr.create_programme(tenant_session(), **body)


@bp.route("/programmes/<int:programme_id>")
class ProgrammeItem(MethodView):
    @any_transfers_permission
    @bp.response(200, s.ProgrammeOutSchema)
    def get(self, programme_id):
        return tr.get_programme(tenant_session(), programme_id)

    @permission_required(MANAGE)
    @bp.arguments(s.ProgrammePatchSchema)
    @bp.response(200, s.ProgrammeOutSchema)
    def patch(self, body, programme_id):
        return tr.update_programme(tenant_session(), programme_id, **body)


@bp.route("/programmes/<int:programme_id>/preview")
class ProgrammePreview(MethodView):
    @any_transfers_permission
    @bp.arguments(s.PreviewInSchema)
    @bp.response(200)
    def post(self, body, programme_id):
        """How many qualify under the rule and where (the registry's preview: the count enrolment reaches)."""
        return tr.preview_programme(tenant_session(), programme_id, current_principal(),
                                    eligibility=body["eligibility"], by_level=body["by_level"])


@bp.route("/programmes/<int:programme_id>/enrol")
class ProgrammeEnrol(MethodView):
    @permission_required(ENROL)
    @bp.arguments(s.EnrolInSchema)
    @bp.response(200, s.EnrolOutSchema)
    def post(self, body, programme_id):
        """Enrol everyone eligible not enrolled yet as ``potential`` (set-wise, up to the maximum); the
        reason is audited."""
        return tr.enrol_eligible(tenant_session(), programme_id, reason=body["reason"], principal=current_principal())


@bp.route("/programmes/<int:programme_id>/beneficiaries")
class Beneficiaries(MethodView):
    @any_transfers_permission
    @bp.arguments(s.BeneficiaryQuerySchema, location="query")
    @bp.response(200, s.BeneficiaryOutSchema(many=True))
    def get(self, query, programme_id):
        session = tenant_session()
        tr.get_programme(session, programme_id)
        return tr.list_beneficiaries(session, programme_id, status=query.get("status"),
                                     after_id=query.get("after_id"), limit=query["limit"])


@bp.route("/programmes/<int:programme_id>/beneficiaries/status")
class BeneficiaryStatus(MethodView):
    @permission_required(ENROL)
    @bp.arguments(s.StatusChangeSchema)
    @bp.response(200, s.CountSchema)
    def post(self, body, programme_id):
        """Validate (potential → active), suspend, reactivate or graduate beneficiaries, with a reason."""
        return {"count": tr.change_status(tenant_session(), programme_id, body["ids"], body["status"],
                                          reason=body["reason"])}


@bp.route("/programmes/<int:programme_id>/beneficiaries/payment-point")
class BeneficiaryPoint(MethodView):
    @permission_required(ENROL)
    @bp.arguments(s.AssignPointSchema)
    @bp.response(200, s.CountSchema)
    def post(self, body, programme_id):
        return {"count": tr.assign_payment_point(tenant_session(), programme_id, body["ids"],
                                                 body["payment_point_id"])}


@bp.route("/payment-points")
class PaymentPoints(MethodView):
    @any_transfers_permission
    @bp.response(200, s.PaymentPointOutSchema(many=True))
    def get(self):
        return tr.list_payment_points(tenant_session())

    @permission_required(MANAGE)
    @bp.arguments(s.PaymentPointInSchema)
    @bp.response(201, s.PaymentPointOutSchema)
    def post(self, body):
        return tr.create_payment_point(tenant_session(), **body)


@bp.route("/programmes/<int:programme_id>/cycles")
class Cycles(MethodView):
    @any_transfers_permission
    @bp.response(200, s.CycleOutSchema(many=True))
    def get(self, programme_id):
        from sqlalchemy import select

        from schemehost.tenants.transfers.models import PaymentCycle

        session = tenant_session()
        tr.get_programme(session, programme_id)
        return list(session.execute(select(PaymentCycle).where(PaymentCycle.programme_id == programme_id)
                                    .order_by(PaymentCycle.period_start)).scalars())

    @permission_required(PREPARE)
    @bp.arguments(s.CycleInSchema)
    @bp.response(201, s.CycleOutSchema)
    def post(self, body, programme_id):
        """Open the cycle starting on ``period_start`` (its end follows the programme's frequency)."""
        return tr.open_cycle(tenant_session(), programme_id, body["period_start"])


@bp.route("/cycles/<int:cycle_id>/payrolls")
class CyclePayrolls(MethodView):
    @any_transfers_permission
    @bp.response(200, s.PayrollOutSchema(many=True))
    def get(self, cycle_id):
        session = tenant_session()
        tr.get_cycle(session, cycle_id)
        return tr.list_payrolls(session, cycle_id=cycle_id)

    @permission_required(PREPARE)
    @bp.response(201, s.PayrollOutSchema)
    def post(self, cycle_id):
        """Generate the cycle's payroll from the active beneficiaries (set-wise); pending approval."""
        return tr.generate_payroll(tenant_session(), cycle_id, principal=current_principal())


@bp.route("/payrolls/<int:payroll_id>")
class PayrollItem(MethodView):
    @any_transfers_permission
    @bp.response(200, s.PayrollOutSchema)
    def get(self, payroll_id):
        return tr.get_payroll(tenant_session(), payroll_id)


@bp.route("/payrolls/<int:payroll_id>/approve")
class PayrollApprove(MethodView):
    @permission_required(APPROVE)
    @bp.response(200, s.PayrollOutSchema)
    def post(self, payroll_id):
        """Approve (403 for whoever generated it: another person must)."""
        return tr.approve_payroll(tenant_session(), payroll_id, principal=current_principal())


@bp.route("/payrolls/<int:payroll_id>/reject")
class PayrollReject(MethodView):
    @permission_required(PREPARE)
    @bp.arguments(s.RejectSchema)
    @bp.response(200, s.PayrollOutSchema)
    def post(self, body, payroll_id):
        return tr.reject_payroll(tenant_session(), payroll_id, reason=body["reason"], principal=current_principal())




@bp.route("/payrolls/<int:payroll_id>/pay")
class PayrollPay(MethodView):
    @permission_required(APPROVE)
    @bp.arguments(s.PayInSchema)
    @bp.response(200, s.PayrollOutSchema)
    def post(self, body, payroll_id):
        """Pay an approved payroll, once (409 for a second attempt): offline, or through a mobile-money
        gateway (one disbursement per line, sent by the job worker after this request commits)."""
        from flask import g

        session = tenant_session()
        payroll, ids = tr.pay_payroll(session, payroll_id, via=body["via"], principal=current_principal())
        if ids:
            session.commit()  # the disbursements must be committed before their jobs are queued
            from schemehost.tenants.payments.tasks import defer_sends

            defer_sends(g.tenant.id, ids)
        return payroll


@bp.route("/payrolls/<int:payroll_id>/carry-failed")
class PayrollCarry(MethodView):
    @permission_required(PREPARE)
    @bp.arguments(s.CarryInSchema)
    @bp.response(200, s.CarryOutSchema)
    def post(self, body, payroll_id):
        """Add this paid payroll's failed lines to the same beneficiaries' lines of a later payroll still
        pending approval (each failed line once)."""
        return tr.carry_failed(tenant_session(), payroll_id, into_payroll_id=body["into_payroll_id"],
                               principal=current_principal())


@bp.route("/payrolls/<int:payroll_id>/totals")
class PayrollTotals(MethodView):
    @any_transfers_permission
    @bp.response(200)
    def get(self, payroll_id):
        """Lines, amounts and paid amounts per district and per payment point (within the caller's
        locations)."""
        return tr.payroll_totals(tenant_session(), payroll_id, principal=current_principal())


@bp.route("/payrolls/<int:payroll_id>/export")
class PayrollExport(MethodView):
    @permission_required(PREPARE)
    @bp.arguments(s.ExportQuerySchema, location="query")
    def get(self, query, payroll_id):
        """The payroll as a bank or mobile-money file (CSV or XLSX), one row per line."""
        return export_response(payroll_id, query["format"])


@bp.route("/payrolls/<int:payroll_id>/reconcile")
class PayrollReconcile(MethodView):
    @permission_required(PREPARE)
    @bp.response(200, s.UploadOutSchema)
    def post(self, payroll_id):
        """Upload the paid list (CSV ``line_id,status,reference``), all or nothing (422 lists each row's problems)."""
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError(_("Send the paid list as the form field 'file'."), errors={"file": [_("required")]})
        return tr.reconcile_upload(tenant_session(), payroll_id, upload.read(), principal=current_principal())


# ---- bulk work as jobs, payment points, reports -----------------------------------------------------


def start_job(kind: str, programme_id: int, params: dict) -> dict:
    """Queue (or, with ``TRANSFERS_JOBS_INLINE``, run) a bulk job of a programme after its input was
    checked; the job's view (``GET .../transfers/jobs/<id>``)."""
    from schemehost.platform.extensions import db
    from schemehost.platform.jobs import create_job, launch_job
    from schemehost.tenants.transfers import enrolment as en

    session = tenant_session()
    principal = current_principal()
    job = create_job(db.session, kind, tenant_id=principal.tenant_id, actor=principal.name,
                     params={"programme_id": programme_id, "audit_actor": list(principal.audit_actor),
                             "principal": en.principal_params(principal), **params})
    job_id = job.id
    launch_job(job_id, inline_setting="TRANSFERS_JOBS_INLINE", tenant_session=session)
    return job_view(job_id)


def job_view(job_id: int, *, programme_id: int | None = None) -> dict:
    """A transfers job of this scheme: status, progress, result (404 for any other job)."""
    from flask import g

    from schemehost.platform.errors import NotFound
    from schemehost.platform.extensions import db
    from schemehost.platform.jobs import Job
    from schemehost.tenants.transfers.enrolment import JOB_KINDS

    job = db.session.get(Job, job_id)
    if job is not None:
        db.session.refresh(job)
    if (job is None or job.tenant_id != g.tenant.id or job.kind not in JOB_KINDS
            or (programme_id is not None and (job.params or {}).get("programme_id") != programme_id)):
        raise NotFound(_("No job %(id)s.", id=job_id))
    return {"job_id": job.id, "kind": job.kind, "status": job.status, "result": job.result, "error": job.error,
            "progress": {"done": job.progress_done or 0, "total": job.progress_total}}


@bp.route("/programmes/<int:programme_id>/enrolment-jobs")
class EnrolJob(MethodView):
    @permission_required(ENROL)
    @bp.arguments(s.BulkEnrolInSchema)
    @bp.response(202, s.TransfersJobOutSchema)
    def post(self, body, programme_id):
        """Enrol everyone eligible as ``potential`` in a background job with progress (the same people as
        the preview); the reason is audited. Follow it at ``.../transfers/jobs/<job_id>``."""
        tr.get_programme(tenant_session(), programme_id)
        return start_job("transfers.enrol_bulk", programme_id, {"reason": body["reason"]})


@bp.route("/programmes/<int:programme_id>/status-jobs")
class StatusJob(MethodView):
    @permission_required(ENROL)
    @bp.arguments(s.BulkStatusInSchema)
    @bp.response(202, s.TransfersJobOutSchema)
    def post(self, body, programme_id):
        """Move every beneficiary a filter selects (``filter.status`` required: e.g. ``potential`` to
        ``active`` validates them) in a background job with progress; the reason is audited."""
        from schemehost.tenants.transfers import enrolment as en

        session = tenant_session()
        tr.get_programme(session, programme_id)
        spec = en.check_status_change(session, body["status"], body["reason"], body["filter"])
        return start_job("transfers.status_bulk", programme_id,
                         {"to": body["status"], "reason": body["reason"], "filter": spec})


@bp.route("/programmes/<int:programme_id>/beneficiaries/count")
class BeneficiaryCount(MethodView):
    @any_transfers_permission
    @bp.arguments(s.FilterCountInSchema)
    @bp.response(200, s.CountSchema)
    def post(self, body, programme_id):
        """How many beneficiaries a filter selects now (what a bulk change would reach)."""
        from schemehost.tenants.transfers import enrolment as en

        return {"count": en.count_matching(tenant_session(), programme_id, body["filter"], current_principal())}


@bp.route("/programmes/<int:programme_id>/beneficiaries/payment-point-by-filter")
class BeneficiaryPointByFilter(MethodView):
    @permission_required(ENROL)
    @bp.arguments(s.AssignFilterSchema)
    @bp.response(200, s.CountSchema)
    def post(self, body, programme_id):
        """Assign every beneficiary a filter selects to a payment point (``null``: to none)."""
        from schemehost.tenants.transfers import enrolment as en

        return {"count": en.assign_point_bulk(tenant_session(), programme_id, body["payment_point_id"],
                                              spec=body["filter"], principal=current_principal())}


@bp.route("/jobs/<int:job_id>")
class TransfersJob(MethodView):
    @any_transfers_permission
    @bp.response(200, s.TransfersJobOutSchema)
    def get(self, job_id):
        """A bulk job of this scheme's cash transfers: status, progress (done / total) and result."""
        return job_view(job_id)


@bp.route("/payment-points/<int:point_id>")
class PaymentPointItem(MethodView):
    @any_transfers_permission
    @bp.response(200, s.PaymentPointOutSchema)
    def get(self, point_id):
        from schemehost.tenants.transfers import points

        return points.get_payment_point(tenant_session(), point_id)

    @permission_required(MANAGE)
    @bp.arguments(s.PaymentPointPatchSchema)
    @bp.response(200, s.PaymentPointOutSchema)
    def patch(self, body, point_id):
        """Change a payment point (``active: false`` deactivates it: nobody new is assigned to it)."""
        from schemehost.tenants.transfers import points

        return points.update_payment_point(tenant_session(), point_id, **body)


REPORT_READERS = ("reports.read", *ANY)


@bp.route("/programmes/<int:programme_id>/reports/<kind>")
class Report(MethodView):
    @bp.arguments(s.ReportQuerySchema, location="query")
    @bp.response(200)
    def get(self, query, programme_id, kind):
        """A report of the programme as rows: ``beneficiaries`` (by status and area: ``level``),
        ``cycles`` (planned, paid, failed and pending per cycle), ``failed`` (failed payments). Only
        beneficiaries within the caller's locations count. ``format=csv`` answers CSV. Needs
        ``reports.read`` or a transfers permission."""
        from schemehost.tenants.transfers import reports as rp

        principal = current_principal()
        if principal is None or not any(principal.can(p) for p in REPORT_READERS):
            require("reports.read")
        rows = rp.report(tenant_session(), programme_id, kind, principal=principal, level=query.get("level"))
        if query["format"] == "csv":
            return csv_response(rows, f"transfers-{programme_id}-{kind}.csv")
        return rows


def export_response(payroll_id: int, fmt: str) -> Response:
    """The payroll's file; a location-restricted user gets the lines within their locations only, in a file
    named so (decision 0416)."""
    session = tenant_session()
    tr.get_payroll(session, payroll_id)
    principal = current_principal()
    name = f"payroll-{payroll_id}{'-within-locations' if tr.is_restricted(principal) else ''}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "xlsx":
        import xlsxwriter

        out = io.BytesIO()
        book = xlsxwriter.Workbook(out, {"in_memory": True, "constant_memory": True})
        sheet = book.add_worksheet("payroll")
        sheet.write_row(0, 0, tr.EXPORT_HEADER)
        for n, row in enumerate(tr.export_rows(session, payroll_id, principal=principal), start=1):
            sheet.write_row(n, 0, [c if c is not None else "" for c in row])
        book.close()
        return Response(out.getvalue(), headers=headers,
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    def generate():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(tr.EXPORT_HEADER)
        for n, row in enumerate(tr.export_rows(session, payroll_id, principal=principal), start=1):
            writer.writerow(row)
            if n % 1000 == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    return Response(stream_with_context(generate()), headers=headers, mimetype="text/csv")


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
