"""``schemehost tenants migrate`` and ``schemehost tenants status`` (attached to the ``tenants`` group)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _

from schemehost.platform.errors import ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.tenants.cli import tenants

# hidden: tests and benchmarks point the engine at a copy of the tenant tree with an extra revision
migrations_option = click.option(
    "--migrations", "script_location", envvar="SCHEMEHOST_TENANT_MIGRATIONS", hidden=True,
    type=click.Path(exists=True, file_okay=False), help="Tenant Alembic tree to use instead of the installed one.")


def _tree(script_location):
    from schemehost.provisioning.fleet import MigrationTree

    return MigrationTree(script_location)


def _fmt_seconds(value: float) -> str:
    return f"{value:.2f}"


def _print_table(outcomes) -> None:
    width = max([len(o.target.label) for o in outcomes] + [6])
    click.echo(f"{_('TENANT'):<{width}}  {_('FROM'):<12} {_('TO'):<12} {_('STATUS'):<9} {_('SECONDS'):>8}")
    for o in sorted(outcomes, key=lambda o: (o.status != "failed", o.target.kind == "spare", o.target.name)):
        click.echo(f"{o.target.label:<{width}}  {o.from_rev or '-':<12} {o.to_rev or '-':<12} {o.status:<9} "
                   f"{_fmt_seconds(o.seconds):>8}")


@tenants.command("migrate")
@click.argument("slugs", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every tenant with a schema, and every spare schema.")
@click.option("--jobs", type=click.IntRange(1, 32), default=1, show_default=True,
              help="Worker processes, each with one database connection (mind max_connections).")
@click.option("--dry-run", is_flag=True, help="Print the SQL each pending schema would run; change nothing.")
@click.option("--lock-timeout", default="5s", show_default=True,
              help="Give up on a schema whose tables stay locked this long (e.g. 500ms, 5s, 1min).")
@migrations_option
@with_appcontext
def migrate(slugs, all_, jobs, dry_run, lock_timeout, script_location) -> None:
    """Upgrade tenant schemas (SLUG ... or --all, spares included) to head, each in its own transaction.

    A tenant that fails is reported with its error and the others go on;
    the exit code is then 1. Re-running resumes: schemas at head are left alone.
    """
    from schemehost.provisioning.fleet import check_lock_timeout, migrate_fleet, plan_fleet, render_fleet_sql

    if bool(slugs) == bool(all_):
        message = _("Name the tenants to migrate, or pass --all (not both).")
        raise ValidationError(message, errors={"slugs": [message]})
    lock_timeout = check_lock_timeout(lock_timeout)
    tree = _tree(script_location)
    plan = plan_fleet(db.session, tree, slugs=slugs or None, lock_timeout=lock_timeout)
    broken = plan.broken

    if dry_run:
        for sql in render_fleet_sql(plan, tree, lock_timeout=lock_timeout):
            click.echo(sql)
        for o in broken:
            click.echo(_("cannot migrate %(name)s: %(error)s", name=o.target.label, error=o.error), err=True)
        click.echo(_("-- dry run: %(n)d schema(s) would be upgraded to %(head)s; nothing was changed.",
                     n=len(plan.pending), head=plan.head))
        if broken:
            raise SystemExit(1)
        return

    if not plan.pending and not broken:
        from schemehost.provisioning.fleet import fix_stale_records

        fixed = fix_stale_records(db.session.get_bind(), plan)
        click.echo(_("nothing to do: %(n)d schema(s) at head %(head)s (read in %(s)s s)",
                     n=len(plan.targets), head=plan.head, s=_fmt_seconds(plan.seconds)))
        if fixed:
            click.echo(_("recorded version corrected for %(n)d schema(s)", n=fixed))
        return

    def progress(outcome) -> None:
        if outcome.status == "failed":
            click.echo(_("failed: %(name)s: %(error)s", name=outcome.target.label, error=outcome.error), err=True)

    run = migrate_fleet(db.session, tree, slugs=slugs or None, jobs=jobs, lock_timeout=lock_timeout,
                        actor="cli", on_outcome=progress, plan=plan)
    _print_table(run.outcomes)
    _audit_run(run, slugs)
    click.echo(_("%(upgraded)d upgraded, %(failed)d failed, %(skipped)d skipped, %(current)d already at head; "
                 "%(n)d schema(s) in %(s)s s with %(jobs)d job(s); head %(head)s",
                 upgraded=run.count("upgraded"), failed=run.count("failed"), skipped=run.count("skipped"),
                 current=len(plan.at_head) + run.count("current"), n=len(plan.targets),
                 s=_fmt_seconds(run.seconds), jobs=jobs, head=plan.head))
    if run.records_fixed:
        click.echo(_("recorded version corrected for %(n)d schema(s)", n=run.records_fixed))
    for o in run.failed:
        click.echo(_("failed: %(name)s: %(error)s", name=o.target.label, error=o.error), err=True)
    if run.interrupted:
        click.echo(_("interrupted: run the same command again to continue."), err=True)
        raise SystemExit(130)
    if run.failed:
        raise SystemExit(1)


def _audit_run(run, slugs) -> None:
    """One operator-audit entry per fleet run (the per-tenant record is each tenant's ``migrated`` event)."""
    from schemehost.platform.audit import record_operator

    tenants_done = [o.target for o in run.outcomes if o.target.kind == "tenant" and o.status == "upgraded"]
    details = {"head": run.plan.head, "scope": list(slugs) or "all", "upgraded": run.count("upgraded"),
               "failed": run.count("failed"), "skipped": run.count("skipped"),
               "tenants": [t.name for t in tenants_done[:100]]}
    only = tenants_done[0].tenant_id if len(slugs) == 1 and len(tenants_done) == 1 else None
    record_operator(db.session, "tenants.migrate", target_type="tenant" if only else None,
                    target_id=slugs[0] if only else None, tenant_id=only, details=details, actor="cli")
    db.session.commit()


@tenants.command("status")
@click.argument("slugs", nargs=-1)
@click.option("--deep", is_flag=True, help="Also compare each schema's structure with a freshly built one.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@migrations_option
@with_appcontext
def status(slugs, deep, as_json, script_location) -> None:
    """Each tenant's (and spare's) schema version and any drift; exit code 1 when there is drift."""
    from schemehost.provisioning.drift import fleet_status

    report = fleet_status(db.session, _tree(script_location), slugs=slugs or None, deep=deep)
    if as_json:
        from schemehost.platform.cli import echo_json

        echo_json(report.as_dict())
    else:
        width = max([len(s.name) for s in report.schemas] + [6])
        click.echo(f"{_('TENANT'):<{width}}  {_('STATUS'):<10} {_('VERSION'):<12} {_('RECORDED'):<12} {_('DRIFT')}")
        for s in report.schemas:
            click.echo(f"{s.name:<{width}}  {s.status:<10} {s.actual or '-':<12} {s.recorded or '-':<12} "
                       f"{'; '.join(s.problems) or _('ok')}")
            for line in s.differences:
                click.echo(f"{'':<{width}}    {line}")
        click.echo(_("head %(head)s: %(n)d schema(s), %(drift)d with drift", head=report.head,
                     n=len(report.schemas), drift=len(report.drifted)))
    if report.drifted:
        raise SystemExit(1)
