"""``schemehost tenants``: create, inspect and move tenants through their lifecycle."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from schemehost.platform.extensions import db
from schemehost.provisioning import lifecycle


def _echo_json(data) -> None:
    from schemehost.platform.cli import echo_json

    echo_json(data)


@click.group()
def tenants() -> None:
    """Tenants (schemes): create, list, inspect, suspend, resume, archive, delete, migrate."""


@tenants.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name, e.g. 'Cameroon maternal voucher, North'.")
@click.option("--partner", required=True, help="Slug of the partner hosting the scheme.")
@click.option("--template", default="blank", show_default=True, help="Template to start from.")
@click.option("--demo-data", is_flag=True, help="Load the template's demo data.")
@click.option("--cold", is_flag=True, help="Build a fresh schema instead of claiming a spare one.")
@click.option("--json", "as_json", is_flag=True, help="Print the tenant as JSON.")
@with_appcontext
def create(slug, name, partner, template, demo_data, cold, as_json) -> None:
    """Create tenant SLUG and wait until it is active (or failed)."""
    from schemehost.provisioning.create import create_tenant

    result = create_tenant(db.session, slug, name=name, partner=partner, template=template,
                           demo_data=demo_data, actor="cli", cold=cold)
    db.session.commit()
    result.after_commit(wait=True)
    tenant = result.tenant
    if as_json:
        _echo_json(lifecycle.tenant_dict(tenant) | {"path": result.path})
    else:
        click.echo(f"tenant {tenant.slug} {tenant.status} ({result.path} path, schema {tenant.schema_name})")
    if tenant.status != "active":
        if not as_json:
            click.echo(f"Error: provisioning failed: {tenant.failure}", err=True)
        raise SystemExit(1)


@tenants.command("list")
@click.option("--partner", help="Only this partner's tenants.")
@click.option("--status", help="Only tenants with this status.")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_(partner, status, as_json) -> None:
    """List tenants."""
    rows = [lifecycle.tenant_dict(t) for t in lifecycle.list_tenants(db.session, partner=partner, status=status)]
    if as_json:
        _echo_json(rows)
        return
    click.echo(f"{'SLUG':<28} {'STATUS':<13} {'TEMPLATE':<22} {'VERSION':<10} NAME")
    for r in rows:
        tpl = f"{r['template']}@{r['template_version']}"
        click.echo(f"{r['slug']:<28} {r['status']:<13} {tpl:<22} {r['schema_version'] or '-':<10} {r['name']}")


@tenants.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def show(slug, as_json) -> None:
    """Show tenant SLUG with its lifecycle events."""
    tenant = lifecycle.get_tenant(db.session, slug)
    data = lifecycle.tenant_dict(tenant)
    data["events"] = [lifecycle.event_dict(e) for e in lifecycle.tenant_events(db.session, tenant.id)]
    if as_json:
        _echo_json(data)
        return
    for key, value in data.items():
        if key != "events":
            click.echo(f"{key:<17} {value if value is not None else '-'}")
    click.echo("events:")
    for e in data["events"]:
        arrow = f"{e['from_status'] or ''}->{e['to_status'] or ''}"
        click.echo(f"  {e['created_at']}  {e['kind']:<22} {arrow:<26} {e['actor']}  {e['reason'] or ''}")


def _transition_command(name: str, fn, help_text: str):
    @tenants.command(name, help=help_text)
    @click.argument("slug")
    @click.option("--reason", help="Why (recorded in the tenant's events).")
    @with_appcontext
    def command(slug, reason):
        tenant = fn(db.session, slug, actor="cli", reason=reason)
        db.session.commit()
        click.echo(f"tenant {tenant.slug} is {tenant.status}")

    return command


_transition_command("suspend", lifecycle.suspend_tenant, "Suspend SLUG (writes and reads refused, 423).")
_transition_command("resume", lifecycle.resume_tenant, "Resume SLUG (back to active).")
_transition_command("read-only", lifecycle.set_read_only, "Make SLUG read-only (writes refused, 423).")
_transition_command("archive", lifecycle.archive_tenant, "Archive SLUG (410); delete after the grace period.")


@tenants.command("delete")
@click.argument("slug")
@click.option("--force", is_flag=True, help="Delete before the grace period ends (platform admins).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def delete(slug, force, yes) -> None:
    """Delete SLUG for good: drops its schema and role (archived tenants only)."""
    lifecycle.get_tenant(db.session, slug)  # unknown slug: clear error before asking
    if not yes:
        click.confirm(f"Delete tenant {slug} and ALL its data? This cannot be undone", abort=True)
    lifecycle.delete_tenant(db.session, slug, actor="cli", force=force)
    db.session.commit()
    click.echo(f"tenant {slug} deleted")


@tenants.command("retry")
@click.argument("slug")
@with_appcontext
def retry(slug) -> None:
    """Retry provisioning of a failed tenant."""
    from schemehost.provisioning.create import retry_tenant

    result = retry_tenant(db.session, slug, actor="cli")
    db.session.commit()
    result.after_commit(wait=True)
    click.echo(f"tenant {slug} {result.tenant.status}")
    if result.tenant.status != "active":
        raise SystemExit(1)


@tenants.group("pool")
def pool() -> None:
    """The warm pool of spare tenant schemas."""


@pool.command("refill")
@click.option("--size", type=click.IntRange(0, 1000), help="Target number of spares (default: configured).")
@with_appcontext
def pool_refill(size) -> None:
    """Build spare schemas until the pool holds SIZE at head."""
    from schemehost.provisioning.pool import refill_pool

    click.echo(f"built {refill_pool(db.session, size=size)} spare schema(s)")


@pool.command("status")
@with_appcontext
def pool_status() -> None:
    """Spare schemas per migration version."""
    from schemehost.provisioning.migrate import head
    from schemehost.provisioning.pool import pool_counts

    counts = pool_counts(db.session)
    current = head("tenant")
    for version, count in sorted(counts.items()):
        click.echo(f"{version:<16} {count:>5}{'  (head)' if version == current else '  (behind)'}")
    if not counts:
        click.echo("pool is empty")
