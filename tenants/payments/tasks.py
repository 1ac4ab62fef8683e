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
