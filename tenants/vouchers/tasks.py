"""Voucher jobs: ``vouchers.issue_bulk`` (everyone eligible for a programme, with progress) and
``vouchers.expire`` (live vouchers past their last day)."""

from __future__ import annotations

from schemehost.platform.jobs import job_handler
from schemehost.tenants.registry.imports.tasks import tenant_session_by_id


def _actor(ctx) -> tuple[str, str | None, str | None]:
    actor = ctx.params.get("audit_actor")
    return tuple(actor) if isinstance(actor, list) and len(actor) == 3 else ("system", "job", ctx.actor)


@job_handler("vouchers.issue_bulk")
def issue_bulk_job(ctx) -> dict:
    """Issue the programme's vouchers to everyone eligible; all or nothing, committed at the end."""
    from schemehost.tenants.vouchers.services import issue_bulk

    with tenant_session_by_id(ctx.tenant_id) as session:
        result = issue_bulk(session, int(ctx.params["programme_id"]), issued_by=ctx.actor, progress=ctx.progress,
                            actor=_actor(ctx))
        session.commit()
    return result


@job_handler("vouchers.expire")
def expire_job(ctx) -> dict:
    """Mark the tenant's live vouchers past their last day expired."""
    from schemehost.tenants.vouchers.services import expire_vouchers

    with tenant_session_by_id(ctx.tenant_id) as session:
        n = expire_vouchers(session, actor=_actor(ctx))
        session.commit()
    return {"expired": n}


def expire_everywhere() -> dict[str, int]:
    """Expire the live vouchers past their last day in every active tenant that enables the vouchers
    module (each tenant in its own transaction and time zone); {slug: vouchers expired}."""
    import logging

    from sqlalchemy import select

    from schemehost.platform.extensions import db
    from schemehost.platform.tenants.models import Tenant, TenantStatus
    from schemehost.tenants.core.models import Setting
    from schemehost.tenants.identity.support import open_tenant_session_for
    from schemehost.tenants.vouchers.services import expire_vouchers

    log = logging.getLogger("schemehost.vouchers")
    done: dict[str, int] = {}
    tenants = list(db.session.execute(select(Tenant).where(Tenant.status == TenantStatus.active,
                                                           Tenant.role_name.is_not(None))
                                      .order_by(Tenant.id)).scalars())
    for tenant in tenants:
        session = open_tenant_session_for(db.session, tenant)
        try:
            modules = session.execute(select(Setting.value).where(Setting.key == "modules")).scalar_one_or_none()
            if isinstance(modules, list) and "vouchers" in modules:
                n = expire_vouchers(session, actor=("system", "job", "vouchers-expiry"))
                session.commit()
                if n:
                    done[tenant.slug] = n
        except Exception:  # one tenant's failure (e.g. a schema being migrated) must not stop the others
            session.rollback()
            log.exception("voucher expiry failed for tenant %s", tenant.id)
        finally:
            session.close()
    db.session.rollback()
    return done


_expiry_task = None


def register_expiry_task() -> None:
    """Every day at 00:20 UTC the job worker expires vouchers past their last day (all tenants)."""
    global _expiry_task
    from schemehost.platform.jobs.app import QUEUE, periodic_tasks

    if _expiry_task is not None:
        return

    @periodic_tasks.periodic(cron="20 0 * * *", periodic_id="vouchers-expiry")
    @periodic_tasks.task(name="vouchers_expiry", queue=QUEUE, lock="vouchers-expiry",
                         queueing_lock="vouchers-expiry", pass_context=True)
    def expiry_task(context, timestamp: int) -> int:
        flask_app = context.additional_context["flask_app"]
        with flask_app.app_context():
            return sum(expire_everywhere().values())

    _expiry_task = expiry_task
