"""Tables of the payments module: gateways (per-tenant settings and encrypted keys), bills posted to a
control-number gateway, the payment notifications received for them, and daily reconciliations.

Amounts are integer minor units with the currency beside them (decision 0101).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check


class GatewayKind(StrEnum):
    control_number = "control_number"  # collections: bill -> control number -> payment notification
    mobile_money = "mobile_money"  # disbursements: one request per payroll line


class SignatureAlgorithm(StrEnum):
    rsa_sha256 = "rsa-sha256"
    rsa_sha1 = "rsa-sha1"  # the older control-number gateway specification
    hmac_sha256 = "hmac-sha256"


class BillStatus(StrEnum):
    pending = "pending"  # created; not (yet) accepted by the gateway
    submitted = "submitted"  # the gateway acknowledged it; its control number comes by callback
    issued = "issued"  # the control number is known; the payer can pay
    partially_paid = "partially_paid"
    paid = "paid"
    rejected = "rejected"  # the gateway refused the bill (its status code says why)
    expired = "expired"
    cancelled = "cancelled"


class PaymentOption(StrEnum):
    full = "full"  # one payment of the whole amount
    partial = "partial"  # instalments until the whole amount is paid
    exact = "exact"  # exactly the amount, once


class NotificationStatus(StrEnum):
    applied = "applied"  # matched to a bill and applied
    unmatched = "unmatched"  # no bill of ours has its bill id / control number
    refused = "refused"  # matched a bill that could not take it (other currency, closed bill)


class ReconciliationStatus(StrEnum):
    requested = "requested"
    done = "done"
    failed = "failed"


class PaymentGateway(TimestampMixin, TenantBase):
    """One gateway account of the scheme: where to send, how to sign and verify, and its keys."""

    __tablename__ = "payment_gateways"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(String(500))
    #: our service-provider code at the gateway (SpCode)
    sp_code: Mapped[str] = mapped_column(String(40))
    signature: Mapped[str] = mapped_column(String(20), default=SignatureAlgorithm.rsa_sha256)
    timeout_s: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    #: non-secret settings (e.g. currency, default bill validity in days)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    #: key-ring ciphertext of a JSON object: hmac_secret, private_key (ours, PEM), gateway_public_key (PEM)
    secret: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(status_check("kind", GatewayKind), name="kind"),
        CheckConstraint(status_check("signature", SignatureAlgorithm), name="signature"),
        CheckConstraint("timeout_s BETWEEN 1 AND 120", name="timeout_s"),
    )


class Bill(TimestampMixin, TenantBase):
    """A bill posted to a control-number gateway; ``reference`` is the bill id the gateway knows."""

    __tablename__ = "payment_bills"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("payment_gateways.id"), index=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    #: what the payment is for: a kind registered with ``register_payable`` and that module's id
    payable_kind: Mapped[str | None] = mapped_column(String(40))
    payable_ref: Mapped[str | None] = mapped_column(String(100))
    payer_name: Mapped[str] = mapped_column(String(200))
    payer_phone: Mapped[str | None] = mapped_column(String(20))
    payer_email: Mapped[str | None] = mapped_column(String(254))
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_option: Mapped[str] = mapped_column(String(10), default=PaymentOption.exact)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: [{"code", "description", "amount"}] summing to ``amount``
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(20), default=BillStatus.pending, server_default="pending")
    control_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: the gateway's last status code about the bill (7101 success, 7226 duplicate bill, ...)
    gateway_status: Mapped[str | None] = mapped_column(String(10))
    submit_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(300))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(254))

    __table_args__ = (
        CheckConstraint(status_check("status", BillStatus), name="status"),
        CheckConstraint(status_check("payment_option", PaymentOption), name="payment_option"),
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("paid_amount >= 0", name="paid_amount"),
        Index("ix_payment_bills_payable", "payable_kind", "payable_ref"),
    )


class PaymentNotification(TenantBase):
    """One payment the gateway told us about, stored once per gateway transaction id (re-sent
    notifications only count ``deliveries``)."""

    __tablename__ = "payment_notifications"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("payment_gateways.id"), index=True)
    gateway_txn_id: Mapped[str] = mapped_column(String(60))
    bill_id: Mapped[int | None] = mapped_column(ForeignKey("payment_bills.id"), index=True)
    bill_reference: Mapped[str | None] = mapped_column(String(40))
    control_number: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(60))
    receipt: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20))
    deliveries: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    #: the notification's content element exactly as signed (kept as evidence)
    raw: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("gateway_id", "gateway_txn_id", name="uq_payment_notifications_txn"),
        CheckConstraint(status_check("status", NotificationStatus), name="status"),
        Index("ix_payment_notifications_paid_at", "gateway_id", "paid_at"),
    )


class Reconciliation(TenantBase):
    """The gateway's statement of one day set against the notifications we stored."""

    __tablename__ = "payment_reconciliations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("payment_gateways.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=ReconciliationStatus.requested)
    #: matched, missing, not_in_statement, unmatched, amount_mismatch, statement_total, ...
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    #: the flagged transactions: [{"txn", "flag", "amount", "statement_amount", "bill"}]
    flagged: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        UniqueConstraint("gateway_id", "day", name="uq_payment_reconciliations_day"),
        CheckConstraint(status_check("status", ReconciliationStatus), name="status"),
    )


def _register_encrypted_columns() -> None:
    from schemehost.platform.secrets.services import register_encrypted_column

    register_encrypted_column(PaymentGateway.__table__, "id", "secret")


_register_encrypted_columns()


class DisbursementStatus(StrEnum):
    pending = "pending"  # to be sent (again, after a transient failure: see next_attempt_at)
    accepted = "accepted"  # the provider took the request; its result comes by callback
    succeeded = "succeeded"
    failed = "failed"  # final: refused by the provider, or transient failures until attempts ran out


class Disbursement(TimestampMixin, TenantBase):
    """One payment to a person through a mobile-money gateway (e.g. one payroll line), sent with
    ``idempotency_key`` so that sending it again never pays twice."""

    __tablename__ = "payment_disbursements"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("payment_gateways.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    payable_kind: Mapped[str | None] = mapped_column(String(40))
    payable_ref: Mapped[str | None] = mapped_column(String(100))
    recipient_phone: Mapped[str] = mapped_column(String(20))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default=DisbursementStatus.pending, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    provider_txn_id: Mapped[str | None] = mapped_column(String(60))
    result_code: Mapped[str | None] = mapped_column(String(40))
    last_error: Mapped[str | None] = mapped_column(String(300))
    callbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(status_check("status", DisbursementStatus), name="status"),
        CheckConstraint("amount > 0", name="amount"),
        UniqueConstraint("gateway_id", "provider_txn_id", name="uq_payment_disbursements_provider_txn"),
        Index("ix_payment_disbursements_payable", "payable_kind", "payable_ref"),
        Index("ix_payment_disbursements_due", "status", "next_attempt_at"),
    )
