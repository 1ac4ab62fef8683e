"""Invoices paid to a control number of the partner's gateway (decision 0506).

The partner's gateway is configured in the control plane (``control.billing_gateways``, keys encrypted with
the installation's key ring, never returned). Everything said to or heard from the gateway goes through
the payments module's control-number adapter (``tenants/payments/adapters/control_number.py``: signed XML
bills, callbacks, acknowledgements), and its keys are read, checked and encrypted by
``tenants/payments/gateway_keys.py`` — one implementation of the protocol, the keys and the signatures for
schemes and for billing.

Flow: an issued invoice gets a bill for what it has outstanding (``request_control_number``), posted to the
gateway; the control number comes by callback; each payment notification is verified, stored once per
gateway transaction id (``uq_billing_gateway_notifications_txn``) and recorded through
``billing.record_payment`` (method ``control_number``) — the same path as a manual payment, so the
invoice settles and dunning resumes the tenant in the same way. Functions only ``flush()``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from schemehost.platform.billing import services as billing
from schemehost.platform.billing.models import (BillingGateway, ControlBill, ControlBillStatus, GatewayNotification,
                                                GatewayNotificationStatus, Invoice, InvoiceKind, InvoiceStatus,
                                                PaymentMethod)
from schemehost.platform.db import utcnow
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.payments.adapters import BadMessage, GatewayRefused, GatewayUnavailable, adapter_for
from schemehost.tenants.payments.gateway_keys import (SECRET_FIELDS, decrypt_keys, encrypt_keys, gateway_config,
                                                      merge_keys, public_key_of)
from schemehost.tenants.payments.models import SignatureAlgorithm

log = logging.getLogger("schemehost.billing")

OPEN = (ControlBillStatus.pending, ControlBillStatus.submitted, ControlBillStatus.issued)
DEFAULT_VALIDITY_DAYS = 30


def _adapter():
    return adapter_for("control_number")


# ---- the partner's gateway -------------------------------------------------------------------------------


def get_gateway(session: Session, partner_id: int) -> BillingGateway | None:
    return session.execute(select(BillingGateway).where(BillingGateway.partner_id == partner_id)).scalar_one_or_none()


def gateway_out(gw: BillingGateway, callback_url: str | None = None) -> dict[str, Any]:
    """Settings, which keys are set (never their values), our public key and the callback address."""
    keys = decrypt_keys(gw)
    public = public_key_of(keys)
    out = {c: getattr(gw, c) for c in ("name", "base_url", "sp_code", "signature", "timeout_s", "active", "options")}
    out["partner"] = gw.partner.slug
    out.update({f"has_{k}": bool(keys.get(k)) for k in SECRET_FIELDS})
    out["public_key"], out["callback_url"] = public, callback_url
    return out


def save_gateway(session: Session, partner, *, name: str, base_url: str, sp_code: str, signature: str,
                 timeout_s: int = 10, active: bool = True, options: dict[str, Any] | None = None,
                 secrets: dict[str, str | None] | None = None) -> BillingGateway:
    """Create or change the partner's gateway. ``secrets`` replaces the keys it names (empty removes one);
    the keys the signature algorithm needs must be set; stored encrypted with the key ring."""
    errors: dict[str, list[str]] = {}
    if signature not in {a.value for a in SignatureAlgorithm}:
        errors["signature"] = [_("must be one of: %(values)s", values=", ".join(a.value for a in SignatureAlgorithm))]
    parts = urlparse(base_url if isinstance(base_url, str) else "")
    if parts.scheme not in ("http", "https") or not parts.netloc or len(base_url) > 500:
        errors["base_url"] = [_("An http or https URL.")]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = [_("1-200 characters.")]
    if not isinstance(sp_code, str) or not sp_code.strip() or len(sp_code) > 40:
        errors["sp_code"] = [_("1-40 characters.")]
    if not isinstance(timeout_s, int) or not 1 <= timeout_s <= 120:
        errors["timeout_s"] = [_("Between 1 and 120 seconds.")]
    if options is not None and not isinstance(options, dict):
        errors["options"] = [_("not an object")]
    gw = session.execute(select(BillingGateway).where(BillingGateway.partner_id == partner.id)
                         .with_for_update()).scalar_one_or_none()
    keys = merge_keys(decrypt_keys(gw) if gw is not None else {}, secrets, signature, errors)
    if errors:
        raise ValidationError(_("The gateway settings are not valid."), errors=errors)
    if gw is None:
        gw = BillingGateway(partner_id=partner.id)
        session.add(gw)
    gw.name, gw.base_url, gw.sp_code, gw.signature = name.strip(), base_url, sp_code.strip(), signature
    gw.timeout_s, gw.active, gw.options = timeout_s, active, dict(options or {})
    gw.secret = encrypt_keys(keys)
    session.flush()
    session.refresh(gw)
    return gw


# ---- control numbers for invoices ------------------------------------------------------------------------


def open_bill(session: Session, invoice_id: int) -> ControlBill | None:
    return session.execute(select(ControlBill).where(ControlBill.invoice_id == invoice_id,
                                                     ControlBill.status.in_(OPEN))).scalar_one_or_none()


def latest_bill(session: Session, invoice_id: int) -> ControlBill | None:
    return session.execute(select(ControlBill).where(ControlBill.invoice_id == invoice_id)
                           .order_by(ControlBill.id.desc()).limit(1)).scalar_one_or_none()


def request_control_number(session: Session, invoice: Invoice, *, actor: str) -> ControlBill:
    """Post a bill for what ``invoice`` has outstanding to its partner's gateway (payable in parts). An
    open bill is answered as it is (a pending one is posted again, same bill id)."""
    locked = billing.get_invoice(session, invoice.id, for_update=True)
    if locked.kind != InvoiceKind.invoice or locked.status not in (InvoiceStatus.issued, InvoiceStatus.uncollectible):
        raise Conflict(_("Only an issued invoice can get a control number."), errors={"invoice": [locked.status]})
    gw = get_gateway(session, locked.partner_id)
    if gw is None or not gw.active:
        raise Conflict(_("The partner has no control-number gateway."), errors={"gateway": [_("not configured")]})
    bill = open_bill(session, locked.id)
    if bill is not None and bill.status != ControlBillStatus.pending:
        return bill
    if bill is None:
        validity = int((gw.options or {}).get("validity_days") or DEFAULT_VALIDITY_DAYS)
        prefix = str((gw.options or {}).get("bill_prefix") or "INV")[:8]
        bill = ControlBill(invoice_id=locked.id, gateway_id=gw.id, reference=f"{prefix}{uuid4().hex[:20].upper()}",
                           amount=billing.outstanding(locked), currency=locked.currency,
                           status=ControlBillStatus.pending, requested_by=actor,
                           expires_at=utcnow() + timedelta(days=validity))
        session.add(bill)
        session.flush()
    bill.submit_attempts += 1
    message = {"reference": bill.reference, "amount": bill.amount, "currency": bill.currency,
               "expires_at": bill.expires_at, "created_at": bill.created_at or utcnow(),
               "payer_name": locked.tenant.name[:200], "payer_id": locked.tenant.slug,
               "payer_email": None, "payer_phone": None, "payment_option": "partial",
               "description": _("Invoice %(number)s", number=locked.number)[:200],
               "items": [{"code": locked.number, "amount": bill.amount}], "created_by": actor[:50]}
    try:
        code = _adapter().submit_bill(gateway_config(gw), message)
    except GatewayUnavailable as err:
        bill.last_error = _("The gateway could not be reached (%(reason)s).", reason=str(err))[:300]
        log.warning("billing bill %s: gateway of %s unavailable (%s)", bill.id, gw.partner.slug, err)
    except GatewayRefused as err:
        bill.status, bill.gateway_status = ControlBillStatus.rejected, err.code[:10]
        bill.last_error = _("The gateway refused the bill (code %(code)s).", code=err.code)[:300]
    else:
        bill.status, bill.gateway_status, bill.last_error = ControlBillStatus.submitted, code, None
    session.flush()
    return bill


def issued_for(invoice_ids: list[int], session: Session) -> dict[int, ControlBill]:
    """The open bills with a control number of these invoices, by invoice id (the tenant's billing page)."""
    if not invoice_ids:
        return {}
    rows = session.execute(select(ControlBill).where(ControlBill.invoice_id.in_(invoice_ids),
                                                     ControlBill.status == ControlBillStatus.issued,
                                                     ControlBill.control_number.is_not(None))).scalars()
    return {b.invoice_id: b for b in rows}


def bill_dict(bill: ControlBill | None) -> dict[str, Any] | None:
    if bill is None:
        return None
    return {"id": bill.id, "invoice": bill.invoice_id, "reference": bill.reference, "status": bill.status,
            "control_number": bill.control_number, "amount": bill.amount, "paid_amount": bill.paid_amount,
            "currency": bill.currency, "expires_at": bill.expires_at.isoformat(),
            "gateway_status": bill.gateway_status, "last_error": bill.last_error}


# ---- callbacks -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackAnswer:
    status: int
    body: bytes
    content_type: str


def handle_callback(session: Session, partner_slug: str, body: bytes, headers: dict[str, str], *,
                    today) -> CallbackAnswer:
    """Verify a callback of partner ``partner_slug``'s gateway and apply it; the signed acknowledgement.
    A wrong signature or a malformed message changes nothing (400, the gateway's refusal code)."""
    from schemehost.platform.partners.models import Partner
    from schemehost.tenants.payments.adapters.control_number import SUCCESS

    gw = session.execute(select(BillingGateway).join(Partner, Partner.id == BillingGateway.partner_id)
                         .where(Partner.slug == partner_slug, BillingGateway.active.is_(True))).scalar_one_or_none()
    if gw is None:
        raise NotFound(_("No payment gateway for partner '%(slug)s'.", slug=partner_slug))
    adapter, config = _adapter(), gateway_config(gw)
    try:
        callback = adapter.read_callback(config, body, headers)
    except BadMessage as err:
        log.warning("billing gateway of %s: callback refused (%s)", gw.partner.slug, err.reason)
        ack, ctype = adapter.acknowledge(config, None, adapter.refusal_code(signature=err.signature))
        return CallbackAnswer(400, ack, ctype)
    if callback.kind == "control_number":
        _apply_control_number(session, gw, callback.fields)
    elif callback.kind == "payment":
        _apply_payment(session, gw, callback.fields, callback.signed.decode(), today=today)
    else:
        log.info("billing gateway of %s: %s callback ignored", gw.partner.slug, callback.kind)
    ack, ctype = adapter.acknowledge(config, callback.kind, SUCCESS)
    return CallbackAnswer(200, ack, ctype)


def _bill_for(session: Session, gw: BillingGateway, reference: str | None, control_number: str | None):
    bill = None
    if reference:
        bill = session.execute(select(ControlBill).where(ControlBill.reference == reference,
                                                         ControlBill.gateway_id == gw.id).with_for_update()
                               ).scalar_one_or_none()
    if bill is None and control_number:
        bill = session.execute(select(ControlBill).where(ControlBill.control_number == control_number,
                                                         ControlBill.gateway_id == gw.id).with_for_update()
                               ).scalar_one_or_none()
    return bill


def _apply_control_number(session: Session, gw: BillingGateway, f: dict[str, Any]) -> None:
    from schemehost.tenants.payments.adapters.control_number import SUCCESS

    bill = _bill_for(session, gw, f["bill_reference"], None)
    if bill is None:
        log.warning("billing gateway of %s: control number for an unknown bill", gw.partner.slug)
        return
    if f["status_code"] != SUCCESS:
        if bill.status in (ControlBillStatus.pending, ControlBillStatus.submitted):
            bill.status, bill.gateway_status = ControlBillStatus.rejected, f["status_code"][:10]
        return
    if bill.control_number is None:
        bill.control_number, bill.issued_at, bill.gateway_status = f["control_number"], utcnow(), f["status_code"]
        if bill.status in (ControlBillStatus.pending, ControlBillStatus.submitted):
            bill.status = ControlBillStatus.issued
    session.flush()


def _apply_payment(session: Session, gw: BillingGateway, f: dict[str, Any], raw: str, *, today) -> None:
    """Store the notification once per transaction id (concurrent deliveries wait on the unique index, one
    inserts), then record it as a payment of the bill's invoice."""
    table = GatewayNotification.__table__
    new_id = session.execute(
        pg_insert(table).values(gateway_id=gw.id, gateway_txn_id=f["txn_id"][:100],
                                bill_reference=(f.get("bill_reference") or None), control_number=f.get("control_number"),
                                amount=f["amount"], currency=f["currency"], paid_at=f.get("paid_at") or utcnow(),
                                receipt=(f.get("receipt") or "")[:100] or None,
                                status=GatewayNotificationStatus.unmatched, raw=raw)
        .on_conflict_do_nothing(constraint="uq_billing_gateway_notifications_txn").returning(table.c.id)
    ).scalar_one_or_none()
    if new_id is None:
        session.execute(update(table).where(table.c.gateway_id == gw.id, table.c.gateway_txn_id == f["txn_id"][:100])
                        .values(deliveries=table.c.deliveries + 1))
        log.info("billing gateway of %s: payment delivered again; already applied", gw.partner.slug)
        return
    note = session.get(GatewayNotification, new_id)
    bill = _bill_for(session, gw, note.bill_reference, note.control_number)
    if bill is None:
        log.warning("billing gateway of %s: payment to no bill of ours", gw.partner.slug)
        return
    note.bill_id = bill.id
    invoice = billing.get_invoice(session, bill.invoice_id, for_update=True)
    refusal = None
    if note.currency != invoice.currency:
        refusal = "currency"
    elif invoice.status not in (InvoiceStatus.issued, InvoiceStatus.uncollectible):
        refusal = f"invoice {invoice.status}"
    elif note.amount > billing.outstanding(invoice):
        refusal = "more than outstanding"
    if refusal is not None:
        note.status, note.reason = GatewayNotificationStatus.refused, refusal
        session.flush()
        log.warning("billing gateway of %s: payment refused (%s); left for the operator", gw.partner.slug, refusal)
        return
    if bill.control_number is None and note.control_number:  # the payment overtook its control number
        bill.control_number, bill.issued_at = note.control_number, utcnow()
    paid_on = note.paid_at.astimezone(timezone.utc).date() if isinstance(note.paid_at, datetime) else today
    payment = billing.record_payment(session, invoice, method=PaymentMethod.control_number, amount=note.amount,
                                     reference=f"{gw.id}:{note.gateway_txn_id}"[:100], paid_on=paid_on,
                                     actor=f"gateway:{gw.partner.slug}", today=today)
    note.status, note.payment_id = GatewayNotificationStatus.applied, payment.id
    bill.paid_amount += note.amount
    if bill.paid_amount >= bill.amount or invoice.status not in (InvoiceStatus.issued, InvoiceStatus.uncollectible):
        bill.status = ControlBillStatus.closed
    session.flush()
