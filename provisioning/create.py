"""Creating a tenant: the warm path (claim a spare schema) and the cold path (a durable job).

Warm: one transaction renames a spare schema, creates and grants the role,
seeds the template and inserts the control row — all or nothing.
Cold: a ``provisioning`` control row is committed first, then a job builds
schema, role, tables, version stamp and seed in one transaction and marks the
tenant ``active``; on failure the tenant is marked ``failed`` with nothing
behind it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER
from schemehost.platform.errors import AppError, Conflict, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.partners.models import Partner
from schemehost.platform.permissions import BUILTIN_ROLES
from schemehost.platform.tenancy import quote_ident, role_for, schema_for, server_engine, slug_problem
from schemehost.platform.tenants.models import DatabaseServer, Tenant, TenantStatus
from schemehost.platform.tenants.services import install_id, record_event
from schemehost.provisioning.migrate import build_fresh_schema, head
from schemehost.provisioning.pool import claim_spare
from schemehost.provisioning.roles import apply_grants, create_role
from schemehost.provisioning.templates import Template, load_template
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity.models import Role

log = logging.getLogger("schemehost.provisioning")

# Tests set this to raise at a named step ("claimed", "renamed", "role", "granted",
# "seeded", "recorded", "schema", "migrated") to prove a crash leaves nothing half-done.
FAULT_HOOK: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if FAULT_HOOK is not None:
        FAULT_HOOK(name)


@dataclass
class Provisioned:
    """The outcome of ``create_tenant``: a whole tenant (warm) or a committed build job (cold)."""

    tenant: Tenant
    path: str
    job_id: int | None = None

    def after_commit(self, *, wait: bool) -> None:
        """Call after the caller's commit: run the cold build here (``wait``) or defer it to the worker."""
        if self.job_id is None:
            return
        from schemehost.platform.jobs import defer_job, run_job

        if wait:
            run_job(self.job_id)
            db.session.expire_all()
            self.tenant = db.session.get(Tenant, self.tenant.id) or self.tenant
        else:
            defer_job(self.job_id)


def _check_inputs(session: Session, slug: str, name: str, partner: str, template: str) -> tuple[Partner, Template]:
    errors: dict[str, list[str]] = {}
    problem = slug_problem(slug)
    if problem:
        errors["slug"] = [problem]
    if not isinstance(name, str) or not name.strip():
        errors["name"] = [_("A tenant needs a display name.")]
    elif len(name) > 200:
        errors["name"] = [_("A display name has at most 200 characters.")]
    partner_row = session.execute(select(Partner).where(Partner.slug == partner)).scalar_one_or_none()
    if partner_row is None:
        errors["partner"] = [_("Unknown partner '%(partner)s'. Create it with `schemehost partners create`.", partner=partner)]
    tpl = None
    try:
        tpl = load_template(template)
    except AppError as err:
        errors["template"] = [err.detail]
    if errors:
        raise ValidationError(_("The tenant cannot be created."), errors=errors)
    if session.execute(select(Tenant.id).where(Tenant.slug == slug)).first():
        raise Conflict(_("The slug '%(slug)s' is already taken.", slug=slug), errors={"slug": [_("already taken")]})
    return partner_row, tpl


def _placement(session: Session) -> DatabaseServer:
    server = session.execute(
        select(DatabaseServer)
        .where(DatabaseServer.accepts_new_tenants.is_(True))
        .order_by(DatabaseServer.is_default.desc(), DatabaseServer.id)
        .limit(1)
    ).scalar_one_or_none()
    if server is None:
        raise Conflict(_("No database server accepts new tenants."))
    return server


def seed_tenant(conn: Connection, schema: str, template: Template, *, demo_data: bool) -> None:
    """Write the template's settings (and demo data on request) into the tenant schema."""
    rows: list[dict[str, Any]] = [{"key": k, "value": v} for k, v in template.tenant_settings().items()]
    if demo_data:
        rows.append({"key": "demo", "value": template.demo})
    options = {"schema_translate_map": {TENANT_PLACEHOLDER: schema}}
    conn.execute(insert(Setting.__table__), rows, execution_options=options)
    if template.roles:
        conn.execute(insert(Role.__table__), [
            {"code": r["code"], "name": r["name"], "builtin": r["code"] in BUILTIN_ROLES,
             "permissions": list(r["permissions"])} for r in template.roles
        ], execution_options=options)
    if demo_data and "registry" in template.modules:
        from schemehost.tenants.registry.demo import demo_households, generate_registry

        generate_registry(conn, schema, households=demo_households(), seed=0)
    if demo_data and "vouchers" in template.modules:
        from schemehost.tenants.vouchers.demo import seed_programmes

        seed_programmes(conn, schema, template)  # the template's voucher programmes and their demo vouchers
    if demo_data and "insurance" in template.modules:
        from schemehost.tenants.insurance.demo import seed_products

        seed_products(conn, schema, template)  # the template's insurance products and paid demo policies
    if demo_data and "transfers" in template.modules:
        from schemehost.tenants.transfers.demo import seed_programmes as seed_transfers

        seed_transfers(conn, schema, template)  # programmes, payment points, beneficiaries, an open cycle's payroll


def create_tenant(session: Session, slug: str, *, name: str, partner: str, template: str,
                  demo_data: bool = False, actor: str = "cli", cold: bool = False) -> Provisioned:
    """Create tenant ``slug``; warm when a spare schema at head is free, else cold (a build job)."""
    partner_row, tpl = _check_inputs(session, slug, name, partner, template)
    server = _placement(session)
    version = head("tenant")
    # one transaction across control row and schema is only possible on the main database
    spare = None if (cold or server.dsn) else claim_spare(session, server.id, version)
    tenant = Tenant(
        slug=slug, name=name.strip(), partner_id=partner_row.id, template=tpl.name,
        template_version=tpl.version, server_id=server.id, schema_name=schema_for(slug),
        status=TenantStatus.active if spare else TenantStatus.provisioning,
        locale=tpl.locale, timezone=tpl.timezone, currency=tpl.currency,
    )
    session.add(tenant)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # a concurrent create of the same slug committed first
        raise Conflict(_("The slug '%(slug)s' is already taken.", slug=slug), errors={"slug": [_("already taken")]}) from None
    if spare:
        _claim(session, tenant, spare, tpl, version, demo_data=demo_data, actor=actor)
        return Provisioned(tenant=tenant, path="warm")

    from schemehost.platform.jobs import create_job

    record_event(session, tenant, "provisioning_started", actor=actor, to_status=TenantStatus.provisioning,
                 data={"template": tpl.name, "template_version": tpl.version, "path": "cold"})
    job = create_job(session, "tenant.build", tenant_id=tenant.id, actor=actor,
                     params={"demo_data": demo_data})
    session.flush()
    return Provisioned(tenant=tenant, path="cold", job_id=job.id)


def _claim(session: Session, tenant: Tenant, spare: str, tpl: Template, version: str, *,
           demo_data: bool, actor: str) -> None:
    _step("claimed")
    conn = session.connection()
    conn.execute(text(f"ALTER SCHEMA {quote_ident(spare)} RENAME TO {quote_ident(tenant.schema_name)}"))
    _step("renamed")
    role = role_for(install_id(session), tenant.id)
    create_role(conn, role, statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"])
    _step("role")
    apply_grants(conn, tenant.schema_name, role)
    _step("granted")
    seed_tenant(conn, tenant.schema_name, tpl, demo_data=demo_data)
    _step("seeded")
    tenant.role_name = role
    tenant.schema_version = version
    record_event(session, tenant, "created", actor=actor, to_status=TenantStatus.active,
                 data={"template": tpl.name, "template_version": tpl.version, "path": "warm",
                       "demo_data": demo_data})
    session.flush()
    _step("recorded")


def build_tenant(tenant_id: int, *, demo_data: bool = False, actor: str = "worker") -> dict[str, Any]:
    """The cold path's job: build everything in one transaction, or mark the tenant failed."""
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.status != TenantStatus.provisioning:
        raise RuntimeError(f"tenant {tenant_id} is not waiting to be provisioned")
    tpl = load_template(tenant.template)
    slug, schema = tenant.slug, tenant.schema_name
    dsn = tenant.server.dsn
    role = role_for(install_id(), tenant.id)
    db.session.rollback()
    version = head("tenant")
    try:
        with server_engine(dsn).begin() as conn:
            # re-check under lock: a retry or a second worker must not build twice
            if not dsn:
                status = conn.execute(text("SELECT status FROM control.tenants WHERE id = :id FOR UPDATE"),
                                      {"id": tenant_id}).scalar()
                if status != TenantStatus.provisioning:
                    raise RuntimeError(f"tenant {slug} is {status}, not provisioning")
            conn.execute(text(f"CREATE SCHEMA {quote_ident(schema)}"))
            _step("schema")
            build_fresh_schema(conn, schema)
            _step("migrated")
            create_role(conn, role, statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"])
            apply_grants(conn, schema, role)
            _step("role")
            seed_tenant(conn, schema, tpl, demo_data=demo_data)
            _step("seeded")
            if not dsn:  # main database: the control row flips in the same transaction
                _mark_active(conn, tenant_id, role, version, actor)
        if dsn:
            with db.engine.begin() as conn:
                _mark_active(conn, tenant_id, role, version, actor)
    except Exception as exc:
        _mark_failed(tenant_id, exc, actor)
        raise
    return {"tenant": slug, "status": TenantStatus.active, "schema_version": version}


def _mark_active(conn: Connection, tenant_id: int, role: str, version: str, actor: str) -> None:
    _step("recorded")
    conn.execute(update(Tenant.__table__).where(Tenant.__table__.c.id == tenant_id).values(
        status=TenantStatus.active, role_name=role, schema_version=version, failure=None))
    slug = conn.execute(select(Tenant.__table__.c.slug).where(Tenant.__table__.c.id == tenant_id)).scalar_one()
    from schemehost.platform.tenants.models import TenantEvent

    conn.execute(insert(TenantEvent.__table__).values(
        tenant_id=tenant_id, tenant_slug=slug, kind="created", actor=actor,
        from_status=TenantStatus.provisioning, to_status=TenantStatus.active, data={"path": "cold"}))


def _mark_failed(tenant_id: int, exc: Exception | str, actor: str) -> None:
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {str(exc).splitlines()[0][:500] if str(exc) else ''}"
    log.error("provisioning of tenant %s failed: %s", tenant_id, reason)
    db.session.rollback()
    with db.engine.begin() as conn:
        slug = conn.execute(select(Tenant.__table__.c.slug).where(Tenant.__table__.c.id == tenant_id)
                            .where(Tenant.__table__.c.status == TenantStatus.provisioning).with_for_update()).scalar()
        if slug is None:  # gone, or no longer provisioning (another build finished it)
            return
        conn.execute(update(Tenant.__table__).where(Tenant.__table__.c.id == tenant_id)
                     .values(status=TenantStatus.failed, failure=reason))
        from schemehost.platform.tenants.models import TenantEvent

        conn.execute(insert(TenantEvent.__table__).values(
            tenant_id=tenant_id, tenant_slug=slug, kind="provisioning_failed", actor=actor,
            from_status=TenantStatus.provisioning, to_status=TenantStatus.failed, reason=reason))


def build_interrupted(job_id: int, tenant_id: int | None) -> None:
    """A build job's worker died: its transaction left nothing, so the tenant is marked failed
    (retryable with ``tenants retry``) instead of staying ``provisioning`` for ever."""
    if tenant_id is not None:
        _mark_failed(tenant_id, f"the build job {job_id} was interrupted (its worker stopped)", "worker")


def retry_tenant(session: Session, slug: str, *, actor: str) -> Provisioned:
    """Put a ``failed`` tenant back to ``provisioning`` with a new build job."""
    from schemehost.platform.jobs import create_job
    from schemehost.provisioning.lifecycle import get_tenant

    tenant = get_tenant(session, slug)
    if tenant.status != TenantStatus.failed:
        raise Conflict(_("Only a failed tenant can be retried; '%(slug)s' is %(status)s.", slug=slug, status=tenant.status),
                       errors={"status": [tenant.status]})
    tenant.status = TenantStatus.provisioning
    tenant.failure = None
    record_event(session, tenant, "provisioning_retried", actor=actor, from_status=TenantStatus.failed,
                 to_status=TenantStatus.provisioning)
    job = create_job(session, "tenant.build", tenant_id=tenant.id, actor=actor, params={"demo_data": False})
    session.flush()
    return Provisioned(tenant=tenant, path="cold", job_id=job.id)
