"""Employment-injury API under ``/t/<slug>/api/v1/insurance``: employers, their policies and workers,
and work incidents (docs/insurance.md, "Employment-injury insurance").

Employers are read with ``insurance.read``, ``insurance.employers.manage`` or
``insurance.policies.manage`` and written with ``insurance.employers.manage``. Enrolling an employer
in a product and adding or removing its workers needs ``insurance.employers.manage`` or
``insurance.policies.manage``; its contributions are recorded like any policy's
(``/insurance/policies/<id>/contributions``). Incidents are recorded by the same permissions, read also
by claims staff (``claims.submit``, ``claims.review``), and accepted or rejected with ``claims.review``.
"""

from __future__ import annotations

from flask import Flask, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance import schemas as s
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.api import POLICIES, _page, any_permission_required, policy_out

bp = Blueprint("insurance_employers", __name__, url_prefix="/t/<slug>/api/v1/insurance",
               description="Employment-injury insurance: employers, their workers, work incidents")
bind_to_tenant(bp, module="insurance")

EMPLOYERS = "insurance.employers.manage"
READ_EMPLOYERS = ("insurance.read", EMPLOYERS, POLICIES)
WORKFORCE = (EMPLOYERS, POLICIES)
REVIEW = "claims.review"
READ_INCIDENTS = ("insurance.read", EMPLOYERS, POLICIES, REVIEW, "claims.submit")


# ---- employers ---------------------------------------------------------------------------------------


@bp.route("/employers")
class Employers(MethodView):
    @any_permission_required(*READ_EMPLOYERS)
    @bp.arguments(s.EmployerQuerySchema, location="query")
    @bp.response(200, s.EmployerSchema(many=True))
    def get(self, query):
        """Employers of the caller's area, by code, name or registration number, status or location."""
        return _page(ins.list_employers(tenant_session(), principal=current_principal(), q=query.get("q"),
                                        status=query.get("status"), location_id=query.get("location_id"),
                                        after_id=query.get("after_id"), limit=query["limit"]), query)

    @permission_required(EMPLOYERS)
    @bp.arguments(s.EmployerCreateSchema)
    @bp.response(201, s.EmployerSchema)
    def post(self, body):
        """Register an employer; 409 for a taken code or registration number, 422 naming every bad field."""
        employer = ins.create_employer(tenant_session(), principal=current_principal(), **body)
        return employer, 201, {"Location": url_for("insurance_employers.EmployerItem", employer_id=employer.id)}


@bp.route("/employers/<int:employer_id>")
class EmployerItem(MethodView):
    @any_permission_required(*READ_EMPLOYERS)
    @bp.response(200, s.EmployerSchema)
    def get(self, employer_id):
        """One employer."""
        return ins.get_employer(tenant_session(), employer_id, principal=current_principal())

    @permission_required(EMPLOYERS)
    @bp.arguments(s.EmployerUpdateSchema)
    @bp.response(200, s.EmployerSchema)
    def patch(self, body, employer_id):
        """Change an employer (``status: inactive`` stops new policies and workers)."""
        return ins.update_employer(tenant_session(), employer_id, principal=current_principal(), **body)


@bp.route("/employers/<int:employer_id>/policies")
class EmployerPolicies(MethodView):
    @any_permission_required(*READ_EMPLOYERS)
    @bp.response(200, s.PolicySchema(many=True))
    def get(self, employer_id):
        """The employer's policies, oldest first."""
        session = tenant_session()
        employer = ins.get_employer(session, employer_id, principal=current_principal())
        return [policy_out(session, p) for p in ins.list_policies(session, principal=current_principal(),
                                                                   employer_id=employer.id, limit=1000)]

    @any_permission_required(*WORKFORCE)
    @bp.arguments(s.EmployerEnrolSchema)
    @bp.response(201, s.PolicySchema)
    def post(self, body, employer_id):
        """Enrol the employer in a product for employers (by ``product_id`` or ``product_code``) with its
        first ``workers``: a new, idle policy whose value comes from the workers' wages."""
        if ("product_id" in body) == ("product_code" in body):
            raise ValidationError(_("Give the product by id or by code."),
                                  errors={"product_id": [_("give product_id or product_code")]})
        session = tenant_session()
        policy = ins.enrol_employer(session, employer_id=employer_id, product_id=body.get("product_id"),
                                    product_code=body.get("product_code"), enrol_date=body.get("enrol_date"),
                                    workers=body["workers"], principal=current_principal())
        return policy_out(session, policy), 201, {"Location": url_for("insurance.PolicyItem", policy_id=policy.id)}


# ---- workers -----------------------------------------------------------------------------------------


@bp.route("/policies/<int:policy_id>/workers")
class PolicyWorkers(MethodView):
    @any_permission_required(*READ_EMPLOYERS)
    @bp.response(200, s.WorkerSchema(many=True))
    def get(self, policy_id):
        """The workers of an employer's policy with their wages and covered days."""
        session = tenant_session()
        policy = ins.get_policy(session, policy_id, principal=current_principal())
        return ins.workers(session, policy.id)

    @any_permission_required(*WORKFORCE)
    @bp.arguments(s.WorkerAddSchema)
    @bp.response(201, s.PolicySchema)
    def post(self, body, policy_id):
        """Add a worker (covered from ``covered_from``); the policy's value is made again."""
        session = tenant_session()
        policy = ins.add_worker(session, policy_id, individual_id=body["individual_id"], wage=body.get("wage"),
                                covered_from=body.get("covered_from"), principal=current_principal())
        return policy_out(session, policy), 201


@bp.route("/policies/<int:policy_id>/workers/<int:individual_id>/leave")
class WorkerLeave(MethodView):
    @any_permission_required(*WORKFORCE)
    @bp.arguments(s.WorkerLeaveSchema)
    @bp.response(200, s.PolicySchema)
    def post(self, body, policy_id, individual_id):
        """The worker leaves: covered until ``on`` (default today); the policy's value is made again."""
        session = tenant_session()
        policy = ins.remove_worker(session, policy_id, individual_id, on=body.get("on"),
                                   principal=current_principal())
        return policy_out(session, policy)


# ---- work incidents ----------------------------------------------------------------------------------


def incident_out(session, incident, days: int | None = None) -> dict:
    out = {f: getattr(incident, f) for f in ("id", "employer_id", "individual_id", "incident_date", "reported_on",
                                             "kind", "place", "description", "status", "decided_on",
                                             "decision_note", "created_at")}
    out["reported_late"] = ins.incidents.reported_late(incident, days if days is not None
                                                       else ins.incidents.report_days(session))
    return out


@bp.route("/incidents")
class Incidents(MethodView):
    @any_permission_required(*READ_INCIDENTS)
    @bp.arguments(s.IncidentQuerySchema, location="query")
    @bp.response(200, s.IncidentSchema(many=True))
    def get(self, query):
        """Work incidents of employers of the caller's area, newest first, by employer, worker or status."""
        session = tenant_session()
        days = ins.incidents.report_days(session)
        rows = ins.list_incidents(session, principal=current_principal(), employer_id=query.get("employer_id"),
                                  individual_id=query.get("individual_id"), status=query.get("status"),
                                  after_id=query.get("after_id"), limit=query["limit"])
        return [incident_out(session, i, days) for i in rows]

    @any_permission_required(*WORKFORCE)
    @bp.arguments(s.IncidentCreateSchema)
    @bp.response(201, s.IncidentSchema)
    def post(self, body):
        """Record a reported incident of a worker the employer had enrolled on that day."""
        session = tenant_session()
        incident = ins.record_incident(session, principal=current_principal(), **body)
        return incident_out(session, incident), 201, {"Location": url_for("insurance_employers.IncidentItem", incident_id=incident.id)}


@bp.route("/incidents/<int:incident_id>")
class IncidentItem(MethodView):
    @any_permission_required(*READ_INCIDENTS)
    @bp.response(200, s.IncidentSchema)
    def get(self, incident_id):
        """One work incident."""
        session = tenant_session()
        return incident_out(session, ins.get_incident(session, incident_id, principal=current_principal()))


@bp.route("/incidents/<int:incident_id>/<any(accept, reject):decision>")
class IncidentDecision(MethodView):
    @permission_required(REVIEW)
    @bp.arguments(s.IncidentDecisionSchema)
    @bp.response(200, s.IncidentSchema)
    def post(self, body, incident_id, decision):
        """Accept or reject a reported incident (``note``: the reason, needed to reject); 409 once decided."""
        session = tenant_session()
        return incident_out(session, ins.decide_incident(session, incident_id, accept=decision == "accept",
                                                         note=body.get("note"), principal=current_principal()))


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
