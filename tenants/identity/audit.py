"""Writing the tenant's append-only audit log.

:func:`record` adds one entry in the caller's tenant session (so it commits or
rolls back with the change it describes). Bulk operations call it once per
job with counts in ``details``. Values are stored as given: pass only what a
tenant auditor may read, never secrets.
"""

from __future__ import annotations

from typing import Any

from flask import g, has_request_context, request
from sqlalchemy import insert
from sqlalchemy.orm import Session

from schemehost.tenants.identity.models import AuditEntry


def record(session: Session, action: str, entity_type: str | None = None, entity_id: Any = None, *,
           before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
           details: dict[str, Any] | None = None, actor: tuple[str, str | None, str | None] | None = None) -> None:
    """Append an audit entry; the actor defaults to the request's principal (else "system")."""
    if actor is None:
        principal = g.get("principal") if has_request_context() else None
        actor = principal.audit_actor if principal is not None else ("system", None, None)
    actor_type, actor_id, actor_name = actor
    in_request = has_request_context()
    session.execute(insert(AuditEntry).values(
        actor_type=actor_type, actor_id=None if actor_id is None else str(actor_id), actor_name=actor_name,
        action=action, entity_type=entity_type, entity_id=None if entity_id is None else str(entity_id),
        before=before, after=after, details=details,
        request_id=g.get("request_id") if in_request else None,
        ip=request.remote_addr if in_request else None,
    ))

