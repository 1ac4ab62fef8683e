"""The bulk path of a large first import: a table's secondary indexes, unique constraints and foreign
keys are dropped inside the import's transaction and built again after the rows (decision 0138).

A pilot's first registry import writes a million people into empty tables. Kept up row by row, the
people's eleven indexes and two foreign keys cost about three quarters of the ``INSERT``; built once
after the rows (sorted builds, one set-wise validation per foreign key) they cost a fraction of that.

Only for a table that is empty when the import writes, and only for a large file: dropping an index
takes the table's ``ACCESS EXCLUSIVE`` lock until the import commits, which nobody notices while the
registry is empty. Everything happens in the import's one transaction, so a failure anywhere (a
crash, a unique index whose build finds a duplicate) rolls the drops back with the rows: the table
is never left without its indexes.

The tenant's role cannot change its tables (the platform owns them), so the drops and builds run
as the session's own user for those statements only, on statements built from the catalogue's own
definitions (``pg_get_indexdef``, ``pg_get_constraintdef``) of the tenant's table, never from input.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

from sqlalchemy import text
from sqlalchemy.orm import Session

from schemehost.platform.tenancy import quote_ident

#: the fewest new rows for which the bulk path is taken (below, indexes kept up row by row cost less
#: than rebuilding them)
BULK_FROM = 50_000
#: memory for one index build (sorts of a million keys, the trigram index's build buffer)
MAINTENANCE_WORK_MEM_MB = 256


_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _ident(name: str) -> str:
    """A table, index or constraint name of our migrations, quoted; anything else is refused."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"refusing unexpected identifier {name!r}")
    return '"' + name + '"'


@dataclass
class Deferred:
    """What was dropped from one table, to be built again."""

    table: str
    indexes: list[tuple[str, str]] = field(default_factory=list)
    constraints: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def is_empty(session: Session, table: str) -> bool:
    return session.execute(text(f"SELECT NOT EXISTS (SELECT 1 FROM {_ident(table)})")).scalar_one()


@contextmanager
def as_owner(session: Session):
    """Run the block's statements as the session's user (the tables' owner), then return to the
    tenant's role, inside the current transaction."""
    role = session.info["tenant_role"]
    quote_ident(role)
    session.execute(text("SET LOCAL ROLE NONE"))
    try:
        yield
    finally:
        session.execute(text(f"SET LOCAL ROLE {quote_ident(role)}"))


def drop_for_bulk(session: Session, table: str) -> Deferred:
    """Drop ``table``'s indexes that back no constraint, its unique constraints that no foreign key
    refers to, and its foreign keys (in this transaction);
    returns what to build again with :func:`rebuild`."""
    schema = session.info["tenant_schema"]
    found = Deferred(table)
    qualified = f"{quote_ident(schema)}.{_ident(table)}"
    rel = {"rel": qualified}
    found.indexes = [tuple(r) for r in session.execute(text("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid)
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = CAST(:rel AS regclass)
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
         ORDER BY c.relname
    """), rel)]
    # unique constraints no foreign key refers to, then foreign keys (added back in that order)
    found.constraints = [tuple(r) for r in session.execute(text("""
        SELECT k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k
         WHERE k.conrelid = CAST(:rel AS regclass)
           AND (k.contype = 'f' OR (k.contype = 'u' AND NOT EXISTS (
                SELECT 1 FROM pg_constraint r WHERE r.contype = 'f' AND r.conindid = k.conindid)))
         ORDER BY k.contype DESC, k.conname
    """), rel)]
    with as_owner(session):
        session.execute(text(f"LOCK TABLE {qualified} IN ACCESS EXCLUSIVE MODE"))
        for name, _ in found.constraints:
            session.execute(text(f"ALTER TABLE {qualified} DROP CONSTRAINT {_ident(name)}"))
        for name, _ in found.indexes:
            session.execute(text(f"DROP INDEX {quote_ident(schema)}.{_ident(name)}"))
    return found


def analyze(session: Session, table: str, run: Callable[[str], Any] | None = None) -> None:
    """Gather ``table``'s statistics now (only the owner may), for the plans of the import's next
    statements: a table filled in this transaction has none, and the autovacuum cannot see it yet."""
    run = run or (lambda statement: session.execute(text(statement)))
    with as_owner(session):
        run(f"ANALYZE {quote_ident(session.info['tenant_schema'])}.{_ident(table)}")


def rebuild(session: Session, deferred: Deferred, run: Callable[[str], Any] | None = None) -> None:
    """Build again what :func:`drop_for_bulk` dropped, under the same names and definitions, then
    gather the table's statistics. ``run`` executes one statement (default: the session's)."""
    run = run or (lambda statement: session.execute(text(statement)))
    started = time.perf_counter()
    schema = session.info["tenant_schema"]
    qualified = f"{quote_ident(schema)}.{_ident(deferred.table)}"
    with as_owner(session):
        run(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM_MB}MB'")
        for _, definition in deferred.indexes:
            run(definition)
        for name, definition in deferred.constraints:
            # a unique constraint builds its index by one sort; a foreign key is validated by one
            # anti-join over the table instead of one lookup per row
            run(f"ALTER TABLE {qualified} ADD CONSTRAINT {_ident(name)} {definition}")
        run(f"ANALYZE {qualified}")
    deferred.seconds = round(time.perf_counter() - started, 3)
