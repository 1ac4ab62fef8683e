"""Insurance claims: what a health facility claims for one insuree's visit, line by line.

A claim is entered (console form, API or CSV batch) with its facility's own claim number (``code``,
unique per facility), the insuree, the visit's dates and type, its ICD-10 diagnoses and its lines
(catalogue items and services with quantity and claimed unit price). It then moves
``entered`` → ``checked`` (automatic rules, :mod:`.checks`) → ``processed`` (a reviewer's decision
per line) → ``valuated`` (priced from the product, :mod:`.valuation`), or to ``rejected`` when every
line is. ``version`` is the optimistic lock every change of a claim checks and bumps (decision 0311).

Amounts are integers in the currency's minor unit with the currency beside them (decision 0101).
``incident_id`` references the worker's work incident (employment injury, t0017); ``statement_id``
references the facility statement that pays the claim (:mod:`schemehost.tenants.insurance.statements`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer,
                        SmallInteger, String, UniqueConstraint)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check

CODE_LENGTH = 50
ICD_LENGTH = 10
REASON_LENGTH = 30
USER_LENGTH = 254
NOTE_LENGTH = 500


class ClaimStatus(StrEnum):
    entered = "entered"
    checked = "checked"
    processed = "processed"
    valuated = "valuated"
    rejected = "rejected"


class VisitType(StrEnum):
    out_patient = "out_patient"
    in_patient = "in_patient"
    emergency = "emergency"


class Selection(StrEnum):
    """Whether a claim was picked for review (or for asking the beneficiary), and whether that is done."""

    not_selected = "not_selected"
    selected = "selected"
    reviewed = "reviewed"


class LineStatus(StrEnum):
    entered = "entered"
    passed = "passed"  # the automatic checks found nothing
    rejected = "rejected"  # by a check or by the reviewer (``rejection_reason`` says which)
    approved = "approved"  # by the reviewer, as claimed
    adjusted = "adjusted"  # by the reviewer, with another quantity or price


class InsuranceClaim(TimestampMixin, TenantBase):
    """A facility's claim for one insuree's visit (``code``: the facility's claim number)."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_LENGTH))
    # indexed by (facility_id, date_from) below
    facility_id: Mapped[int] = mapped_column(ForeignKey("health_facilities.id", ondelete="RESTRICT"))
    # indexed by (individual_id, date_from) below
    individual_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="RESTRICT"))
    #: the policy covering the insuree on ``date_from`` and its product (set by the checks)
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("insurance_policies.id", ondelete="RESTRICT"),
                                                  index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("insurance_products.id", ondelete="RESTRICT"),
                                                   index=True)
    #: care for ceilings and deductibles: ``in_patient`` when the visit is, else ``out_patient``
    visit_type: Mapped[str] = mapped_column(String(12))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date | None] = mapped_column(Date)
    date_claimed: Mapped[date] = mapped_column(Date)
    #: main diagnosis and secondary ones (ICD-10 codes of the reference list)
    icd_code: Mapped[str] = mapped_column(String(ICD_LENGTH))
    icd_codes: Mapped[list[str]] = mapped_column(ARRAY(String(ICD_LENGTH)), default=list, server_default="{}")
    status: Mapped[str] = mapped_column(String(10), default=ClaimStatus.entered, server_default="entered")
    currency: Mapped[str] = mapped_column(String(3))
    #: Σ quantity × price of the lines; what the reviewer approved; what the valuation priced
    claimed: Mapped[int] = mapped_column(BigInteger)
    approved: Mapped[int | None] = mapped_column(BigInteger)
    valuated: Mapped[int | None] = mapped_column(BigInteger)
    rejection_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    review_status: Mapped[str] = mapped_column(String(12), default=Selection.not_selected,
                                               server_default="not_selected")
    feedback_status: Mapped[str] = mapped_column(String(12), default=Selection.not_selected,
                                                 server_default="not_selected")
    #: the reviewer's note on the claim
    review_note: Mapped[str | None] = mapped_column(String(NOTE_LENGTH))
    #: the work incident the claim treats (employment injury, t0017; products that ``requires_incident``)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("work_incidents.id", ondelete="RESTRICT"),
                                                    index=True)
    #: the facility statement that pays it (t0018; at most one, decision 0325)
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("claim_statements.id", ondelete="RESTRICT"),
                                                     index=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    entered_by: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    processed_by: Mapped[str | None] = mapped_column(String(USER_LENGTH))
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valuated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("facility_id", "code", name="uq_claims_facility_id_code"),
        CheckConstraint(status_check("status", ClaimStatus), name="status"),
        CheckConstraint(status_check("visit_type", VisitType), name="visit_type"),
        CheckConstraint(status_check("review_status", Selection), name="review_status"),
        CheckConstraint(status_check("feedback_status", Selection), name="feedback_status"),
        CheckConstraint("date_to >= date_from", name="dates"),
        CheckConstraint("claimed >= 0 AND approved >= 0 AND valuated >= 0", name="amounts"),
        CheckConstraint("version >= 1", name="version"),
        Index("ix_claims_status", "status"),
        Index("ix_claims_individual_id_date_from", "individual_id", "date_from"),
        Index("ix_claims_facility_id_date_from", "facility_id", "date_from"),
    )


class ClaimLine(TenantBase):
    """One item or service of a claim: claimed quantity and unit price, the reviewer's decision and
    the valuation's figures."""

    __tablename__ = "claim_lines"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # the unique constraint's index (claim_id first) also serves this foreign key
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(SmallInteger)
    entry_id: Mapped[int] = mapped_column(ForeignKey("catalogue_entries.id", ondelete="RESTRICT"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(BigInteger)  # claimed unit price
    status: Mapped[str] = mapped_column(String(10), default=LineStatus.entered, server_default="entered")
    rejection_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    approved_quantity: Mapped[int | None] = mapped_column(Integer)
    approved_price: Mapped[int | None] = mapped_column(BigInteger)
    #: the valuation: the price list's unit price, what the scheme pays, and the insuree's share
    list_price: Mapped[int | None] = mapped_column(BigInteger)
    valuated: Mapped[int | None] = mapped_column(BigInteger)
    copayment: Mapped[int | None] = mapped_column(BigInteger)
    deductible: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("claim_id", "line_no", name="uq_claim_lines_claim_id_line_no"),
        CheckConstraint(status_check("status", LineStatus), name="status"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint("approved_quantity >= 0 AND approved_price >= 0", name="approved"),
        CheckConstraint("list_price >= 0 AND valuated >= 0 AND copayment >= 0 AND deductible >= 0",
                        name="valuation"),
    )
