"""``schemehost worker`` and ``schemehost jobs``."""

from __future__ import annotations

from datetime import datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _

from schemehost.platform.extensions import db
from schemehost.platform.jobs import services
from schemehost.platform.jobs.models import JobStatus


@click.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Jobs run at once (each in its own thread); one tenant never uses more than one.")
@click.option("--shutdown-timeout", type=click.FloatRange(min=0), default=None,
              help="Seconds to wait for running jobs on SIGTERM/SIGINT (default: until they end).")
@with_appcontext
def worker(concurrency: int, shutdown_timeout: float | None) -> None:
    """Run background jobs until SIGTERM/SIGINT (then finish running jobs and exit)."""
    from schemehost.platform.jobs.app import run_worker

    run_worker(current_app._get_current_object(), concurrency=concurrency,
               shutdown_graceful_timeout=shutdown_timeout)


@click.group()
def jobs() -> None:
    """Background jobs: state, progress and results."""


def _rows(job_list):
    slugs = services.tenant_slugs(db.session, job_list)
    return [services.job_dict(j, slugs.get(j.tenant_id)) for j in job_list]


def _iso(row: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _progress(row) -> str:
    done, total = row["progress"]["done"], row["progress"]["total"]
    return f"{done}/{total}" if total is not None else str(done)


@jobs.command("list")
@click.option("--tenant", help="Only jobs of this tenant (slug).")
@click.option("--status", type=click.Choice([s.value for s in JobStatus]), help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the jobs as JSON.")
@with_appcontext
def list_(tenant: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """List jobs, newest first."""
    from schemehost.platform.cli import echo_json

    job_list, total = services.list_jobs(db.session, tenant=tenant, status=status, limit=limit)
    rows = _rows(job_list)
    if as_json:
        echo_json([_iso(r) for r in rows])
        return
    click.echo(f"{_('ID'):>7}  {_('KIND'):<24} {_('STATUS'):<10} {_('TENANT'):<20} {_('PROGRESS'):>10}  "
               f"{_('CREATED')}")
    for r in rows:
        click.echo(f"{r['id']:>7}  {r['kind']:<24} {r['status']:<10} {r['tenant'] or '-':<20} "
                   f"{_progress(r):>10}  {r['created_at']:%Y-%m-%d %H:%M:%S}")
    if total > len(rows):
        click.echo(_("(%(shown)s of %(total)s; use --limit)", shown=len(rows), total=total))


@jobs.command("show")
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@with_appcontext
def show(job_id: int, as_json: bool) -> None:
    """Show job JOB_ID: state, progress, result or error."""
    from schemehost.platform.cli import echo_json

    row = _rows([services.get_job(db.session, job_id)])[0]
    if as_json:
        echo_json(_iso(row))
        return
    for key in ("id", "kind", "status", "tenant", "actor", "created_at", "started_at", "finished_at"):
        click.echo(f"{key + ':':<13}{row[key] if row[key] is not None else '-'}")
    click.echo(f"{'progress:':<13}{_progress(row)}")
    if row["error"]:
        click.echo(f"{'error:':<13}{row['error']}")
    if row["result"] is not None:
        click.echo(f"{'result:':<13}{row['result']}")
