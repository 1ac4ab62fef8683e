"""Tables of registry imports: one row per uploaded file (its options, status and counts), the
original file in 1 MiB chunks (kept for audit with the tenant's data, decision 0110) and the
problems found in it (one row per row/column/value/message of the report).

Problem messages are stored as a code with parameters and put into words when shown, so the
console and the downloadable report speak the reader's language.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, status_check


class ImportKind(StrEnum):
    locations = "locations"
    facilities = "facilities"
    households = "households"
    individuals = "individuals"
    prices = "prices"


class ImportStatus(StrEnum):
    queued = "queued"
    running = "running"
    checked = "checked"  # a dry run finished (report ready, nothing written)
    rejected = "rejected"  # all-or-nothing run with problems: nothing written
    done = "done"  # rows written (all of them, or the valid ones with valid_only)
    failed = "failed"  # the job itself failed (see the job's error)


class RegistryImport(TenantBase):
    """One uploaded file and what became of it."""

    __tablename__ = "registry_imports"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: reading options: {"mapping": {file column: field}, "encoding": "utf-8"}
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.queued, server_default="queued")
    #: the control-plane job running it
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    #: rows, valid, invalid, created, updated, unchanged (and kind-specific ones, e.g. households_created)
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: when the original file and the report's values were dropped (decision 0137), and why:
    #: ``erasure`` (a person in the file was erased) or ``retention`` (older than the tenant's period)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    purge_reason: Mapped[str | None] = mapped_column(String(20))
    #: a 32-bit hash (of the MD5) of each row's external id, for the kinds that hold people's data:
    #: erasing a person finds through it the files that name them (decision 0137); NULL once dropped
    key_hashes: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))

    __table_args__ = (
        CheckConstraint(status_check("kind", ImportKind), name="kind"),
        CheckConstraint(status_check("status", ImportStatus), name="status"),
        CheckConstraint("format IN ('csv', 'xlsx')", name="format"),
    )


class RegistryImportChunk(TenantBase):
    """A piece (at most 1 MiB) of an import's original file, ``seq`` from 0."""

    __tablename__ = "registry_import_chunks"

    import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RegistryImportProblem(TenantBase):
    """One line of an import's report: spreadsheet row (the header is row 1; 0 for the file as a
    whole), column, the value found and what is wrong with it (``code`` + ``params``)."""

    __tablename__ = "registry_import_problems"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("registry_imports.id", ondelete="CASCADE"), index=True)
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(100))
    value: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(50))
    #: the row's key (external id) for the kinds that hold people's data: erasure clears its values
    key: Mapped[str | None] = mapped_column(String(100), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
