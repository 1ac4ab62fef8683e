"""Control-plane reads and writes about tenants (never run under a tenant role)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.extensions import db
from schemehost.platform.tenants.models import DatabaseServer, Installation

_install_ids: dict[str, str] = {}


def install_id(session: Session | None = None) -> str:
    """This installation's 8-hex id (cached per database URL)."""
    session = session or db.session
    key = str(session.get_bind().url)
    if key not in _install_ids:
        _install_ids[key] = session.execute(select(Installation.install_id)).scalar_one()
    return _install_ids[key]


def server_dsn(server_id: int, session: Session | None = None) -> str | None:
    session = session or db.session
    return session.execute(select(DatabaseServer.dsn).where(DatabaseServer.id == server_id)).scalar_one()


def default_server(session: Session) -> DatabaseServer:
    return session.execute(
        select(DatabaseServer).where(DatabaseServer.is_default.is_(True))
    ).scalar_one()


def record_event(session: Session, tenant, kind: str, *, actor: str, from_status: str | None = None,
                 to_status: str | None = None, reason: str | None = None, data: dict | None = None):
    """Append a tenant event (lifecycle transition or operator action)."""
    from schemehost.platform.tenants.models import TenantEvent

    from schemehost.platform.audit import record_operator

    event = TenantEvent(tenant_id=tenant.id, tenant_slug=tenant.slug, kind=kind, actor=actor,
                        from_status=from_status, to_status=to_status, reason=reason, data=data)
    session.add(event)
    # every lifecycle action is also an operator action (one hook, whatever the interface)
    details = {k: v for k, v in {"from": from_status, "to": to_status, "reason": reason, "data": data}.items()
               if v is not None}
    record_operator(session, f"tenant.{kind}", target_type="tenant", target_id=tenant.slug, tenant_id=tenant.id,
                    details=details or None, actor=actor)
    return event
