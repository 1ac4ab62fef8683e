"""Background work of payments: the daily reconciliation run (every tenant, one transaction each)
and sending mobile-money disbursements with retries (see ``disbursements.py``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.tenants.payments import services as pay
from schemehost.tenants.payments.models import GatewayKind, PaymentGateway

log = logging.getLogger("schemehost.payments")


def daily_run(session: Session, *, now: datetime | None = None) -> dict[str, Any]:
    """One tenant's daily payments work: expire unpaid bills past their expiry, then ask every active
    control-number gateway for yesterday's statement (its day, in its time zone). A gateway that
    cannot be reached leaves a ``failed`` reconciliation with the reason; the others go on."""
    expired = pay.expire_bills(session, now=now)
    asked: dict[str, str] = {}
    gateways = session.execute(select(PaymentGateway).where(PaymentGateway.active.is_(True),
                                                            PaymentGateway.kind == GatewayKind.control_number)
                               .order_by(PaymentGateway.code)).scalars().all()
    for gw in gateways:
        today = (now.astimezone(pay.gateway_zone(gw)) if now else datetime.now(pay.gateway_zone(gw))).date()
        rec = pay.request_reconciliation(session, gw.code, today - timedelta(days=1), now=now)
        asked[gw.code] = rec.status
    return {"expired": expired, "statements": asked}


def daily_run_everywhere() -> dict[str, dict[str, Any]]:
    """The daily task over every tenant that may receive payments (active, read-only or suspended:
    a suspended scheme's payments are still reconciled); one transaction per tenant."""
    from schemehost.platform.extensions import db
    from schemehost.platform.tenants.models import Tenant, TenantStatus
    from schemehost.tenants.identity.support import open_tenant_session_for

    done: dict[str, dict[str, Any]] = {}
    tenants = list(db.session.execute(
        select(Tenant).where(Tenant.status.in_([TenantStatus.active, TenantStatus.read_only, TenantStatus.suspended]),
                             Tenant.role_name.is_not(None)).order_by(Tenant.id)).scalars())
    db.session.rollback()
    for tenant in tenants:
        tsession = open_tenant_session_for(db.session, tenant)
        try:
            result = daily_run(tsession)
            tsession.commit()
        except Exception:  # one tenant's failure (an old schema, a broken key) must not stop the others
            tsession.rollback()
            log.exception("daily payments run failed for tenant %s", tenant.id)
            continue
        finally:
            tsession.close()
        if result["expired"] or result["statements"]:
            done[tenant.slug] = result
    db.session.rollback()
    return done


_registered = False


def register_tasks() -> None:
    """Every day at 03:15 UTC the job worker runs :func:`daily_run_everywhere`."""
    global _registered
    from schemehost.platform.jobs.app import QUEUE, periodic_tasks

    if _registered:
        return

    @periodic_tasks.periodic(cron="15 3 * * *", periodic_id="payments-daily")
    @periodic_tasks.task(name="payments_daily", queue=QUEUE, lock="payments-daily", queueing_lock="payments-daily",
                         pass_context=True)
    def payments_daily(context, timestamp: int) -> int:
        flask_app = context.additional_context["flask_app"]
        with flask_app.app_context():
            return len(daily_run_everywhere())

    _registered = True


# ---- disbursements: one procrastinate job per line, retried with backoff ------------------------------

SEND_TASK = "schemehost:payments_send_disbursement"


class RetryLater(Exception):
    """A transient gateway failure: run the job again in ``retry_in`` seconds."""

    def __init__(self, retry_in: float):
        super().__init__(f"retry in {retry_in:.0f} s")
        self.retry_in = retry_in


def _retry_strategy():
    from procrastinate.retry import BaseRetryStrategy, RetryDecision

    class SendRetry(BaseRetryStrategy):
        """Retry only transient failures, after the backoff the line recorded (its own attempts
        counter decides when to give up; 50 runs at most as a safety net)."""

        def get_retry_decision(self, *, exception, job):
            if not isinstance(exception, RetryLater) or job.attempts >= 50:
                return None
            return RetryDecision(retry_in={"seconds": max(int(exception.retry_in), 0)})

    return SendRetry()


def send_one(tenant_id: int, disbursement_id: int) -> str:
    """Claim, send and record one line of ``tenant_id`` (needs an app context). Raises
    :class:`RetryLater` after a transient failure that leaves attempts; returns the line's status, or
    ``skipped`` when it was not due, already being sent elsewhere, or already finished."""
    from flask import current_app

    from schemehost.platform.extensions import db
    from schemehost.platform.tenants.models import Tenant
    from schemehost.tenants.identity.support import open_tenant_session_for
    from schemehost.tenants.payments import disbursements as dis
    from schemehost.tenants.payments.adapters import GatewayUnavailable

    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.role_name is None:
        return "skipped"
    session = open_tenant_session_for(db.session, tenant)
    db.session.rollback()
    cfg = current_app.config
    base = float(cfg.get("PAYMENTS_RETRY_BASE_S", 30))
    try:
        line = dis.claim(session, disbursement_id)
        session.commit()
        if line is None:
            return "skipped"
        gw = session.get(PaymentGateway, line.gateway_id)
        max_attempts = int((gw.options or {}).get("max_attempts") or cfg.get("PAYMENTS_MAX_ATTEMPTS",
                                                                             dis.DEFAULT_MAX_ATTEMPTS))
        try:
            status = dis.send_claimed(session, line, max_attempts=max_attempts, base_s=base)
        except GatewayUnavailable:
            session.commit()  # the attempt and its backoff are recorded before the retry
            raise RetryLater(dis.backoff_s(line.attempts, base)) from None
        session.commit()
        return status
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_send_registered = False


def register_send_task() -> None:
    global _send_registered
    from schemehost.platform.jobs.app import QUEUE, periodic_tasks, tasks

    if _send_registered:
        return

    @tasks.task(name="payments_send_disbursement", queue=QUEUE, pass_context=True, retry=_retry_strategy())
    def payments_send_disbursement(context, tenant_id: int, disbursement_id: int) -> str:
        flask_app = context.additional_context["flask_app"]
        with flask_app.app_context():
            return send_one(tenant_id, disbursement_id)

    @periodic_tasks.periodic(cron="*/10 * * * *", periodic_id="payments-resend")
    @periodic_tasks.task(name="payments_resend", queue=QUEUE, lock="payments-resend", queueing_lock="payments-resend",
                         pass_context=True)
    def payments_resend(context, timestamp: int) -> int:
        """Every ten minutes: defer again the pending lines whose send job was lost (a worker killed
        between claim and answer leaves the line leased, then due)."""
        flask_app = context.additional_context["flask_app"]
        with flask_app.app_context():
            return resend_due_everywhere()

    _send_registered = True


def defer_sends(tenant_id: int, disbursement_ids: list[int]) -> None:
    """Queue one send job per line; call after the transaction that recorded them has committed."""
    from schemehost.platform.jobs.app import _open_sync, procrastinate_app

    if not disbursement_ids:
        return
    papp = procrastinate_app()
    sync = papp.connector.get_sync_connector()
    if sync is not papp.connector:
        _open_sync(sync)
    task = papp.tasks[SEND_TASK]
    for start in range(0, len(disbursement_ids), 10_000):
        task.batch_defer(*[{"tenant_id": tenant_id, "disbursement_id": i}
                           for i in disbursement_ids[start:start + 10_000]])


def resend_due_everywhere() -> int:
    """Defer the due pending lines of every tenant that may pay (one read per tenant)."""
    from schemehost.platform.extensions import db
    from schemehost.platform.tenants.models import Tenant, TenantStatus
    from schemehost.tenants.identity.support import open_tenant_session_for
    from schemehost.tenants.payments import disbursements as dis

    count = 0
    tenants = list(db.session.execute(
        select(Tenant).where(Tenant.status.in_([TenantStatus.active, TenantStatus.read_only, TenantStatus.suspended]),
                             Tenant.role_name.is_not(None)).order_by(Tenant.id)).scalars())
    db.session.rollback()
    for tenant in tenants:
        tsession = open_tenant_session_for(db.session, tenant)
        try:
            ids = dis.due_ids(tsession)
            tsession.rollback()
        except Exception:  # an old schema without the table, a broken tenant: go on with the others
            tsession.rollback()
            log.exception("pending payments of tenant %s could not be read", tenant.id)
            continue
        finally:
            tsession.close()
        defer_sends(tenant.id, ids)
        count += len(ids)
    db.session.rollback()
    return count
