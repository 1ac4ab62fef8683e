"""The control plane's audit log of operator actions (``control.operator_audit``).

:func:`record_operator` adds one entry in the caller's control session, so it
commits or rolls back with the action it describes. Who acted is, in order:
the ``operator`` passed, the request's operator (console session or API
token), an explicit ``actor`` string, else ``"cli"`` outside a request.
Entries are never updated or deleted by the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, g, has_request_context, request
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.platform.operators.models import Operator, OperatorAudit

MAX_PAGE = 500
ACTOR_PREFIX = "operator:"


def _resolve_actor(operator: Any, actor: str | None) -> tuple[int | None, str]:
    if operator is None and has_request_context():
        operator = g.get("operator")
    if operator is not None:
        return operator.id, operator.email
    if actor:
        # lifecycle events name operators "operator:<e-mail>"; the log keeps the e-mail alone
        return None, actor[len(ACTOR_PREFIX):] if actor.startswith(ACTOR_PREFIX) else actor
    return None, "cli" if not has_request_context() else "anonymous"


def record_operator(session: Session, action: str, *, target_type: str | None = None, target_id: Any = None,
                    tenant_id: int | None = None, details: dict[str, Any] | None = None, operator: Any = None,
                    actor: str | None = None) -> OperatorAudit:
    """Append an operator-audit entry (with the request's id and client address, if any).

    ``operator`` is whoever acted (an ``Operator`` or the console's signed-in operator);
    ``actor`` names a non-operator actor ("cli", "worker", "system") when there is none.
    """
    operator_id, who = _resolve_actor(operator, actor)
    in_request = has_request_context()
    entry = OperatorAudit(
        operator_id=operator_id, actor=who[:254], action=action, target_type=target_type,
        target_id=None if target_id is None else str(target_id), tenant_id=tenant_id, details=details,
        request_id=g.get("request_id") if in_request else None,
        ip=request.remote_addr if in_request else None,
    )
    session.add(entry)  # flushed with the action it describes
    return entry


def record_failed_sign_in(email: str) -> None:
    """Audit a refused console sign-in, in a transaction of its own (the failed request rolls back).

    The typed e-mail is kept only when it names an operator (a stranger's typo, or a password
    typed into the e-mail field, is not stored)."""
    from schemehost.platform.extensions import db

    with Session(db.engine) as session:
        op = session.execute(select(Operator.id, Operator.email)
                             .where(Operator.email == (email or "").strip().lower())).first()
        if op is None:
            record_operator(session, "operator.sign_in_failed", actor="anonymous", details={"account": "unknown"})
        else:
            record_operator(session, "operator.sign_in_failed", operator=op, target_type="operator",
                            target_id=op.id)
        session.commit()


@dataclass(frozen=True)
class OperatorAuditPage:
    entries: list[OperatorAudit]
    #: tenant id -> slug for the tenants still in the control plane
    slugs: dict[int, str]
    next: str | None


def tenant_id_for(session: Session, slug: str) -> int | None:
    from schemehost.platform.tenants.models import Tenant

    return session.execute(select(Tenant.id).where(Tenant.slug == slug)).scalar_one_or_none()


def list_operator_audit(session: Session, *, tenant: str | None = None, operator: str | None = None,
                        action: str | None = None, since: datetime | None = None, until: datetime | None = None,
                        cursor: str | None = None, limit: int = 50) -> OperatorAuditPage:
    """Entries newest first, keyset-paged on the id. ``tenant`` is a slug (a deleted tenant's
    slug still finds the entries that name it as their target); ``operator`` an e-mail."""
    from schemehost.platform.tenants.models import Tenant

    limit = max(1, min(int(limit), MAX_PAGE))
    stmt = select(OperatorAudit)
    if tenant:
        tid = tenant_id_for(session, tenant)
        named = (OperatorAudit.target_type == "tenant") & (OperatorAudit.target_id == tenant)
        stmt = stmt.where(or_(OperatorAudit.tenant_id == tid, named) if tid is not None else named)
    if operator:
        stmt = stmt.where(OperatorAudit.actor == operator.strip().lower())
    if action:
        stmt = stmt.where(OperatorAudit.action == action)
    if since is not None:
        stmt = stmt.where(OperatorAudit.at >= since)
    if until is not None:
        stmt = stmt.where(OperatorAudit.at < until)
    if cursor:
        if not cursor.isdigit() or not 0 < int(cursor) < 2**63:
            message = _("This is not a cursor from a previous page.")
            raise ValidationError(message, errors={"cursor": [message]})
        stmt = stmt.where(OperatorAudit.id < int(cursor))
    rows = list(session.execute(stmt.order_by(OperatorAudit.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = {r.tenant_id for r in rows if r.tenant_id is not None}
    slugs = dict(session.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(ids))).all()) if ids else {}
    return OperatorAuditPage(rows, slugs, str(rows[-1].id) if more else None)


def operator_audit_dict(entry: OperatorAudit, slug: str | None = None) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at.isoformat() if entry.at else None, "actor": entry.actor,
            "operator_id": entry.operator_id, "action": entry.action, "target_type": entry.target_type,
            "target_id": entry.target_id, "tenant_id": entry.tenant_id, "tenant": slug,
            "details": entry.details, "request_id": entry.request_id, "ip": entry.ip}


# ---- sign-in and sign-out ---------------------------------------------------------------------

def _signed_in(sender, user=None, **extra) -> None:
    from schemehost.platform.extensions import db
    from schemehost.platform.operators.sessions import ConsoleOperator

    if isinstance(user, ConsoleOperator):  # tenant users sign in through Flask-Login too
        record_operator(db.session, "operator.sign_in", operator=user, target_type="operator",
                        target_id=user.id)


def _signed_out(sender, user=None, **extra) -> None:
    from schemehost.platform.extensions import db
    from schemehost.platform.operators.sessions import ConsoleOperator

    if isinstance(user, ConsoleOperator):
        record_operator(db.session, "operator.sign_out", operator=user, target_type="operator",
                        target_id=user.id)


def init_app(app: Flask) -> None:
    """Audit console sign-in and sign-out (Flask-Login's signals) and add the operator console's
    audit page."""
    from flask_login import user_logged_in, user_logged_out

    from schemehost.platform.operators.audit_views import bp

    user_logged_in.connect(_signed_in)
    user_logged_out.connect(_signed_out)
    app.register_blueprint(bp)
