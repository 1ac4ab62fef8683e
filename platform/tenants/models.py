"""Control-plane registry of tenants, their domains, servers and lifecycle events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from schemehost.platform.db import ControlBase, TimestampMixin, status_check, utcnow

JSONType = JSON().with_variant(JSONB(), "postgresql")


class TenantStatus(StrEnum):
    provisioning = "provisioning"
    active = "active"
    read_only = "read_only"
    suspended = "suspended"
    archived = "archived"
    failed = "failed"


class Installation(ControlBase):
    """One row: this installation's id, used in cluster-wide role names."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    install_id: Mapped[str] = mapped_column(String(8), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class DatabaseServer(TimestampMixin, ControlBase):
    """A PostgreSQL server tenants can be placed on; ``dsn`` NULL means the main database."""

    __tablename__ = "database_servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    dsn: Mapped[str | None] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    accepts_new_tenants: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")


class Tenant(TimestampMixin, ControlBase):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"), index=True)
    template: Mapped[str] = mapped_column(String(63))
    template_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.provisioning)
    server_id: Mapped[int] = mapped_column(ForeignKey("database_servers.id", ondelete="RESTRICT"), index=True)
    schema_name: Mapped[str] = mapped_column(String(63), unique=True)
    role_name: Mapped[str | None] = mapped_column(String(63), unique=True)
    schema_version: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(10), default="en", server_default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD", server_default="USD")
    failure: Mapped[str | None] = mapped_column(Text)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    partner = relationship("Partner", lazy="joined")
    server = relationship(DatabaseServer, lazy="joined")
    domains = relationship("Domain", back_populates="tenant", cascade="all, delete-orphan")

    __table_args__ = (CheckConstraint(status_check("status", TenantStatus), name="status"),)


class Domain(TimestampMixin, ControlBase):
    """A custom host name for a tenant; routed only once verified."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(253), unique=True)
    verification_token: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    tenant = relationship(Tenant, back_populates="domains")


class TenantEvent(ControlBase):
    """One lifecycle transition (or operator action) on a tenant, append-only."""

    __tablename__ = "tenant_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # no FK: events outlive a deleted tenant (the deletion itself is an event)
    tenant_id: Mapped[int] = mapped_column(Integer, index=True)
    tenant_slug: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), default=utcnow)


class SpareSchema(ControlBase):
    """A pre-built tenant schema at a known migration version, waiting to be claimed."""

    __tablename__ = "spare_schemas"

    schema_name: Mapped[str] = mapped_column(String(63), primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("database_servers.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), default=utcnow)


class TenantSecret(TimestampMixin, ControlBase):
    """A tenant's integration secret, encrypted with the installation key ring."""

    __tablename__ = "tenant_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
