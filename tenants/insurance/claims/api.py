"""Claims API under ``/t/<slug>/api/v1/claims``: entry (one claim, or a CSV batch), reading and
listing, changes while ``entered``, the automatic checks, review, processing and valuation runs, the
selection rules, the submission deadline, the ICD-10 list and the reason codes.

Facility staff enter and change claims with ``claims.submit`` (only at facilities within their area
when they are restricted to locations); ``claims.review`` reviews, runs the checks, processing and
valuation; claims are read with any of ``claims.submit``, ``claims.review``, ``claims.pay`` or
``insurance.read``. The selection rules and the submission deadline are changed with
``settings.manage``. Errors are
``application/problem+json`` with field errors; a stale ``version`` is 409.
"""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import Unavailable, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance.api import any_permission_required
from schemehost.tenants.insurance.claims import batch, icd10, review
from schemehost.tenants.insurance.claims import schemas as s
from schemehost.tenants.insurance.claims import services as svc
from schemehost.tenants.insurance.claims.reasons import AUTOMATIC, REVIEW

bp = Blueprint("claims", __name__, url_prefix="/t/<slug>/api/v1",
               description="Insurance claims: entry, CSV batches, checks, review, valuation")
bind_to_tenant(bp, module="insurance")

SUBMIT = "claims.submit"
REVIEW_PERMISSION = "claims.review"
READ = (SUBMIT, REVIEW_PERMISSION, "claims.pay", "insurance.read")
SETTINGS = "settings.manage"


def _page(items: list, limit: int) -> tuple[list, int, dict[str, str]]:
    headers = {}
    if items and len(items) == limit:
        args = request.args.to_dict()
        args["after_id"] = str(items[-1].id)
        headers["Link"] = f'<{url_for(request.endpoint, _external=False, **args)}>; rel="next"'
    return items, 200, headers


def engine():
    """The claims engine (automatic checks and valuation runs), :mod:`.checks`."""
    try:
        return importlib.import_module("schemehost.tenants.insurance.claims.checks")
    except ImportError:  # pragma: no cover - the engine ships with the module
        raise Unavailable(_("The claims engine is not installed.")) from None


@bp.route("/claims")
class Claims(MethodView):
    @any_permission_required(*READ)
    @bp.arguments(s.ClaimQuerySchema, location="query")
    @bp.response(200, s.ClaimSchema(many=True))
    def get(self, query):
        """Claims (of facilities in the caller's area) in id order, filtered by status, facility,
        claim number, insuree, first day of the visit, review or feedback selection."""
        session = tenant_session()
        items, status, headers = _page(svc.list_claims(
            session, principal=current_principal(), status=query.get("status"),
            facility_id=query.get("facility_id"), facility_code=query.get("facility"),
            individual_id=query.get("individual_id"), code=query.get("code"), date_from=query.get("date_from"),
            date_to=query.get("date_to"), review_status=query.get("review_status"),
            feedback_status=query.get("feedback_status"), after_id=query.get("after_id"),
            limit=query["limit"]), query["limit"])
        return svc.claim_views(session, items), status, headers

    @permission_required(SUBMIT)
    @bp.arguments(s.ClaimInSchema)
    @bp.response(201, s.ClaimSchema)
    def post(self, body):
        """Enter a claim with its lines (status ``entered``): 422 naming every bad field, 409 when the
        facility already used the claim number. Nothing is saved on error."""
        session = tenant_session()
        claim = svc.create_claim(session, body, principal=current_principal())
        return svc.claim_view(session, claim), 201, {"Location": url_for("claims.ClaimItem", claim_id=claim.id)}


@bp.route("/claims/<int:claim_id>")
class ClaimItem(MethodView):
    @any_permission_required(*READ)
    @bp.response(200, s.ClaimSchema)
    def get(self, claim_id):
        """One claim with its lines."""
        session = tenant_session()
        return svc.claim_view(session, svc.get_claim(session, claim_id, principal=current_principal()))

    @permission_required(SUBMIT)
    @bp.arguments(s.ClaimUpdateSchema)
    @bp.response(200, s.ClaimSchema)
    def put(self, body, claim_id):
        """Replace an ``entered`` claim's fields and lines; ``version`` is the claim's version you
        changed (409 when someone changed it since, or it has moved on)."""
        session = tenant_session()
        version = body.pop("version", None)
        claim = svc.update_claim(session, claim_id, body, version=version, principal=current_principal())
        return svc.claim_view(session, claim)


@bp.route("/claims/<int:claim_id>/review")
class ClaimReview(MethodView):
    @permission_required(REVIEW_PERMISSION)
    @bp.arguments(s.ClaimReviewSchema)
    @bp.response(200, s.ClaimSchema)
    def post(self, body, claim_id):
        """Review a ``checked`` claim: approve, adjust or reject (with a reason) each line; lines not
        named are approved. The claim becomes ``processed`` (or ``rejected`` when no line is left).
        409 when ``version`` is stale (another reviewer won)."""
        session = tenant_session()
        claim = review.review_claim(session, claim_id, version=body.get("version"), lines=body.get("lines"),
                                    note=body.get("note"), principal=current_principal())
        return svc.claim_view(session, claim)


@bp.route("/claims/review-queue")
class ReviewQueue(MethodView):
    @permission_required(REVIEW_PERMISSION)
    @bp.arguments(s.ClaimQueueQuerySchema, location="query")
    @bp.response(200, s.ClaimSchema(many=True))
    def get(self, query):
        """Checked claims waiting for a decision, oldest first (``selected``: only those selected for review)."""
        session = tenant_session()
        items, status, headers = _page(review.review_queue(
            session, principal=current_principal(), selected_only=query["selected"],
            after_id=query.get("after_id"), limit=query["limit"]), query["limit"])
        return svc.claim_views(session, items), status, headers


@bp.route("/claims/batch")
class ClaimBatch(MethodView):
    @permission_required(SUBMIT)
    @bp.arguments(s.ClaimBatchQuerySchema, location="query")
    @bp.response(200, s.ClaimBatchSchema)
    def post(self, query):
        """Enter the claims of a CSV file (``file`` in a multipart form, or a ``text/csv`` body): one row
        per line, see docs/insurance.md. All or nothing unless ``partial``: 422 with ``problems`` (row,
        column, value, message). Claims the facility already entered are skipped (uploading again is safe)."""
        upload = request.files.get("file")
        if upload is not None:
            data, name = upload.read(batch.MAX_BYTES + 1), upload.filename
        elif request.mimetype in ("text/csv", "text/plain"):
            data, name = request.get_data(cache=False)[:batch.MAX_BYTES + 1], None
        else:
            raise ValidationError(_("Send a CSV file."), errors={"file": [_("a CSV file is needed")]})
        return batch.import_claims(tenant_session(), data, principal=current_principal(), partial=query["partial"],
                                   filename=name)


def start_engine(kind: str, ids: list[int] | None) -> tuple[dict[str, Any], int]:
    """Run the claims engine (``check`` or ``valuate``): on the given claims at once (200 with the
    counts), or on every pending claim of the tenant as a job (202 with the job; run inline with
    ``CLAIMS_JOBS_INLINE``), since a whole tenant's claims may take longer than a request."""
    session = tenant_session()
    principal = current_principal()
    if ids is not None:
        run = engine().check_claims if kind == "check" else engine().valuate_claims
        return run(session, ids, actor=principal.audit_actor), 200
    from schemehost.platform.extensions import db
    from schemehost.platform.jobs import Job, launch_job
    from schemehost.tenants.insurance.claims.tasks import CHECK, VALUATE, queue_claims_job

    job_id = queue_claims_job(db.session, CHECK if kind == "check" else VALUATE, tenant_id=principal.tenant_id,
                              actor=principal.name, audit_actor=principal.audit_actor)
    launch_job(job_id, inline_setting="CLAIMS_JOBS_INLINE", tenant_session=session)
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    return {"job_id": job.id, "status": job.status, "result": job.result}, 202


@bp.route("/claims/check")
class ClaimCheck(MethodView):
    @permission_required(REVIEW_PERMISSION)
    @bp.arguments(s.ClaimIdsSchema)
    def post(self, body):
        """Run the automatic checks on entered claims: each becomes ``checked`` or ``rejected`` with
        reason codes, and checked claims are selected for review by the tenant's rules. With ``ids``,
        at once (200, the counts); without, every entered claim in a job (202, ``job_id``)."""
        return start_engine("check", body.get("ids"))


@bp.route("/claims/process")
class ClaimProcess(MethodView):
    @permission_required(REVIEW_PERMISSION)
    @bp.arguments(s.ClaimIdsSchema)
    def post(self, body):
        """Process checked claims not selected for review (``ids``, or all): every passed line approved."""
        return review.process_claims(tenant_session(), body.get("ids"), principal=current_principal())


@bp.route("/claims/valuate")
class ClaimValuate(MethodView):
    @permission_required(REVIEW_PERMISSION)
    @bp.arguments(s.ClaimIdsSchema)
    def post(self, body):
        """Value processed claims from their product (co-payment, deductibles, ceilings). With ``ids``,
        at once (200, the counts); without, every processed claim in a job (202, ``job_id``)."""
        return start_engine("valuate", body.get("ids"))


@bp.route("/claims/selection")
class ClaimSelection(MethodView):
    @any_permission_required(REVIEW_PERMISSION, SETTINGS)
    @bp.response(200, s.ClaimSelectionSchema)
    def get(self):
        """The rules selecting checked claims for review and for beneficiary feedback."""
        return review.selection_rules(tenant_session())

    @permission_required(SETTINGS)
    @bp.arguments(s.ClaimSelectionSchema)
    @bp.response(200, s.ClaimSelectionSchema)
    def put(self, body):
        """Replace the selection rules: ``percent`` drawn at random, claims ``above`` an amount, claims
        with one of the ``items``, for ``review`` and for ``feedback``."""
        return review.set_selection_rules(tenant_session(), body)


@bp.route("/claims/deadline")
class ClaimDeadline(MethodView):
    @any_permission_required(*READ, SETTINGS)
    @bp.response(200, s.ClaimDeadlineSchema)
    def get(self):
        """The scheme's claim submission deadline in days after the visit's end (null: none)."""
        return {"days": svc.submission_deadline(tenant_session())}

    @permission_required(SETTINGS)
    @bp.arguments(s.ClaimDeadlineSchema)
    @bp.response(200, s.ClaimDeadlineSchema)
    def put(self, body):
        """Set the submission deadline: ``days`` from 1 to 3650, or null to switch the ``submitted_late``
        check off. Claims entered later than that after their visit ended are rejected by the checks."""
        if "days" not in body:
            raise ValidationError(_("The submission deadline cannot be saved."),
                                  errors={"days": [_("This is needed (null for no deadline).")]})
        return {"days": svc.set_submission_deadline(tenant_session(), body["days"])}


@bp.route("/claims/icd10")
class Icd10(MethodView):
    @any_permission_required(*READ)
    @bp.arguments(s.IcdCodeQuerySchema, location="query")
    @bp.response(200, s.IcdCodeSchema(many=True))
    def get(self, query):
        """ICD-10 codes starting with ``q`` (or whose title contains it)."""
        return [{"code": code, "title": title}
                for code, title in icd10.search(tenant_session(), query["q"], limit=query["limit"])]


@bp.route("/claims/reasons")
class Reasons(MethodView):
    @any_permission_required(*READ)
    @bp.response(200, s.ClaimReasonSchema(many=True))
    def get(self):
        """The reason codes of rejected claims and lines: automatic (checks) and review ones."""
        return [{"code": k, "kind": "automatic", "label": str(v)} for k, v in AUTOMATIC.items()] + \
            [{"code": k, "kind": "review", "label": str(v)} for k, v in REVIEW.items()]


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
