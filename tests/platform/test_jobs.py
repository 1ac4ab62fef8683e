"""Jobs: the handler registry, run_job's transactions, and the real procrastinate worker."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select

from schemehost.platform.extensions import db
from schemehost.platform.jobs import (
    JOB_MODULES,
    Job,
    JobStatus,
    create_job,
    defer_job,
    job_handler,
    procrastinate_app,
    run_job,
    run_worker,
)
from schemehost.platform.jobs.app import refill_warm_pool
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import Tenant
from schemehost.platform.tenants.services import default_server

SEEN: list[dict] = []


@job_handler("test.echo")
def echo(ctx):
    """Reports progress, writes a partner in the job's transaction, returns its params."""
    ctx.progress(1, 3)
    with psycopg.connect(ctx.params["dsn"], autocommit=True) as conn:  # another session sees progress
        SEEN.append(dict(zip(("status", "done", "total"), conn.execute(
            "SELECT status, progress_done, progress_total FROM control.jobs WHERE id = %s", (ctx.job_id,)
        ).fetchone())))
    if ctx.params.get("partner"):
        db.session.add(Partner(slug=ctx.params["partner"], name="made by a job"))
    ctx.progress(3)
    return {"echo": ctx.params.get("word"), "tenant_id": ctx.tenant_id, "actor": ctx.actor}


@job_handler("test.boom")
def boom(ctx):
    """Writes, then fails with a message that must not reach the job row."""
    db.session.add(Partner(slug=ctx.params["partner"], name="never committed"))
    db.session.flush()
    raise RuntimeError("jane.doe@example.org broke it")


@pytest.fixture
def tenant_row(app, unique):
    """A bare control-plane tenant row (no schema): enough for jobs to point at."""
    with app.app_context():
        partner = Partner(slug=unique("jp"), name="Jobs partner")
        db.session.add(partner)
        db.session.flush()
        slug = unique("jt")
        tenant = Tenant(slug=slug, name="Jobs tenant", partner_id=partner.id, template="blank",
                        template_version=1, status="failed", server_id=default_server(db.session).id,
                        schema_name=f"tenant_{slug}")
        db.session.add(tenant)
        db.session.commit()
        return tenant.id, slug


def _new_job(kind, **kw):
    job = create_job(db.session, kind, **kw)
    db.session.commit()
    return job.id


def _partner_exists(slug):
    return db.session.execute(select(Partner.id).where(Partner.slug == slug)).first() is not None


def test_run_job_records_progress_result_and_commits_handler_work(app_ctx, database_url, unique, tenant_row):
    from schemehost.platform.db import libpq_url

    tenant_id, _slug = tenant_row
    partner = unique("made")
    job_id = _new_job("test.echo", tenant_id=tenant_id, actor="cli",
                      params={"word": "hi", "dsn": libpq_url(database_url), "partner": partner})
    assert db.session.get(Job, job_id).status == JobStatus.queued

    SEEN.clear()
    job = run_job(job_id)

    assert SEEN == [{"status": "running", "done": 1, "total": 3}]
    assert job.status == JobStatus.succeeded
    assert job.result == {"echo": "hi", "tenant_id": tenant_id, "actor": "cli"}
    assert (job.progress_done, job.progress_total) == (3, 3)
    assert job.started_at and job.finished_at and job.error is None
    assert _partner_exists(partner)


def test_failing_handler_is_recorded_without_raising_or_leaking(app_ctx, unique, caplog):
    partner = unique("boom")
    job_id = _new_job("test.boom", params={"partner": partner})

    job = run_job(job_id)

    assert job.status == JobStatus.failed
    assert job.error.startswith("RuntimeError")
    assert "jane.doe" not in job.error
    assert job.finished_at is not None
    assert not _partner_exists(partner)  # the handler's work was rolled back


def test_finished_job_is_not_run_again(app_ctx, database_url):
    from schemehost.platform.db import libpq_url

    job_id = _new_job("test.echo", params={"word": "once", "dsn": libpq_url(database_url)})
    first = run_job(job_id)
    finished = first.finished_at
    SEEN.clear()
    again = run_job(job_id)
    assert SEEN == [] and again.status == JobStatus.succeeded and again.finished_at == finished


def test_unknown_kind_is_refused_at_creation(app_ctx):
    from schemehost.platform.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        create_job(db.session, "test.nope")
    assert "kind" in err.value.errors


def test_missing_job_module_is_a_clear_error(app_ctx, monkeypatch):
    from schemehost.platform.jobs import JobSetupError

    monkeypatch.setattr("schemehost.platform.jobs.services.JOB_MODULES", ["schemehost.nowhere"])
    with pytest.raises(JobSetupError) as err:
        create_job(db.session, "test.unregistered")
    assert "schemehost.nowhere" in err.value.detail


def test_worker_runs_deferred_jobs_one_tenant_at_a_time(app, database_url, unique, tenant_row, pg):
    from schemehost.platform.db import libpq_url

    tenant_id, _slug = tenant_row
    with app.app_context():
        ids = [_new_job("test.echo", tenant_id=tenant_id, params={"word": f"w{i}", "dsn": libpq_url(database_url)})
               for i in range(3)]
        failing = _new_job("test.boom", params={"partner": unique("wboom")})
        for job_id in [*ids, failing]:
            defer_job(job_id)
        jobs = {j.id: j for j in db.session.execute(select(Job).where(Job.id.in_([*ids, failing]))).scalars()}
        assert all(j.procrastinate_job_id for j in jobs.values())
        # one lock per tenant; later jobs of a busy tenant yield to other tenants' first jobs
        rows = pg.execute(
            "SELECT id, lock, priority FROM procrastinate_jobs WHERE id = ANY(%s) ORDER BY id",
            ([jobs[i].procrastinate_job_id for i in ids],),
        ).fetchall()
        assert [r[1] for r in rows] == [f"tenant-{tenant_id}"] * 3
        assert [r[2] for r in rows] == [0, -1, -2]

    # wait=False stops when nothing is fetchable; a tenant's later jobs wait on its lock, so drain in rounds
    for _round in range(10):
        run_worker(app, concurrency=2, wait=False, periodic=False, install_signal_handlers=False)
        if not pg.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')").fetchone()[0]:
            break

    with app.app_context():
        db.session.expire_all()
        done = {j.id: j for j in db.session.execute(select(Job).where(Job.id.in_([*ids, failing]))).scalars()}
        assert [done[i].result["echo"] for i in ids] == ["w0", "w1", "w2"]
        assert all(done[i].status == JobStatus.succeeded for i in ids)
        # run in order: each started after the previous one of its tenant finished
        assert all(done[a].finished_at <= done[b].started_at for a, b in zip(ids, ids[1:]))
        assert done[failing].status == JobStatus.failed
    left = pg.execute("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')").fetchone()[0]
    assert left == 0


def test_procrastinate_app_is_built_lazily_per_process(app):
    with app.app_context():
        papp = procrastinate_app()
        assert procrastinate_app() is papp
        assert "schemehost:run_job" in papp.tasks


def test_refill_task_calls_the_pool(app):
    assert refill_warm_pool(app) == 0  # the pool size is 0 in tests
