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
    session.execute(insert(AuditEntry).values(
        action=action, entity_type=entity_type, entity_id=None if entity_id is None else str(entity_id),
        before=before, after=after, details=details, **origin(actor),
    ))


def origin(actor: tuple[str, str | None, str | None] | None = None) -> dict[str, Any]:
    """Who and where an entry comes from — ``actor_type``, ``actor_id``, ``actor_name``, ``request_id``,
    ``ip`` — for :func:`record`, and for statements that write their audit entry themselves (a
    redemption's ledger row, status and entry in one statement). The actor defaults to the request's
    principal, else "system"."""
    in_request = has_request_context()
    if actor is None:
        principal = g.get("principal") if in_request else None
        actor = principal.audit_actor if principal is not None else ("system", None, None)
    actor_type, actor_id, actor_name = actor
    return {"actor_type": actor_type, "actor_id": None if actor_id is None else str(actor_id),
            "actor_name": actor_name, "request_id": g.get("request_id") if in_request else None,
            "ip": request.remote_addr if in_request else None}



def record_bulk(session: Session, action: str, entity_type: str, *, counts: dict[str, int],
                input_ref: Any = None, details: dict[str, Any] | None = None,
                actor: tuple[str, str | None, str | None] | None = None) -> None:
    """One entry for a whole bulk job (import, payroll, valuation run): its counts and a reference to
    its input (a file name and checksum, a job id), never a row per record, so auditing costs one insert."""
    record(session, action, entity_type, None, actor=actor,
           details={**(details or {}), "counts": dict(counts), "input": input_ref})


#: A change of one field between ``before`` and ``after`` (dotted path for nested objects).
Change = tuple[str, str, Any, Any]  # (field, "added" | "removed" | "changed", old, new)


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None, _prefix: str = "") -> list[Change]:
    """The fields that differ between two snapshots, sorted by field; nested objects are compared
    field by field (``address.city``), lists and other values as a whole."""
    before, after = before or {}, after or {}
    changes: list[Change] = []
    for key in sorted(set(before) | set(after), key=str):
        name = f"{_prefix}{key}"
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if isinstance(old, dict) and isinstance(new, dict):
            changes.extend(diff(old, new, name + "."))
        elif old is _MISSING:
            changes.append((name, "added", None, new))
        elif new is _MISSING:
            changes.append((name, "removed", old, None))
        elif old != new:
            changes.append((name, "changed", old, new))
    return changes


_MISSING = object()
