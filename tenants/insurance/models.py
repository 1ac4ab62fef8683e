"""Insurance tables of every tenant schema: products (versioned), their covered items and services,
policies with the members they insure, and contributions.

Amounts are integers in the currency's minor unit with the currency beside them (decision 0101);
percentages are ``Numeric(5, 2)``. A product row is one *version* of a product code: a product that
policies use is never changed in ways that alter them; a new version is made instead (decision 0300).

Employment-injury insurance (decision 0320) uses the same tables: a product's ``holder`` says whom it
insures (households, or an employer's workers); a policy's holder is a household or an
:class:`Employer`, and an employer policy's members are its workers, each with a monthly wage and the
dates they are covered. A :class:`WorkIncident` records a worker's accident or disease at work;
claims under a product that ``requires_incident`` reference an accepted one.

``insurance_usage`` is a view (created in the migration, empty until the claims module replaces it)
of what insurees have already used of an item or service under a policy; eligibility reads remaining
limits from it (decision 0303).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer,
                        Numeric, SmallInteger, String, UniqueConstraint, func)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check

CODE_LENGTH = 50
NAME_LENGTH = 200
RECEIPT_LENGTH = 50
PAYER_LENGTH = 200


class PolicyStatus(StrEnum):
    idle = "idle"  # enrolled, not (fully) paid
    ready = "ready"  # paid, coverage starts on a future date
    active = "active"
    suspended = "suspended"
    expired = "expired"


class Stage(StrEnum):
    new = "new"
    renewal = "renewal"


class Holder(StrEnum):
    household = "household"
    employer = "employer"


class EmployerStatus(StrEnum):
    active = "active"
    inactive = "inactive"


class IncidentKind(StrEnum):
    accident = "accident"  # at the workplace or during work
    commuting = "commuting"  # on the way to or from work
    disease = "disease"  # occupational disease


class IncidentStatus(StrEnum):
    reported = "reported"
    accepted = "accepted"
    rejected = "rejected"


class PaymentMethod(StrEnum):
    cash = "cash"
    bank = "bank"
    mobile = "mobile"
    gateway = "gateway"


class InsuranceProduct(TimestampMixin, TenantBase):
    """One version of an insurance product (``code`` + ``version`` unique)."""

    __tablename__ = "insurance_products"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    version: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    insurance_period_months: Mapped[int] = mapped_column(SmallInteger)
    # contribution rules
    max_members: Mapped[int | None] = mapped_column(SmallInteger)
    lump_sum: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    threshold: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    premium_adult: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    premium_child: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    adult_age: Mapped[int] = mapped_column(SmallInteger, default=18, server_default="18")
    registration_lump_sum: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    registration_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    assembly_lump_sum: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    assembly_fee: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    enrolment_discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0),
                                                                server_default="0")
    enrolment_discount_days: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    renewal_discount_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0), server_default="0")
    renewal_discount_days: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # enrolment cycles ("MM-DD" start dates in a year; none = a policy starts when enrolled) and periods
    cycle_starts: Mapped[list[str]] = mapped_column(ARRAY(String(5)), default=list, server_default="{}")
    grace_period_days: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    waiting_period_days: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # cost sharing: co-payment, and deductibles and ceilings by kind x scope x care (see COST_KEYS)
    copayment_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0), server_default="0")
    cost_sharing: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    # renewal rules
    renewal_reminder_days: Mapped[int] = mapped_column(SmallInteger, default=30, server_default="30")
    renewal_grace_days: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # employment injury (decision 0320): who holds the policies, what each worker costs per month
    holder: Mapped[str] = mapped_column(String(10), default=Holder.household, server_default="household")
    wage_rate_percent: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))  # of a worker's monthly wage
    premium_worker: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # per worker and month
    requires_incident: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    __table_args__ = (
        CheckConstraint(status_check("holder", Holder), name="holder"),
        CheckConstraint("wage_rate_percent > 0 AND wage_rate_percent <= 100", name="wage_rate"),
        CheckConstraint("premium_worker >= 0", name="premium_worker"),
        UniqueConstraint("code", "version", name="uq_insurance_products_code_version"),
        CheckConstraint("valid_to >= valid_from", name="validity"),
        CheckConstraint("insurance_period_months BETWEEN 1 AND 120", name="period"),
        CheckConstraint("lump_sum >= 0 AND premium_adult >= 0 AND premium_child >= 0 AND registration_lump_sum >= 0"
                        " AND registration_fee >= 0 AND assembly_lump_sum >= 0 AND assembly_fee >= 0",
                        name="amounts"),
        CheckConstraint("copayment_percent BETWEEN 0 AND 100 AND enrolment_discount_percent BETWEEN 0 AND 100"
                        " AND renewal_discount_percent BETWEEN 0 AND 100", name="percents"),
    )


class ProductCoverage(TenantBase):
    """An item or service of the registry catalogue that a product version covers, with its limits."""

    __tablename__ = "insurance_product_coverage"

    product_id: Mapped[int] = mapped_column(ForeignKey("insurance_products.id", ondelete="CASCADE"),
                                            primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id", ondelete="RESTRICT"), primary_key=True,
                                          index=True)
    limit_count: Mapped[int | None] = mapped_column(Integer)  # per insuree and policy period
    limit_amount: Mapped[int | None] = mapped_column(BigInteger)  # per insuree and policy period
    copayment_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))  # overrides the product's

    __table_args__ = (
        CheckConstraint("limit_count >= 0 AND limit_amount >= 0", name="limits"),
        CheckConstraint("copayment_percent BETWEEN 0 AND 100", name="copayment"),
    )


class Policy(TimestampMixin, TenantBase):
    """A household, or an employer's workers, insured by a product version for one period."""

    __tablename__ = "insurance_policies"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("insurance_products.id", ondelete="RESTRICT"), index=True)
    holder: Mapped[str] = mapped_column(String(10), default=Holder.household, server_default="household")
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="RESTRICT"), index=True)
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id", ondelete="RESTRICT"), index=True)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("insurance_policies.id", ondelete="RESTRICT"))
    stage: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default=PolicyStatus.idle, server_default="idle")
    enrol_date: Mapped[date] = mapped_column(Date)
    start_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date)
    effective_date: Mapped[date | None] = mapped_column(Date)  # coverage starts (after the waiting period)
    value: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    adults: Mapped[int] = mapped_column(SmallInteger)
    children: Mapped[int] = mapped_column(SmallInteger)
    breakdown: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    activation_forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")

    __table_args__ = (
        CheckConstraint(status_check("status", PolicyStatus), name="status"),
        CheckConstraint(status_check("stage", Stage), name="stage"),
        CheckConstraint("(holder = 'household' AND household_id IS NOT NULL AND employer_id IS NULL)"
                        " OR (holder = 'employer' AND employer_id IS NOT NULL AND household_id IS NULL)",
                        name="holder"),
        CheckConstraint("expiry_date >= start_date", name="period"),
        CheckConstraint("value >= 0 AND paid >= 0", name="amounts"),
        Index("ix_insurance_policies_status_expiry", "status", "expiry_date"),
    )


class PolicyMember(TenantBase):
    """An individual insured by a policy: the household's active members when enrolled, or a worker the
    employer enrolled, with their monthly wage and the days they are covered (None: the whole period)."""

    __tablename__ = "insurance_policy_members"

    policy_id: Mapped[int] = mapped_column(ForeignKey("insurance_policies.id", ondelete="CASCADE"),
                                           primary_key=True)
    individual_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="RESTRICT"), primary_key=True,
                                               index=True)
    wage: Mapped[int | None] = mapped_column(BigInteger)  # a worker's monthly wage, minor units
    covered_from: Mapped[date | None] = mapped_column(Date)
    covered_to: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint("wage >= 0", name="wage"),
        CheckConstraint("covered_to >= covered_from", name="covered"),
    )


class Contribution(TenantBase):
    """A payment towards a policy; the receipt number is unique in the tenant."""

    __tablename__ = "insurance_contributions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("insurance_policies.id", ondelete="RESTRICT"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    payer: Mapped[str | None] = mapped_column(String(PAYER_LENGTH))
    method: Mapped[str] = mapped_column(String(10))
    receipt_no: Mapped[str] = mapped_column(String(RECEIPT_LENGTH), unique=True)
    overpayment: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(status_check("method", PaymentMethod), name="method"),
        CheckConstraint("amount > 0 AND overpayment >= 0", name="amounts"),
    )


class Employer(TimestampMixin, TenantBase):
    """An employer that holds employment-injury policies for its workers (no worker's personal data
    here: workers are registry individuals enrolled as policy members)."""

    __tablename__ = "employers"

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    registration_no: Mapped[str | None] = mapped_column(String(CODE_LENGTH), unique=True)
    sector: Mapped[str | None] = mapped_column(String(100))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    address: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    contact_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(10), default=EmployerStatus.active, server_default="active")

    __table_args__ = (CheckConstraint(status_check("status", EmployerStatus), name="status"),)


class WorkIncident(TimestampMixin, TenantBase):
    """A worker's accident or occupational disease at an employer, reported and then accepted or
    rejected; claims under a product that ``requires_incident`` reference an accepted one."""

    __tablename__ = "work_incidents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # indexed by (individual_id, status) below
    individual_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="RESTRICT"))
    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id", ondelete="RESTRICT"), index=True)
    incident_date: Mapped[date] = mapped_column(Date)
    reported_on: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    place: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(10), default=IncidentStatus.reported, server_default="reported")
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(254))
    decision_note: Mapped[str | None] = mapped_column(String(500))
    reported_by: Mapped[str | None] = mapped_column(String(254))

    __table_args__ = (
        CheckConstraint(status_check("status", IncidentStatus), name="status"),
        CheckConstraint(status_check("kind", IncidentKind), name="kind"),
        CheckConstraint("reported_on >= incident_date", name="dates"),
        CheckConstraint("(status = 'reported') = (decided_on IS NULL)", name="decision"),
        Index("ix_work_incidents_individual_id_status", "individual_id", "status"),
    )
