"""Tables of cash-transfer programmes: programmes, payment points, beneficiaries, payment cycles,
payrolls and their lines. Amounts are integer minor units of the programme's currency (decision 0101).

``UNIQUE (cycle_id, beneficiary_id)`` on payroll lines is what keeps a beneficiary out of two payrolls
of one cycle; a rejected payroll gives its lines up (they are deleted) so that the cycle can be
generated again.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer,
                        SmallInteger, String, UniqueConstraint)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check


class Target(StrEnum):
    individuals = "individuals"
    households = "households"


class BenefitKind(StrEnum):
    fixed = "fixed"
    formula = "formula"  # base + per child (children under child_max_age, at most max_children), capped


class Frequency(StrEnum):
    monthly = "monthly"
    bimonthly = "bimonthly"
    quarterly = "quarterly"


class ProgrammeStatus(StrEnum):
    draft = "draft"
    active = "active"
    closed = "closed"


class BeneficiaryStatus(StrEnum):
    potential = "potential"
    active = "active"
    suspended = "suspended"
    graduated = "graduated"


class PaymentPointKind(StrEnum):
    agent = "agent"
    branch = "branch"
    mobile_money = "mobile_money"


class CycleStatus(StrEnum):
    open = "open"
    closed = "closed"


class PayrollStatus(StrEnum):
    pending_approval = "pending_approval"
    approved = "approved"
    rejected = "rejected"
    paid = "paid"
    reconciled = "reconciled"


class LineStatus(StrEnum):
    pending = "pending"
    paid = "paid"
    failed = "failed"


class Programme(TimestampMixin, TenantBase):
    __tablename__ = "transfer_programmes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(20))
    #: a registry eligibility filter (tenants/registry/eligibility.py)
    eligibility: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    benefit_kind: Mapped[str] = mapped_column(String(10), default=BenefitKind.fixed)
    base_amount: Mapped[int] = mapped_column(BigInteger)
    per_child_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    child_max_age: Mapped[int] = mapped_column(SmallInteger, default=18, server_default="18")
    max_children: Mapped[int | None] = mapped_column(SmallInteger)
    cap_amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    frequency: Mapped[str] = mapped_column(String(10), default=Frequency.monthly)
    #: most a cycle's payroll may total
    budget_ceiling: Mapped[int | None] = mapped_column(BigInteger)
    max_beneficiaries: Mapped[int | None] = mapped_column(Integer)
    #: location level whose totals a payroll reports ("district")
    district_level: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    status: Mapped[str] = mapped_column(String(10), default=ProgrammeStatus.draft, server_default="draft")

    __table_args__ = (
        CheckConstraint(status_check("target", Target), name="target"),
        CheckConstraint(status_check("benefit_kind", BenefitKind), name="benefit_kind"),
        CheckConstraint(status_check("frequency", Frequency), name="frequency"),
        CheckConstraint(status_check("status", ProgrammeStatus), name="status"),
        CheckConstraint("base_amount >= 0 AND per_child_amount >= 0", name="amounts"),
    )


class PaymentPoint(TimestampMixin, TenantBase):
    """An agent, a branch or a mobile-money channel where beneficiaries are paid."""

    __tablename__ = "transfer_payment_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    manager_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")

    __table_args__ = (CheckConstraint(status_check("kind", PaymentPointKind), name="kind"),)


class Beneficiary(TenantBase):
    __tablename__ = "transfer_beneficiaries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("transfer_programmes.id", ondelete="RESTRICT"))
    individual_id: Mapped[int | None] = mapped_column(ForeignKey("individuals.id", ondelete="RESTRICT"), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=BeneficiaryStatus.potential, server_default="potential")
    payment_point_id: Mapped[int | None] = mapped_column(ForeignKey("transfer_payment_points.id", ondelete="SET NULL"),
                                                         index=True)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enrolled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("programme_id", "individual_id", name="uq_transfer_beneficiaries_individual"),
        UniqueConstraint("programme_id", "household_id", name="uq_transfer_beneficiaries_household"),
        CheckConstraint("(individual_id IS NULL) <> (household_id IS NULL)", name="one_target"),
        CheckConstraint(status_check("status", BeneficiaryStatus), name="status"),
        Index("ix_transfer_beneficiaries_programme_status", "programme_id", "status"),
    )


class PaymentCycle(TimestampMixin, TenantBase):
    __tablename__ = "transfer_cycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("transfer_programmes.id", ondelete="RESTRICT"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default=CycleStatus.open, server_default="open")

    __table_args__ = (
        UniqueConstraint("programme_id", "period_start", name="uq_transfer_cycles_period"),
        CheckConstraint(status_check("status", CycleStatus), name="status"),
        CheckConstraint("period_end >= period_start", name="period"),
    )


class Payroll(TimestampMixin, TenantBase):
    __tablename__ = "transfer_payrolls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("transfer_cycles.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=PayrollStatus.pending_approval,
                                        server_default="pending_approval")
    #: (actor type, id) of who generated it, and who approved it: never the same (maker-checker)
    generated_by: Mapped[str] = mapped_column(String(120))
    generated_by_name: Mapped[str | None] = mapped_column(String(254))
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_by_name: Mapped[str | None] = mapped_column(String(254))
    approved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rejected_reason: Mapped[str | None] = mapped_column(String(500))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: "offline" (exported file, payment points) or the code of the mobile-money gateway
    paid_via: Mapped[str | None] = mapped_column(String(40))
    lines: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    currency: Mapped[str] = mapped_column(String(3))

    __table_args__ = (CheckConstraint(status_check("status", PayrollStatus), name="status"),)


class PayrollLine(TenantBase):
    __tablename__ = "transfer_payroll_lines"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    #: the payroll and the beneficiary: no foreign keys (one check per line of a million-line payroll);
    #: triggers on the referenced side keep them (decision 0413: a deleted payroll deletes its lines, a
    #: beneficiary with lines is not deleted, a line's payroll and beneficiary never change)
    payroll_id: Mapped[int] = mapped_column(Integer)
    #: the payroll's cycle, copied for the unique index below (no foreign key: decision 0406)
    cycle_id: Mapped[int] = mapped_column(Integer)
    beneficiary_id: Mapped[int] = mapped_column(BigInteger, index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    children: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    district_id: Mapped[int | None] = mapped_column(Integer)
    payment_point_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default=LineStatus.pending, server_default="pending")
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: receipt or provider transaction, from the uploaded paid list or the gateway
    reference: Mapped[str | None] = mapped_column(String(80))
    failure: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("cycle_id", "beneficiary_id", name="uq_transfer_payroll_lines_cycle_beneficiary"),
        CheckConstraint(status_check("status", LineStatus), name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        #: a payroll's lines, and "is any still pending?" as a short probe (decision 0413)
        Index("ix_transfer_payroll_lines_payroll_status", "payroll_id", "status", "id"),
    )
