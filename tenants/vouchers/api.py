"""Vouchers API under ``/t/<slug>/api/v1/vouchers``: programmes (with their live budget), issuance to
one person or to everyone eligible (a background job), lookup by code, redemption, cancellation and
reissue.

Programmes are read by any voucher role and changed with ``vouchers.programmes.manage``; issuing and
cancelling need ``vouchers.issue``; looking up and redeeming need ``vouchers.redeem`` (or
``vouchers.issue`` for looking up). A redemption sent with an ``Idempotency-Key`` header is answered
once: a retry with the same key gets the first answer again (``Idempotent-Replayed: true``).
Refusals are problem+json with a ``reason`` (decision 0202).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask, Response, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import Forbidden, NotFound, Unauthorized, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import services as reg
from schemehost.tenants.vouchers import claims as cl
from schemehost.tenants.vouchers import reports as rp
from schemehost.tenants.vouchers import schemas as s
from schemehost.tenants.vouchers import services as vs

bp = Blueprint("vouchers", __name__, url_prefix="/t/<slug>/api/v1/vouchers",
               description="Vouchers: programmes, issuance, redemption, cancellation")
MANAGE = "vouchers.programmes.manage"
ISSUE = "vouchers.issue"
REDEEM = "vouchers.redeem"
ANY = (MANAGE, ISSUE, REDEEM, "vouchers.reimburse")
JOB_KIND = "vouchers.issue_bulk"

bind_to_tenant(bp, module="vouchers")


def require_any(*permissions: str):
    """The principal if it holds one of ``permissions`` (401 without a principal, 403 otherwise)."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized(_("Sign in or send an access token for this scheme."),
                           headers={"WWW-Authenticate": 'Bearer realm="schemehost"'})
    if not any(principal.can(p) for p in permissions):
        raise Forbidden(_("This needs the permission '%(permission)s'.", permission=permissions[0]),
                        errors={"permission": list(permissions)}, missing_permission=permissions[0])
    return principal


def programme_out(session, programme) -> dict[str, Any]:
    services = vs.services_of(session, programme.id)
    facility_codes = [reg.get_facility(session, f).code for f in vs.facility_ids_of(session, programme.id)]
    return {"id": programme.id, "code": programme.code, "name": programme.name, "currency": programme.currency,
            "validity_days": programme.validity_days, "status": programme.status,
            "eligibility": programme.eligibility, "budget_ceiling": programme.budget_ceiling,
            "package_value": vs.package_value(services), "facilities": facility_codes,
            "services": [{"code": x.code, "name": x.name, "tariff": x.tariff, "count": x.count,
                          "requires_code": x.requires_code, "requires_count": x.requires_count} for x in services],
            "budget": vs.budget(session, programme)}


@bp.route("/programmes")
class Programmes(MethodView):
    @bp.response(200, s.VoucherProgrammeSchema(many=True))
    def get(self):
        """Every programme with its services, facilities and budget figures."""
        require_any(*ANY)
        session = tenant_session()
        return [programme_out(session, p) for p in vs.list_programmes(session)]

    @permission_required(MANAGE)
    @bp.arguments(s.VoucherProgrammeCreateSchema)
    @bp.response(201, s.VoucherProgrammeSchema)
    def post(self, body):
        """Define a programme; 422 with every problem (field paths such as ``services[1].tariff``), 409 for a taken code."""
        session = tenant_session()
        programme = vs.create_programme(session, body)
        return (programme_out(session, programme), 201,
                {"Location": url_for("vouchers.ProgrammeItem", programme_id=programme.id)})


@bp.route("/programmes/<int:programme_id>")
class ProgrammeItem(MethodView):
    @bp.response(200, s.VoucherProgrammeSchema)
    def get(self, programme_id):
        """One programme with its live budget: issued, committed, redeemed, available."""
        require_any(*ANY)
        session = tenant_session()
        return programme_out(session, vs.get_programme(session, programme_id))

    @permission_required(MANAGE)
    @bp.arguments(s.VoucherProgrammeUpdateSchema)
    @bp.response(200, s.VoucherProgrammeSchema)
    def patch(self, body, programme_id):
        """Change a programme; services are matched by code (one with redemptions cannot be removed)."""
        session = tenant_session()
        return programme_out(session, vs.update_programme(session, programme_id, body))


@bp.route("/programmes/<int:programme_id>/vouchers")
class Issue(MethodView):
    @permission_required(ISSUE)
    @bp.arguments(s.VoucherIssueSchema)
    @bp.response(201, s.VoucherSchema)
    def post(self, body, programme_id):
        """Issue a voucher to one eligible individual (422 not eligible; 409 holds one already or no budget)."""
        session = tenant_session()
        principal = current_principal()
        voucher = vs.issue_voucher(session, programme_id, body["individual_id"], principal=principal,
                                   issued_by=principal.name)
        return (vs.voucher_view(session, voucher), 201,
                {"Location": url_for("vouchers.VoucherItem", code=voucher.code)})


def start_bulk(programme_id: int) -> dict[str, Any]:
    """Queue (or, with ``VOUCHERS_JOBS_INLINE``, run) the bulk issuance job of a programme."""
    from schemehost.platform.jobs import Job, create_job, launch_job

    session = tenant_session()
    principal = current_principal()
    vs.get_programme(session, programme_id)
    job = create_job(db.session, JOB_KIND, tenant_id=principal.tenant_id, actor=principal.name,
                     params={"programme_id": programme_id, "audit_actor": list(principal.audit_actor)})
    job_id = job.id
    launch_job(job_id, inline_setting="VOUCHERS_JOBS_INLINE", tenant_session=session)
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    return {"job_id": job.id, "status": job.status, "result": job.result}


@bp.route("/programmes/<int:programme_id>/bulk-issuance")
class BulkIssue(MethodView):
    @permission_required(ISSUE)
    @bp.response(202, s.VoucherJobOutSchema)
    def post(self, programme_id):
        """Issue vouchers to everyone eligible who holds none, as a background job with progress
        (``/api/v1/jobs/<id>`` for operators; the programme's budget for the scheme)."""
        return start_bulk(programme_id)


@bp.route("/<code>")
class VoucherItem(MethodView):
    @bp.response(200, s.VoucherSchema)
    def get(self, code):
        """A voucher by code (check digit validated before any lookup): beneficiary and remaining services."""
        require_any(REDEEM, ISSUE)
        session = tenant_session()
        return vs.voucher_view(session, vs.find_voucher(session, code))


@bp.route("/<code>/redemptions")
class Redeem(MethodView):
    @permission_required(REDEEM)
    @bp.arguments(s.VoucherRedeemSchema)
    @bp.response(201, s.VoucherRedemptionSchema)
    def post(self, body, code):
        """Redeem the next use of one service at a facility, exactly once. Send ``Idempotency-Key`` to
        retry safely. Refusals (409 unless noted): ``invalid_code`` (422), ``unknown`` (404), ``expired``,
        ``cancelled``, ``wrong_facility``, ``wrong_order``, ``already_redeemed``."""
        session = tenant_session()
        principal = current_principal()
        key = request.headers.get("Idempotency-Key")
        entry, replayed = vs.redeem(session, code, service_code=body["service"], facility_id=body["facility_id"],
                                    redeemed_by=principal.name, idempotency_key=key)
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return entry.as_dict(), 201, headers


@bp.route("/<code>/cancellation")
class Cancel(MethodView):
    @permission_required(ISSUE)
    @bp.arguments(s.VoucherCancelSchema)
    @bp.response(200, s.VoucherSchema)
    def post(self, body, code):
        """Cancel a voucher (its code stops working); with ``reissue`` the same entitlement gets a new code."""
        session = tenant_session()
        principal = current_principal()
        voucher = vs.find_voucher(session, code)
        renewed = vs.cancel_voucher(session, code, reason=body["reason"], reissue=body["reissue"],
                                    issued_by=principal.name)
        session.refresh(voucher)
        return vs.voucher_view(session, renewed or voucher)


# ---- reports and reminders ---------------------------------------------------------------------------

REPORT_READERS = ("reports.read", MANAGE)


@bp.route("/programmes/<int:programme_id>/reports/<kind>")
class Report(MethodView):
    @bp.arguments(s.VoucherReportQuerySchema, location="query")
    @bp.response(200, s.VoucherReportRowSchema(many=True))
    def get(self, query, programme_id, kind):
        """A report of the programme as rows: ``services`` (entitled, redeemed, amount), ``facilities``,
        ``areas`` (by a location level of the beneficiaries: ``level``), ``timing`` (days from issuance to
        each service). ``format=csv`` answers CSV. Needs ``reports.read`` or ``vouchers.programmes.manage``."""
        require_any(*REPORT_READERS)
        rows = rp.report(tenant_session(), programme_id, kind, level=query.get("level"))
        if query["format"] == "csv":
            return Response(rp.to_csv(rows), mimetype="text/csv", headers={
                "Content-Disposition": f'attachment; filename="vouchers-{programme_id}-{kind}.csv"'})
        return rows


@bp.route("/programmes/<int:programme_id>/reminders")
class Reminders(MethodView):
    @permission_required(ISSUE)
    @bp.arguments(s.VoucherReminderQuerySchema, location="query")
    @bp.response(200, s.VoucherReminderSchema(many=True))
    def get(self, query, programme_id):
        """Whom to remind: live vouchers with uses of ``service`` left (default the first service) and no
        visit for ``idle_days``, oldest first, within the principal's area."""
        return rp.reminders(tenant_session(), programme_id, service_code=query["service"],
                            idle_days=query["idle_days"], principal=current_principal())


# ---- reimbursement (needs vouchers.reimburse) ----------------------------------------------------

REIMBURSE = "vouchers.reimburse"


def _facility_id(session, code: str | None, field: str = "facility") -> int | None:
    if not code:
        return None
    try:
        return reg.get_facility_by_code(session, code).id
    except NotFound:
        raise ValidationError(_("Unknown facility."), errors={field: [_("unknown facility")]}) from None


@bp.route("/claims")
class Claims(MethodView):
    @permission_required(REIMBURSE)
    @bp.arguments(s.VoucherClaimQuerySchema, location="query")
    @bp.response(200, s.VoucherClaimSchema(many=True))
    def get(self, query):
        """Reimbursement claims, newest first (by facility code and status): a facility's statement."""
        session = tenant_session()
        items = cl.list_claims(session, facility_id=_facility_id(session, query["facility"]), status=query["status"])
        return [cl.claim_dict(session, c) for c in items]

    @permission_required(REIMBURSE)
    @bp.arguments(s.VoucherBatchSchema)
    @bp.response(201, s.VoucherClaimSchema(many=True))
    def post(self, body):
        """Batch the unclaimed redemptions of a period into one claim per facility, a sample flagged."""
        session = tenant_session()
        made = cl.batch_claims(session, period_start=body["period_start"], period_end=body["period_end"],
                               facility_id=_facility_id(session, body["facility"]),
                               sample=Decimal(body["sample_percent"]) / 100, created_by=current_principal().name)
        return [cl.claim_dict(session, c) for c in made], 201


@bp.route("/claims/<int:claim_id>")
class ClaimItem(MethodView):
    @permission_required(REIMBURSE)
    @bp.response(200, s.VoucherClaimSchema)
    def get(self, claim_id):
        """One claim with its redemptions and their verification."""
        session = tenant_session()
        return cl.claim_dict(session, cl.get_claim(session, claim_id), lines=True)


@bp.route("/claims/<int:claim_id>/verifications")
class ClaimVerify(MethodView):
    @permission_required(REIMBURSE)
    @bp.arguments(s.VoucherVerifySchema)
    @bp.response(200, s.VoucherClaimSchema)
    def post(self, body, claim_id):
        """Record the check of a flagged redemption: ``confirmed`` or ``rejected`` (not paid)."""
        session = tenant_session()
        cl.verify_redemption(session, claim_id, body["redemption_id"], confirmed=body["outcome"] == "confirmed")
        return cl.claim_dict(session, cl.get_claim(session, claim_id), lines=True)


@bp.route("/claims/<int:claim_id>/approval")
class ClaimApprove(MethodView):
    @permission_required(REIMBURSE)
    @bp.response(200, s.VoucherClaimSchema)
    def post(self, claim_id):
        """Approve a claim once its flagged redemptions are verified (409 ``unverified`` otherwise)."""
        session = tenant_session()
        return cl.claim_dict(session, cl.approve_claim(session, claim_id, approved_by=current_principal().name))


@bp.route("/claims/<int:claim_id>/payment")
class ClaimPay(MethodView):
    @permission_required(REIMBURSE)
    @bp.arguments(s.VoucherPaySchema)
    @bp.response(200, s.VoucherClaimSchema)
    def post(self, body, claim_id):
        """Mark an approved claim paid, with the payment's reference."""
        session = tenant_session()
        return cl.claim_dict(session, cl.pay_claim(session, claim_id, reference=body["reference"],
                                                   paid_by=current_principal().name))


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
