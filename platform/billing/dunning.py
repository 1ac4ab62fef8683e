"""Dunning: what happens to a tenant whose invoice is overdue, run daily with an explicit ``today``.

For each issued invoice past its due date (or the operator's extension): a reminder e-mail every
``plan.reminder_days`` days; after ``plan.read_only_after_days`` days overdue the tenant becomes
``read_only`` (writes answer 423, the console shows a banner); after ``plan.suspend_after_days`` it is
``suspended`` (the billing page, sign-in, payment callbacks and webhooks stay open, as routing says).
Settling the invoice (payment, credit note) or an extension lifts the restriction automatically — but
only one that billing imposed: a tenant an operator suspended stays suspended. Every step is a tenant
event (``billing_reminder``, ``billing_read_only``, ``billing_suspended``, ``billing_resumed``,
``billing_extension``).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.billing.models import Invoice, InvoiceKind, InvoiceStatus, Subscription
from schemehost.platform.errors import ValidationError
from schemehost.platform.tenants.models import Tenant, TenantEvent, TenantStatus
from schemehost.platform.tenants.services import record_event

log = logging.getLogger("schemehost.billing")

BILLING_KINDS = ("billing_read_only", "billing_suspended")
S = TenantStatus


def effective_due(invoice: Invoice) -> date:
    return max(d for d in (invoice.due_on, invoice.extended_to) if d is not None)


def _overdue(session: Session, *, tenant_id: int | None = None) -> list[tuple[Invoice, Any]]:
    stmt = (select(Invoice, Subscription).join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(Invoice.kind == InvoiceKind.invoice, Invoice.status == InvoiceStatus.issued,
                   Invoice.due_on.is_not(None)).order_by(Invoice.id))
    if tenant_id is not None:
        stmt = stmt.where(Invoice.tenant_id == tenant_id)
    return list(session.execute(stmt).unique().all())


def _required_status(rows, today: date) -> str | None:
    """The restriction a tenant's open invoices call for today (suspended > read_only > none)."""
    worst = None
    for invoice, sub in rows:
        days = (today - effective_due(invoice)).days
        if days >= sub.plan.suspend_after_days and days > 0:
            return S.suspended
        if days >= sub.plan.read_only_after_days and days > 0:
            worst = S.read_only
    return worst


def _restricted_by_billing(session: Session, tenant: Tenant) -> bool:
    """Whether the tenant's current status was set by dunning (not by an operator)."""
    kind = session.execute(select(TenantEvent.kind).where(TenantEvent.tenant_id == tenant.id,
                                                          TenantEvent.to_status.is_not(None))
                           .order_by(TenantEvent.id.desc()).limit(1)).scalar()
    return kind in BILLING_KINDS


def _move(session: Session, tenant: Tenant, to: str, kind: str, *, actor: str, data: dict) -> None:
    from schemehost.provisioning.lifecycle import transition

    transition(session, tenant.slug, to, actor=actor, kind=kind, reason=_("billing: overdue invoice")
               if kind != "billing_resumed" else _("billing: invoices settled"))
    event = session.execute(select(TenantEvent).where(TenantEvent.tenant_id == tenant.id)
                            .order_by(TenantEvent.id.desc()).limit(1)).scalar_one()
    event.data = data


def run_dunning(session: Session, *, today: date, send=None) -> dict[str, int]:
    """One dunning pass at ``today``: reminders, then read-only and suspension where due. ``send(to,
    invoice, days_overdue)`` sends a reminder (the mail by default). Returns counts of each step."""
    send = send or _send_reminder
    counts = {"reminders": 0, "read_only": 0, "suspended": 0}
    by_tenant: dict[int, list] = {}
    for invoice, sub in _overdue(session):
        if effective_due(invoice) < today:
            by_tenant.setdefault(invoice.tenant_id, []).append((invoice, sub))
    for tenant_id, rows in by_tenant.items():
        tenant = rows[0][0].tenant
        for invoice, sub in rows:
            days = (today - effective_due(invoice)).days
            if invoice.last_reminder_on is None or (today - invoice.last_reminder_on).days >= sub.plan.reminder_days:
                to = sub.billing_email or invoice.partner.contact_email
                if to:
                    send(to, invoice, days)
                invoice.reminders_sent += 1
                invoice.last_reminder_on = today
                record_event(session, tenant, "billing_reminder", actor="billing",
                             data={"invoice": invoice.number, "days_overdue": days, "sent": bool(to)})
                counts["reminders"] += 1
        required = _required_status(rows, today)
        data = {"invoices": [i.number for i, _s in rows]}
        if required == S.suspended and tenant.status in (S.active, S.read_only):
            _move(session, tenant, S.suspended, "billing_suspended", actor="billing", data=data)
            counts["suspended"] += 1
        elif required == S.read_only and tenant.status == S.active:
            _move(session, tenant, S.read_only, "billing_read_only", actor="billing", data=data)
            counts["read_only"] += 1
    session.flush()
    return counts


def lift_if_clear(session: Session, tenant: Tenant, *, today: date, actor: str) -> bool:
    """Resume a tenant that dunning restricted once none of its invoices calls for a restriction."""
    if tenant.status not in (S.read_only, S.suspended) or not _restricted_by_billing(session, tenant):
        return False
    required = _required_status(_overdue(session, tenant_id=tenant.id), today)
    if required is None:
        _move(session, tenant, S.active, "billing_resumed", actor=actor, data={})
        return True
    if required == S.read_only and tenant.status == S.suspended:
        _move(session, tenant, S.read_only, "billing_read_only", actor=actor, data={})
    return False


def extend(session: Session, invoice: Invoice, *, until: date, today: date, actor: str, reason: str) -> Invoice:
    """An operator's extension: overdue days of ``invoice`` count from ``until``; lifts what no longer applies."""
    if invoice.status != InvoiceStatus.issued or invoice.kind != InvoiceKind.invoice:
        raise ValidationError(_("Only an issued invoice can be extended."), errors={"invoice": [invoice.status]})
    if until <= (invoice.due_on or today):
        raise ValidationError(_("The extension cannot be granted."),
                              errors={"until": [_("after the due date (%(due)s)", due=invoice.due_on)]})
    if not reason or not reason.strip():
        raise ValidationError(_("The extension cannot be granted."), errors={"reason": [_("Give the reason.")]})
    invoice.extended_to = until
    record_event(session, invoice.tenant, "billing_extension", actor=actor, reason=reason.strip(),
                 data={"invoice": invoice.number, "until": until.isoformat()})
    session.flush()
    lift_if_clear(session, invoice.tenant, today=today, actor=actor)
    return invoice


def _send_reminder(to: str, invoice: Invoice, days: int) -> None:
    from schemehost.platform.mail import MailNotSent, send_template
    from schemehost.platform.money import format_money

    try:
        send_template(to, "billing_reminder", locale=invoice.tenant.locale, number=invoice.number,
                      scheme=invoice.tenant.name, partner=invoice.partner.name, days=days,
                      due=effective_due(invoice).isoformat(),
                      amount=format_money(invoice.total - invoice.amount_paid - invoice.amount_credited,
                                          invoice.currency, invoice.tenant.locale))
    except MailNotSent:
        # the reminder is still counted (and the event says so); the next pass tries the next reminder
        log.warning("billing reminder for invoice %s not sent", invoice.id)
