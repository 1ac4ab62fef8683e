"""Claims engine jobs: ``claims.check`` (automatic checks of entered claims) and ``claims.valuate``
(valuation of processed claims), each over a tenant's claims — all of those in the right status, or
the ``claim_ids`` of the job's parameters — in one transaction committed at the end.

The module registers its handlers when imported: ``JOB_MODULES`` must list it (the insurance module's
``init_app`` does). An API or console action queues a run with :func:`queue_claims_job`, commits, then
defers it (``defer_job``) or runs it inline (``run_job``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from schemehost.platform.jobs import job_handler
from schemehost.tenants.registry.imports.tasks import tenant_session_by_id

CHECK = "claims.check"
VALUATE = "claims.valuate"
KINDS = (CHECK, VALUATE)


def _actor(ctx) -> tuple[str, str | None, str | None]:
    actor = ctx.params.get("audit_actor")
    return tuple(actor) if isinstance(actor, list) and len(actor) == 3 else ("system", "job", ctx.actor)


def _claim_ids(ctx) -> list[int] | None:
    ids = ctx.params.get("claim_ids")
    return None if ids is None else [int(i) for i in ids]


def queue_claims_job(control: Session, kind: str, *, tenant_id: int, actor: str | None = None,
                     audit_actor: tuple[str, str | None, str | None] | None = None,
                     claim_ids: list[int] | None = None) -> int:
    """Add a ``queued`` job of ``kind`` (``claims.check`` or ``claims.valuate``) for the tenant to the
    control session (flush only) and return its id; the caller commits, then defers or runs it."""
    from schemehost.platform.jobs import create_job

    if kind not in KINDS:
        raise ValueError(f"not a claims engine job: {kind!r}")
    params: dict[str, Any] = {}
    if claim_ids is not None:
        params["claim_ids"] = [int(i) for i in claim_ids]
    if audit_actor is not None:
        params["audit_actor"] = list(audit_actor)
    return create_job(control, kind, tenant_id=tenant_id, params=params, actor=actor).id


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "selected"}


@job_handler(CHECK)
def check_job(ctx) -> dict:
    """Check the tenant's entered claims (or the job's ``claim_ids``); the counts by reason are the result."""
    from schemehost.tenants.insurance.claims.checks import check_claims

    with tenant_session_by_id(ctx.tenant_id) as session:
        result = check_claims(session, _claim_ids(ctx), actor=_actor(ctx))
        session.commit()
    return _summary(result)


@job_handler(VALUATE)
def valuate_job(ctx) -> dict:
    """Value the tenant's processed claims (or the job's ``claim_ids``); the result is how many and the total."""
    from schemehost.tenants.insurance.claims.checks import valuate_claims

    with tenant_session_by_id(ctx.tenant_id) as session:
        result = valuate_claims(session, _claim_ids(ctx), actor=_actor(ctx))
        session.commit()
    return result
