"""Facility statements API under ``/t/<slug>/api/v1/insurance/statements`` (``claims.pay``).

Make a statement of a facility's valuated claims of a period, approve it (another person), mark it
paid, cancel it, and export its claims as CSV or XLSX (streamed). Statements of facilities outside a
location-restricted caller's area are unknown (404).
"""

from __future__ import annotations

from flask import Flask, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants import reporting
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance.statements import services as st
from schemehost.tenants.insurance.statements.models import StatementStatus
from schemehost.tenants.registry.services.exports import Export

PAY = "claims.pay"
MINOR = {"description": "integer amount in minor units of the currency"}

bp = Blueprint("insurance_statements", __name__, url_prefix="/t/<slug>/api/v1",
               description="Insurance: facility statements (payment of valuated claims)")
bind_to_tenant(bp, module="insurance")


class StatementCreateSchema(Schema):
    facility_id = fields.Integer(required=True, strict=True)
    period_start = fields.Date(required=True, metadata={"description": "first valuation day (tenant's calendar)"})
    period_end = fields.Date(required=True, metadata={"description": "last valuation day, included"})
    currency = fields.String(load_default=None, metadata={"description": "needed only when the claims of the "
                                                                         "period are in several currencies"})


class StatementQuerySchema(Schema):
    facility_id = fields.Integer(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in StatementStatus]))


class StatementClaimSchema(Schema):
    id = fields.Integer()
    claim = fields.String(metadata={"description": "the facility's claim number"})
    insuree = fields.String(metadata={"description": "the insuree's scheme number"})
    date_from = fields.Date()
    date_to = fields.Date(allow_none=True)
    visit_type = fields.String()
    claimed = fields.Integer(metadata=MINOR)
    approved = fields.Integer(allow_none=True, metadata=MINOR)
    valuated = fields.Integer(allow_none=True, metadata=MINOR)
    currency = fields.String()
    valuated_on = fields.Date(allow_none=True)


class StatementSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    facility_id = fields.Integer()
    facility = fields.String(metadata={"description": "facility code"})
    facility_name = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    currency = fields.String()
    status = fields.String()
    total = fields.Integer(metadata=MINOR)
    claim_count = fields.Integer()
    created_by_name = fields.String(allow_none=True)
    approved_by_name = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    paid_on = fields.Date(allow_none=True)
    payment_reference = fields.String(allow_none=True)
    paid_by_name = fields.String(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    cancelled_by_name = fields.String(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    claims = fields.List(fields.Nested(StatementClaimSchema))


class StatementPaymentSchema(Schema):
    paid_on = fields.Date(required=True)
    payment_reference = fields.String(required=True, metadata={"description": "bank transfer or mobile-money "
                                                                              "reference"})


class StatementCancelSchema(Schema):
    reason = fields.String(required=True)


@bp.route("/insurance/statements")
class Statements(MethodView):
    @permission_required(PAY)
    @bp.arguments(StatementQuerySchema, location="query")
    @bp.response(200, StatementSchema(many=True))
    def get(self, query):
        """Statements, newest first, by facility and status."""
        session = tenant_session()
        items = st.list_statements(session, facility_id=query["facility_id"], status=query["status"],
                                   principal=current_principal())
        return [st.statement_dict(session, s) for s in items]

    @permission_required(PAY)
    @bp.arguments(StatementCreateSchema)
    @bp.response(201, StatementSchema)
    def post(self, body):
        """Make a draft statement of every valuated claim of the facility valuated in the period and in
        no statement yet; 422 for a bad period, an unknown facility or nothing to pay."""
        session = tenant_session()
        statement = st.create_statement(session, principal=current_principal(), **body)
        return st.statement_dict(session, statement, claims=True), 201, {
            "Location": url_for("insurance_statements.StatementItem", statement_id=statement.id)}


@bp.route("/insurance/statements/<int:statement_id>")
class StatementItem(MethodView):
    @permission_required(PAY)
    @bp.response(200, StatementSchema)
    def get(self, statement_id):
        """One statement with its claims."""
        session = tenant_session()
        return st.statement_dict(session, st.get_statement(session, statement_id, principal=current_principal()),
                                 claims=True)


@bp.route("/insurance/statements/<int:statement_id>/approval")
class StatementApproval(MethodView):
    @permission_required(PAY)
    @bp.response(200, StatementSchema)
    def post(self, statement_id):
        """Approve a draft statement (403 for whoever made it, 409 when it is not a draft)."""
        session = tenant_session()
        return st.statement_dict(session, st.approve_statement(session, statement_id, principal=current_principal()))


@bp.route("/insurance/statements/<int:statement_id>/payment")
class StatementPayment(MethodView):
    @permission_required(PAY)
    @bp.arguments(StatementPaymentSchema)
    @bp.response(200, StatementSchema)
    def post(self, body, statement_id):
        """Mark an approved statement paid, once (409 afterwards)."""
        session = tenant_session()
        return st.statement_dict(session, st.pay_statement(session, statement_id, paid_on=body["paid_on"],
                                                           reference=body["payment_reference"],
                                                           principal=current_principal()))


@bp.route("/insurance/statements/<int:statement_id>/cancellation")
class StatementCancellation(MethodView):
    @permission_required(PAY)
    @bp.arguments(StatementCancelSchema)
    @bp.response(200, StatementSchema)
    def post(self, body, statement_id):
        """Cancel a statement not yet paid; its claims can go into another statement."""
        session = tenant_session()
        return st.statement_dict(session, st.cancel_statement(session, statement_id, reason=body["reason"],
                                                              principal=current_principal()))


def export_response(statement_id: int, fmt: str):
    """A statement's claims as CSV or XLSX, streamed."""
    principal = current_principal()

    def build(session) -> Export:
        statement = st.get_statement(session, statement_id, principal=principal)
        return Export("statement", list(st.EXPORT_COLUMNS), st.claims_select(session, statement.id), typed=True)

    return reporting.stream_export_response(build, fmt, f"statement-{statement_id}.{fmt}")


@bp.route("/insurance/statements/<int:statement_id>/claims.<fmt>")
class StatementExport(MethodView):
    @permission_required(PAY)
    def get(self, statement_id, fmt):
        """The statement's claims as ``csv`` or ``xlsx`` (amounts in minor units)."""
        return export_response(statement_id, fmt)


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
