"""Running the two Alembic trees: the control plane and each tenant schema."""

from __future__ import annotations

import io
import logging
from functools import lru_cache
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from schemehost.platform.tenancy import quote_ident

log = logging.getLogger(__name__)

#: Schema name the offline script is generated with; replaced by the real (quoted) schema.
FRESH_PLACEHOLDER = "sh_fresh_schema_placeholder"


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


@lru_cache(maxsize=4)
def fresh_schema_script(target: str) -> str | None:
    """The SQL that takes an empty tenant schema to revision ``target``, generated once per process
    with Alembic's offline mode (the same migrations, rendered instead of run); None when a
    revision cannot be rendered offline, e.g. one that reads data (decision 0090)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir() / "tenant"))
    buffer = io.StringIO()
    cfg.output_buffer = buffer
    cfg.attributes.update(schema=FRESH_PLACEHOLDER, no_transaction=True)
    try:
        command.upgrade(cfg, target, sql=True)
    except Exception:
        log.warning("tenant migrations up to %s cannot be rendered offline; new schemas run them one by one",
                    target, exc_info=True)
        return None
    return buffer.getvalue()


def build_fresh_schema(conn: Connection, schema: str) -> None:
    """Bring a just-created, empty tenant schema to head on ``conn`` (inside a transaction).

    Sends the cached offline script in one round trip instead of running each
    operation through Alembic; falls back to :func:`upgrade_schema`.
    """
    script = fresh_schema_script(head("tenant"))
    if script is None:
        upgrade_schema(conn, schema)
        return
    quoted = quote_ident(schema)
    conn.execute(text(f"SET LOCAL search_path TO {quoted}"))
    # several statements and no parameters: psycopg sends them as one simple query
    conn.connection.driver_connection.execute(script.replace(FRESH_PLACEHOLDER + ".", quoted + "."))
    conn.execute(text("SET LOCAL search_path TO DEFAULT"))
