"""``schemehost registry``: import a CSV/XLSX file into a tenant's registry, export a list, write a
template. Exit codes of ``import``: 0 when the file was imported (or a dry run found nothing
wrong), 2 when the report has problems (nothing written in all-or-nothing mode), 1 on errors."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import with_appcontext

from schemehost.platform.extensions import db

CLI_ACTOR = ("operator", "cli", "schemehost CLI")
KINDS = ("locations", "facilities", "households", "individuals", "prices")


@click.group()
def registry() -> None:
    """A tenant's registry: import, export, templates."""


def _mapping(values: tuple[str, ...]) -> dict[str, str] | None:
    out = {}
    for item in values:
        source, sep, target = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r}: use FILE_COLUMN=FIELD", param_hint="--map")
        out[source.strip()] = target.strip()
    return out or None


@registry.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", type=click.Choice(KINDS), default="individuals", show_default=True)
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@click.option("--valid-only", is_flag=True, help="Import the valid rows even when others have problems.")
@click.option("--map", "mapping", multiple=True, help="FILE_COLUMN=FIELD, for files with other column names.")
@click.option("--encoding", default=None, help="The file's encoding when it is not UTF-8 (e.g. cp1252).")
@click.option("--json", "as_json", is_flag=True, help="Print the import and its report as JSON.")
@with_appcontext
def import_(slug, file, kind, dry_run, valid_only, mapping, encoding, as_json) -> None:
    """Import FILE (CSV or XLSX) into tenant SLUG's registry, as a job run here."""
    from schemehost.platform.jobs import Job, run_job
    from schemehost.tenants.identity.clients_cli import tenant_session_for
    from schemehost.tenants.registry import imports as svc
    from schemehost.tenants.registry.validation import tenant_country

    from schemehost.provisioning.lifecycle import get_tenant

    tenant_id = get_tenant(db.session, slug).id
    with tenant_session_for(slug) as session, open(file, "rb") as handle:
        imp = svc.create_import(session, db.session, tenant_id, kind=kind, filename=file, stream=handle,
                                dry_run=dry_run, valid_only=valid_only, mapping=_mapping(mapping),
                                encoding=encoding, created_by="schemehost CLI")
        job = db.session.get(Job, imp.job_id)
        job.params = {**job.params, "audit_actor": list(CLI_ACTOR)}
        import_id, job_id = imp.id, imp.job_id
        session.commit()
        db.session.commit()
    job = run_job(job_id)
    with tenant_session_for(slug) as session:
        imp = svc.get_import(session, import_id)
        data = svc.import_dict(imp, job=job)
        country = tenant_country(session)
        problems = [svc.problem_dict(p, country) for p in svc.list_problems(session, import_id, limit=1000)]
        data["problem_count"] = svc.count_problems(session, import_id)
    data["problems"] = problems
    code = 1 if job.status != "succeeded" else (2 if data["problem_count"] else 0)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        counts = data["counts"]
        click.echo(f"import {import_id} ({kind}, {data['filename']}): {data['status']}")
        click.echo("  " + ", ".join(f"{k} {v}" for k, v in counts.items() if isinstance(v, int)))
        if job.error:
            click.echo(f"  error: {job.error}", err=True)
        for p in problems[:50]:
            click.echo(f"  row {p['row']} {p['column'] or '-'} {p['value'] or ''!r}: {p['message']}", err=True)
        if data["problem_count"] > 50:
            click.echo(f"  ... {data['problem_count'] - 50} more (see the report)", err=True)
    sys.exit(code)


@registry.command("export")
@click.argument("slug")
@click.argument("name", type=click.Choice(("locations", "facilities", "households", "individuals", "prices")))
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.option("--format", "fmt", type=click.Choice(("csv", "xlsx")), default=None,
              help="Default: from OUTPUT's extension.")
@click.option("--filter", "filters", multiple=True, help="NAME=VALUE, e.g. within=12 or status=active.")
@with_appcontext
def export(slug, name, output, fmt, filters) -> None:
    """Export list NAME of tenant SLUG to OUTPUT (all locations: the operator is not restricted)."""
    from schemehost.tenants.identity.clients_cli import tenant_session_for
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.registry.services import exports

    fmt = fmt or ("xlsx" if output.lower().endswith(".xlsx") else "csv")
    pairs = dict(f.partition("=")[::2] for f in filters)
    principal = Principal(kind="support", id="cli", name="schemehost CLI", tenant_id=0, permissions=frozenset())
    with tenant_session_for(slug) as session, open(output, "wb") as out:
        for chunk in exports.stream_export(session, name, fmt, principal=principal, filters=pairs):
            out.write(chunk)
    click.echo(f"{name} written to {output}")


@registry.command("template")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.option("--tenant", "slug", default=None, help="Add this tenant's extra-field columns (extra.<name>).")
@with_appcontext
def template(kind, output, slug) -> None:
    """Write the template file of KIND to OUTPUT (.csv or .xlsx)."""
    from schemehost.tenants.registry.imports.kinds import extra_columns, template_csv, template_xlsx

    extras = []
    if slug:
        from schemehost.tenants.identity.clients_cli import tenant_session_for

        with tenant_session_for(slug) as session:
            extras = extra_columns(session, kind)
    data = template_xlsx(kind, extras) if output.lower().endswith(".xlsx") else template_csv(kind, extras)
    with open(output, "wb") as out:
        out.write(data)
    click.echo(f"template of {kind} written to {output}")
