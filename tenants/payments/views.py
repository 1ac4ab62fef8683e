"""Console pages of payments (``/t/<slug>/payments/``): bills with their control numbers and status,
the gateways (settings and which keys are set), and the daily reconciliations with what they flagged.
Needs ``payments.read``. With ``payments.gateways.manage``, a form creates or changes a gateway: its keys
are write-only (never shown again, only whether each is set; a blank field keeps the key, a ticked box
removes it) and encrypted at rest by ``services.save_gateway`` (decision 0412)."""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.identity.audit_views import tenant_time
from schemehost.tenants.identity.principal import permission_required
from schemehost.tenants.payments import services as pay
from schemehost.platform.errors import AppError, NotFound
from schemehost.tenants.payments.gateway_keys import SECRET_FIELDS
from schemehost.tenants.payments.models import BillStatus, GatewayKind, SignatureAlgorithm

bp = tenant_blueprint("tenant_payments", __name__, "/payments", module="payments")
READ = "payments.read"
MANAGE = "payments.gateways.manage"
#: gateway options the form shows (docs/payments.md); others already set are kept as they are
TEXT_OPTIONS = ("timezone", "bill_prefix", "sub_sp_code", "system_id", "gfs_code")
INT_OPTIONS = ("tolerance_s", "max_attempts")
SECRET_LABELS = {"hmac_secret": _l("Shared HMAC secret"), "private_key": _l("Our RSA private key (PEM)"),
                 "gateway_public_key": _l("The gateway's RSA public key (PEM)")}
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


def _gateway_page(code: str | None, *, values: dict | None = None, errors: dict | None = None, status: int = 200):
    from schemehost.tenants.payments.callbacks import callback_url

    session = tenant_session()
    gateway = pay.gateway_out(pay.get_gateway(session, code)) if code else None
    return render_template("tenant/payments/gateway.html", gateway=gateway, values=values or {}, errors=errors or {},
                           kinds=[k.value for k in GatewayKind], signatures=[a.value for a in SignatureAlgorithm],
                           text_options=TEXT_OPTIONS, int_options=INT_OPTIONS, secret_labels=SECRET_LABELS,
                           callback_url=callback_url(code) if code else None), status


@bp.get("/gateways/new")
@permission_required(MANAGE)
def new_gateway():
    return _gateway_page(None)


@bp.get("/gateways/<code>")
@permission_required(MANAGE)
def gateway(code: str):
    return _gateway_page(code)


@bp.post("/gateways/new")
@bp.post("/gateways/<code>")
@permission_required(MANAGE)
def save_gateway(code: str | None = None):
    session = tenant_session()
    form = request.form
    existing = None
    if code is not None:
        existing = pay.get_gateway(session, code)
    new_code = code or (form.get("code") or "").strip()
    options = dict(existing.options or {}) if existing is not None else {}
    errors: dict[str, list[str]] = {}
    for key in TEXT_OPTIONS:
        value = (form.get(f"option_{key}") or "").strip()
        if value:
            options[key] = value
        else:
            options.pop(key, None)
    for key in INT_OPTIONS:
        value = (form.get(f"option_{key}") or "").strip()
        if not value:
            options.pop(key, None)
        elif value.isdigit():
            options[key] = int(value)
        else:
            errors[f"options.{key}"] = [_("A whole number.")]
    secrets: dict[str, str] = {}
    for key in SECRET_FIELDS:
        value = (form.get(f"secret_{key}") or "").strip()
        if value:
            secrets[key] = value
        elif form.get(f"remove_{key}") == "1":
            secrets[key] = ""
    timeout = (form.get("timeout_s") or "").strip()
    try:
        if errors:
            from schemehost.platform.errors import ValidationError

            raise ValidationError(_("The gateway settings are not valid."), errors=errors)
        if code is None and new_code:
            try:
                pay.get_gateway(session, new_code)
            except NotFound:
                pass
            else:
                from schemehost.platform.errors import Conflict

                raise Conflict(_("A gateway with code '%(code)s' exists.", code=new_code),
                               errors={"code": [_("already taken")]})
        pay.save_gateway(session, new_code, name=form.get("name") or "", kind=form.get("kind") or "",
                         base_url=(form.get("base_url") or "").strip(), sp_code=form.get("sp_code") or "",
                         signature=form.get("signature") or "", timeout_s=int(timeout) if timeout.isdigit() else -1,
                         active=form.get("active") == "1", options=options, secrets=secrets)
    except AppError as err:
        session.rollback()
        flash(str(err.detail), "error")
        # secrets are never sent back into the page
        values = {k: v for k, v in form.items() if not k.startswith("secret_")}
        return _gateway_page(code, values=values, errors=err.errors, status=err.status)
    flash(_("Gateway %(code)s saved.", code=new_code), "success")
    return redirect(url_for(".gateway", code=new_code))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_payments.index", _l("Payments"), permission=READ, order=60)
