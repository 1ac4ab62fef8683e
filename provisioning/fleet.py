"""Fleet migration: every tenant schema, and every spare schema, brought to head.

Each schema is upgraded in its own transaction on a dedicated connection,
with ``SET LOCAL lock_timeout`` and ``SET LOCAL search_path`` inside that
transaction only; the tenant role's grants are re-applied and the control
plane's recorded version updated (with a ``migrated`` tenant event) in the
same transaction. One transaction never touches two schemas, so the lock
table (``max_locks_per_transaction``) is never exhausted.

``--jobs N`` runs N worker processes (``alembic.op`` is process-global, not
thread-safe). Each process builds one Alembic environment (script directory,
revision map, ``EnvironmentContext``) and keeps one connection per database
server, then upgrades many schemas with them; only the cheap
``MigrationContext`` is configured per schema, because its version table
lives inside that schema.

Whether anything is pending is decided from every schema's own
``alembic_version`` read set-wise (one catalog query, then one ``UNION ALL``
query per chunk of version tables), never by building an environment per
tenant.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
from multiprocessing import util as mp_util
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from schemehost.platform.db import any_of, normalize_url
from schemehost.platform.tenancy import quote_ident
from schemehost.platform.tenants.models import DatabaseServer, SpareSchema, Tenant, TenantStatus
from schemehost.provisioning.migrate import migrations_dir
from schemehost.provisioning.roles import apply_grants

log = logging.getLogger("schemehost.provisioning.fleet")

#: tenant statuses that have a schema behind them
SCHEMA_STATUSES = (TenantStatus.active, TenantStatus.read_only, TenantStatus.suspended, TenantStatus.archived)

#: version tables read per query: a query over N tables holds ~2N locks until it ends
VERSION_CHUNK = 200

LOCK_TIMEOUT_RE = re.compile(r"^\d{1,6}(ms|s|min)$")


def _first_line(exc: BaseException) -> str:
    """A one-line description of a failure (driver errors without their SQL echo)."""
    inner = getattr(exc, "orig", None) or exc
    message = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    return f"{type(inner).__name__}: {message}"[:500]


# ---- the migration tree ------------------------------------------------------


class MigrationTree:
    """The tenant Alembic tree to migrate with: the installed one, or a copy named by path.

    Building it loads every revision file once; keep one per process.
    """

    def __init__(self, script_location: str | os.PathLike | None = None) -> None:
        self.script_location = str(script_location or migrations_dir() / "tenant")
        self.config = Config()
        self.config.set_main_option("script_location", self.script_location)
        self.script = ScriptDirectory.from_config(self.config)

    @cached_property
    def head(self) -> str:
        heads = self.script.get_heads()
        if len(heads) != 1:
            raise RuntimeError(f"the tenant migrations have {len(heads)} heads; merge them")
        return heads[0]

    def knows(self, revision: str | None) -> bool:
        if revision is None:
            return True
        try:
            return self.script.get_revision(revision) is not None
        except CommandError:
            return False

    def _steps_to(self, destination: str) -> Callable:
        def steps(rev, context):
            # Alembic hands over the revision(s) it just read from the version table
            context.schemehost_from_rev = ",".join(rev) if rev else None
            return self.script._upgrade_revs(destination, rev)

        return steps

    def environment(self, **options) -> EnvironmentContext:
        """An Alembic environment upgrading to head (``as_sql=True`` for offline rendering)."""
        return EnvironmentContext(self.config, self.script, fn=self._steps_to(self.head),
                                  destination_rev=self.head, **options)

    def upgrade(self, conn: Connection, schema: str, env: EnvironmentContext | None = None, *,
                version_table_known: bool = False) -> str | None:
        """Upgrade ``schema`` to head on ``conn`` inside the caller's transaction; returns the old revision.

        ``search_path`` is set with ``SET LOCAL`` for the migration and reset
        before returning; the version table is the schema's own.
        ``version_table_known``: the caller has seen it (set-wise), so Alembic
        need not reflect it again; if it vanished since, reading it fails loudly.
        """
        env = env or self.environment()
        conn.execute(text(f"SET LOCAL search_path TO {quote_ident(schema)}"))
        with env:  # installs alembic.context / alembic.op for the scripts
            env.configure(connection=conn, version_table_schema=schema, transactional_ddl=True)
            if version_table_known:
                env.get_context()._has_version_table = lambda: True
            env.run_migrations()  # reads the version once; nothing to run at head
            current = env.get_context().schemehost_from_rev
        conn.execute(text("SET LOCAL search_path TO DEFAULT"))
        return current

    def render_sql(self, schema: str, from_rev: str | None, *, lock_timeout: str, role: str | None) -> str:
        """The SQL that upgrading ``schema`` from ``from_rev`` would run, rendered offline."""
        buf = io.StringIO()
        env = self.environment(as_sql=True, starting_rev=from_rev)
        with env:
            env.configure(dialect_name="postgresql", version_table_schema=schema, transactional_ddl=False,
                          literal_binds=True, output_buffer=buf, starting_rev=from_rev)
            env.run_migrations()
        lines = ["BEGIN;", f"SET LOCAL lock_timeout = '{lock_timeout}';",
                 f"SET LOCAL search_path TO {quote_ident(schema)};", buf.getvalue().strip(),
                 "SET LOCAL search_path TO DEFAULT;"]
        if role:
            lines.append(f"-- grants re-applied to role {role}")
        lines.append("COMMIT;")
        return "\n".join(lines) + "\n"


# ---- what to migrate ---------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One schema to bring to head: a tenant's or a spare's."""

    kind: str  # "tenant" | "spare"
    name: str  # tenant slug, or the spare's schema name
    schema: str
    tenant_id: int | None = None
    role: str | None = None
    server_url: str | None = None  # None: the control plane's own database
    recorded: str | None = None  # the version the control plane records
    status: str = "spare"  # the tenant's status

    @property
    def label(self) -> str:
        return self.name if self.kind == "tenant" else f"spare:{self.name}"


@dataclass(frozen=True)
class SchemaVersion:
    """What a schema's own ``alembic_version`` says (``state``: ok, no_schema, no_version_table)."""

    state: str
    version: str | None = None


@dataclass
class Outcome:
    """The result of one schema's upgrade (``status``: upgraded, current, failed, skipped)."""

    target: Target
    from_rev: str | None
    to_rev: str | None
    status: str
    seconds: float = 0.0
    error: str | None = None


def fleet_targets(session: Session, *, slugs: Iterable[str] | None = None, spares: bool = True) -> list[Target]:
    """The tenants (all with a schema, or the named ones) and, with ``spares``, the spare schemas."""
    from schemehost.platform.errors import Conflict, NotFound
    from flask_babel import gettext as _

    stmt = (select(Tenant.id, Tenant.slug, Tenant.status, Tenant.schema_name, Tenant.role_name,
                   Tenant.schema_version, DatabaseServer.dsn)
            .join(DatabaseServer, DatabaseServer.id == Tenant.server_id)
            .order_by(Tenant.slug))
    wanted = list(dict.fromkeys(slugs or []))
    if wanted:
        stmt = stmt.where(Tenant.slug.in_(wanted))
    else:
        stmt = stmt.where(Tenant.status.in_([s.value for s in SCHEMA_STATUSES]))
    rows = session.execute(stmt).all()
    if wanted:
        unknown = sorted(set(wanted) - {r.slug for r in rows})
        if unknown:
            raise NotFound(_("No tenant %(slugs)s.", slugs=", ".join(unknown)),
                           errors={"slug": [_("unknown tenant '%(slug)s'", slug=s) for s in unknown]})
        schemaless = [r.slug for r in rows if r.status not in SCHEMA_STATUSES]
        if schemaless:
            raise Conflict(_("Tenant(s) %(slugs)s have no schema yet or any more (provisioning or failed).",
                             slugs=", ".join(schemaless)), errors={"slug": schemaless})
    targets = [Target("tenant", r.slug, r.schema_name, r.id, r.role_name,
                      normalize_url(r.dsn) if r.dsn else None, r.schema_version, r.status) for r in rows]
    if spares and not wanted:
        for r in session.execute(
            select(SpareSchema.schema_name, SpareSchema.version, DatabaseServer.dsn)
            .join(DatabaseServer, DatabaseServer.id == SpareSchema.server_id)
            .order_by(SpareSchema.created_at, SpareSchema.schema_name)
        ):
            targets.append(Target("spare", r.schema_name, r.schema_name, None, None,
                                  normalize_url(r.dsn) if r.dsn else None, r.version))
    return targets


def read_versions(conn: Connection, schemas: list[str], *, lock_timeout: str = "5s",
                  chunk: int = VERSION_CHUNK) -> dict[str, SchemaVersion]:
    """Every schema's version from its own ``alembic_version``, set-wise.

    One catalog query finds the schemas and their version tables; then one
    ``UNION ALL`` query reads up to ``chunk`` version tables at a time, each in
    its own short transaction so that its locks are released before the next.
    """
    found: dict[str, bool] = {}
    with conn.begin():
        for name, has_table in conn.execute(text(
            "SELECT n.nspname, EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = n.oid"
            " AND c.relname = 'alembic_version' AND c.relkind IN ('r', 'p'))"
            " FROM pg_namespace n WHERE n.nspname = ANY(:schemas)"), {"schemas": schemas}):
            found[name] = has_table
    result = {s: SchemaVersion("no_schema") for s in schemas if s not in found}
    result.update({s: SchemaVersion("no_version_table") for s, has in found.items() if not has})
    readable = [s for s in schemas if found.get(s)]
    for start in range(0, len(readable), chunk):
        part = readable[start:start + chunk]
        sql = " UNION ALL ".join(
            f"SELECT CAST(:s{i} AS text) AS schema_name, version_num FROM {quote_ident(s)}.alembic_version"
            for i, s in enumerate(part))
        versions: dict[str, list[str]] = {s: [] for s in part}
        with conn.begin():
            conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": lock_timeout})
            for name, version in conn.execute(text(sql), {f"s{i}": s for i, s in enumerate(part)}):
                versions[name].append(version)
        for name, found_versions in versions.items():
            # an empty table is base; several rows are several heads (never at our single head)
            result[name] = SchemaVersion("ok", ",".join(sorted(found_versions)) or None)
    return result


def versions_by_server(control: Engine, targets: list[Target], *, lock_timeout: str = "5s",
                       engine_for: Callable[[str], Engine] | None = None) -> dict[Target, SchemaVersion]:
    """``read_versions`` for targets spread over database servers (one pass per server)."""
    by_server: dict[str | None, list[Target]] = {}
    for t in targets:
        by_server.setdefault(t.server_url, []).append(t)
    out: dict[Target, SchemaVersion] = {}
    for url, group in by_server.items():
        engine = control if url is None else (engine_for or _plain_engine)(url)
        with engine.connect() as conn:
            versions = read_versions(conn, [t.schema for t in group], lock_timeout=lock_timeout)
        out.update({t: versions[t.schema] for t in group})
    return out


def _plain_engine(url: str) -> Engine:
    return create_engine(normalize_url(url), poolclass=NullPool)


@dataclass
class FleetPlan:
    """The fleet as read before migrating: each target's real version, and what is to do."""

    head: str
    targets: list[Target]
    versions: dict[Target, SchemaVersion]
    seconds: float = 0.0

    @property
    def pending(self) -> list[Target]:
        return [t for t in self.targets if self.versions[t].state == "ok" and self.versions[t].version != self.head]

    @property
    def broken(self) -> list[Outcome]:
        """Targets no upgrade can help: the schema or its version table is missing."""
        reasons = {"no_schema": "schema {schema} does not exist",
                   "no_version_table": "schema {schema} has no alembic_version table"}
        return [Outcome(t, None, None, "failed", error=reasons[self.versions[t].state].format(schema=t.schema))
                for t in self.targets if self.versions[t].state != "ok"]

    @property
    def at_head(self) -> list[Target]:
        return [t for t in self.targets if self.versions[t].state == "ok" and self.versions[t].version == self.head]

    @property
    def stale_records(self) -> list[Target]:
        """Targets at head whose control-plane record says otherwise (an interrupted remote update)."""
        return [t for t in self.at_head if t.recorded != self.head]


def plan_fleet(session: Session, tree: MigrationTree, *, slugs: Iterable[str] | None = None,
               lock_timeout: str = "5s") -> FleetPlan:
    """Read the fleet: targets from the control plane, versions from the schemas themselves."""
    from schemehost.platform.tenancy import server_engine

    start = time.perf_counter()
    targets = fleet_targets(session, slugs=slugs)
    control = session.get_bind()
    session.rollback()  # no control transaction stays open while we read the schemas
    versions = versions_by_server(control, targets, lock_timeout=lock_timeout, engine_for=server_engine)
    return FleetPlan(tree.head, targets, versions, time.perf_counter() - start)


def fix_stale_records(control: Engine, plan: FleetPlan) -> int:
    """Record head for targets that are at head but recorded otherwise; returns how many."""
    stale = plan.stale_records
    if not stale:
        return 0
    tenants = [t.tenant_id for t in stale if t.kind == "tenant"]
    spares = [t.schema for t in stale if t.kind == "spare"]
    with control.begin() as conn:
        if tenants:
            conn.execute(update(Tenant.__table__).where(any_of(Tenant.__table__.c.id, tenants))
                         .values(schema_version=plan.head))
        if spares:
            conn.execute(update(SpareSchema.__table__).where(SpareSchema.__table__.c.schema_name.in_(spares))
                         .values(version=plan.head))
    return len(stale)


# ---- the worker --------------------------------------------------------------


class SchemaMigrator:
    """One process's migration environment, reused for every schema it upgrades.

    Holds one ``MigrationTree`` (script directory and revision map), one
    Alembic ``EnvironmentContext``, and one connection per database server.
    Each ``upgrade`` is one transaction on one schema; a failure is returned
    as an ``Outcome``, never raised, so that the other schemas go on.
    """

    def __init__(self, control_url: str, script_location: str | None, *, lock_timeout: str = "5s",
                 actor: str = "cli") -> None:
        self.control_url = normalize_url(control_url)
        self.tree = MigrationTree(script_location)
        self.env = self.tree.environment()
        self.lock_timeout = lock_timeout
        self.actor = actor
        self._engines: dict[str, Engine] = {}
        self._conns: dict[str, Connection] = {}

    def _connection(self, url: str) -> Connection:
        conn = self._conns.get(url)
        if conn is None or conn.closed or conn.invalidated:
            engine = self._engines.get(url)
            if engine is None:
                engine = self._engines[url] = create_engine(url, poolclass=NullPool)
            conn = self._conns[url] = engine.connect()
        return conn

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        for engine in self._engines.values():
            engine.dispose()
        self._conns.clear()
        self._engines.clear()

    def upgrade(self, target: Target) -> Outcome:
        """Bring one schema to head in one transaction and record it; never raises for a failure."""
        start = time.perf_counter()
        head = self.tree.head
        local = target.server_url is None or target.server_url == self.control_url
        try:
            conn = self._connection(target.server_url or self.control_url)
            with conn.begin():
                conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": self.lock_timeout})
                if local:
                    role = self._lock_record(conn, target)
                    if role is False:
                        return Outcome(target, None, None, "skipped", time.perf_counter() - start,
                                       "gone from the control plane (deleted or claimed)")
                else:
                    # serialise concurrent runs on the tenant's own server
                    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                 {"k": "schemehost.migrate." + target.schema})
                    role = target.role
                current = self.tree.upgrade(conn, target.schema, self.env, version_table_known=True)
                if current == head:
                    # another run got here first; make sure the record agrees
                    if local:
                        self._record(conn, target, current, head, event=False)
                    return Outcome(target, current, head, "current", time.perf_counter() - start)
                if role:
                    apply_grants(conn, target.schema, role)
                if local:
                    self._record(conn, target, current, head)
            if not local:
                with self._connection(self.control_url).begin() as control:
                    self._record(control, target, current, head)
            return Outcome(target, current, head, "upgraded", time.perf_counter() - start)
        except Exception as exc:  # reported per schema (with its error), never hidden
            log.warning("migration of schema %s failed: %s", target.schema, _first_line(exc))
            return Outcome(target, None, None, "failed", time.perf_counter() - start, _first_line(exc))

    def _lock_record(self, conn: Connection, target: Target):
        """Lock the target's control row for the transaction; False when it is gone, else the role."""
        if target.kind == "spare":
            row = conn.execute(text("SELECT 1 FROM control.spare_schemas WHERE schema_name = :s FOR UPDATE"),
                               {"s": target.schema}).first()
            return None if row else False
        row = conn.execute(text("SELECT status, role_name, schema_name FROM control.tenants"
                                " WHERE id = :id FOR NO KEY UPDATE"), {"id": target.tenant_id}).first()
        if row is None or row.status not in SCHEMA_STATUSES or row.schema_name != target.schema:
            return False
        return row.role_name

    def _record(self, conn: Connection, target: Target, from_rev: str | None, to_rev: str, *,
                event: bool = True) -> None:
        if target.kind == "spare":
            conn.execute(update(SpareSchema.__table__).where(SpareSchema.__table__.c.schema_name == target.schema)
                         .values(version=to_rev))
            return
        if not event:
            conn.execute(update(Tenant.__table__).where(Tenant.__table__.c.id == target.tenant_id)
                         .values(schema_version=to_rev))
            return
        # the record and its event in one statement
        conn.execute(text(
            "WITH recorded AS (UPDATE control.tenants SET schema_version = :to, updated_at = now()"
            " WHERE id = :id RETURNING id, slug)"
            " INSERT INTO control.tenant_events (tenant_id, tenant_slug, kind, actor, data)"
            " SELECT id, slug, 'migrated', :actor, CAST(:data AS jsonb) FROM recorded"),
            {"to": to_rev, "id": target.tenant_id, "actor": self.actor,
             "data": json.dumps({"from": from_rev, "to": to_rev})})


# one migrator per worker process (built by the pool's initializer)
_migrator: SchemaMigrator | None = None
# engines the parent held when it forked; a forked child must never use or close them
_inherited_engines: list[Engine] = []


def _init_worker(control_url: str, script_location: str | None, lock_timeout: str, actor: str) -> None:
    global _migrator
    for engine in _inherited_engines:
        engine.dispose(close=False)  # drop the parent's pool without touching its sockets
    _inherited_engines.clear()
    _migrator = SchemaMigrator(control_url, script_location, lock_timeout=lock_timeout, actor=actor)
    _migrator.tree.head  # load the revision map before the first schema
    mp_util.Finalize(None, _migrator.close, exitpriority=10)


def _upgrade_in_worker(targets: list[Target]) -> list[Outcome]:
    assert _migrator is not None, "worker not initialised"
    outcomes: list[Outcome] = []
    try:
        for target in targets:
            outcomes.append(_migrator.upgrade(target))
    except KeyboardInterrupt:
        pass  # Ctrl-C reached the whole process group: the schema in hand rolled back; report the rest
    return outcomes


# ---- the whole fleet ---------------------------------------------------------


@dataclass
class FleetRun:
    """What ``migrate_fleet`` did: the plan it read and every schema's outcome."""

    plan: FleetPlan
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    records_fixed: int = 0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def default_start_method() -> str:
    """``fork`` where the platform has it (cheap; the parent closes its pools first), else ``spawn``."""
    return os.environ.get("SCHEMEHOST_FLEET_START_METHOD") or (
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def migrate_fleet(session: Session, tree: MigrationTree, *, slugs: Iterable[str] | None = None, jobs: int = 1,
                  lock_timeout: str = "5s", actor: str = "cli", start_method: str | None = None,
                  on_outcome: Callable[[Outcome], None] | None = None, plan: FleetPlan | None = None) -> FleetRun:
    """Bring the fleet (or the named tenants) to head, each schema in its own transaction.

    Failures are collected, never raised; ``jobs`` > 1 runs that many worker
    processes. Safe to re-run after an interruption: schemas already at head
    are left alone.
    """
    start = time.perf_counter()
    plan = plan or plan_fleet(session, tree, slugs=slugs, lock_timeout=lock_timeout)
    control: Engine = session.get_bind()
    run = FleetRun(plan, outcomes=list(plan.broken))
    run.records_fixed = fix_stale_records(control, plan)
    pending = plan.pending

    def report(outcome: Outcome) -> None:
        if outcome.from_rev is None and outcome.status != "upgraded":
            outcome.from_rev = plan.versions[outcome.target].version  # as read before the run
        if on_outcome is not None:
            on_outcome(outcome)

    for outcome in run.outcomes:
        report(outcome)
    if pending:
        url = control.url.render_as_string(hide_password=False)
        args = (url, tree.script_location, lock_timeout, actor)
        workers = max(1, min(jobs, len(pending)))
        try:
            if workers == 1:
                migrator = SchemaMigrator(*args[:2], lock_timeout=lock_timeout, actor=actor)
                try:
                    for target in pending:
                        run.outcomes.append(migrator.upgrade(target))
                        report(run.outcomes[-1])
                finally:
                    migrator.close()
            else:
                _run_pool(session, run, pending, args, workers, start_method or default_start_method(), report)
        except KeyboardInterrupt:
            run.interrupted = True
    run.seconds = time.perf_counter() - start
    return run


def _run_pool(session: Session, run: FleetRun, pending: list[Target], args: tuple, workers: int,
              start_method: str, report: Callable[[Outcome], None]) -> None:
    context = multiprocessing.get_context(start_method)
    if start_method == "fork":
        # no pooled connection may be open when we fork: the children would share its socket
        from schemehost.platform.tenancy import dispose_engines

        control = session.get_bind()
        session.close()
        control.dispose()
        dispose_engines()
        _inherited_engines[:] = [control]
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                                   initargs=args)
    finally:
        _inherited_engines.clear()
    # a few schemas per task: less inter-process traffic, still balanced across workers
    size = max(1, min(16, len(pending) // (workers * 8)))
    batches = [pending[i:i + size] for i in range(0, len(pending), size)]
    futures = {pool.submit(_upgrade_in_worker, batch): batch for batch in batches}
    collected = set()

    def collect(future) -> None:
        collected.add(future)
        error = future.exception()
        if error is None:
            outcomes = future.result()
        else:  # a worker process died (or was stopped): its batch is reported failed
            outcomes = [Outcome(t, None, None, "failed", error=f"worker process stopped: {_first_line(error)}")
                        for t in futures[future]]
        for outcome in outcomes:
            run.outcomes.append(outcome)
            report(outcome)

    try:
        for future in as_completed(futures):
            collect(future)
    except KeyboardInterrupt:
        # let the workers finish what they hold, then report it all: the summary stays exact
        pool.shutdown(wait=True, cancel_futures=True)
        for future in futures:
            if future not in collected and future.done() and not future.cancelled():
                collect(future)
        raise
    pool.shutdown(wait=True)


def render_fleet_sql(plan: FleetPlan, tree: MigrationTree, *, lock_timeout: str = "5s") -> Iterable[str]:
    """For ``--dry-run``: each pending schema's upgrade SQL, rendered offline from its current revision."""
    for target in plan.pending:
        version = plan.versions[target].version
        header = f"-- {target.kind} {target.name} ({target.schema}): {version or 'base'} -> {plan.head}\n"
        yield header + tree.render_sql(target.schema, version, lock_timeout=lock_timeout, role=target.role)


def check_lock_timeout(value: str) -> str:
    """Validate a ``--lock-timeout`` like ``5s``, ``500ms`` or ``1min``."""
    from schemehost.platform.errors import ValidationError
    from flask_babel import gettext as _

    value = (value or "").strip()
    if not LOCK_TIMEOUT_RE.match(value) or int(re.match(r"\d+", value).group()) == 0:
        message = _("A lock timeout is a positive number with ms, s or min, e.g. 5s.")
        raise ValidationError(message, errors={"lock_timeout": [message]})
    return value
