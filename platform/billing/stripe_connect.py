"""Card payments through Stripe Connect: each partner is a connected account; the tenant pays our own
invoice through a PaymentIntent created on the partner's account (a direct charge) with the platform's
fee as ``application_fee_amount``. Stripe Invoicing is not used.

Settings: ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET``, ``STRIPE_API_BASE`` (tests point the real
``stripe`` client at a local server). Every POST carries an idempotency key derived from our ids.

Webhooks (:func:`handle_event`) are verified by the caller with ``stripe.Webhook.construct_event``. Each
event id is stored once under a unique constraint: a re-delivery changes nothing. Events may arrive in
any order, so handlers never move state backwards and re-fetch the object from Stripe when what they
received is not enough (a refund for a payment we have not seen yet, an account update).
"""

from __future__ import annotations

import time
from datetime import date, datetime, timezone
from typing import Any

import stripe
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from schemehost.platform.billing import services as billing
from schemehost.platform.billing.models import (Invoice, InvoiceKind, InvoiceStatus, PartnerBilling, Payment,
                                                PaymentMethod, WebhookEvent)
from schemehost.platform.errors import Conflict, Unavailable
from schemehost.platform.partners.models import Partner


def client() -> stripe.StripeClient:
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise Unavailable(_("Card payments are not configured on this installation."))
    base = current_app.config.get("STRIPE_API_BASE")
    return stripe.StripeClient(key, base_addresses={"api": base} if base else None, max_network_retries=2)


def onboarding_link(session: Session, partner: Partner, *, refresh_url: str, return_url: str) -> str:
    """The Stripe onboarding address of ``partner``, creating its connected account the first time."""
    profile = billing.partner_profile(session, partner)
    api = client()
    if not profile.stripe_account_id:
        params: dict[str, Any] = {"type": "express", "metadata": {"partner": partner.slug}}
        if partner.country:
            params["country"] = partner.country
        if partner.contact_email:
            params["email"] = partner.contact_email
        account = api.v1.accounts.create(params=params, options={"idempotency_key": f"partner-{partner.id}-account"})
        profile.stripe_account_id = account.id
        session.flush()
    # account links are single use and expire: one key per partner and minute
    link = api.v1.account_links.create(
        params={"account": profile.stripe_account_id, "refresh_url": refresh_url, "return_url": return_url,
                "type": "account_onboarding"},
        options={"idempotency_key": f"partner-{partner.id}-account-link-{int(time.time() // 60)}"})
    return link.url


def _refusal(session: Session, invoice: Invoice) -> tuple[Conflict | None, PartnerBilling | None]:
    """Why ``invoice`` cannot be paid by card (``None`` when it can), and its partner's billing profile."""
    if invoice.kind != InvoiceKind.invoice or invoice.status not in (InvoiceStatus.issued, InvoiceStatus.uncollectible):
        return Conflict(_("Only an open invoice can be paid."), errors={"status": [invoice.status]}), None
    profile = session.get(PartnerBilling, invoice.partner_id)
    if profile is None or not profile.stripe_account_id or not profile.stripe_charges_enabled:
        return Conflict(_("This partner does not take card payments yet."),
                        errors={"partner": [_("not onboarded")]}), profile
    return None, profile


def _payable(session: Session, invoice: Invoice) -> tuple[Invoice, PartnerBilling, int, int]:
    """The locked invoice, its partner's billing profile, what is outstanding and the platform's fee on it;
    409 unless the invoice is open and its partner takes card payments."""
    invoice = billing.get_invoice(session, invoice.id, for_update=True)
    refusal, profile = _refusal(session, invoice)
    if refusal is not None:
        raise refusal
    due = billing.outstanding(invoice)
    return invoice, profile, due, min(invoice.platform_fee, due)


def takes_cards(session: Session, invoice: Invoice) -> bool:
    """Whether ``invoice`` can be paid by card now (Stripe configured, partner onboarded, invoice open)."""
    if not current_app.config.get("STRIPE_SECRET_KEY") or billing.outstanding(invoice) <= 0:
        return False
    return _refusal(session, invoice)[0] is None


def start_card_payment(session: Session, invoice: Invoice) -> dict[str, Any]:
    """A PaymentIntent for what is outstanding on ``invoice``, on its partner's connected account, with
    the platform fee; the same outstanding amount gives back the same PaymentIntent (idempotency key)."""
    invoice, profile, due, fee = _payable(session, invoice)
    intent = client().v1.payment_intents.create(
        params={"amount": due, "currency": invoice.currency.lower(), "application_fee_amount": fee,
                "automatic_payment_methods": {"enabled": True},
                "metadata": {"invoice_id": str(invoice.id), "invoice_number": invoice.number or ""},
                "description": _("Invoice %(number)s", number=invoice.number)},
        options={"idempotency_key": f"invoice-{invoice.id}-{due}", "stripe_account": profile.stripe_account_id})
    invoice.stripe_payment_intent = intent.id
    session.flush()
    return {"id": intent.id, "client_secret": intent.client_secret, "amount": due, "currency": invoice.currency,
            "account": profile.stripe_account_id}


def start_checkout(session: Session, invoice: Invoice, *, success_url: str, cancel_url: str) -> str:
    """The address of a Stripe Checkout page where the tenant pays what is outstanding on ``invoice`` by
    card: a Checkout Session on the partner's connected account whose PaymentIntent carries the platform
    fee and the invoice id (so ``payment_intent.succeeded`` records it like any card payment). Stripe
    hosts the card form: no card data and no Stripe script reach our pages (decision 0066). The same
    outstanding amount on the same day gives back the same session (idempotency key)."""
    invoice, profile, due, fee = _payable(session, invoice)
    label = _("Invoice %(number)s", number=invoice.number)
    metadata = {"invoice_id": str(invoice.id), "invoice_number": invoice.number or ""}
    checkout = client().v1.checkout.sessions.create(
        params={"mode": "payment", "success_url": success_url, "cancel_url": cancel_url,
                "client_reference_id": str(invoice.id), "metadata": metadata,
                "line_items": [{"quantity": 1, "price_data": {"currency": invoice.currency.lower(), "unit_amount": due,
                                                              "product_data": {"name": label}}}],
                "payment_intent_data": {"application_fee_amount": fee, "metadata": metadata, "description": label}},
        options={"idempotency_key": f"invoice-{invoice.id}-{due}-checkout-{date.today().isoformat()}",
                 "stripe_account": profile.stripe_account_id})
    return checkout.url


# ---- webhooks ----------------------------------------------------------------------------------------

def handle_event(session: Session, event: Any, *, today: date) -> str:
    """Apply a verified Stripe event once; returns what was done (``duplicate`` for a re-delivery)."""
    event = _plain(event)
    obj = event["data"]["object"]
    inserted = session.execute(
        insert(WebhookEvent).values(event_id=event["id"], type=event["type"], account=event.get("account"),
                                    object_id=obj.get("id"), created=int(event.get("created") or 0))
        .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id]).returning(WebhookEvent.id)
    ).scalar()
    if inserted is None:
        return "duplicate"
    handler = HANDLERS.get(event["type"])
    outcome = handler(session, event, obj, today) if handler else "ignored"
    session.get(WebhookEvent, inserted).outcome = outcome
    session.flush()
    return outcome


def _plain(obj: Any) -> dict[str, Any]:
    """A Stripe object as plain dicts and lists (``StripeObject`` is not a dict)."""
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def _invoice_for_intent(session: Session, intent: Any) -> Invoice | None:
    invoice_id = (intent.get("metadata") or {}).get("invoice_id")
    if invoice_id and str(invoice_id).isdigit():
        invoice = session.get(Invoice, int(invoice_id))
        if invoice is not None:
            return invoice
    return session.execute(select(Invoice).where(Invoice.stripe_payment_intent == intent.get("id"))
                           ).unique().scalar_one_or_none()


def _record_card_payment(session: Session, intent: Any, today: date, account: str | None) -> str:
    """Record a succeeded PaymentIntent once (its id is the payment's reference), only when it was made
    on the invoice's partner's account and in the invoice's currency."""
    if session.execute(select(Payment.id).where(Payment.method == PaymentMethod.card,
                                                Payment.reference == intent["id"])).first():
        return "already recorded"
    invoice = _invoice_for_intent(session, intent)
    if invoice is None:
        return "unknown invoice"
    profile = session.get(PartnerBilling, invoice.partner_id)
    if profile is None or not account or profile.stripe_account_id != account:
        return "not the partner's account"
    # Stripe's amounts are in the currency's smallest unit, as ours (ISO 4217 exponents)
    if str(intent.get("currency") or "").upper() != invoice.currency:
        return "other currency"
    amount = min(int(intent.get("amount_received") or intent.get("amount") or 0), billing.outstanding(invoice))
    if amount <= 0 or invoice.status not in (InvoiceStatus.issued, InvoiceStatus.uncollectible):
        return "nothing outstanding"
    paid_on = datetime.fromtimestamp(int(intent.get("created") or time.time()), timezone.utc).date()
    billing.record_payment(session, invoice, method=PaymentMethod.card, amount=amount, reference=intent["id"],
                           paid_on=paid_on, actor="stripe", today=today)
    return "payment recorded"


def _intent_created(session, event, intent, today) -> str:
    invoice = _invoice_for_intent(session, intent)
    if invoice is not None and invoice.stripe_payment_intent is None:
        invoice.stripe_payment_intent = intent["id"]
        return "linked"
    return "noted"


def _intent_succeeded(session, event, intent, today) -> str:
    return _record_card_payment(session, intent, today, event.get("account"))


def _charge_refunded(session, event, charge, today) -> str:
    """Refunds carry the charge's cumulative ``amount_refunded``: applying the largest seen is the same
    whatever order the events come in. A refund for a payment not seen yet fetches its PaymentIntent."""
    intent_id = charge.get("payment_intent")
    if not intent_id:
        return "ignored"
    payment = session.execute(select(Payment).where(Payment.method == PaymentMethod.card,
                                                    Payment.reference == intent_id)).scalar_one_or_none()
    if payment is None:
        intent = _plain(client().v1.payment_intents.retrieve(intent_id,
                                                             options={"stripe_account": event.get("account")}))
        if intent.get("status") == "succeeded":
            _record_card_payment(session, intent, today, event.get("account"))
        payment = session.execute(select(Payment).where(Payment.method == PaymentMethod.card,
                                                        Payment.reference == intent_id)).scalar_one_or_none()
        if payment is None:
            return "unknown payment"
    refunded = min(int(charge.get("amount_refunded") or 0), payment.amount)
    delta = refunded - payment.refunded
    if delta <= 0:
        return "refund already applied"
    payment.refunded = refunded
    invoice = billing.get_invoice(session, payment.invoice_id, for_update=True)
    invoice.amount_paid -= delta
    if invoice.status == InvoiceStatus.paid and billing.outstanding(invoice) > 0:
        # money went back: the invoice is open (and due) again
        invoice.status, invoice.paid_at = InvoiceStatus.issued, None
    session.flush()
    return "refund applied"


def _checkout_completed(session, event, checkout, today) -> str:
    """A paid Checkout Session: record its PaymentIntent (fetched, as the session carries only its id);
    ``payment_intent.succeeded`` may have recorded it already, or may come later and find it done."""
    intent_id = checkout.get("payment_intent")
    if checkout.get("payment_status") != "paid" or not intent_id:
        return "not paid"
    intent = _plain(client().v1.payment_intents.retrieve(intent_id, options={"stripe_account": event.get("account")}))
    if intent.get("status") != "succeeded":
        return "not paid"
    return _record_card_payment(session, intent, today, event.get("account"))


def _account_updated(session, event, account, today) -> str:
    """Fetch the account's current state (an older update arriving late must not win)."""
    current = _plain(client().v1.accounts.retrieve(account["id"]))
    profile = session.execute(select(PartnerBilling).where(PartnerBilling.stripe_account_id == account["id"])
                              ).scalar_one_or_none()
    if profile is None:
        return "unknown account"
    profile.stripe_charges_enabled = bool(current.get("charges_enabled"))
    return "account updated"


HANDLERS = {
    "checkout.session.completed": _checkout_completed,
    "payment_intent.created": _intent_created,
    "payment_intent.succeeded": _intent_succeeded,
    "charge.refunded": _charge_refunded,
    "account.updated": _account_updated,
}
