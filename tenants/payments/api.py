"""Payments API under ``/t/<slug>/api/v1/payments``: gateways, bills, payment notifications and
reconciliations. Reading needs ``payments.read``; configuring gateways ``payments.gateways.manage``;
posting and cancelling bills and asking for a reconciliation ``payments.reconcile``. Gateway keys
are write-only.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask.views import MethodView
from flask_smorest import Blueprint

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.payments import schemas as s
from schemehost.tenants.payments import services as pay
from schemehost.tenants.payments.models import Bill, PaymentGateway, Reconciliation

bp = Blueprint("payments", __name__, url_prefix="/t/<slug>/api/v1/payments",
               description="Payments: gateways, bills with control numbers, payment notifications, reconciliation")
READ = "payments.read"
RECONCILE = "payments.reconcile"
MANAGE = "payments.gateways.manage"

bind_to_tenant(bp, module="payments")


def gateway_dict(gw: PaymentGateway) -> dict[str, Any]:
    from schemehost.tenants.payments.callbacks import callback_url

    return {**pay.gateway_out(gw), "callback_url": callback_url(gw.code)}


def bill_dict(bill: Bill, codes: dict[int, str] | None = None) -> dict[str, Any]:
    out = {c.key: getattr(bill, c.key) for c in Bill.__table__.columns}
    if codes is None:
        codes = {bill.gateway_id: tenant_session().get(PaymentGateway, bill.gateway_id).code}
    out["gateway"] = codes.get(bill.gateway_id)
    return out


def reconciliation_dict(rec: Reconciliation) -> dict[str, Any]:
    out = {c.key: getattr(rec, c.key) for c in Reconciliation.__table__.columns}
    out["gateway"] = tenant_session().get(PaymentGateway, rec.gateway_id).code
    return out


@bp.route("/gateways")
class Gateways(MethodView):
    @permission_required(READ)
    @bp.response(200, s.GatewayOutSchema(many=True))
    def get(self):
        """The scheme's gateways (keys are never shown: only whether each is set)."""
        return [gateway_dict(gw) for gw in pay.list_gateways(tenant_session())]


@bp.route("/gateways/<code>")
class GatewayItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.GatewayOutSchema)
    def get(self, code):
        """One gateway, with our public key and the callback address to give the gateway."""
        return gateway_dict(pay.get_gateway(tenant_session(), code))

    @permission_required(MANAGE)
    @bp.arguments(s.GatewayInSchema)
    @bp.response(200, s.GatewayOutSchema)
    def put(self, body, code):
        """Create or change a gateway; keys in ``secrets`` are encrypted at rest (422 when the
        signature algorithm lacks a key it needs)."""
        gw = pay.save_gateway(tenant_session(), code, **body)
        return gateway_dict(gw)


@bp.route("/bills")
class Bills(MethodView):
    @permission_required(READ)
    @bp.arguments(s.BillQuerySchema, location="query")
    @bp.response(200, s.BillOutSchema(many=True))
    def get(self, query):
        """Bills in id order, by status or by what they pay."""
        session = tenant_session()
        bills = pay.list_bills(session, status=query.get("status"), payable_kind=query.get("payable_kind"),
                               payable_ref=query.get("payable_ref"), after_id=query.get("after_id"),
                               limit=query["limit"])
        codes = {gw.id: gw.code for gw in pay.list_gateways(session)}
        return [bill_dict(b, codes) for b in bills]

    @permission_required(RECONCILE)
    @bp.arguments(s.BillInSchema)
    @bp.response(201, s.BillOutSchema)
    def post(self, body):
        """Post a bill to a control-number gateway. 201 with status ``submitted`` (its control number
        comes by callback), ``pending`` when the gateway could not be reached (submit it again), or
        ``rejected`` with the gateway's code."""
        gateway = body.pop("gateway")
        principal = current_principal()
        bill = pay.post_bill(tenant_session(), gateway, pay.BillInput(**body),
                             created_by=principal.name if principal else None)
        return bill_dict(bill)


@bp.route("/bills/<int:bill_id>")
class BillItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.BillOutSchema)
    def get(self, bill_id):
        return bill_dict(pay.get_bill(tenant_session(), bill_id))


@bp.route("/bills/<int:bill_id>/submit")
class BillSubmit(MethodView):
    @permission_required(RECONCILE)
    @bp.response(200, s.BillOutSchema)
    def post(self, bill_id):
        """Post a ``pending`` bill again (409 for any other status)."""
        return bill_dict(pay.submit_bill(tenant_session(), bill_id))


@bp.route("/bills/<int:bill_id>/cancel")
class BillCancel(MethodView):
    @permission_required(RECONCILE)
    @bp.arguments(s.BillCancelSchema)
    @bp.response(200, s.BillOutSchema)
    def post(self, body, bill_id):
        """Cancel an unpaid bill, with a reason (audited)."""
        return bill_dict(pay.cancel_bill(tenant_session(), bill_id, reason=body["reason"]))


@bp.route("/bills/<int:bill_id>/payments")
class BillPayments(MethodView):
    @permission_required(READ)
    @bp.response(200, s.NotificationOutSchema(many=True))
    def get(self, bill_id):
        session = tenant_session()
        pay.get_bill(session, bill_id)
        return pay.bill_payments(session, bill_id)


@bp.route("/notifications")
class Notifications(MethodView):
    @permission_required(READ)
    @bp.arguments(s.NotificationQuerySchema, location="query")
    @bp.response(200, s.NotificationOutSchema(many=True))
    def get(self, query):
        """Payment notifications received, once each (``deliveries`` counts re-sent ones)."""
        return pay.list_notifications(tenant_session(), status=query.get("status"), after_id=query.get("after_id"),
                                      limit=query["limit"])


@bp.route("/reconciliations")
class Reconciliations(MethodView):
    @permission_required(READ)
    @bp.response(200, s.ReconciliationOutSchema(many=True))
    def get(self):
        return [reconciliation_dict(r) for r in pay.list_reconciliations(tenant_session())]

    @permission_required(RECONCILE)
    @bp.arguments(s.ReconcileInSchema)
    @bp.response(202, s.ReconciliationOutSchema)
    def post(self, body):
        """Ask the gateway for a past day's statement; the report is built when it arrives."""
        return reconciliation_dict(pay.request_reconciliation(tenant_session(), body["gateway"], body["day"]))


@bp.route("/reconciliations/<int:rec_id>")
class ReconciliationItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.ReconciliationOutSchema)
    def get(self, rec_id):
        return reconciliation_dict(pay.get_reconciliation(tenant_session(), rec_id))


def disbursement_dict(line, codes: dict[int, str]) -> dict[str, Any]:
    out = {c.key: getattr(line, c.key) for c in line.__table__.columns}
    out["gateway"] = codes.get(line.gateway_id)
    return out


@bp.route("/disbursements")
class Disbursements(MethodView):
    @permission_required(READ)
    @bp.arguments(s.DisbursementQuerySchema, location="query")
    @bp.response(200, s.DisbursementOutSchema(many=True))
    def get(self, query):
        """Mobile-money payments (e.g. payroll lines) with their attempts and final status."""
        from schemehost.tenants.payments import disbursements as dis

        session = tenant_session()
        codes = {gw.id: gw.code for gw in pay.list_gateways(session)}
        lines = dis.list_disbursements(session, status=query.get("status"), payable_kind=query.get("payable_kind"),
                                       after_id=query.get("after_id"), limit=query["limit"])
        return [disbursement_dict(line, codes) for line in lines]


@bp.route("/disbursements/<int:disbursement_id>")
class DisbursementItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.DisbursementOutSchema)
    def get(self, disbursement_id):
        from schemehost.tenants.payments import disbursements as dis

        session = tenant_session()
        codes = {gw.id: gw.code for gw in pay.list_gateways(session)}
        return disbursement_dict(dis.get_disbursement(session, disbursement_id), codes)


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
