"""Facility statements: the valuated claims of one facility and period, batched for payment.

A statement moves ``draft`` → ``approved`` → ``paid``, or to ``cancelled`` before it is paid (its
claims are then free again). A claim belongs to at most one statement (``claims.statement_id``, a
foreign key to this table, cleared on cancellation), so it is never paid twice (decision 0325).
Amounts are integers in the currency's minor unit with the currency beside them (decision 0101).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check

REFERENCE_LENGTH = 40
PAYMENT_REFERENCE_LENGTH = 100
USER_LENGTH = 254
REASON_LENGTH = 500


class StatementStatus(StrEnum):
    draft = "draft"
    approved = "approved"
    paid = "paid"
    cancelled = "cancelled"


class ClaimStatement(TimestampMixin, TenantBase):
    """What the scheme owes one facility for the claims valuated in a period (``reference``: the
    number quoted on the payment)."""

    __tablename__ = "claim_statements"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference: Mapped[str] = mapped_column(String(REFERENCE_LENGTH), unique=True)
    # indexed by (facility_id, period_start) below
    facility_id: Mapped[int] = mapped_column(ForeignKey("health_facilities.id", ondelete="RESTRICT"))
    #: days of the tenant's calendar on which the claims were valuated
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10), default=StatementStatus.draft, server_default="draft")
    #: Σ valuated amount and number of its claims, fixed when it was made
    total: Mapped[int] = mapped_column(BigInteger)
    claim_count: Mapped[int] = mapped_column(Integer)
    #: who made and who approved it: ``<principal kind>:<id>`` (maker-checker) and the name shown
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))
    created_by_name: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    approved_by: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    approved_by_name: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_on: Mapped[date | None] = mapped_column(Date)
    payment_reference: Mapped[str | None] = mapped_column(String(PAYMENT_REFERENCE_LENGTH))
    paid_by_name: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_by_name: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))

    __table_args__ = (
        CheckConstraint(status_check("status", StatementStatus), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
        CheckConstraint("total >= 0 AND claim_count > 0", name="figures"),
        CheckConstraint("status <> 'paid' OR (paid_on IS NOT NULL AND payment_reference IS NOT NULL)", name="paid"),
        Index("ix_claim_statements_facility_id_period_start", "facility_id", "period_start"),
        Index("ix_claim_statements_status", "status"),
    )
