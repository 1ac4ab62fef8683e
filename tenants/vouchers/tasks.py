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
