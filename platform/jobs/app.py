"""The procrastinate side of jobs: the queue, deferring, the worker and its periodic tasks.

The procrastinate ``App`` is built lazily per process from the Flask app's
database URL, and its connection pool is opened on first use in the process
that uses it (after gunicorn forks, never at import or app creation).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import procrastinate
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from schemehost.platform.db import libpq_url
from schemehost.platform.errors import NotFound
from schemehost.platform.extensions import db
from schemehost.platform.jobs import services
from schemehost.platform.jobs.models import Job, JobStatus

log = logging.getLogger("schemehost.jobs")

QUEUE = "schemehost"
EXTENSION = "schemehost.jobs"

tasks = procrastinate.Blueprint()
periodic_tasks = procrastinate.Blueprint()


@tasks.task(name="run_job", queue=QUEUE, pass_context=True)
def run_job_task(context: procrastinate.JobContext, job_id: int) -> None:
    """Run one ``control.jobs`` row in the worker (in a thread, under its own app context)."""
    flask_app: Flask = context.additional_context["flask_app"]
    with flask_app.app_context():
        services.run_job(job_id)


@periodic_tasks.periodic(cron="* * * * *", periodic_id="refill-pool")
@periodic_tasks.task(name="refill_pool", queue=QUEUE, lock="refill-pool", queueing_lock="refill-pool",
                     pass_context=True)
def refill_pool_task(context: procrastinate.JobContext, timestamp: int) -> int | None:
    """Every minute: top the warm pool of spare tenant schemas up to its configured size."""
    return refill_warm_pool(context.additional_context["flask_app"])


def refill_warm_pool(flask_app: Flask) -> int | None:
    """Call ``provisioning.pool.refill_pool`` and commit; None when provisioning is not installed."""
    try:
        from schemehost.provisioning.pool import refill_pool
    except ImportError:
        log.warning("schemehost.provisioning.pool is not installed; warm pool not refilled")
        return None
    with flask_app.app_context():
        built = refill_pool()
        db.session.commit()
    if built:
        log.info("warm pool refilled with %s spare schema(s)", built)
    return built


def procrastinate_app(flask_app: Flask | None = None) -> procrastinate.App:
    """This process's procrastinate App for ``flask_app`` (default: the current app), built once."""
    flask_app = flask_app or current_app._get_current_object()
    state = flask_app.extensions.get(EXTENSION)
    if state is None or state[0] != os.getpid():  # a forked child builds its own, never reuses a pool
        connector = procrastinate.PsycopgConnector(
            conninfo=libpq_url(flask_app.config["SQLALCHEMY_DATABASE_URI"]),
            min_size=1, max_size=flask_app.config.get("JOBS_POOL_SIZE", 10),
        )
        papp = procrastinate.App(connector=connector)
        papp.add_tasks_from(tasks, namespace="schemehost")
        state = (os.getpid(), papp)
        flask_app.extensions[EXTENSION] = state
    return state[1]


def defer_job(job_id: int) -> None:
    """Queue a committed ``queued`` job for the worker; call it after the commit.

    Fair across tenants: one tenant's jobs share a procrastinate ``lock`` (they
    run one at a time, in order) and each gets a priority one lower than the
    tenant's jobs already waiting, so a tenant with a thousand queued jobs
    never holds back another tenant's first one.
    """
    with db.engine.connect() as conn:
        job = conn.execute(select(Job.id, Job.tenant_id, Job.status).where(Job.id == job_id)).first()
        if job is None:
            raise NotFound(_("No job %(id)s.", id=job_id))
        waiting = 0
        if job.tenant_id is not None:
            waiting = conn.execute(
                select(func.count()).select_from(Job)
                .where(Job.tenant_id == job.tenant_id, Job.id < job_id,
                       Job.status.in_([JobStatus.queued, JobStatus.running]))
            ).scalar_one()
    papp = procrastinate_app()
    sync = papp.connector.get_sync_connector()
    if sync is not papp.connector:  # outside the worker: a small synchronous pool, opened here
        sync.open()
    lock = f"tenant-{job.tenant_id}" if job.tenant_id is not None else None
    pjob_id = papp.configure_task("schemehost:run_job", lock=lock, priority=-waiting).defer(job_id=job_id)
    services._write(job_id, procrastinate_job_id=pjob_id)


def run_worker(flask_app: Flask, *, concurrency: int = 2, wait: bool = True, periodic: bool = True,
               install_signal_handlers: bool = True, **options: Any) -> None:
    """Run procrastinate's worker on our queue until stopped (SIGTERM/SIGINT), or until drained
    when ``wait`` is False. Imports ``JOB_MODULES`` first, so a missing one fails at start.
    """
    with flask_app.app_context():
        services.load_job_modules()
    papp = procrastinate_app(flask_app)
    if periodic and "schemehost-periodic:refill_pool" not in papp.tasks:
        papp.add_tasks_from(periodic_tasks, namespace="schemehost-periodic")
    papp.run_worker(
        queues=[QUEUE], concurrency=concurrency, wait=wait, name=f"schemehost-{os.getpid()}",
        install_signal_handlers=install_signal_handlers, delete_jobs="successful",
        additional_context={"flask_app": flask_app}, **options,
    )
