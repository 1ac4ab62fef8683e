"""The tenant role: rights on its own schema only, and a statement timeout."""

from __future__ import annotations

from sqlalchemy import Connection, text

from schemehost.platform.tenancy import quote_ident


def create_role(conn: Connection, role: str, *, statement_timeout_ms: int) -> None:
    """Create the NOLOGIN tenant role and let the app's own role switch to it."""
    r = quote_ident(role)
    conn.execute(text(f"CREATE ROLE {r} NOLOGIN NOINHERIT"))
    # PostgreSQL 16+ with a non-superuser app role needs SET TRUE; it is the default
    # for an explicit GRANT, and harmless for a superuser.
    conn.execute(text(f"GRANT {r} TO CURRENT_USER"))
    conn.execute(text(f"ALTER ROLE {r} SET statement_timeout = {int(statement_timeout_ms)}"))


def apply_grants(conn: Connection, schema: str, role: str) -> None:
    """(Re-)grant the tenant role its rights on its own schema; run after every migration.

    Read-only reference data in schema ``shared`` is granted to PUBLIC once by
    the control migrations: per-tenant GRANTs on that one schema, run by
    concurrent creates or fleet workers, fail with "tuple concurrently updated".
    """
    s, r = quote_ident(schema), quote_ident(role)
    statements = [
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        # the tenant may read, never move, its own schema version
        f"REVOKE INSERT, UPDATE, DELETE ON {s}.alembic_version FROM {r}",
        # the audit log is append-only for the tenant (a trigger refuses changes for everyone)
        f"DO $$ BEGIN IF to_regclass('{s}.audit_log') IS NOT NULL THEN "
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {s}.audit_log FROM {r}; END IF; END $$",
    ]
    for statement in statements:
        conn.execute(text(statement))


def drop_role(conn: Connection, role: str) -> None:
    """Drop the tenant role in this database; ``DROP OWNED BY`` first removes its grants."""
    r = quote_ident(role)
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists:
        conn.execute(text(f"DROP OWNED BY {r}"))
        conn.execute(text(f"DROP ROLE {r}"))
