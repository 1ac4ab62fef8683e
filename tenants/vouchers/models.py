"""Voucher tables of every tenant schema: programmes (package of services, eligible facilities,
eligibility filter, budget), vouchers, and the redemption ledger.

Exactly-once redemption is enforced by the database: a redemption is the ``occurrence``-th use of
one service of one voucher, and ``(voucher_id, service_id, occurrence)`` is unique (decision 0201).
Amounts are integers in the currency's minor unit with the currency beside them (decision 0101).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer,
                        SmallInteger, String, Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check

CODE_LENGTH = 50
NAME_LENGTH = 200
#: random digits of a voucher code (10**15 > 2**49) followed by one Damm check digit
RANDOM_DIGITS = 15
VOUCHER_CODE_LENGTH = RANDOM_DIGITS + 1


class ClaimStatus(StrEnum):
    """A facility's reimbursement claim: ``verifying`` (sampled redemptions being checked) →
    ``approved`` → ``paid``."""

    verifying = "verifying"
    approved = "approved"
    paid = "paid"


class Verification(StrEnum):
    flagged = "flagged"
    confirmed = "confirmed"
    rejected = "rejected"


class ProgrammeStatus(StrEnum):
    active = "active"
    closed = "closed"


class VoucherStatus(StrEnum):
    issued = "issued"
    partially_redeemed = "partially_redeemed"
    redeemed = "redeemed"
    expired = "expired"
    cancelled = "cancelled"


#: a voucher in one of these may still be redeemed (if not past its expiry date)
LIVE = (VoucherStatus.issued, VoucherStatus.partially_redeemed)


class VoucherProgramme(TimestampMixin, TenantBase):
    """A package of services that a voucher entitles, with its rules and budget."""

    __tablename__ = "voucher_programmes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    currency: Mapped[str] = mapped_column(String(3))
    validity_days: Mapped[int] = mapped_column(Integer)
    #: an eligibility filter over individuals (tenants/registry/eligibility.py); None = everyone
    eligibility: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    #: ceiling of issued value (redeemed + committed), minor units; None = no ceiling
    budget_ceiling: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=ProgrammeStatus.active,
                                        server_default=ProgrammeStatus.active.value)

    __table_args__ = (
        CheckConstraint(status_check("status", ProgrammeStatus), name="status"),
        CheckConstraint("validity_days > 0", name="validity_days"),
        CheckConstraint("budget_ceiling IS NULL OR budget_ceiling >= 0", name="budget_ceiling"),
    )


class ProgrammeService(TenantBase):
    """One service of a programme: its tariff, how many times a voucher may use it, and what must come first."""

    __tablename__ = "voucher_programme_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    tariff: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(SmallInteger)
    #: order constraint: this service needs ``requires_count`` redemptions of service ``requires_code`` first
    requires_code: Mapped[str | None] = mapped_column(String(CODE_LENGTH))
    requires_count: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        UniqueConstraint("programme_id", "code"),
        CheckConstraint("tariff >= 0", name="tariff"),
        CheckConstraint("count BETWEEN 1 AND 100", name="count"),
        CheckConstraint("(requires_code IS NULL) = (requires_count IS NULL) AND "
                        "(requires_count IS NULL OR requires_count >= 1)", name="requires"),
    )


class ProgrammeFacility(TenantBase):
    """A facility where a programme's vouchers may be redeemed (a programme without any: every facility)."""

    __tablename__ = "voucher_programme_facilities"

    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="CASCADE"),
                                              primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("health_facilities.id", ondelete="RESTRICT"),
                                             primary_key=True, index=True)


class Voucher(TenantBase):
    """A voucher of one programme issued to one individual; its code is random, with a check digit."""

    __tablename__ = "vouchers"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("voucher_programmes.id", ondelete="RESTRICT"), index=True)
    individual_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(VOUCHER_CODE_LENGTH), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=VoucherStatus.issued,
                                        server_default=VoucherStatus.issued.value)
    #: the package's value when issued (sum of tariff × count), minor units of the programme's currency
    value: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    issued_by: Mapped[str | None] = mapped_column(String(254))
    #: last day it may be used (tenant's calendar)
    expires_on: Mapped[date] = mapped_column(Date, index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    #: the lost (cancelled) voucher this one replaces
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("vouchers.id", ondelete="RESTRICT"), index=True)

    __table_args__ = (
        CheckConstraint(status_check("status", VoucherStatus), name="status"),
        CheckConstraint("code ~ '^[0-9]{16}$'", name="code"),
        # one live voucher per person and programme: a bulk issuance run twice issues nothing new
        Index("ux_vouchers_live_holder", "programme_id", "individual_id", unique=True,
              postgresql_where=text("status IN ('issued', 'partially_redeemed')")),
    )


class Redemption(TenantBase):
    """The ledger: one row per redeemed service, at the tariff of that day (decision 0201)."""

    __tablename__ = "voucher_redemptions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    voucher_id: Mapped[int] = mapped_column(ForeignKey("vouchers.id", ondelete="RESTRICT"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("voucher_programme_services.id", ondelete="RESTRICT"),
                                            index=True)
    occurrence: Mapped[int] = mapped_column(SmallInteger)
    facility_id: Mapped[int] = mapped_column(ForeignKey("health_facilities.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    redeemed_by: Mapped[str | None] = mapped_column(String(254))
    #: the client's ``Idempotency-Key``: a retry with the same key answers this redemption again
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
    #: the reimbursement claim that pays it (None: not claimed yet)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("voucher_claims.id", ondelete="RESTRICT"), index=True)
    #: None, or the check of a redemption sampled for verification
    verification: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        UniqueConstraint("voucher_id", "service_id", "occurrence"),
        CheckConstraint("verification IS NULL OR " + status_check("verification", Verification), name="verification"),
        CheckConstraint("occurrence >= 1", name="occurrence"),
        CheckConstraint("amount >= 0", name="amount"),
    )


class Claim(TenantBase):
    """A facility's reimbursement claim: its redemptions of one period, a sample flagged for
    verification, approved (rejected redemptions left out) and marked paid (decision 0204)."""

    __tablename__ = "voucher_claims"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("health_facilities.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    #: sum and number of the claim's redemptions when batched
    claimed: Mapped[int] = mapped_column(BigInteger)
    redemptions: Mapped[int] = mapped_column(Integer)
    #: what is paid: the claimed amount less rejected redemptions (set on approval)
    approved_amount: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default=ClaimStatus.verifying,
                                        server_default=ClaimStatus.verifying.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_by: Mapped[str | None] = mapped_column(String(254))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    approved_by: Mapped[str | None] = mapped_column(String(254))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_by: Mapped[str | None] = mapped_column(String(254))
    payment_reference: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        CheckConstraint(status_check("status", ClaimStatus), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
    )
