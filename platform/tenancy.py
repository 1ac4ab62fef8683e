"""Tenant names and the tenant session.

Every tenant transaction runs ``SET LOCAL ROLE`` to the tenant's own role
(which only has rights on its own schema) and maps the placeholder schema
``tenant`` to the real one with ``schema_translate_map``. No ``search_path``
is ever set on pooled connections.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row

from flask import current_app, g
from flask_babel import gettext as _
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER, normalize_url
from schemehost.platform.errors import ValidationError

SLUG_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RESERVED_SLUGS = frozenset({"api", "admin", "www", "static", "control", "shared", "public", "tenant", "t"})
SCHEMA_RE = re.compile(r"^(tenant|spare)_[a-z0-9_]{1,56}$")
ROLE_RE = re.compile(r"^sh_[0-9a-f]{8}_[0-9]{1,19}$")


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot name a tenant, or None when it can."""
    if not isinstance(slug, str) or not 3 <= len(slug) <= 40:
        return _("A slug has 3 to 40 characters.")
    if not SLUG_RE.match(slug):
        return _(
            "A slug starts with a lowercase letter and holds only lowercase letters, digits "
            "and single hyphens between them (a DNS label), e.g. 'cm-north-voucher'."
        )
    if slug in RESERVED_SLUGS:
        return _("'%(slug)s' is reserved; choose another slug.", slug=slug)
    return None


def validate_slug(slug: str, field: str = "slug") -> str:
    problem = slug_problem(slug)
    if problem:
        raise ValidationError(problem, errors={field: [problem]})
    return slug


def schema_for(slug: str) -> str:
    validate_slug(slug)
    return "tenant_" + slug.replace("-", "_")


def role_for(install_id: str, tenant_id: int) -> str:
    """Opaque, short, cluster-unique role name (roles are shared by all databases)."""
    name = f"sh_{install_id}_{tenant_id}"
    assert ROLE_RE.match(name), name
    return name


def quote_ident(name: str) -> str:
    """Quote a schema or role name we generated, refusing anything unexpected."""
    if not (SCHEMA_RE.match(name) or ROLE_RE.match(name)):
        raise ValueError(f"refusing unexpected identifier {name!r}")
    return '"' + name + '"'


@dataclass(frozen=True)
class TenantRef:
    """What a request needs to know about its tenant (cached per process for at most 2 s, see routing)."""

    id: int
    slug: str
    name: str
    status: str
    schema_name: str
    role_name: str | None
    server_id: int
    locale: str
    timezone: str
    currency: str
    server_dsn: str | None = None  # the tenant's database server; None: the main database


# ---- engines ----------------------------------------------------------------

_engines: dict[str, Engine] = {}


def engine_for_url(url: str) -> Engine:
    """One pooled engine per database server, shared by all tenants placed on it.

    Connections are recycled so that each backend's catalog cache (which grows
    with the tenant schemas it touches) is released regularly.
    """
    url = normalize_url(url)
    eng = _engines.get(url)
    if eng is None:
        cfg = current_app.config
        eng = create_engine(
            url,
            pool_size=cfg.get("POOL_SIZE", 5),
            max_overflow=cfg.get("POOL_SIZE", 5),
            pool_recycle=cfg.get("POOL_RECYCLE_S", 900),
            pool_pre_ping=cfg.get("POOL_PRE_PING", False),
            hide_parameters=True,  # error messages (and so logs) never carry the values of a statement
        )
        keep_prepared_statements(eng, cfg.get("PREPARED_MAX", 100))
        _engines[url] = eng
    return eng


def keep_prepared_statements(engine: Engine, prepared_max: int) -> None:
    """Let each of ``engine``'s connections keep up to ``prepared_max`` prepared statements.

    psycopg prepares a statement on its 5th execution and keeps the last ``prepared_max``
    (default 100) per connection. A tenant's statement text names its schema
    (``schema_translate_map``), so a pool serving many tenants sees each hot statement once per
    tenant: with the default, none reaches 5 executions before it is pushed out, and every query
    is parsed and planned anew. Each kept statement costs its backend ~22 KiB (docs/decisions/0093).
    """

    @event.listens_for(engine, "connect")
    def _prepared_max(dbapi_connection, _record) -> None:
        dbapi_connection.prepared_max = prepared_max


def dispose_engines() -> None:
    for eng in _engines.values():
        eng.dispose()
    _engines.clear()


def server_engine(server_dsn: str | None) -> Engine:
    from schemehost.platform.extensions import db

    return db.engine if not server_dsn else engine_for_url(server_dsn)


SET_ROLE_SQL = ("SELECT set_config('role', %(role)s, true), "
                "set_config('statement_timeout', %(timeout)s, true)")


class TenantSession(Session):
    """A session whose every transaction runs as the tenant's role."""


_AT_BEGIN, _AT_BEGIN_ROW = "schemehost.at_begin", "schemehost.at_begin_row"


@event.listens_for(TenantSession, "after_begin")
def _set_role(session: Session, transaction, connection) -> None:
    role = session.info.get("tenant_role")
    if role is None:
        raise RuntimeError("tenant session without a tenant role")
    params = {"role": role, "timeout": str(session.info.get("statement_timeout_ms", 30000))}
    raw = connection.connection.driver_connection
    if raw is not None and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # pipeline mode sends the implicit BEGIN, the role switch and the statement asked for by
        # run_at_begin (if any; it runs after the switch, as the tenant's role) in one round trip
        first = session.info.get(_AT_BEGIN)
        try:
            with raw.pipeline():
                raw.execute(SET_ROLE_SQL, params)
                cursor = raw.cursor(row_factory=namedtuple_row).execute(*first) if first else None
        except psycopg.OperationalError as err:
            # outside SQLAlchemy's own error handling: do what it does on a lost connection —
            # drop this connection and the pool's others (a restart killed them all) — and raise
            # its error type, which answers 503
            connection.invalidate(err)
            connection.engine.dispose(close=False)
            raise sa_exc.OperationalError(SET_ROLE_SQL, params, err) from err
        except psycopg.Error as err:  # as SQLAlchemy would raise it (the session returns the connection)
            raise sa_exc.DBAPIError.instance(first[0] if first else SET_ROLE_SQL, None, err, psycopg.Error,
                                             hide_parameters=True) from err
        if cursor is not None:
            session.info[_AT_BEGIN_ROW] = cursor.fetchone()
    else:  # already in a transaction (e.g. a test's outer transaction): just switch
        connection.exec_driver_sql(SET_ROLE_SQL, params)


def run_at_begin(session: "TenantSession", sql: str, params: dict[str, Any]) -> Any:
    """The first row (or None) of ``sql`` run in ``session`` as the tenant's role; ``{schema}`` in it
    stands for the tenant's quoted schema and values are ``%(name)s`` parameters.

    When the session's transaction is not open yet, the statement travels with ``BEGIN`` and the
    role switch in one round trip (a tenant API request's token lookup, docs/decisions/0094);
    otherwise it is an ordinary query in the open transaction.
    """
    statement = sql.format(schema=quote_ident(session.info["tenant_schema"]))
    if not session.in_transaction():
        session.info[_AT_BEGIN] = (statement, params)
        try:
            session.connection()
        finally:
            session.info.pop(_AT_BEGIN, None)
        if _AT_BEGIN_ROW in session.info:
            return session.info.pop(_AT_BEGIN_ROW)
    return session.connection().exec_driver_sql(statement, params).first()


def open_tenant_session(engine: Engine, schema_name: str, role_name: str, *, statement_timeout_ms: int = 30000) -> TenantSession:
    """A new session on ``engine`` confined to one tenant's schema and role."""
    quote_ident(schema_name)
    quote_ident(role_name)
    bound = engine.execution_options(schema_translate_map={TENANT_PLACEHOLDER: schema_name})
    session = TenantSession(bind=bound, expire_on_commit=False)
    session.info["tenant_role"] = role_name
    session.info["tenant_schema"] = schema_name
    session.info["statement_timeout_ms"] = statement_timeout_ms
    return session


def tenant_session() -> TenantSession:
    """The current request's tenant session (opened lazily, closed at teardown)."""
    session = g.get("tenant_session")
    if session is None:
        tenant: TenantRef | None = g.get("tenant")
        if tenant is None or tenant.role_name is None:
            raise RuntimeError("no tenant in this request")
        session = open_tenant_session(
            server_engine(tenant.server_dsn),
            tenant.schema_name,
            tenant.role_name,
            statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"],
        )
        g.tenant_session = session
    return session


