"""Model bases and naming for the two metadata trees.

Control-plane models live in schema ``control``. Tenant models are declared
with the placeholder schema ``tenant``; each tenant session maps it to the
tenant's real schema with ``schema_translate_map``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, String, Text, all_, any_, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONTROL_SCHEMA = "control"
TENANT_PLACEHOLDER = "tenant"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ControlBase(DeclarativeBase):
    """Base of control-plane models (schema ``control``)."""

    metadata = MetaData(schema=CONTROL_SCHEMA, naming_convention=NAMING_CONVENTION)


class TenantBase(DeclarativeBase):
    """Base of models that live inside every tenant schema."""

    metadata = MetaData(schema=TENANT_PLACEHOLDER, naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


def status_check(column: str, values) -> str:
    """SQL for a CHECK constraint that keeps a status column within its StrEnum."""
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return f"{column} IN ({allowed})"


def _array_of(column, values: Iterable[Any], type_):
    """``values`` bound as one array parameter of ``type_``; by default bigint[] for an integer column
    (an id past the int4 range then matches nothing instead of failing), text[] for a string one (a
    varchar(n)[] cast would cut longer values and let them match), else the column's own type."""
    if type_ is None:
        if isinstance(column.type, Integer):
            type_ = BigInteger()
        elif isinstance(column.type, String):
            type_ = Text()
        else:
            type_ = column.type
    return bindparam(None, list(values), type_=ARRAY(type_))


def any_of(column, values: Iterable[Any], *, type_=None):
    """``column = ANY(:values)``: ``column.in_(values)`` with the values bound as one array parameter,
    so any number of them works (an IN list binds one parameter per value, and PostgreSQL takes at
    most 65,535 in a statement). Pass ``type_`` for an element type other than the default."""
    return column == any_(_array_of(column, values, type_))


def none_of(column, values: Iterable[Any], *, type_=None):
    """``column <> ALL(:values)``: ``column.not_in(values)`` bound as one array parameter (see
    :func:`any_of`)."""
    return column != all_(_array_of(column, values, type_))


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver whatever scheme the operator wrote."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def libpq_url(url: str) -> str:
    """The same URL in the form libpq (psycopg, procrastinate, pg_dump) expects."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
