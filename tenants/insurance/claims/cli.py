"""``schemehost claims``: run a tenant's claims engine by hand (the jobs ``claims.check`` and
``claims.valuate`` do the same in the worker)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

ACTOR = ("system", "cli", "schemehost claims")


@click.group("claims")
def claims() -> None:
    """Insurance claims of a tenant: automatic checks and valuation."""


def _ids(values: tuple[int, ...]) -> list[int] | None:
    return list(values) or None


@claims.command("check")
@click.argument("slug")
@click.option("--claim-id", "claim_ids", multiple=True, type=click.IntRange(1), help="Only this claim (repeatable).")
@with_appcontext
def check_cmd(slug: str, claim_ids: tuple[int, ...]) -> None:
    """Check tenant SLUG's entered claims: each becomes checked or rejected."""
    from schemehost.tenants.identity.clients_cli import tenant_session_for
    from schemehost.tenants.insurance.claims.checks import check_claims

    with tenant_session_for(slug) as session:
        result = check_claims(session, _ids(claim_ids), actor=ACTOR)
    click.echo(f"{slug}: {result['checked']} checked, {result['rejected']} rejected, {result['skipped']} skipped; "
               f"lines {result['lines_passed']} passed, {result['lines_rejected']} rejected")
    for reason, n in sorted(result["line_reasons"].items()):
        click.echo(f"  {reason}: {n} line(s)")


@claims.command("valuate")
@click.argument("slug")
@click.option("--claim-id", "claim_ids", multiple=True, type=click.IntRange(1), help="Only this claim (repeatable).")
@with_appcontext
def valuate_cmd(slug: str, claim_ids: tuple[int, ...]) -> None:
    """Value tenant SLUG's processed claims."""
    from schemehost.tenants.identity.clients_cli import tenant_session_for
    from schemehost.tenants.insurance.claims.checks import valuate_claims

    with tenant_session_for(slug) as session:
        result = valuate_claims(session, _ids(claim_ids), actor=ACTOR)
    click.echo(f"{slug}: {result['valuated']} valuated, {result['skipped']} skipped; total {result['total']} "
               f"(minor units)")
