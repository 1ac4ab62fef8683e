"""The warm pool: spare tenant schemas kept at head, claimed by new tenants.

Creating the ~80 tables of a full tenant schema costs PostgreSQL about half a
second, so a background job builds spares ahead of time; creating a tenant
then only renames one (see ``create.create_tenant``).
"""

from __future__ import annotations

import logging
import secrets

from flask import current_app
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from schemehost.platform.extensions import db
from schemehost.platform.tenancy import quote_ident
from schemehost.platform.tenants.models import SpareSchema
from schemehost.platform.tenants.services import default_server
from schemehost.provisioning.migrate import build_fresh_schema, head

log = logging.getLogger("schemehost.provisioning.pool")


def spare_name() -> str:
    # underscore: cannot collide with a tenant schema (slugs hold no "_")
    return "spare_" + secrets.token_hex(6)


def build_spare() -> str:
    """Build one spare schema at head on the default server and register it (one transaction)."""
    name = spare_name()
    version = head("tenant")
    with db.engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {quote_ident(name)}"))
        build_fresh_schema(conn, name)
        server_id = conn.execute(text("SELECT id FROM control.database_servers WHERE is_default")).scalar_one()
        conn.execute(
            SpareSchema.__table__.insert().values(schema_name=name, server_id=server_id, version=version)
        )
    return name


def pool_counts(session: Session) -> dict[str, int]:
    """Spare schemas per version."""
    rows = session.execute(select(SpareSchema.version, func.count()).group_by(SpareSchema.version)).all()
    return {version: count for version, count in rows}


def refill_pool(session: Session | None = None, *, size: int | None = None) -> int:
    """Build spares until ``size`` (default ``WARM_POOL_SIZE``) are at head; returns how many were built.

    Spares at an older version are left to fleet migration, which upgrades them.
    """
    session = session or db.session
    size = current_app.config["WARM_POOL_SIZE"] if size is None else size
    at_head = pool_counts(session).get(head("tenant"), 0)
    session.rollback()  # end the read transaction before building
    built = 0
    for _ in range(max(0, size - at_head)):
        build_spare()
        built += 1
    if built:
        log.info("warm pool refilled with %d spare schema(s)", built)
    return built


def claim_spare(session: Session, server_id: int, version: str) -> str | None:
    """Take one spare at ``version`` inside the caller's transaction (concurrent claims skip each other)."""
    name = session.execute(
        select(SpareSchema.schema_name)
        .where(SpareSchema.server_id == server_id, SpareSchema.version == version)
        .order_by(SpareSchema.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if name is not None:
        session.execute(delete(SpareSchema).where(SpareSchema.schema_name == name))
    return name


def drain_pool(session: Session) -> int:
    """Drop every spare schema (each in its own transaction); used by tests and benchmarks."""
    names = list(session.execute(select(SpareSchema.schema_name)).scalars())
    session.rollback()
    for name in names:
        with db.engine.begin() as conn:
            conn.execute(delete(SpareSchema).where(SpareSchema.schema_name == name))
            conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_ident(name)} CASCADE"))
    return len(names)


__all__ = ["build_spare", "claim_spare", "default_server", "drain_pool", "pool_counts", "refill_pool"]
