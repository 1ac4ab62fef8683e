"""Cash-transfer jobs: ``transfers.enrol_bulk`` (everyone eligible for a programme) and
``transfers.status_bulk`` (the beneficiaries a filter selects, from one status to another), each with
progress in ``control.jobs`` and committed at the end (decision 0407)."""

from __future__ import annotations

from schemehost.platform.jobs import job_handler
from schemehost.tenants.registry.imports.tasks import tenant_session_by_id
from schemehost.tenants.transfers import enrolment as en


def _actor(ctx) -> tuple[str, str | None, str | None]:
    actor = ctx.params.get("audit_actor")
    return tuple(actor) if isinstance(actor, list) and len(actor) == 3 else ("system", "job", ctx.actor)


@job_handler(en.JOB_ENROL)
def enrol_bulk_job(ctx) -> dict:
    with tenant_session_by_id(ctx.tenant_id) as session:
        result = en.enrol_bulk(session, int(ctx.params["programme_id"]), reason=ctx.params.get("reason") or "",
                               principal=en.principal_from(ctx.params.get("principal"), ctx.tenant_id),
                               progress=ctx.progress, actor=_actor(ctx), job_id=ctx.job_id)
        session.commit()
    return result


@job_handler(en.JOB_STATUS)
def status_bulk_job(ctx) -> dict:
    with tenant_session_by_id(ctx.tenant_id) as session:
        result = en.change_status_bulk(session, int(ctx.params["programme_id"]), to=ctx.params.get("to") or "",
                                       reason=ctx.params.get("reason") or "", spec=ctx.params.get("filter") or {},
                                       principal=en.principal_from(ctx.params.get("principal"), ctx.tenant_id),
                                       progress=ctx.progress, actor=_actor(ctx), job_id=ctx.job_id)
        session.commit()
    return result
