"""Payments: gateway settings, bills on control-number gateways, their callbacks, payables and
daily reconciliation. Functions take the tenant session first and only ``flush()``; the request or
job boundary commits.

Every callback is handled in the request that delivers it: verified (a wrong signature changes
nothing and is logged without the message), stored once per gateway transaction id (a re-sent
notification only counts a delivery, under the unique constraint, so five simultaneous deliveries
apply once), matched to its bill by bill id then control number, and applied — to the bill, and to
what the bill is for through the hook its module registered with :func:`register_payable`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlparse
from uuid import uuid4
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of, utcnow
from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.platform.money import is_currency
from schemehost.tenants.core.services import is_time_zone
from schemehost.tenants.identity import audit
from schemehost.tenants.payments import gateway_keys
from schemehost.tenants.payments.gateway_keys import SECRET_FIELDS, gateway_config  # noqa: F401  (used here, and re-exported)
from schemehost.tenants.payments.adapters import (BadMessage, Callback, GatewayRefused,
                                                  GatewayUnavailable, adapter_for)
from schemehost.tenants.payments.models import (Bill, BillStatus, GatewayKind, NotificationStatus, PaymentGateway,
                                                PaymentNotification, PaymentOption, Reconciliation,
                                                ReconciliationStatus, SignatureAlgorithm)

log = logging.getLogger("schemehost.payments")

CODE_RE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
#: codes a new gateway cannot take: the console's own pages below ``/payments/gateways/`` (its page
#: would be unreachable, its form would create another gateway instead of changing it)
RESERVED_CODES = frozenset({"new"})
OPEN_BILL = (BillStatus.pending, BillStatus.submitted, BillStatus.issued, BillStatus.partially_paid)
#: bills that can still receive money (an expired bill that the payer paid anyway is still applied)
PAYABLE_BILL = OPEN_BILL + (BillStatus.expired,)
MAX_ITEMS = 50


class GatewayError(AppError):
    """The gateway refused the request or could not be reached."""

    status = 502
    type = "gateway-error"
    title = _l("The payment gateway did not accept the request")


# ---- payables: what other modules let a payment pay ------------------------------------------------

#: handler(session, bill, notification): applies a payment to what the bill is for (e.g. an insurance
#: contribution); called once per stored notification, in the same transaction.
PayableHandler = Callable[[Session, Bill, PaymentNotification], None]
_PAYABLES: dict[str, PayableHandler] = {}


def register_payable(kind: str, handler: PayableHandler) -> None:
    """Let bills of ``kind`` (e.g. ``insurance.contribution``) apply their payments through ``handler``."""
    other = _PAYABLES.get(kind)
    if other is not None and (other.__module__, other.__qualname__) != (handler.__module__, handler.__qualname__):
        raise RuntimeError(f"payable kind {kind!r} already has a handler")
    _PAYABLES[kind] = handler


def payable_kinds() -> list[str]:
    return sorted(_PAYABLES)


# ---- gateways --------------------------------------------------------------------------------------


def _secrets_of(gw: PaymentGateway) -> dict[str, str]:
    return gateway_keys.decrypt_keys(gw)


def gateway_out(gw: PaymentGateway) -> dict[str, Any]:
    """The public view of a gateway: settings, which keys are set (never their values), and our
    public key (to give to the gateway)."""
    keys = _secrets_of(gw)
    public = gateway_keys.public_key_of(keys)
    out = {c: getattr(gw, c) for c in ("id", "code", "name", "kind", "base_url", "sp_code", "signature",
                                        "timeout_s", "active", "options", "created_at", "updated_at")}
    out.update({f"has_{k}": bool(keys.get(k)) for k in SECRET_FIELDS})
    out["public_key"] = public
    return out


def get_gateway(session: Session, code: str, *, lock: bool = False) -> PaymentGateway:
    query = select(PaymentGateway).where(PaymentGateway.code == code)
    gw = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if gw is None:
        raise NotFound(_("No payment gateway '%(code)s'.", code=code))
    return gw


def list_gateways(session: Session) -> list[PaymentGateway]:
    return list(session.execute(select(PaymentGateway).order_by(PaymentGateway.code)).scalars())


def _check_url(url: Any) -> str | None:
    if not isinstance(url, str) or len(url) > 500:
        return _("A URL of at most 500 characters.")
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _("An http or https URL.")
    return None


def save_gateway(session: Session, code: str, *, name: str, kind: str, base_url: str, sp_code: str,
                 signature: str, timeout_s: int = 10, active: bool = True, options: dict[str, Any] | None = None,
                 secrets: dict[str, str | None] | None = None) -> PaymentGateway:
    """Create or change the gateway ``code``. ``secrets`` replaces the keys it names (an empty value
    removes one) and keeps the others; they are stored encrypted with the key ring. The keys the
    signature algorithm needs must be set."""
    errors: dict[str, list[str]] = {}
    if not isinstance(code, str) or not CODE_RE.match(code):
        errors["code"] = [_("2-40 characters: a lowercase letter, then lowercase letters, digits or '-'.")]
    elif code in RESERVED_CODES and session.execute(
            select(PaymentGateway.id).where(PaymentGateway.code == code)).first() is None:
        # one saved before the code was reserved can still be changed
        errors["code"] = [_("'%(code)s' is reserved: the console uses it for one of its pages.", code=code)]
    if kind not in GatewayKind.__members__:
        errors["kind"] = [_("must be one of: %(values)s", values=", ".join(GatewayKind))]
    if signature not in {a.value for a in SignatureAlgorithm}:
        errors["signature"] = [_("must be one of: %(values)s", values=", ".join(a.value for a in SignatureAlgorithm))]
    if (problem := _check_url(base_url)) is not None:
        errors["base_url"] = [problem]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        errors["name"] = [_("1-200 characters.")]
    if not isinstance(sp_code, str) or not sp_code.strip() or len(sp_code) > 40:
        errors["sp_code"] = [_("1-40 characters.")]
    if not isinstance(timeout_s, int) or not 1 <= timeout_s <= 120:
        errors["timeout_s"] = [_("Between 1 and 120 seconds.")]
    options = options or {}
    if not isinstance(options, dict):
        errors["options"] = [_("not an object")]
    elif options.get("timezone") is not None and not is_time_zone(str(options["timezone"])):
        errors["options.timezone"] = [_("not a time zone")]
    gw = session.execute(select(PaymentGateway).where(PaymentGateway.code == code).with_for_update()
                         ).scalar_one_or_none() if not errors else None
    keys = gateway_keys.merge_keys(_secrets_of(gw) if gw is not None else {}, secrets, signature, errors)
    if errors:
        raise ValidationError(_("The gateway settings are not valid."), errors=errors)
    before = gateway_out(gw) if gw is not None else None
    if gw is None:
        gw = PaymentGateway(code=code)
        session.add(gw)
    gw.name, gw.kind, gw.base_url, gw.sp_code = name.strip(), kind, base_url, sp_code.strip()
    gw.signature, gw.timeout_s, gw.active, gw.options = signature, timeout_s, active, options
    gw.secret = gateway_keys.encrypt_keys(keys)
    session.flush()
    after = gateway_out(gw)
    audit.record(session, "payments.gateway.saved", "payment_gateway", gw.code,
                 before=_audit_view(before), after=_audit_view(after))
    return gw


def _audit_view(out: dict[str, Any] | None) -> dict[str, Any] | None:
    if out is None:
        return None
    return {k: v for k, v in out.items() if k not in ("id", "created_at", "updated_at", "public_key")}


# ---- bills -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillInput:
    payer_name: str
    amount: int
    currency: str
    expires_at: datetime
    description: str
    items: list[dict[str, Any]]
    payer_phone: str | None = None
    payer_email: str | None = None
    payment_option: str = PaymentOption.exact
    payable_kind: str | None = None
    payable_ref: str | None = None


def _check_bill(data: BillInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not data.payer_name or len(data.payer_name) > 200:
        errors["payer_name"] = [_("1-200 characters.")]
    if not is_currency(data.currency):
        errors["currency"] = [_("An ISO 4217 currency code.")]
    if not isinstance(data.amount, int) or data.amount <= 0:
        errors["amount"] = [_("A positive amount in minor units.")]
    if data.expires_at.tzinfo is None or data.expires_at <= utcnow():
        errors["expires_at"] = [_("A future date and time with a time zone.")]
    if data.payment_option not in PaymentOption.__members__:
        errors["payment_option"] = [_("must be one of: %(values)s", values=", ".join(PaymentOption))]
    if not data.description or len(data.description) > 200:
        errors["description"] = [_("1-200 characters.")]
    if data.payable_kind is not None and data.payable_kind not in _PAYABLES:
        errors["payable_kind"] = [_("No module takes payments of this kind.")]
    if not data.items or len(data.items) > MAX_ITEMS:
        errors["items"] = [_("Between 1 and %(n)s items.", n=MAX_ITEMS)]
    else:
        for n, item in enumerate(data.items):
            amount = item.get("amount")
            if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
                errors[f"items[{n}].amount"] = [_("A positive amount in minor units.")]
        if not errors.get("amount") and not any(k.startswith("items[") for k in errors):
            if sum(item["amount"] for item in data.items) != data.amount:
                errors["items"] = [_("The items must add up to the bill's amount.")]
    return errors


def create_bill(session: Session, gateway_code: str, data: BillInput, *, created_by: str | None = None) -> Bill:
    """Record a bill on a control-number gateway (``pending``; :func:`submit_bill` posts it)."""
    gw = get_gateway(session, gateway_code)
    errors = _check_bill(data)
    if gw.kind != GatewayKind.control_number:
        errors["gateway"] = [_("This gateway does not take bills.")]
    elif not gw.active:
        errors["gateway"] = [_("This gateway is switched off.")]
    if errors:
        raise ValidationError(_("The bill cannot be created."), errors=errors)
    bill = Bill(gateway_id=gw.id, reference=uuid4().hex[:40], payer_name=data.payer_name,
                payer_phone=data.payer_phone, payer_email=data.payer_email, description=data.description,
                amount=data.amount, currency=data.currency, payment_option=data.payment_option,
                expires_at=data.expires_at, items=data.items, payable_kind=data.payable_kind,
                payable_ref=data.payable_ref, status=BillStatus.pending, created_by=created_by)
    session.add(bill)
    session.flush()
    prefix = str((gw.options or {}).get("bill_prefix") or "SH")[:8]
    bill.reference = f"{prefix}{bill.id:012d}"
    session.flush()
    audit.record(session, "payments.bill.created", "payment_bill", bill.id,
                 after={"reference": bill.reference, "amount": bill.amount, "currency": bill.currency,
                        "gateway": gw.code, "payable_kind": bill.payable_kind, "payable_ref": bill.payable_ref})
    return bill


def submit_bill(session: Session, bill_id: int) -> Bill:
    """Post a pending bill to its gateway. Accepted (or already known to the gateway: a re-submission
    after a lost answer) → ``submitted``; refused → ``rejected`` with the gateway's code; unreachable
    or timed out → stays ``pending`` with the error, to be submitted again (same bill id, so the
    gateway never holds it twice)."""
    bill = session.execute(select(Bill).where(Bill.id == bill_id).with_for_update()).scalar_one_or_none()
    if bill is None:
        raise NotFound(_("No bill %(id)s.", id=bill_id))
    if bill.status != BillStatus.pending:
        raise Conflict(_("Only a pending bill can be submitted; this one is %(status)s.", status=bill.status))
    gw = session.get(PaymentGateway, bill.gateway_id)
    bill.submit_attempts += 1
    try:
        code = adapter_for(gw.kind).submit_bill(gateway_config(gw), _bill_message(bill))
    except GatewayUnavailable as err:
        bill.last_error = _("The gateway could not be reached (%(reason)s).", reason=str(err))[:300]
        log.warning("bill %s: gateway %s unavailable (%s)", bill.id, gw.code, err)
    except GatewayRefused as err:
        bill.status, bill.gateway_status = BillStatus.rejected, err.code[:10]
        bill.last_error = _("The gateway refused the bill (code %(code)s).", code=err.code)[:300]
        audit.record(session, "payments.bill.rejected", "payment_bill", bill.id, details={"code": err.code})
    else:
        bill.status, bill.gateway_status, bill.last_error = BillStatus.submitted, code, None
        bill.submitted_at = utcnow()
    session.flush()
    return bill


def _bill_message(bill: Bill) -> dict[str, Any]:
    return {"reference": bill.reference, "amount": bill.amount, "currency": bill.currency,
            "expires_at": bill.expires_at, "created_at": bill.created_at or utcnow(), "payer_name": bill.payer_name,
            "payer_phone": bill.payer_phone, "payer_email": bill.payer_email, "description": bill.description,
            "payment_option": bill.payment_option, "items": bill.items, "created_by": None}


def post_bill(session: Session, gateway_code: str, data: BillInput, *, created_by: str | None = None) -> Bill:
    """Create a bill and post it to its gateway at once (see :func:`submit_bill`)."""
    bill = create_bill(session, gateway_code, data, created_by=created_by)
    return submit_bill(session, bill.id)


def cancel_bill(session: Session, bill_id: int, *, reason: str) -> Bill:
    bill = get_bill(session, bill_id, lock=True)
    if bill.status not in (BillStatus.pending, BillStatus.submitted, BillStatus.issued):
        raise Conflict(_("A %(status)s bill cannot be cancelled.", status=bill.status))
    if not reason or not reason.strip():
        raise ValidationError(_("Say why the bill is cancelled."), errors={"reason": [_("required")]})
    before = bill.status
    bill.status = BillStatus.cancelled
    session.flush()
    audit.record(session, "payments.bill.cancelled", "payment_bill", bill.id, before={"status": before},
                 after={"status": bill.status}, details={"reason": reason.strip()[:500]})
    return bill


def get_bill(session: Session, bill_id: int, *, lock: bool = False) -> Bill:
    query = select(Bill).where(Bill.id == bill_id)
    bill = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if bill is None:
        raise NotFound(_("No bill %(id)s.", id=bill_id))
    return bill


def list_bills(session: Session, *, status: str | None = None, payable_kind: str | None = None,
               payable_ref: str | None = None, after_id: int | None = None, limit: int = 50) -> list[Bill]:
    query = select(Bill)
    if status is not None:
        query = query.where(Bill.status == status)
    if payable_kind is not None:
        query = query.where(Bill.payable_kind == payable_kind)
    if payable_ref is not None:
        query = query.where(Bill.payable_ref == payable_ref)
    if after_id is not None:
        query = query.where(Bill.id > after_id)
    return list(session.execute(query.order_by(Bill.id).limit(limit)).scalars())


def bill_payments(session: Session, bill_id: int) -> list[PaymentNotification]:
    return list(session.execute(select(PaymentNotification).where(PaymentNotification.bill_id == bill_id)
                                .order_by(PaymentNotification.id)).scalars())


def expire_bills(session: Session, *, now: datetime | None = None) -> int:
    """Mark ``expired`` the open bills past their expiry that nobody paid; returns how many."""
    result = session.execute(
        update(Bill).where(Bill.status.in_([BillStatus.pending, BillStatus.submitted, BillStatus.issued]),
                           Bill.expires_at < (now or utcnow()))
        .values(status=BillStatus.expired, updated_at=utcnow()))
    return result.rowcount


# ---- callbacks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackAnswer:
    status: int
    body: bytes
    content_type: str


def handle_callback(session: Session, gateway_code: str, body: bytes, headers: dict[str, str]) -> CallbackAnswer:
    """Verify, store and apply one callback of gateway ``gateway_code``; the signed acknowledgement.

    A bad signature or a malformed message changes nothing: 400 with the gateway's "invalid
    signature" code, and a log line naming the gateway and the reason (never the message)."""
    gw = session.execute(select(PaymentGateway).where(PaymentGateway.code == gateway_code,
                                                      PaymentGateway.active.is_(True))).scalar_one_or_none()
    if gw is None:
        raise NotFound(_("No payment gateway '%(code)s'.", code=gateway_code))
    adapter = adapter_for(gw.kind)
    config = gateway_config(gw)
    try:
        callback = adapter.read_callback(config, body, headers)
    except BadMessage as err:
        log.warning("gateway %s: callback refused (%s)", gw.code, err.reason)
        ack, ctype = adapter.acknowledge(config, None, adapter.refusal_code(signature=err.signature))
        return CallbackAnswer(400, ack, ctype)
    actor = ("gateway", gw.code, gw.name)
    if callback.kind == "control_number":
        code = _apply_control_number(session, gw, callback, actor)
    elif callback.kind == "payment":
        code = _apply_payment(session, gw, callback, actor)
    elif callback.kind == "statement":
        code = _apply_statement(session, gw, callback, actor)
    else:
        from schemehost.tenants.payments import disbursements

        code = disbursements.apply_result(session, gw, callback, actor)
    ack, ctype = adapter.acknowledge(config, callback.kind, code)
    return CallbackAnswer(200, ack, ctype)


def _bill_for(session: Session, gw: PaymentGateway, reference: str | None, control_number: str | None) -> Bill | None:
    """The bill a message is about (by bill id, else control number), locked for the update."""
    bill = None
    if reference:
        bill = session.execute(select(Bill).where(Bill.reference == reference, Bill.gateway_id == gw.id)
                               .with_for_update()).scalar_one_or_none()
    if bill is None and control_number:
        bill = session.execute(select(Bill).where(Bill.control_number == control_number, Bill.gateway_id == gw.id)
                               .with_for_update()).scalar_one_or_none()
    return bill


def _apply_control_number(session: Session, gw: PaymentGateway, cb: Callback, actor) -> str:
    from schemehost.tenants.payments.adapters.control_number import SUCCESS

    f = cb.fields
    bill = _bill_for(session, gw, f["bill_reference"], None)
    if bill is None:
        log.warning("gateway %s: control number for an unknown bill", gw.code)
        return SUCCESS
    if f["status_code"] != SUCCESS:
        if bill.status in (BillStatus.pending, BillStatus.submitted):
            bill.status, bill.gateway_status = BillStatus.rejected, f["status_code"][:10]
            audit.record(session, "payments.bill.rejected", "payment_bill", bill.id, actor=actor,
                         details={"code": f["status_code"]})
        return SUCCESS
    if bill.control_number == f["control_number"]:
        return SUCCESS  # re-sent, or already learnt from an earlier payment notification
    if bill.control_number is not None:
        log.warning("gateway %s: bill %s already has another control number; kept", gw.code, bill.id)
        return SUCCESS
    bill.control_number, bill.issued_at, bill.gateway_status = f["control_number"], utcnow(), f["status_code"]
    if bill.status in (BillStatus.pending, BillStatus.submitted):
        bill.status = BillStatus.issued
    session.flush()
    audit.record(session, "payments.bill.issued", "payment_bill", bill.id, actor=actor,
                 after={"control_number": bill.control_number, "status": bill.status})
    return SUCCESS


def _store_notification(session: Session, gw: PaymentGateway, f: dict[str, Any], raw: str) -> int | None:
    """Insert the notification once per (gateway, transaction id); None when it was already there
    (its ``deliveries`` counted instead). Concurrent deliveries wait on the unique index, so exactly
    one of them inserts."""
    table = PaymentNotification.__table__
    new_id = session.execute(
        pg_insert(table).values(gateway_id=gw.id, gateway_txn_id=f["txn_id"], bill_reference=f.get("bill_reference"),
                                control_number=f.get("control_number"), amount=f["amount"], currency=f["currency"],
                                paid_at=f.get("paid_at") or utcnow(), channel=(f.get("channel") or None),
                                receipt=f.get("receipt"), status=NotificationStatus.unmatched, raw=raw)
        .on_conflict_do_nothing(constraint="uq_payment_notifications_txn").returning(table.c.id)
    ).scalar_one_or_none()
    if new_id is None:
        session.execute(update(table).where(table.c.gateway_id == gw.id, table.c.gateway_txn_id == f["txn_id"])
                        .values(deliveries=table.c.deliveries + 1))
    return new_id


def _apply_payment(session: Session, gw: PaymentGateway, cb: Callback, actor) -> str:
    from schemehost.tenants.payments.adapters.control_number import SUCCESS

    new_id = _store_notification(session, gw, cb.fields, cb.signed.decode())
    if new_id is None:
        log.info("gateway %s: payment notification delivered again; already applied", gw.code)
        return SUCCESS
    apply_notification(session, gw, new_id, actor=actor)
    return SUCCESS


def apply_notification(session: Session, gw: PaymentGateway, notification_id: int, *, actor) -> PaymentNotification:
    """Match a newly stored notification to its bill and apply it (once: only called on insert)."""
    note = session.get(PaymentNotification, notification_id)
    bill = _bill_for(session, gw, note.bill_reference, note.control_number)
    if bill is None:
        note.status = NotificationStatus.unmatched
        session.flush()
        audit.record(session, "payments.payment.unmatched", "payment_notification", note.id, actor=actor,
                     details={"amount": note.amount, "currency": note.currency, "txn": note.gateway_txn_id})
        return note
    note.bill_id = bill.id
    if note.currency != bill.currency or bill.status not in PAYABLE_BILL:
        note.status = NotificationStatus.refused
        session.flush()
        audit.record(session, "payments.payment.refused", "payment_notification", note.id, actor=actor,
                     details={"bill": bill.reference, "bill_status": bill.status, "amount": note.amount,
                              "currency": note.currency})
        return note
    before = {"status": bill.status, "paid_amount": bill.paid_amount}
    if bill.control_number is None and note.control_number:  # the payment overtook the control number
        bill.control_number, bill.issued_at = note.control_number, utcnow()
    bill.paid_amount += note.amount
    if bill.paid_amount >= bill.amount:
        bill.status, bill.paid_at = BillStatus.paid, note.paid_at
    else:
        bill.status = BillStatus.partially_paid
    note.status = NotificationStatus.applied
    session.flush()
    audit.record(session, "payments.payment.applied", "payment_bill", bill.id, actor=actor, before=before,
                 after={"status": bill.status, "paid_amount": bill.paid_amount},
                 details={"notification": note.id, "txn": note.gateway_txn_id, "amount": note.amount})
    if bill.payable_kind is not None:
        handler = _PAYABLES.get(bill.payable_kind)
        if handler is None:
            raise AppError(_("No module takes payments of kind '%(kind)s'.", kind=bill.payable_kind))
        handler(session, bill, note)
    return note


def list_notifications(session: Session, *, status: str | None = None, after_id: int | None = None,
                       limit: int = 50) -> list[PaymentNotification]:
    query = select(PaymentNotification)
    if status is not None:
        query = query.where(PaymentNotification.status == status)
    if after_id is not None:
        query = query.where(PaymentNotification.id > after_id)
    return list(session.execute(query.order_by(PaymentNotification.id).limit(limit)).scalars())


# ---- reconciliation --------------------------------------------------------------------------------


def gateway_zone(gw: PaymentGateway) -> ZoneInfo:
    try:
        return ZoneInfo(str((gw.options or {}).get("timezone") or "UTC"))
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def day_bounds(gw: PaymentGateway, day: date) -> tuple[datetime, datetime]:
    zone = gateway_zone(gw)
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def request_reconciliation(session: Session, gateway_code: str, day: date, *,
                           now: datetime | None = None) -> Reconciliation:
    """Ask the gateway for the statement of ``day`` (its answer comes by callback). A day already
    reconciled is asked again (the report is rebuilt when the statement arrives)."""
    gw = get_gateway(session, gateway_code)
    if gw.kind != GatewayKind.control_number:
        raise ValidationError(_("This gateway has no statements."), errors={"gateway": [_("not a collections gateway")]})
    if day >= (now or utcnow()).astimezone(gateway_zone(gw)).date():
        raise ValidationError(_("Only a past day can be reconciled."), errors={"day": [_("not a past day")]})
    rec = session.execute(select(Reconciliation).where(Reconciliation.gateway_id == gw.id, Reconciliation.day == day)
                          .with_for_update()).scalar_one_or_none()
    if rec is None:
        rec = Reconciliation(gateway_id=gw.id, day=day)
        session.add(rec)
    rec.status, rec.requested_at, rec.error, rec.finished_at = ReconciliationStatus.requested, utcnow(), None, None
    session.flush()
    try:
        adapter_for(gw.kind).request_statement(gateway_config(gw), str(rec.id), day)
    except (GatewayUnavailable, GatewayRefused) as err:
        rec.status = ReconciliationStatus.failed
        rec.error = _("The gateway did not send the statement (%(reason)s).", reason=str(err))[:300]
    session.flush()
    return rec


def _apply_statement(session: Session, gw: PaymentGateway, cb: Callback, actor) -> str:
    from schemehost.tenants.payments.adapters.control_number import SUCCESS

    f = cb.fields
    rec_id = int(f["request_id"]) if str(f["request_id"]).isdigit() else None
    rec = session.execute(select(Reconciliation).where(Reconciliation.id == rec_id, Reconciliation.gateway_id == gw.id)
                          .with_for_update()).scalar_one_or_none() if rec_id else None
    if rec is None:
        log.warning("gateway %s: statement for an unknown request", gw.code)
        return SUCCESS
    if f["status_code"] != SUCCESS:
        rec.status, rec.error = ReconciliationStatus.failed, _("The gateway's statement failed (code %(code)s).",
                                                                code=f["status_code"])
        return SUCCESS
    reconcile(session, gw, rec, f["transactions"], actor=actor)
    return SUCCESS


def reconcile(session: Session, gw: PaymentGateway, rec: Reconciliation, statement: list[dict[str, Any]], *,
              actor) -> Reconciliation:
    """Set the gateway's statement of a day against the notifications stored here and flag:
    ``missing`` (in the statement, never notified: stored and applied now, from the signed statement),
    ``not_in_statement`` (notified here, absent from the statement), ``amount_mismatch``,
    ``unmatched`` (paid to no bill of ours) and ``refused`` (paid to a closed bill or in another currency)."""
    start, end = day_bounds(gw, rec.day)
    txns = {row["txn_id"]: row for row in statement}
    stored = {n.gateway_txn_id: n for n in session.execute(
        select(PaymentNotification).where(
            PaymentNotification.gateway_id == gw.id,
            (PaymentNotification.paid_at >= start) & (PaymentNotification.paid_at < end)
            | any_of(PaymentNotification.gateway_txn_id, list(txns) or [""]))).scalars()}
    flagged: list[dict[str, Any]] = []
    counts = {"statement": len(txns), "stored": 0, "matched": 0, "missing": 0, "not_in_statement": 0,
              "amount_mismatch": 0, "unmatched": 0, "refused": 0,
              "statement_total": sum(r["amount"] for r in txns.values())}
    for txn, row in txns.items():
        note = stored.get(txn)
        if note is None:
            counts["missing"] += 1
            fields = {**row, "paid_at": row.get("paid_at") or start}
            new_id = _store_notification(session, gw, fields, json.dumps({"statement": rec.id, "txn": txn}))
            if new_id is not None:
                note = apply_notification(session, gw, new_id, actor=actor)
                stored[txn] = note
            flagged.append({"txn": txn, "flag": "missing", "amount": row["amount"], "currency": row["currency"],
                            "bill": row.get("bill_reference")})
        elif (note.amount, note.currency) != (row["amount"], row["currency"]):
            counts["amount_mismatch"] += 1
            flagged.append({"txn": txn, "flag": "amount_mismatch", "amount": note.amount,
                            "statement_amount": row["amount"], "currency": note.currency, "bill": note.bill_reference})
        else:
            counts["matched"] += 1
    for txn, note in stored.items():
        counts["stored"] += 1
        if txn not in txns:
            counts["not_in_statement"] += 1
            flagged.append({"txn": txn, "flag": "not_in_statement", "amount": note.amount, "currency": note.currency,
                            "bill": note.bill_reference})
        if note.status in (NotificationStatus.unmatched, NotificationStatus.refused):
            counts[note.status] += 1
            flagged.append({"txn": txn, "flag": note.status, "amount": note.amount, "currency": note.currency,
                            "bill": note.bill_reference})
    rec.counts, rec.flagged = counts, flagged
    rec.status, rec.finished_at, rec.error = ReconciliationStatus.done, utcnow(), None
    session.flush()
    audit.record(session, "payments.reconciled", "payment_reconciliation", rec.id, actor=actor,
                 details={"day": rec.day.isoformat(), "gateway": gw.code, "counts": counts})
    return rec


def list_reconciliations(session: Session, *, gateway_code: str | None = None, limit: int = 60) -> list[Reconciliation]:
    query = select(Reconciliation)
    if gateway_code is not None:
        query = query.where(Reconciliation.gateway_id == get_gateway(session, gateway_code).id)
    return list(session.execute(query.order_by(Reconciliation.day.desc(), Reconciliation.id.desc()).limit(limit)).scalars())


def get_reconciliation(session: Session, rec_id: int) -> Reconciliation:
    rec = session.get(Reconciliation, rec_id)
    if rec is None:
        raise NotFound(_("No reconciliation %(id)s.", id=rec_id))
    return rec


def totals(session: Session) -> dict[str, Any]:
    """Bills by status with their amounts (per currency), for the console."""
    rows = session.execute(select(Bill.status, Bill.currency, func.count(), func.sum(Bill.amount), func.sum(Bill.paid_amount))
                           .group_by(Bill.status, Bill.currency)).all()
    return {"bills": [{"status": s, "currency": c, "count": n, "amount": int(a or 0), "paid": int(p or 0)}
                      for s, c, n, a, p in rows]}
