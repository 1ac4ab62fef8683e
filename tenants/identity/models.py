"""Identity tables of every tenant schema: users, roles, tokens, OAuth clients, SSO, audit.

User ids repeat across tenant schemas; anything that leaves the schema (a
session cookie, a token) carries the tenant id beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (BigInteger, Boolean, DateTime, ForeignKey, Identity, Index, Integer, String, Text,
                        func)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from schemehost.platform.db import TenantBase, TimestampMixin


class Role(TimestampMixin, TenantBase):
    """A named set of permission names; built-in roles come from the catalogue and cannot be deleted."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(60)), default=list, server_default="{}")


class UserRole(TenantBase):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="RESTRICT"), primary_key=True, index=True)


class UserLocation(TenantBase):
    """Restricts a user to these locations (and their subtrees); no rows means no restriction.

    ``location_id`` refers to the registry's locations; the registry's revision adds the foreign key.
    """

    __tablename__ = "user_locations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(Integer, primary_key=True)


class UserToken(TenantBase):
    """A single-use e-mailed token (invitation or password reset); only its SHA-256 is stored."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # invite | reset
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(TenantBase):
    """A one-time second-factor recovery code of a tenant user (hashed)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthClient(TimestampMixin, TenantBase):
    """A machine client of this tenant (OAuth 2 client credentials); the secret is shown once."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(60)), default=list, server_default="{}")
    created_by: Mapped[str | None] = mapped_column(String(254))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OAuthToken(TenantBase):
    """An issued access token; only its SHA-256 is stored."""

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(60)), default=list, server_default="{}")
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SsoProvider(TimestampMixin, TenantBase):
    """The tenant's OpenID Connect identity provider (at most one row, id 1)."""

    __tablename__ = "sso_provider"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str] = mapped_column(Text)  # encrypted with the installation's key ring
    role_claim: Mapped[str | None] = mapped_column(String(100))
    #: claim value -> role code
    role_map: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    #: create users on first sign-in (else only invited users may use SSO)
    auto_create: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class SupportSession(TenantBase):
    """An operator's time-limited support access into this tenant, visible to its admins."""

    __tablename__ = "support_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    control_id: Mapped[int] = mapped_column(Integer)  # control.support_sessions.id
    operator_email: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(TenantBase):
    """One append-only audit record; the tenant role may only INSERT and SELECT (and a trigger refuses
    UPDATE and DELETE for everyone)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity", "entity_type", "entity_id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_type: Mapped[str] = mapped_column(String(20))  # user | client | operator | system
    actor_id: Mapped[str | None] = mapped_column(String(100))
    actor_name: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    entity_type: Mapped[str | None] = mapped_column(String(60))
    entity_id: Mapped[str | None] = mapped_column(String(100))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))


def _register_encrypted_columns() -> None:
    from schemehost.platform.secrets.services import register_encrypted_column
    from schemehost.tenants.core.models import User

    register_encrypted_column(User.__table__, "id", "totp_secret")
    register_encrypted_column(SsoProvider.__table__, "id", "client_secret")


_register_encrypted_columns()
