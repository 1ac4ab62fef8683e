"""The ``registry.import`` job: runs one import in its tenant's schema, with progress."""

from __future__ import annotations

from contextlib import contextmanager

from flask import current_app

from schemehost.platform.extensions import db
from schemehost.platform.jobs import job_handler

#: statement timeout of an import's transaction (a million rows take tens of seconds)
IMPORT_TIMEOUT_MS = 15 * 60 * 1000


@contextmanager
def tenant_session_by_id(tenant_id: int):
    """A tenant session for a job (long statement timeout); rolled back and closed afterwards."""
    from schemehost.platform.tenancy import open_tenant_session, server_engine
    from schemehost.platform.tenants.models import Tenant

    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.role_name is None:
        raise LookupError(f"tenant {tenant_id} has no schema")
    engine = server_engine(tenant.server.dsn if tenant.server is not None else None)
    timeout = current_app.config.get("REGISTRY_IMPORT_TIMEOUT_MS", IMPORT_TIMEOUT_MS)
    session = open_tenant_session(engine, tenant.schema_name, tenant.role_name, statement_timeout_ms=timeout)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def _interrupted(job_id: int, tenant_id: int | None) -> None:
    from sqlalchemy import select

    from schemehost.tenants.registry.imports.models import RegistryImport
    from schemehost.tenants.registry.imports.services import fail_import

    if tenant_id is None:
        return
    with tenant_session_by_id(tenant_id) as session:
        ids = session.execute(select(RegistryImport.id).where(RegistryImport.job_id == job_id)).scalars().all()
        for import_id in ids:
            fail_import(session, import_id)
        session.commit()


@job_handler("registry.import", on_interrupted=_interrupted)
def import_job(ctx) -> dict:
    """Run the import named by the job's parameters; its result is the import's status and counts."""
    from schemehost.tenants.registry.imports.services import fail_import, run_import

    actor = ctx.params.get("audit_actor")
    actor = tuple(actor) if isinstance(actor, list) and len(actor) == 3 else ("system", "job", ctx.actor)
    with tenant_session_by_id(ctx.tenant_id) as session:
        try:
            imp = run_import(session, int(ctx.params["import_id"]), progress=ctx.progress, actor=actor)
        except BaseException:
            session.rollback()
            fail_import(session, int(ctx.params["import_id"]))
            session.commit()
            raise
        written = sum(int((imp.counts or {}).get(k) or 0) for k in ("created", "updated", "households_created"))
        if written >= ANALYZE_AFTER_ROWS:
            _analyze(ctx.tenant_id, KIND_TABLES.get(imp.kind, ()))
        return {"import_id": imp.id, "status": imp.status, "counts": imp.counts}


#: rows written by an import from which its tables' planner statistics are refreshed at once
ANALYZE_AFTER_ROWS = 1000
KIND_TABLES = {"individuals": ("individuals", "households"), "households": ("households",),
               "locations": ("locations",), "facilities": ("health_facilities",),
               "prices": ("price_list_lines",)}


def _analyze(tenant_id: int, tables) -> None:
    """Refresh planner statistics of the tables a big import filled (as the schema's owner: the tenant
    role may not ANALYZE), so that the next queries are planned for the new size, not the old one."""
    from schemehost.platform.tenancy import quote_ident, server_engine
    from schemehost.platform.tenants.models import Tenant

    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or not tables:
        return
    schema = quote_ident(tenant.schema_name)
    engine = server_engine(tenant.server.dsn if tenant.server is not None else None)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {schema}.{table}")
