"""Job handlers of the provisioning engine."""

from __future__ import annotations

from schemehost.platform.jobs import job_handler
from schemehost.provisioning.create import build_interrupted, build_tenant


@job_handler("tenant.build", on_interrupted=build_interrupted)
def build_tenant_job(ctx) -> dict:
    """Build a cold-path tenant (schema, role, tables, seed) in one transaction."""
    return build_tenant(ctx.tenant_id, demo_data=bool(ctx.params.get("demo_data")), actor=ctx.actor or "worker")
