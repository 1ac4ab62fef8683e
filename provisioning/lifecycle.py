"""Tenant lifecycle: the allowed transitions, each recorded as a tenant event.

``provisioning`` → ``active`` ⇄ ``read_only`` ⇄ ``suspended`` → ``archived`` → deleted;
``failed`` when a provisioning job gave up (retry or delete it).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenancy import quote_ident, server_engine
from schemehost.platform.tenants.models import Tenant, TenantEvent, TenantStatus
from schemehost.platform.tenants.services import record_event
from schemehost.provisioning.roles import drop_role

S = TenantStatus
ALLOWED: dict[str, set[str]] = {
    S.active: {S.read_only, S.suspended, S.archived},
    S.read_only: {S.active, S.suspended, S.archived},
    S.suspended: {S.active, S.read_only, S.archived},
    S.archived: set(),
    S.provisioning: {S.active, S.failed},
    S.failed: {S.provisioning},
}


def get_tenant(session: Session, slug: str, *, for_update: bool = False) -> Tenant:
    stmt = select(Tenant).where(Tenant.slug == slug)
    if for_update:
        stmt = stmt.with_for_update(of=Tenant)
    tenant = session.execute(stmt).unique().scalar_one_or_none()
    if tenant is None:
        raise NotFound(_("No tenant '%(slug)s'.", slug=slug), errors={"slug": [_("unknown tenant '%(slug)s'", slug=slug)]})
    return tenant


def list_tenants(session: Session, *, partner: str | None = None, status: str | None = None,
                 partner_id: int | None = None, after: str | None = None,
                 limit: int | None = None) -> list[Tenant]:
    """Tenants in slug order, filtered in SQL; ``after`` and ``limit`` page them by keyset (slug).

    ``partner_id`` restricts the list to one partner's tenants (partner staff's scope), so that a
    page is always full of tenants the caller may see.
    """
    stmt = select(Tenant).order_by(Tenant.slug)
    if status is not None:
        if status not in S.__members__:
            raise ValidationError(_("Unknown status '%(status)s'.", status=status),
                                  errors={"status": [f"one of: {', '.join(S.__members__)}"]})
        stmt = stmt.where(Tenant.status == status)
    if partner is not None:
        stmt = stmt.join(Partner, Partner.id == Tenant.partner_id).where(Partner.slug == partner)
    if partner_id is not None:
        stmt = stmt.where(Tenant.partner_id == partner_id)
    if after is not None:
        stmt = stmt.where(Tenant.slug > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).unique().scalars())


def tenant_events(session: Session, tenant_id: int) -> list[TenantEvent]:
    return list(session.execute(
        select(TenantEvent).where(TenantEvent.tenant_id == tenant_id).order_by(TenantEvent.id)
    ).scalars())


def tenant_dict(t: Tenant) -> dict[str, Any]:
    return {
        "id": t.id, "slug": t.slug, "name": t.name, "partner": t.partner.slug if t.partner else None,
        "template": t.template, "template_version": t.template_version, "status": t.status,
        "schema_name": t.schema_name, "schema_version": t.schema_version,
        "server": t.server.name if t.server else None, "locale": t.locale, "timezone": t.timezone,
        "currency": t.currency, "failure": t.failure,
        "created_at": t.created_at.isoformat() if t.created_at else None,
        "updated_at": t.updated_at.isoformat() if t.updated_at else None,
        "archived_at": t.archived_at.isoformat() if t.archived_at else None,
    }


def event_dict(e: TenantEvent) -> dict[str, Any]:
    return {"id": e.id, "kind": e.kind, "from_status": e.from_status, "to_status": e.to_status,
            "actor": e.actor, "reason": e.reason, "data": e.data,
            "created_at": e.created_at.isoformat() if e.created_at else None}


def transition(session: Session, slug: str, to: str, *, actor: str, reason: str | None = None,
               kind: str | None = None) -> Tenant:
    """Move tenant ``slug`` to status ``to`` if the lifecycle allows it, recording the event."""
    tenant = get_tenant(session, slug, for_update=True)
    current = tenant.status
    if to == current:
        raise Conflict(_("Tenant '%(slug)s' is already %(status)s.", slug=slug, status=current), errors={"status": [current]})
    if to not in ALLOWED.get(current, set()):
        raise Conflict(_("A %(current)s tenant cannot become %(to)s.", current=current, to=to), errors={"status": [current]})
    tenant.status = to
    if to == S.archived:
        tenant.archived_at = datetime.now(timezone.utc)
    record_event(session, tenant, kind or to, actor=actor, from_status=current, to_status=to, reason=reason)
    session.flush()
    return tenant


def suspend_tenant(session: Session, slug: str, *, actor: str, reason: str | None = None) -> Tenant:
    return transition(session, slug, S.suspended, actor=actor, reason=reason, kind="suspended")


def resume_tenant(session: Session, slug: str, *, actor: str, reason: str | None = None) -> Tenant:
    return transition(session, slug, S.active, actor=actor, reason=reason, kind="resumed")


def set_read_only(session: Session, slug: str, *, actor: str, reason: str | None = None) -> Tenant:
    return transition(session, slug, S.read_only, actor=actor, reason=reason, kind="read_only")


def archive_tenant(session: Session, slug: str, *, actor: str, reason: str | None = None) -> Tenant:
    return transition(session, slug, S.archived, actor=actor, reason=reason, kind="archived")


def delete_tenant(session: Session, slug: str, *, actor: str, force: bool = False) -> None:
    """Drop the tenant's schema and role and its control row, in one transaction.

    Only an ``archived`` tenant past the grace period (``DELETE_GRACE_DAYS``), or
    with ``force`` (platform admins), or a ``failed`` one (nothing behind it).
    """
    tenant = get_tenant(session, slug, for_update=True)
    if tenant.status == S.archived:
        grace = timedelta(days=current_app.config["DELETE_GRACE_DAYS"])
        due = (tenant.archived_at or datetime.now(timezone.utc)) + grace
        if not force and datetime.now(timezone.utc) < due:
            raise Conflict(
                _("Tenant '%(slug)s' can be deleted from %(due)s UTC (grace period); "
                  "a platform admin may force it.", slug=slug, due=f"{due:%Y-%m-%d %H:%M}"),
                errors={"status": [_("in grace period")]}, deletable_at=due.isoformat())
    elif tenant.status not in (S.failed,) and not (force and tenant.status == S.provisioning):
        raise Conflict(_("Archive tenant '%(slug)s' before deleting it (it is %(status)s).", slug=slug, status=tenant.status),
                       errors={"status": [tenant.status]})
    if tenant.server.dsn:
        # the schema lives on another server: drop it there first, then the control row
        with server_engine(tenant.server.dsn).begin() as conn:
            _drop(conn, tenant)
    else:
        _drop(session.connection(), tenant)
    record_event(session, tenant, "deleted", actor=actor, from_status=tenant.status, data={"force": force})
    session.delete(tenant)
    session.flush()


def _drop(conn, tenant: Tenant) -> None:
    conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_ident(tenant.schema_name)} CASCADE"))
    if tenant.role_name:
        drop_role(conn, tenant.role_name)
