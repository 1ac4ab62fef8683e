"""Registry tables about people: households, individuals, probable-duplicate flags, consents.

Search columns are written with the row (by the services, and set-wise by imports):
``name_search`` is the lower-cased, accent-free "given family other" name that a trigram index
serves (``unaccent()`` cannot be indexed, so the value is stored); ``phone`` is E.164;
``national_id`` is the compact form of the country's identifier. ``extra`` holds the tenant's own
fields, validated against the JSON Schema in the tenant's ``registry`` setting.

``external_id`` is the identifier a row had in the system it was imported from; re-importing the
same file finds the same rows through it (idempotent imports).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, DateTime, ForeignKey, Identity, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint, func, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin, status_check

NAME_PART = 100


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"


class Relationship(StrEnum):
    """An individual's relationship to the head of their household."""

    head = "head"
    spouse = "spouse"
    child = "child"
    parent = "parent"
    sibling = "sibling"
    grandchild = "grandchild"
    other_relative = "other_relative"
    not_related = "not_related"


class PersonStatus(StrEnum):
    active = "active"
    inactive = "inactive"  # left the scheme's area, or no longer followed
    deceased = "deceased"
    erased = "erased"  # pseudonymised on request; financial and audit records keep pointing here


class FlagStatus(StrEnum):
    open = "open"
    merged = "merged"
    dismissed = "dismissed"


class Household(TimestampMixin, TenantBase):
    """A group of individuals living together, with a head, in a village."""

    __tablename__ = "households"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    #: the head (an individual of this household); set once the head exists
    head_id: Mapped[int | None] = mapped_column(
        # deferrable: a bulk import creates a household with its head before the head's row (decision 0126)
        ForeignKey("individuals.id", ondelete="SET NULL", use_alter=True, name="fk_households_head_id_individuals",
                   deferrable=True, initially="IMMEDIATE"),
        index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=PersonStatus.active, server_default="active")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")

    __table_args__ = (
        CheckConstraint(status_check("status", (PersonStatus.active, PersonStatus.inactive)), name="status"),
    )


class Individual(TimestampMixin, TenantBase):
    """A person known to the scheme."""

    __tablename__ = "individuals"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id", ondelete="RESTRICT"), index=True)
    relationship: Mapped[str | None] = mapped_column(String(20))
    given_name: Mapped[str] = mapped_column(String(NAME_PART))
    family_name: Mapped[str] = mapped_column(String(NAME_PART))
    other_names: Mapped[str | None] = mapped_column(String(NAME_PART))
    #: lower-cased, accent-free "given family other" for search and deduplication
    name_search: Mapped[str] = mapped_column(String(3 * NAME_PART + 2))
    sex: Mapped[str] = mapped_column(String(10))
    birth_date: Mapped[date] = mapped_column(Date)
    birth_date_estimated: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    #: national identifier in its compact form (validated per the tenant's country where a rule exists)
    national_id: Mapped[str | None] = mapped_column(String(50))
    #: the scheme's own number, generated from the tenant's pattern
    scheme_number: Mapped[str] = mapped_column(String(50), unique=True)
    #: E.164
    phone: Mapped[str | None] = mapped_column(String(20))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="RESTRICT"), index=True)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default=PersonStatus.active, server_default="active")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    #: when the record was pseudonymised (status ``erased``)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(status_check("sex", Sex), name="sex"),
        CheckConstraint(status_check("status", PersonStatus), name="status"),
        CheckConstraint(f"relationship IS NULL OR {status_check('relationship', Relationship)}", name="relationship"),
        # exact duplicates are refused: one identifier, one person
        Index("uq_individuals_national_id", "national_id", unique=True,
              postgresql_where=text("national_id IS NOT NULL")),
        Index("ix_individuals_name_search", "name_search", postgresql_using="gin",
              postgresql_ops={"name_search": "shared.gin_trgm_ops"}),
        # the words of the name: one- and two-word name searches (decision 0129)
        Index("ix_individuals_name_words", text("string_to_array(name_search, ' ')"), postgresql_using="gin"),
        Index("ix_individuals_phone", "phone", postgresql_where=text("phone IS NOT NULL")),
        Index("ix_individuals_birth_date", "birth_date"),
        # household sizes and member counts of eligibility filters, read from the index alone (decision 0116)
        Index("ix_individuals_active_members", "household_id", "birth_date",
              postgresql_where=text("status = 'active'")),
    )


class NameWord(TenantBase):
    """The dictionary of the words of people's names that name search looks words up in (decision 0129).

    One row per (key, word): a word's keys are the word, its alphanumeric parts ("jean-pierre":
    "jean", "pierre") and each of these with one letter deleted, so two words within one slip of
    each other share a key. Kept set-wise by statement triggers on ``individuals`` (migration
    t0009): every writer (services, imports, merges, erasure) keeps it in step without doing
    anything; an erased person's words go when nobody else holds them."""

    __tablename__ = "name_words"

    key: Mapped[str] = mapped_column(String(3 * NAME_PART + 2), primary_key=True)
    word: Mapped[str] = mapped_column(String(3 * NAME_PART + 2), primary_key=True)

    __table_args__ = (
        Index("ix_name_words_word", "word", postgresql_using="gin", postgresql_ops={"word": "shared.gin_trgm_ops"}),
    )


#: Per-tenant counter of generated scheme numbers (the pattern's ``{seq}``).
SCHEME_NUMBER_SEQ = "scheme_number_seq"


class DuplicateFlag(TenantBase):
    """A probable duplicate waiting for a person to merge or dismiss it; nothing is merged silently."""

    __tablename__ = "duplicate_flags"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    individual_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="CASCADE"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="CASCADE"), index=True)
    #: why they look alike, e.g. {"name_similarity": 0.82, "same": ["birth_date", "village"]}
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONB)
    score: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[str] = mapped_column(String(20), default=FlagStatus.open, server_default="open")
    decided_by: Mapped[str | None] = mapped_column(String(254))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("individual_id", "candidate_id"),
        CheckConstraint("individual_id <> candidate_id", name="distinct"),
        CheckConstraint(status_check("status", FlagStatus), name="status"),
        Index("ix_duplicate_flags_open", "id", postgresql_where=text("status = 'open'")),
    )


class Consent(TenantBase):
    """A consent an individual gave (or withdrew) for a purpose, e.g. data sharing with a partner."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    individual_id: Mapped[int] = mapped_column(ForeignKey("individuals.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(100))
    given: Mapped[bool] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    recorded_by: Mapped[str | None] = mapped_column(String(254))
    evidence: Mapped[str | None] = mapped_column(Text)  # e.g. "signed form 2026/114"
