"""The procrastinate side of jobs: the queue, deferring, the worker and its periodic tasks.

The procrastinate ``App`` is built lazily per process from the Flask app's
database URL, and its connection pool is opened on first use in the process
that uses it (after gunicorn forks, never at import or app creation).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
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


@periodic_tasks.periodic(cron="* * * * *", periodic_id="sweep-interrupted")
@periodic_tasks.task(name="sweep_interrupted", queue=QUEUE, lock="sweep-interrupted",
                     queueing_lock="sweep-interrupted", pass_context=True)
def sweep_interrupted_task(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every minute: fail the jobs whose worker died mid-run (see services.sweep_interrupted)."""
    flask_app: Flask = context.additional_context["flask_app"]
    with flask_app.app_context():
        return len(services.sweep_interrupted())


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


def launch_job(job_id: int, *, inline_setting: str, tenant_session=None) -> None:
    """Commit what made the job (the tenant's session first, then the control plane's: the job and its
    input must be visible to a worker), then run it here when the app setting ``inline_setting`` is on
    (tests, the demo) or queue it for the workers."""
    if tenant_session is not None:
        tenant_session.commit()
    db.session.commit()
    if current_app.config.get(inline_setting):
        services.run_job(job_id)
    else:
        defer_job(job_id)


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
        _open_sync(sync)
    lock = f"tenant-{job.tenant_id}" if job.tenant_id is not None else None
    pjob_id = papp.configure_task("schemehost:run_job", lock=lock, priority=-waiting).defer(job_id=job_id)
    services._write(job_id, procrastinate_job_id=pjob_id)


_opened: set[int] = set()


def _open_sync(sync) -> None:
    """Open the synchronous pool once per process and close it at exit (only in this process)."""
    if id(sync) in _opened:
        return
    sync.open()
    _opened.add(id(sync))
    pid = os.getpid()
    atexit.register(lambda: os.getpid() == pid and sync.close())


def run_worker(flask_app: Flask, *, concurrency: int = 2, wait: bool = True, periodic: bool = True,
               install_signal_handlers: bool = True, **options: Any) -> None:
    """Run procrastinate's worker on our queue until SIGTERM/SIGINT, or until drained when ``wait``
    is False. Imports ``JOB_MODULES`` first, so a missing one fails at start.

    The first signal stops taking jobs and lets running ones finish (``shutdown_graceful_timeout``
    bounds the wait); a second one gets the default behaviour (exit at once).
    """
    with flask_app.app_context():
        services.load_job_modules()
    papp = procrastinate_app(flask_app)
    if periodic and "schemehost-periodic:refill_pool" not in papp.tasks:
        papp.add_tasks_from(periodic_tasks, namespace="schemehost-periodic")
    options = dict(queues=[QUEUE], concurrency=concurrency, wait=wait, name=f"schemehost-{os.getpid()}",
                   delete_jobs="successful", additional_context={"flask_app": flask_app}, **options)
    asyncio.run(_serve(papp, install_signal_handlers, options))


async def _serve(papp: procrastinate.App, handle_signals: bool, options: dict[str, Any]) -> None:
    # Our own handlers, installed before the worker starts: procrastinate's are only in place once
    # its loop runs, and a SIGTERM arriving in between would kill the process without a clean stop.
    async with papp.open_async():
        task = asyncio.create_task(papp.run_worker_async(install_signal_handlers=False, **options))
        loop = asyncio.get_running_loop()
        stopping = False

        def stop() -> None:
            nonlocal stopping
            stopping = True
            log.info("stop requested: taking no new job, waiting for running ones")
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            task.cancel()  # procrastinate turns the cancellation into a graceful stop

        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop)
        try:
            await task
        except asyncio.CancelledError:
            if not stopping:
                raise
        finally:
            if handle_signals and not stopping:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
