"""Running the two Alembic trees: the control plane and each tenant schema."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from schemehost.platform.tenancy import quote_ident


def migrations_dir() -> Path:
    return Path(str(resources.files("schemehost.migrations")))


@lru_cache(maxsize=2)
def alembic_config(tree: str) -> Config:
    """Alembic configuration for ``control`` or ``tenant`` (works from a checkout and a wheel)."""
    if tree not in ("control", "tenant"):
        raise ValueError(tree)
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir() / tree))
    return cfg


@lru_cache(maxsize=2)
def script_directory(tree: str) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(tree))


def head(tree: str) -> str:
    heads = script_directory(tree).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"{tree} migrations have {len(heads)} heads; merge them")
    return heads[0]


def upgrade_control(engine: Engine, target: str = "head") -> None:
    """Bring the control plane (and procrastinate's tables) to ``target`` in one transaction."""
    cfg = alembic_config("control")
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('schemehost.control.upgrade'))"))
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, target)
        finally:
            cfg.attributes.pop("connection", None)


def control_revision(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM control.alembic_version")).scalar()
    except Exception:
        conn.rollback()
        return None


def upgrade_schema(conn: Connection, schema: str, target: str = "head") -> None:
    """Upgrade one tenant schema on ``conn``, which must already be in a transaction.

    ``search_path`` is set with ``SET LOCAL`` so it ends with the transaction.
    """
    quoted = quote_ident(schema)
    conn.execute(text(f"SET LOCAL search_path TO {quoted}"))
    cfg = alembic_config("tenant")
    cfg.attributes["connection"] = conn
    cfg.attributes["schema"] = schema
    try:
        command.upgrade(cfg, target)
    finally:
        cfg.attributes.pop("connection", None)
        cfg.attributes.pop("schema", None)
    conn.execute(text("SET LOCAL search_path TO DEFAULT"))
