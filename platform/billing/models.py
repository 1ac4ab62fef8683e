"""Billing in the control plane: plans and prices, subscriptions, metered usage, invoices, payments.

Money is integer minor units with the ISO 4217 code beside it (``schemehost.platform.money``); unit prices
of metered lines may hold fractions of a minor unit (``Numeric``) and each line is rounded once, half-even.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schemehost.platform.db import ControlBase, TimestampMixin, status_check, utcnow


class Period(StrEnum):
    monthly = "monthly"
    quarterly = "quarterly"
    yearly = "yearly"


#: months in each billing period
PERIOD_MONTHS = {Period.monthly: 1, Period.quarterly: 3, Period.yearly: 12}


class SubscriptionStatus(StrEnum):
    active = "active"
    canceled = "canceled"


class InvoiceKind(StrEnum):
    invoice = "invoice"
    credit_note = "credit_note"


class InvoiceStatus(StrEnum):
    draft = "draft"
    issued = "issued"
    paid = "paid"
    void = "void"
    uncollectible = "uncollectible"


class LineKind(StrEnum):
    setup = "setup"
    fixed = "fixed"
    metered = "metered"
    proration = "proration"
    credit = "credit"


class PaymentMethod(StrEnum):
    bank = "bank"
    cash = "cash"
    mobile_money = "mobile_money"
    card = "card"
    control_number = "control_number"  # paid to a control number of the partner's gateway (decision 0506)


class FeeKind(StrEnum):
    percent = "percent"
    fixed = "fixed"


class Plan(TimestampMixin, ControlBase):
    """A partner's plan: what a tenant pays each period (fixed fee, metered prices) and its dunning delays."""

    __tablename__ = "billing_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    period: Mapped[str] = mapped_column(String(10), default=Period.monthly)
    fixed_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    setup_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    trial_days: Mapped[int] = mapped_column(Integer, default=0)
    #: days from issue to due date
    due_days: Mapped[int] = mapped_column(Integer, default=14)
    #: dunning: a reminder every ``reminder_days`` while overdue; read-only after N, suspended after M days overdue
    reminder_days: Mapped[int] = mapped_column(Integer, default=7)
    read_only_after_days: Mapped[int] = mapped_column(Integer, default=30)
    suspend_after_days: Mapped[int] = mapped_column(Integer, default=60)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")

    prices: Mapped[list["PlanPrice"]] = relationship(back_populates="plan", cascade="all, delete-orphan",
                                                     order_by="PlanPrice.id", lazy="selectin")
    partner = relationship("Partner", lazy="joined")

    __table_args__ = (
        UniqueConstraint("partner_id", "code"),
        CheckConstraint(status_check("period", Period), name="period"),
        CheckConstraint("fixed_fee >= 0 AND setup_fee >= 0", name="fees"),
        CheckConstraint("trial_days >= 0 AND due_days >= 0 AND reminder_days > 0", name="days"),
        CheckConstraint("read_only_after_days >= 0 AND suspend_after_days >= read_only_after_days", name="dunning"),
    )


class PlanPrice(ControlBase):
    """A metered price of a plan: a meter, units included in the fixed fee, and graduated tiers.

    ``tiers`` is ``[{"up_to": int | null, "unit_amount": "decimal minor units"}, ...]`` in ascending
    order, the last one open (``up_to`` null); units above the allowance fill the tiers in turn.
    """

    __tablename__ = "billing_plan_prices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plans.id", ondelete="CASCADE"), index=True)
    meter: Mapped[str] = mapped_column(String(40))
    included: Mapped[int] = mapped_column(BigInteger, default=0)
    tiers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)

    plan: Mapped[Plan] = relationship(back_populates="prices")

    __table_args__ = (UniqueConstraint("plan_id", "meter"), CheckConstraint("included >= 0", name="included"))


class TaxRate(TimestampMixin, ControlBase):
    """A partner's tax rate (percent) for tenants billed in ``country``."""

    __tablename__ = "billing_tax_rates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    country: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(100))
    rate: Mapped[Decimal] = mapped_column(Numeric(7, 4))

    __table_args__ = (UniqueConstraint("partner_id", "country"),
                      CheckConstraint("rate >= 0 AND rate < 100", name="rate"))


class PlatformFee(TimestampMixin, ControlBase):
    """The operator's share: per partner, or the default (``partner_id`` NULL); a percentage of each
    invoice's subtotal or a fixed amount per tenant and period."""

    __tablename__ = "billing_platform_fees"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 4))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))

    __table_args__ = (
        CheckConstraint(status_check("kind", FeeKind), name="kind"),
        CheckConstraint("(kind = 'percent' AND percent >= 0 AND percent <= 100 AND amount IS NULL) OR "
                        "(kind = 'fixed' AND amount >= 0 AND currency IS NOT NULL AND percent IS NULL)",
                        name="value"),
        Index("uq_billing_platform_fees_partner", text("coalesce(partner_id, 0)"), unique=True),
    )


class PartnerBilling(TimestampMixin, ControlBase):
    """A partner's details printed on its invoices, and its Stripe connected account."""

    __tablename__ = "billing_partner_profiles"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True)
    legal_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(Text)
    tax_id: Mapped[str | None] = mapped_column(String(50))
    payment_instructions: Mapped[str | None] = mapped_column(Text)
    invoice_prefix: Mapped[str | None] = mapped_column(String(12))
    stripe_account_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    stripe_charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Subscription(TimestampMixin, ControlBase):
    """A tenant on a plan. Billing is in arrears: a period's invoice is made once the period has ended.

    A trial delays the first period (``current_period_start`` = start + trial days). ``segment_start`` is
    where the current plan began inside the current period (a plan change prorates the fixed fee).
    """

    __tablename__ = "billing_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("billing_plans.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=SubscriptionStatus.active)
    country: Mapped[str | None] = mapped_column(String(2))
    #: where invoices and reminders go (else the partner's contact)
    billing_email: Mapped[str | None] = mapped_column(String(254))
    started_on: Mapped[date] = mapped_column(Date)
    trial_ends_on: Mapped[date] = mapped_column(Date)
    current_period_start: Mapped[date] = mapped_column(Date)
    current_period_end: Mapped[date] = mapped_column(Date)
    segment_start: Mapped[date] = mapped_column(Date)
    setup_billed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    canceled_on: Mapped[date | None] = mapped_column(Date)

    plan: Mapped[Plan] = relationship(lazy="joined")
    tenant = relationship("Tenant", lazy="joined")

    __table_args__ = (
        CheckConstraint(status_check("status", SubscriptionStatus), name="status"),
        CheckConstraint("current_period_start < current_period_end", name="period"),
        # one live subscription per tenant
        Index("uq_billing_subscriptions_live_tenant", "tenant_id", unique=True,
              postgresql_where=text("status = 'active'")),
    )


class PendingLine(ControlBase):
    """A charge or credit waiting for the subscription's next invoice (e.g. the prorated fee of a
    plan left mid-period)."""

    __tablename__ = "billing_pending_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("billing_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    kind: Mapped[str] = mapped_column(String(12))
    description: Mapped[str] = mapped_column(String(300))
    amount: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id", ondelete="SET NULL"),
                                                   index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), default=utcnow)


class Usage(ControlBase):
    """One tenant's count for one meter on one day (the tenant's local date); re-metering a day replaces it."""

    __tablename__ = "billing_usage"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    meter: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    measured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                  default=utcnow)


class InvoiceCounter(ControlBase):
    """The next number of a partner's invoices (or credit notes): locked and bumped when one is issued,
    so numbers have no gaps (a rolled-back issue gives its number back)."""

    __tablename__ = "billing_invoice_counters"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    next_number: Mapped[int] = mapped_column(BigInteger, default=1)


class Invoice(TimestampMixin, ControlBase):
    """An invoice (or credit note) of a partner to a tenant; amounts in minor units of ``currency``."""

    __tablename__ = "billing_invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="RESTRICT"), index=True)
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("billing_subscriptions.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(String(12), default=InvoiceKind.invoice)
    #: the invoice a credit note corrects
    credits_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id", ondelete="RESTRICT"),
                                                           index=True)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    number: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(14), default=InvoiceStatus.draft)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)
    tax_name: Mapped[str | None] = mapped_column(String(100))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(7, 4), default=Decimal(0))
    subtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_credited: Mapped[int] = mapped_column(BigInteger, default=0)
    platform_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    issued_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    #: an operator's extension: dunning counts overdue days from here instead of ``due_on``
    extended_to: Mapped[date | None] = mapped_column(Date)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_reminder_on: Mapped[date | None] = mapped_column(Date)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    memo: Mapped[str | None] = mapped_column(Text)
    stripe_payment_intent: Mapped[str | None] = mapped_column(String(64), unique=True)

    lines: Mapped[list["InvoiceLine"]] = relationship(back_populates="invoice", cascade="all, delete-orphan",
                                                      order_by="InvoiceLine.position", lazy="selectin")
    tenant = relationship("Tenant", lazy="joined")
    partner = relationship("Partner", lazy="joined")

    __table_args__ = (
        CheckConstraint(status_check("kind", InvoiceKind), name="kind"),
        CheckConstraint(status_check("status", InvoiceStatus), name="status"),
        CheckConstraint("total = subtotal + tax", name="total"),
        CheckConstraint("(status = 'draft') = (seq IS NULL)", name="numbered_when_issued"),
        UniqueConstraint("partner_id", "kind", "seq"),
        # one period invoice per subscription and period start
        Index("uq_billing_invoices_period", "subscription_id", "period_start", unique=True,
              postgresql_where=text("kind = 'invoice' AND subscription_id IS NOT NULL AND status <> 'void'")),
    )


class InvoiceLine(ControlBase):
    """A line of an invoice: ``amount`` (rounded once) and its ``tax`` (rounded once)."""

    __tablename__ = "billing_invoice_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    meter: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300))
    quantity: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger, default=0)
    #: how a metered line was computed: measured maximum, allowance, tiers used
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    invoice: Mapped[Invoice] = relationship(back_populates="lines")

    __table_args__ = (CheckConstraint(status_check("kind", LineKind), name="kind"),)


class Payment(TimestampMixin, ControlBase):
    """Money received against an invoice (manual settlement or a card payment through Stripe)."""

    __tablename__ = "billing_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id", ondelete="RESTRICT"), index=True)
    method: Mapped[str] = mapped_column(String(14))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(100))
    paid_on: Mapped[date] = mapped_column(Date)
    recorded_by: Mapped[str] = mapped_column(String(200))
    proof_name: Mapped[str | None] = mapped_column(String(200))
    proof_type: Mapped[str | None] = mapped_column(String(100))
    proof: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(status_check("method", PaymentMethod), name="method"),
        CheckConstraint("amount > 0 AND refunded >= 0 AND refunded <= amount", name="amount"),
        # the same bank/mobile-money reference (or Stripe charge) is recorded once per method
        UniqueConstraint("method", "reference"),
    )


class WebhookEvent(ControlBase):
    """A Stripe event received once (its id is unique): a re-delivery finds it and changes nothing."""

    __tablename__ = "billing_webhook_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    account: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(100))
    #: Stripe's ``created`` (seconds): orders events about one object
    created: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), default=utcnow)


class ControlBillStatus(StrEnum):
    pending = "pending"  # recorded; not (yet) accepted by the gateway
    submitted = "submitted"  # accepted; the control number comes by callback
    issued = "issued"  # has its control number: the tenant can pay it
    rejected = "rejected"
    closed = "closed"  # the invoice is settled, voided or the bill was replaced


class GatewayNotificationStatus(StrEnum):
    applied = "applied"
    unmatched = "unmatched"
    refused = "refused"


class BillingGateway(TimestampMixin, ControlBase):
    """A partner's control-number gateway (decision 0506): the same settings as a scheme's gateway in the
    payments module, read by the same adapter. ``secret`` is key-ring ciphertext of a JSON object
    (``hmac_secret``, ``private_key``, ``gateway_public_key``), never returned."""

    __tablename__ = "billing_gateways"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    sp_code: Mapped[str] = mapped_column(String(40))
    signature: Mapped[str] = mapped_column(String(20))
    timeout_s: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    secret: Mapped[str | None] = mapped_column(Text)

    partner = relationship("Partner", lazy="select")

    @property
    def code(self) -> str:  # what the payments adapter calls the gateway (logs)
        return f"billing-{self.partner.slug}"

    __table_args__ = (
        CheckConstraint("signature IN ('rsa-sha256', 'rsa-sha1', 'hmac-sha256')", name="signature"),
        CheckConstraint("timeout_s BETWEEN 1 AND 120", name="timeout_s"),
    )


class ControlBill(TimestampMixin, ControlBase):
    """A bill posted to the partner's gateway for what an invoice has outstanding; paid to its control
    number. At most one open bill per invoice."""

    __tablename__ = "billing_control_bills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id", ondelete="RESTRICT"), index=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("billing_gateways.id", ondelete="RESTRICT"))
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    control_number: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12), default=ControlBillStatus.pending)
    gateway_status: Mapped[str | None] = mapped_column(String(10))
    last_error: Mapped[str | None] = mapped_column(String(300))
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    requested_by: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'submitted', 'issued', 'rejected', 'closed')", name="status"),
        UniqueConstraint("gateway_id", "control_number", name="uq_billing_control_bills_gateway_id"),
        Index("uq_billing_control_bills_open", "invoice_id", unique=True,
              postgresql_where=text("status IN ('pending', 'submitted', 'issued')")),
    )


class GatewayNotification(ControlBase):
    """A payment notification of a partner's gateway, stored once per gateway transaction id."""

    __tablename__ = "billing_gateway_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("billing_gateways.id", ondelete="RESTRICT"))
    gateway_txn_id: Mapped[str] = mapped_column(String(100))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("billing_control_bills.id", ondelete="SET NULL"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("billing_payments.id", ondelete="SET NULL"))
    bill_reference: Mapped[str | None] = mapped_column(String(40))
    control_number: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    receipt: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(200))
    deliveries: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    raw: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), default=utcnow)

    __table_args__ = (
        CheckConstraint("status IN ('applied', 'unmatched', 'refused')", name="status"),
        UniqueConstraint("gateway_id", "gateway_txn_id", name="uq_billing_gateway_notifications_txn"),
    )
