"""``schemehost registry``: an operator's registry commands for one tenant (demo data, retention).

Other registry commands (``registry import``) attach to the same :data:`registry` group.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group()
def registry() -> None:
    """Registry of a tenant: demo data, retention of personal data, imports."""


@registry.command("demo")
@click.argument("slug")
@click.option("--households", default=300, show_default=True, type=click.IntRange(1, 2_000_000),
              help="How many households to add (about 4.8 people each).")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed gives the same people.")
@with_appcontext
def demo_cmd(slug: str, households: int, seed: int) -> None:
    """Fill tenant SLUG with a realistic demo registry (places, facilities, households, people)."""
    from schemehost.tenants.identity.clients_cli import tenant_session_for
    from schemehost.tenants.registry.demo import generate_for_session

    with tenant_session_for(slug) as session:
        result = generate_for_session(session, households=households, seed=seed)
    click.echo(f"{slug}: {result.households} households, {result.individuals} individuals, "
               f"{result.locations} new locations, {result.facilities} new facilities "
               f"(names: {result.locale}, country: {result.country or '-'})")


@registry.command("retention")
@click.argument("slug")
@with_appcontext
def retention_cmd(slug: str) -> None:
    """Apply tenant SLUG's retention rule now (the worker does it daily)."""
    from schemehost.tenants.identity.clients_cli import tenant_session_for
    from schemehost.tenants.registry.privacy import apply_retention

    with tenant_session_for(slug) as session:
        result = apply_retention(session)
    if result["rule"] is None:
        click.echo(f"{slug}: no retention rule; nothing erased")
    else:
        click.echo(f"{slug}: {result['erased']} record(s) erased (rule: {result['rule']})")
    click.echo(f"{slug}: {result.get('imports_purged', 0)} old import file(s) and report(s) dropped")


def register(main: click.Group) -> None:
    """Add the registry commands to ``main``, into a ``registry`` group already there if any."""
    group = main.commands.get("registry")
    if isinstance(group, click.Group) and group is not registry:
        for name, command in registry.commands.items():
            group.add_command(command, name)
    else:
        main.add_command(registry)
