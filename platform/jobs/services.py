"""Durable jobs: the handler registry, creating jobs, and running one.

A job is a ``control.jobs`` row (state, progress, result) plus, once deferred,
a procrastinate job that calls :func:`run_job` in a worker (see ``app.py``).
Progress and the ``running``/``failed`` marks are written in their own short
transactions so that other sessions see them while the job runs; the
handler's own work and the ``succeeded`` mark are committed together.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from schemehost.platform.db import utcnow
from schemehost.platform.errors import AppError, NotFound, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.jobs.models import Job, JobStatus
from schemehost.platform.tenants.models import Tenant

log = logging.getLogger("schemehost.jobs")

#: Modules that register job handlers when imported. Others append to this list;
#: the worker imports all of them at start, ``run_job``/``create_job`` on first need.
JOB_MODULES: list[str] = ["schemehost.provisioning.tasks"]
JOB_MODULES.append("schemehost.tenants.registry.imports.tasks")
JOB_MODULES.append("schemehost.tenants.insurance.claims.tasks")  # claims.check, claims.valuate

Handler = Callable[["JobContext"], "dict[str, Any] | None"]
_HANDLERS: dict[str, Handler] = {}
#: kind -> fn(job_id, tenant_id) called once when a job of that kind is found interrupted
_ON_INTERRUPTED: dict[str, Callable[[int, "int | None"], None]] = {}
_imported: set[str] = set()

ERROR_MAX = 500


class JobSetupError(AppError):
    """The installation is broken: a module listed in ``JOB_MODULES`` cannot be imported."""

    status = 500
    type = "job-setup-error"
    title = _l("Job handlers are not installed")


def job_handler(kind: str, *, on_interrupted: Callable[[int, int | None], None] | None = None
                ) -> Callable[[Handler], Handler]:
    """Register ``fn(ctx) -> dict | None`` as the handler of jobs of ``kind``; ``on_interrupted(job_id,
    tenant_id)`` repairs what such a job leaves behind when its worker dies mid-run (see sweep_interrupted)."""

    def register(fn: Handler) -> Handler:
        if on_interrupted is not None:
            _ON_INTERRUPTED[kind] = on_interrupted
        other = _HANDLERS.get(kind)
        # the same function imported again (a reload) may re-register; another one may not
        if other is not None and (other.__module__, other.__qualname__) != (fn.__module__, fn.__qualname__):
            raise RuntimeError(f"job kind {kind!r} already has a handler ({other.__module__}.{other.__qualname__})")
        _HANDLERS[kind] = fn
        return fn

    return register


def load_job_modules() -> None:
    """Import every module of ``JOB_MODULES`` (once); a missing one is a clear error."""
    for name in list(JOB_MODULES):
        if name in _imported:
            continue
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise JobSetupError(
                _("Cannot import job module %(module)s (listed in JOB_MODULES): %(error)s",
                  module=name, error=str(err))
            ) from err
        _imported.add(name)


def handler_for(kind: str) -> Handler | None:
    """The handler registered for ``kind``, importing ``JOB_MODULES`` if it is not known yet."""
    if kind not in _HANDLERS:
        load_job_modules()
    return _HANDLERS.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)


@dataclass(frozen=True)
class JobContext:
    """What a handler receives: the job's identity and inputs, and a way to report progress."""

    job_id: int
    kind: str
    tenant_id: int | None
    params: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None

    def progress(self, done: int, total: int | None = None) -> None:
        """Record progress now, in its own transaction (visible while the job runs)."""
        values: dict[str, Any] = {"progress_done": int(done)}
        if total is not None:
            values["progress_total"] = int(total)
        _write(self.job_id, **values)


def _write(job_id: int, **values: Any) -> None:
    """Update the job row in its own short transaction, apart from the caller's session."""
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(**values))


def create_job(session: Session, kind: str, *, tenant_id: int | None = None,
               params: dict[str, Any] | None = None, actor: str | None = None) -> Job:
    """Add a ``queued`` job (flush only); commit, then :func:`defer_job` or :func:`run_job` it."""
    if handler_for(kind) is None:
        raise ValidationError(_("No handler is registered for job kind '%(kind)s'.", kind=kind),
                              errors={"kind": [_("unknown job kind")]})
    if params is not None and not isinstance(params, dict):
        raise ValidationError(_("Job parameters must be an object."), errors={"params": [_("not an object")]})
    job = Job(kind=kind, tenant_id=tenant_id, params=params or {}, actor=actor,
              status=JobStatus.queued, progress_done=0)
    session.add(job)
    session.flush()
    return job


def run_job(job_id: int) -> Job:
    """Run a queued job's handler here, in the current app context, and record the outcome.

    Never raises for a failing handler: the job ends ``failed`` with a short
    error (no personal data; details go to the log). A job that is not
    ``queued`` any more is returned untouched. Call it after the job's row
    is committed; it commits ``db.session`` (the handler's work) on success.
    """
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound(_("No job %(id)s.", id=job_id))
    handler = handler_for(job.kind)
    with db.engine.begin() as conn:
        claimed = conn.execute(
            update(Job).where(Job.id == job_id, Job.status == JobStatus.queued)
            .values(status=JobStatus.running, started_at=utcnow())
        ).rowcount
    if not claimed:
        log.warning("job %s is %s, not queued; not run again", job_id, job.status)
        db.session.rollback()
        return db.session.get(Job, job_id)
    ctx = JobContext(job_id=job.id, kind=job.kind, tenant_id=job.tenant_id,
                     params=dict(job.params or {}), actor=job.actor)
    log.info("job %s (%s) started", job_id, job.kind)
    try:
        if handler is None:
            raise AppError(_("No handler is registered for job kind '%(kind)s'.", kind=job.kind))
        result = handler(ctx)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"handler of {job.kind!r} returned {type(result).__name__}, not a dict")
        db.session.execute(
            update(Job).where(Job.id == job_id)
            .values(status=JobStatus.succeeded, result=result, error=None, finished_at=utcnow())
        )
        db.session.commit()  # the job boundary: the handler's work and its success together
        log.info("job %s (%s) succeeded", job_id, job.kind)
    except Exception as err:  # recorded on the job, not hidden: the caller inspects job.status
        db.session.rollback()
        # the traceback's frames but not the exception's message, which may quote personal data
        log.error("job %s (%s) failed: %s\n%s", job_id, job.kind, _short_error(err, job_id),
                  "".join(traceback.format_tb(err.__traceback__)))
        _write(job_id, status=JobStatus.failed, error=_short_error(err, job_id), finished_at=utcnow())
    db.session.expire_all()
    return db.session.get(Job, job_id)


def _short_error(err: Exception, job_id: int) -> str:
    """What the job row says about a failure: an AppError's own message, else only its type."""
    if isinstance(err, AppError):
        return str(err.detail)[:ERROR_MAX]
    return _("%(type)s: unexpected error; see the worker log for job %(id)s.",
             type=type(err).__name__, id=job_id)[:ERROR_MAX]


INTERRUPTED_SQL = """
UPDATE control.jobs AS j
   SET status = 'failed', finished_at = now(), error = :error
  FROM procrastinate_jobs AS p
  LEFT JOIN procrastinate_workers AS w ON w.id = p.worker_id
 WHERE j.status = 'running'
   AND p.id = j.procrastinate_job_id
   AND (p.status <> 'doing' OR w.id IS NULL
        OR w.last_heartbeat < now() - make_interval(secs => :stale_s))
RETURNING j.id, j.kind, j.tenant_id
"""


def sweep_interrupted(*, stale_after_s: float = 60.0) -> list[int]:
    """Mark ``failed`` the running jobs whose worker is gone (procrastinate job no longer ``doing``,
    or its worker's heartbeat older than ``stale_after_s``), and let each kind repair its leftovers.

    A job's own work is committed together with its ``succeeded`` mark, so an
    interrupted job has changed nothing; only its ``running`` mark and what the
    kind's ``on_interrupted`` knows about (e.g. a tenant left ``provisioning``) remain.
    Jobs run inline by the CLI (no procrastinate job) are not swept.
    """
    error = _("Interrupted: the worker running this job stopped; nothing it did was kept.")
    with db.engine.begin() as conn:
        rows = conn.execute(text(INTERRUPTED_SQL), {"error": error, "stale_s": stale_after_s}).all()
    for job_id, kind, tenant_id in rows:
        log.warning("job %s (%s) was interrupted; marked failed", job_id, kind)
        repair = _ON_INTERRUPTED.get(kind)
        if repair is None and handler_for(kind) is not None:
            repair = _ON_INTERRUPTED.get(kind)
        if repair is not None:
            repair(job_id, tenant_id)
    return [row[0] for row in rows]


# --- reading -----------------------------------------------------------------------------

def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(_("No job %(id)s.", id=job_id))
    return job


def list_jobs(session: Session, *, tenant: str | None = None, status: str | None = None,
              limit: int = 50, offset: int = 0, partner_id: int | None = None) -> tuple[list[Job], int]:
    """Jobs newest first, optionally of one tenant (slug) and status; with the total count.
    ``partner_id`` keeps only the jobs of that partner's tenants (what partner staff may see)."""
    query = select(Job)
    if partner_id is not None:
        query = query.where(Job.tenant_id.in_(select(Tenant.id).where(Tenant.partner_id == partner_id)))
    if status is not None:
        if status not in JobStatus.__members__:
            raise ValidationError(_("Unknown job status '%(status)s'.", status=status),
                                  errors={"status": [_("must be one of: %(values)s",
                                                       values=", ".join(JobStatus))]})
        query = query.where(Job.status == status)
    if tenant is not None:
        tenant_id = session.execute(select(Tenant.id).where(Tenant.slug == tenant)).scalar()
        if tenant_id is None:
            raise ValidationError(_("No tenant '%(slug)s'.", slug=tenant), errors={"tenant": [_("unknown tenant")]})
        query = query.where(Job.tenant_id == tenant_id)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Job.id.desc()).limit(limit).offset(offset)).scalars()
    return list(rows), total


def tenant_slugs(session: Session, jobs: list[Job]) -> dict[int, str]:
    ids = {j.tenant_id for j in jobs if j.tenant_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(ids))).all())


def job_dict(job: Job, tenant_slug: str | None = None) -> dict[str, Any]:
    """The public view of a job (CLI ``--json`` and API)."""
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "tenant": tenant_slug,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "result": job.result,
        "error": job.error,
        "actor": job.actor,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }
