"""Console pages of payments (``/t/<slug>/payments/``): bills with their control numbers and status,
the gateways (settings and which keys are set), and the daily reconciliations with what they flagged.
Needs ``payments.read``; gateways are configured through the API (``payments.gateways.manage``)."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l

from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.identity.audit_views import tenant_time
from schemehost.tenants.identity.principal import permission_required
from schemehost.tenants.payments import services as pay
from schemehost.tenants.payments.models import BillStatus

bp = tenant_blueprint("tenant_payments", __name__, "/payments", module="payments")
READ = "payments.read"
STATUS_LABELS = {
    "pending": _l("Pending"), "submitted": _l("Submitted"), "issued": _l("Control number issued"),
    "partially_paid": _l("Partially paid"), "paid": _l("Paid"), "rejected": _l("Rejected"),
    "expired": _l("Expired"), "cancelled": _l("Cancelled"),
}
FLAG_LABELS = {
    "missing": _l("Missing here (recovered from the statement)"), "not_in_statement": _l("Not in the gateway's statement"),
    "amount_mismatch": _l("Amount differs"), "unmatched": _l("Matches no bill"), "refused": _l("Bill closed or other currency"),
}


@bp.get("/")
@permission_required(READ)
def index():
    session = tenant_session()
    status = request.args.get("status") or None
    if status not in BillStatus.__members__:
        status = None
    gateways = pay.list_gateways(session)
    codes = {gw.id: gw.code for gw in gateways}
    return render_template("tenant/payments/index.html", bills=pay.list_bills(session, status=status, limit=200)
                           if status else _latest(session), gateways=[pay.gateway_out(gw) for gw in gateways],
                           codes=codes, status=status, status_labels=STATUS_LABELS,
                           reconciliations=pay.list_reconciliations(session, limit=30), flag_labels=FLAG_LABELS,
                           tenant_time=tenant_time)


def _latest(session):
    from sqlalchemy import select

    from schemehost.tenants.payments.models import Bill

    return list(session.execute(select(Bill).order_by(Bill.id.desc()).limit(200)).scalars())


@bp.get("/reconciliations/<int:rec_id>")
@permission_required(READ)
def reconciliation(rec_id: int):
    session = tenant_session()
    rec = pay.get_reconciliation(session, rec_id)
    gateway = next(gw for gw in pay.list_gateways(session) if gw.id == rec.gateway_id)
    return render_template("tenant/payments/reconciliation.html", rec=rec, gateway=gateway, flag_labels=FLAG_LABELS)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_payments.index", _l("Payments"), permission=READ, order=60)
