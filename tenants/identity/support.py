"""Operator support access into a tenant: time-limited, with a stated reason, audited twice.

An operator opens a support session from the operator console (reason of at
least 10 characters, 1 to 120 minutes). That writes ``control.support_access``
and the tenant's own ``support_sessions`` row (so the tenant's admins see it),
with an entry in both audit logs, and gives the browser a cookie
``sh_support_<tenant id>`` on path ``/t/<slug>/`` holding the signed id of the
control row (salt with the tenant id: a cookie of tenant A means nothing at
tenant B, even renamed and re-pathed).

:func:`_support_principal` (principal resolver, order 5) accepts that cookie
only while the control row is for this tenant, not ended, not expired, and its
operator is still active and allowed; the principal may read (every
``*.read`` permission plus ``audit.read``) and change nothing. It is a console
principal: the bearer-token paths (tenant API, FHIR) never read the cookie. Ending a
session, or its expiry (found by a periodic task), is audited in both logs.

The tenant rows are written before the control rows commit: at worst a tenant
shows a session that never opened, never an operator inside unseen.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schemehost.platform.audit import record_operator
from schemehost.platform.console.security import is_csrf_exempt
from schemehost.platform.errors import Conflict, Forbidden, NotFound, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator, SupportAccess
from schemehost.platform.permissions import PERMISSIONS
from schemehost.platform.tenancy import TenantSession, open_tenant_session, server_engine
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import SupportSession
from schemehost.tenants.identity.principal import Principal, register_resolver

log = logging.getLogger("schemehost.support")

DEFAULT_MINUTES = 30
MAX_MINUTES = 120
MIN_REASON = 10
MAX_REASON = 1000
#: Operator roles that may open support sessions (partner staff only into their partner's tenants).
SUPPORT_ROLES = ("platform_admin", "support", "partner_staff")
#: Tenant statuses whose console a support session can enter.
OPEN_STATUSES = ("active", "read_only")
COOKIE_PREFIX = "sh_support_"


def support_permissions() -> frozenset[str]:
    """What a support session may do: read everything, the audit log included; change nothing."""
    return frozenset({name for name in PERMISSIONS if name.endswith(".read")} | {"audit.read"})


def _now() -> datetime:
    return datetime.now(timezone.utc)


# ---- the cookie -------------------------------------------------------------------------------------

def cookie_name(tenant_id: int) -> str:
    return f"{COOKIE_PREFIX}{tenant_id}"


def _serializer(tenant_id: int) -> URLSafeTimedSerializer:
    keys = [*(current_app.config.get("SECRET_KEY_FALLBACKS") or []), current_app.secret_key]
    return URLSafeTimedSerializer(keys, salt=f"schemehost.support.t{tenant_id}")


def set_support_cookie(response, access: SupportAccess, slug: str) -> None:
    """Give the browser the support session's cookie, for this tenant's paths only, until it expires."""
    seconds = max(1, int((access.expires_at - _now()).total_seconds()))
    response.set_cookie(cookie_name(access.tenant_id), _serializer(access.tenant_id).dumps(access.id),
                        max_age=seconds, path=f"/t/{slug}/", httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


def clear_support_cookie(response, tenant_id: int, slug: str) -> None:
    response.delete_cookie(cookie_name(tenant_id), path=f"/t/{slug}/", httponly=True, samesite="Lax",
                           secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))


def access_id_from_cookie(tenant_id: int, value: str | None) -> int | None:
    """The control support-access id in a cookie signed for ``tenant_id``, else None."""
    if not value:
        return None
    try:
        access_id = _serializer(tenant_id).loads(value, max_age=MAX_MINUTES * 60)
    except BadSignature:
        return None
    return access_id if isinstance(access_id, int) else None


# ---- rules ------------------------------------------------------------------------------------------

def may_support(operator: Operator, tenant: Any) -> bool:
    """Whether ``operator`` may open a support session into ``tenant`` (a control ``Tenant`` row)."""
    if not operator.is_active or operator.role not in SUPPORT_ROLES:
        return False
    return operator.role != "partner_staff" or (operator.partner_id is not None
                                                and operator.partner_id == tenant.partner_id)


def _check_request(reason: str | None, minutes: Any) -> tuple[str, int]:
    reason = " ".join((reason or "").split())
    errors: dict[str, list[str]] = {}
    if len(reason) < MIN_REASON:
        errors["reason"] = [_("State the reason in at least %(n)d characters.", n=MIN_REASON)]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("A reason has at most %(n)d characters.", n=MAX_REASON)]
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        minutes = 0
    if not 1 <= minutes <= MAX_MINUTES:
        errors["minutes"] = [_("A support session lasts 1 to %(n)d minutes.", n=MAX_MINUTES)]
    if errors:
        raise ValidationError(_("The support session cannot be opened."), errors=errors)
    return reason, minutes


def open_tenant_session_for(session: Session, tenant: Any) -> TenantSession:
    """A session in ``tenant``'s schema under its role (``tenant`` is a control ``Tenant`` row)."""
    from schemehost.platform.tenants.services import server_dsn

    return open_tenant_session(server_engine(server_dsn(tenant.server_id, session)), tenant.schema_name,
                               tenant.role_name,
                               statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"])


# ---- services ---------------------------------------------------------------------------------------

def open_support_session(session: Session, tsession: Session, tenant: Any, operator: Operator, *,
                         reason: str, minutes: int = DEFAULT_MINUTES) -> SupportAccess:
    """Open a support session of ``operator`` into ``tenant`` (control row) and record it in both places.

    ``tsession`` is a session of that tenant; the caller commits it first, then ``session``.
    An open session of the same operator in the same tenant is ended (superseded) first.
    """
    reason, minutes = _check_request(reason, minutes)
    if not may_support(operator, tenant):
        raise Forbidden(_("Your role may not open support sessions into this scheme."))
    if tenant.status not in OPEN_STATUSES or tenant.role_name is None:
        raise Conflict(_("Tenant %(slug)s is %(status)s; support sessions need a working scheme.",
                         slug=tenant.slug, status=tenant.status), errors={"status": [tenant.status]})
    now = _now()
    for previous in session.execute(
        select(SupportAccess).where(SupportAccess.operator_id == operator.id, SupportAccess.tenant_id == tenant.id,
                                    SupportAccess.ended_at.is_(None), SupportAccess.expires_at > now)
        .with_for_update()
    ).scalars():
        _close(session, tsession, previous, operator.email, how="superseded", at=now, operator=operator)
    expires = now + timedelta(minutes=minutes)
    access = SupportAccess(operator_id=operator.id, tenant_id=tenant.id, reason=reason, started_at=now,
                           expires_at=expires)
    session.add(access)
    session.flush()
    row = SupportSession(control_id=access.id, operator_email=operator.email, reason=reason, started_at=now,
                         expires_at=expires)
    tsession.add(row)
    tsession.flush()
    audit.record(tsession, "support_open", "support_session", row.id,
                 after={"operator": operator.email, "reason": reason, "expires_at": expires.isoformat()},
                 actor=("operator", operator.email, operator.email))
    record_operator(session, "support.open", target_type="support_access", target_id=access.id,
                    tenant_id=tenant.id, operator=operator,
                    details={"reason": reason, "minutes": minutes, "expires_at": expires.isoformat()})
    session.flush()
    log.info("support session %s opened into tenant %s for %s minutes", access.id, tenant.id, minutes)
    return access


def _close(session: Session, tsession: Session, access: SupportAccess, email: str, *, how: str,
           at: datetime, operator: Any = None) -> None:
    access.ended_at = at
    session.flush()
    tenant_row_id = tsession.execute(
        update(SupportSession).where(SupportSession.control_id == access.id, SupportSession.ended_at.is_(None))
        .values(ended_at=at).returning(SupportSession.id)
    ).scalar_one_or_none()
    expired = how == "expired"
    audit.record(tsession, "support_expire" if expired else "support_end", "support_session", tenant_row_id,
                 before={"ended_at": None}, after={"ended_at": at.isoformat()},
                 details={"how": how, "operator": email},
                 actor=("system", None, None) if expired else ("operator", email, email))
    record_operator(session, "support.expire" if expired else "support.end", target_type="support_access",
                    target_id=access.id, tenant_id=access.tenant_id, details={"how": how},
                    operator=operator, actor="system" if expired else None)


def end_support_session(session: Session, tsession: Session, access: SupportAccess, *,
                        operator: Any) -> SupportAccess:
    """End a support session now, by its operator (or a platform admin); audited in both logs.

    ``tsession`` is a session of the session's tenant; the caller commits it first."""
    if operator.id != access.operator_id and getattr(operator, "role", None) != "platform_admin":
        raise Forbidden(_("Only the operator who opened a support session, or a platform admin, may end it."))
    if access.ended_at is not None:
        raise Conflict(_("This support session has already ended."), errors={"support_session": ["ended"]})
    email = session.execute(select(Operator.email).where(Operator.id == access.operator_id)).scalar_one()
    if access.expires_at <= _now():  # ran out before the periodic task noticed: record the expiry
        _close(session, tsession, access, email, how="expired", at=access.expires_at)
    else:
        _close(session, tsession, access, email, how="ended", at=_now(), operator=operator)
    return access


def get_support_access(session: Session, access_id: int, *, for_update: bool = False) -> SupportAccess:
    stmt = select(SupportAccess).where(SupportAccess.id == access_id)
    if for_update:
        stmt = stmt.with_for_update()
    access = session.execute(stmt).scalar_one_or_none()
    if access is None:
        raise NotFound(_("No such support session."))
    return access


def due_expiries(session: Session, *, limit: int = 100) -> list[SupportAccess]:
    """Support sessions past their end that nobody ended (locked; others skip them)."""
    return list(session.execute(
        select(SupportAccess).where(SupportAccess.ended_at.is_(None), SupportAccess.expires_at <= _now())
        .order_by(SupportAccess.id).limit(limit).with_for_update(skip_locked=True)
    ).scalars())


def expire_support_session(session: Session, tsession: Session, access: SupportAccess) -> None:
    """Record that ``access`` ran out (at its expiry time), in both logs."""
    email = session.execute(select(Operator.email).where(Operator.id == access.operator_id)).scalar_one()
    _close(session, tsession, access, email, how="expired", at=access.expires_at)


def expire_support_sessions() -> int:
    """Close every support session that ran out (the periodic task; needs an app context).
    Each one commits on its own: the tenant's rows first, then the control row."""
    from schemehost.platform.tenants.models import Tenant

    done = 0
    while True:
        batch = due_expiries(db.session)
        if not batch:
            db.session.rollback()
            return done
        for access in batch:
            tenant = db.session.get(Tenant, access.tenant_id)
            if tenant is not None and tenant.role_name is not None:
                tsession = open_tenant_session_for(db.session, tenant)
                try:
                    expire_support_session(db.session, tsession, access)
                    tsession.commit()
                finally:
                    tsession.close()
            else:  # no schema any more: only the control side remains to close
                access.ended_at = access.expires_at
                record_operator(db.session, "support.expire", target_type="support_access", target_id=access.id,
                                tenant_id=access.tenant_id, details={"how": "expired"}, actor="system")
            done += 1
        db.session.commit()


def list_support_sessions(tsession: Session, *, limit: int = 100) -> list[SupportSession]:
    """The tenant's support sessions, newest first."""
    return list(tsession.execute(
        select(SupportSession).order_by(SupportSession.id.desc()).limit(limit)).scalars())


def support_session_dict(row: SupportSession) -> dict[str, Any]:
    now = _now()
    return {"id": row.id, "operator_email": row.operator_email, "reason": row.reason,
            "started_at": row.started_at, "expires_at": row.expires_at, "ended_at": row.ended_at,
            "active": row.ended_at is None and row.expires_at > now}


def list_control_support(session: Session, tenant_id: int, *, limit: int = 20) -> list[tuple[SupportAccess, str]]:
    """A tenant's support sessions as the control plane knows them, with each operator's e-mail."""
    return [(access, email) for access, email in session.execute(
        select(SupportAccess, Operator.email).join(Operator, Operator.id == SupportAccess.operator_id)
        .where(SupportAccess.tenant_id == tenant_id).order_by(SupportAccess.id.desc()).limit(limit))]


# ---- the principal -------------------------------------------------------------------------------------

def active_support(tenant_id: int, access_id: int) -> tuple[SupportAccess, Operator] | None:
    """The live support access ``access_id`` into ``tenant_id`` and its operator, else None."""
    from schemehost.platform.tenants.models import Tenant

    row = db.session.execute(
        select(SupportAccess, Operator, Tenant.partner_id)
        .join(Operator, Operator.id == SupportAccess.operator_id)
        .join(Tenant, Tenant.id == SupportAccess.tenant_id)
        .where(SupportAccess.id == access_id, SupportAccess.tenant_id == tenant_id,
               SupportAccess.ended_at.is_(None), SupportAccess.expires_at > _now(),
               Operator.is_active.is_(True))
    ).first()
    if row is None:
        return None
    access, operator, partner_id = row
    if operator.role not in SUPPORT_ROLES or (operator.role == "partner_staff" and operator.partner_id != partner_id):
        return None
    return access, operator


def _support_principal() -> Principal | None:
    """The principal of an operator's support session (principal resolver, order 5)."""
    tenant = g.get("tenant")
    if tenant is None or is_csrf_exempt(request.path):
        return None  # a support session is for the console: bearer-token paths never read cookies
    access_id = access_id_from_cookie(tenant.id, request.cookies.get(cookie_name(tenant.id)))
    if access_id is None:
        return None
    found = active_support(tenant.id, access_id)
    if found is None:
        return None
    access, operator = found
    g.support_access = access
    g.support_operator = operator.email
    return Principal(kind="support", id=operator.email, name=operator.email, tenant_id=tenant.id,
                     permissions=support_permissions())


_expiry_task = None


def _register_expiry_task() -> None:
    """Every minute the job worker closes (and audits) support sessions that ran out."""
    global _expiry_task
    from schemehost.platform.jobs.app import QUEUE, periodic_tasks

    if _expiry_task is not None:
        return

    @periodic_tasks.periodic(cron="* * * * *", periodic_id="expire-support")
    @periodic_tasks.task(name="expire_support", queue=QUEUE, lock="expire-support",
                         queueing_lock="expire-support", pass_context=True)
    def expire_support_task(context, timestamp: int) -> int:
        flask_app = context.additional_context["flask_app"]
        with flask_app.app_context():
            return expire_support_sessions()

    _expiry_task = expire_support_task


def init_app(app: Flask) -> None:
    from schemehost.tenants.identity import support_views

    register_resolver(_support_principal, order=5)
    _register_expiry_task()
    support_views.init_app(app)
