"""The payments module's part in the registry's personal-data rules (docs/registry.md, personal data).

Bills keep a copy of the payer's name, phone and e-mail, and disbursements a copy of the recipient's
name and phone: they are *copies*, so erasure pseudonymises them and keeps every amount, status, date,
reference and id (the gateway's records and our reconciliation still agree). Payments does not know
people itself: the module a bill or payout pays for says which person a ``(payable_kind, payable_ref)``
belongs to through :func:`register_person_payables` (transfers does for its payroll lines).

- **Subject access**: the bills and disbursements linked to the person, plus those carrying the
  person's current phone number (a bill raised by phone before any link), with their notifications.
- **Erasure**: linked bills get ``payer_name`` "Erased #<id>", no phone or e-mail, and the payer
  elements of their kept notifications emptied; linked disbursements get ``recipient_name``
  "Erased #<id>" and ``recipient_phone`` "ERASED".
- **Retention**: a person with an unpaid bill or an unfinished disbursement is kept.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import Select, Text, false, func, literal, or_, select, tuple_, union_all, update
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of
from schemehost.tenants.payments.models import Bill, BillStatus, Disbursement, DisbursementStatus, PaymentNotification

#: ``fn(session, individual_ids or None)`` -> SELECT of (individual_id, payable_ref) of one payable kind
#: (None: every person, for the retention hold).
PersonPayables = Callable[[Session, list[int] | None], Select]

_payables: dict[str, PersonPayables] = {}

ERASED_PHONE = "ERASED"
#: Bill statuses still waiting for a payment, disbursement statuses not finished.
OPEN_BILLS = (BillStatus.pending, BillStatus.submitted, BillStatus.issued, BillStatus.partially_paid)
OPEN_DISBURSEMENTS = (DisbursementStatus.pending, DisbursementStatus.accepted)

#: The payer elements of a control-number notification (emptied on erasure).
_PAYER_TAGS = ("PyrName", "PyrCellNum", "PyrEmail")


def register_person_payables(kind: str, fn: PersonPayables) -> None:
    """Tell payments which person each bill or disbursement of ``kind`` is about."""
    _payables[kind] = fn


def _links(session: Session, ids: list[int] | None) -> Select | None:
    """SELECT of (individual_id, payable_kind, payable_ref) over every registered kind."""
    parts = []
    for kind, fn in sorted(_payables.items()):
        sub = fn(session, ids).subquery()
        cols = list(sub.c)
        parts.append(select(cols[0].label("individual_id"), literal(kind).label("kind"),
                            cols[1].cast(Text).label("ref")))
    return union_all(*parts) if parts else None


def _linked(model, links) -> Any:
    return tuple_(model.payable_kind, model.payable_ref).in_(select(links.c.kind, links.c.ref))


def subject_payments(session: Session, individual_id: int) -> dict[str, Any]:
    from schemehost.tenants.registry.people import Individual

    phone = session.execute(select(Individual.phone).where(Individual.id == individual_id)).scalar_one_or_none()
    links = _links(session, [individual_id])
    links = links.subquery() if links is not None else None
    bill_cond = [Bill.payer_phone == phone] if phone else []
    dis_cond = [Disbursement.recipient_phone == phone] if phone else []
    if links is not None:
        bill_cond.append(_linked(Bill, links))
        dis_cond.append(_linked(Disbursement, links))
    bills = list(session.execute(select(Bill).where(or_(*bill_cond)).order_by(Bill.id)).scalars()) \
        if bill_cond else []
    notes = list(session.execute(select(PaymentNotification).where(
        PaymentNotification.bill_id.in_([b.id for b in bills])).order_by(PaymentNotification.id)).scalars()) \
        if bills else []
    payouts = list(session.execute(select(Disbursement).where(or_(*dis_cond)).order_by(Disbursement.id))
                   .scalars()) if dis_cond else []
    return {
        "bills": [{"id": b.id, "reference": b.reference, "payable_kind": b.payable_kind, "payable_ref": b.payable_ref,
                   "payer_name": b.payer_name, "payer_phone": b.payer_phone, "payer_email": b.payer_email,
                   "description": b.description, "amount": b.amount, "currency": b.currency, "status": b.status,
                   "control_number": b.control_number, "paid_amount": b.paid_amount, "created_at": b.created_at,
                   "paid_at": b.paid_at,
                   "notifications": [{"id": n.id, "amount": n.amount, "currency": n.currency, "paid_at": n.paid_at,
                                      "channel": n.channel, "receipt": n.receipt, "status": n.status}
                                     for n in notes if n.bill_id == b.id]} for b in bills],
        "disbursements": [{"id": d.id, "payable_kind": d.payable_kind, "payable_ref": d.payable_ref,
                           "recipient_name": d.recipient_name, "recipient_phone": d.recipient_phone,
                           "amount": d.amount, "currency": d.currency, "status": d.status,
                           "provider_txn_id": d.provider_txn_id, "created_at": d.created_at,
                           "finished_at": d.finished_at} for d in payouts],
    }


def erase_payments(session: Session, individual_ids: list[int]) -> None:
    """Pseudonymise the payer and recipient copies on the bills and payouts linked to the erased people."""
    links = _links(session, individual_ids)
    if links is None:
        return
    links = links.subquery()
    pseudonym = literal("Erased #") + links.c.individual_id.cast(Text)
    bill, dis = Bill.__table__, Disbursement.__table__
    bill_ids = [r.id for r in session.execute(
        update(bill).where(bill.c.payable_kind == links.c.kind, bill.c.payable_ref == links.c.ref)
        .values(payer_name=pseudonym, payer_phone=None, payer_email=None).returning(bill.c.id))]
    if bill_ids:
        raw = PaymentNotification.__table__.c.raw
        scrubbed = raw
        for tag in _PAYER_TAGS:
            scrubbed = func.regexp_replace(scrubbed, f"<{tag}>[^<]*</{tag}>", f"<{tag}></{tag}>", "g")
        session.execute(update(PaymentNotification.__table__)
                        .where(any_of(PaymentNotification.__table__.c.bill_id, bill_ids)).values(raw=scrubbed))
    session.execute(update(dis).where(dis.c.payable_kind == links.c.kind, dis.c.payable_ref == links.c.ref)
                    .values(recipient_name=pseudonym, recipient_phone=ERASED_PHONE))


def people_with_open_payments(session: Session) -> Select:
    """People with a bill still to be paid or a payout not finished: kept from the retention rule."""
    links = _links(session, None)
    if links is None:
        from schemehost.tenants.registry.people import Individual

        return select(Individual.id).where(false())
    links = links.subquery()
    return select(links.c.individual_id).where(or_(
        select(Bill.id).where(Bill.payable_kind == links.c.kind, Bill.payable_ref == links.c.ref,
                              Bill.status.in_([s.value for s in OPEN_BILLS])).exists(),
        select(Disbursement.id).where(Disbursement.payable_kind == links.c.kind,
                                      Disbursement.payable_ref == links.c.ref,
                                      Disbursement.status.in_([s.value for s in OPEN_DISBURSEMENTS])).exists()))


def init_app() -> None:
    from schemehost.tenants.registry.privacy import (register_erasure_handler, register_retention_hold,
                                                     register_subject_provider)

    register_subject_provider("payments", subject_payments)
    register_erasure_handler("payments", erase_payments)
    register_retention_hold("payments", people_with_open_payments)
