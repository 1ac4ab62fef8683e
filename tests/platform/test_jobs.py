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
def tenant_row(bare_tenant):
    """A bare control-plane tenant row (no schema): enough for jobs to point at."""
    return bare_tenant("jt")


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


# --- CLI and API -------------------------------------------------------------------------

@pytest.fixture
def finished_jobs(app, database_url, tenant_row, unique):
    """One succeeded job of a tenant and one failed platform job."""
    from schemehost.platform.db import libpq_url

    tenant_id, slug = tenant_row
    with app.app_context():
        ok = _new_job("test.echo", tenant_id=tenant_id, params={"word": "api", "dsn": libpq_url(database_url)})
        bad = _new_job("test.boom", params={"partner": unique("apiboom")})
        run_job(ok)
        run_job(bad)
    return ok, bad, slug


def test_jobs_cli_list_and_show(runner, finished_jobs):
    import json

    ok, bad, slug = finished_jobs
    listed = json.loads(runner("jobs", "list", "--tenant", slug, "--json").output)
    assert [j["id"] for j in listed] == [ok]
    assert listed[0]["tenant"] == slug and listed[0]["progress"] == {"done": 3, "total": 3}
    failed = json.loads(runner("jobs", "list", "--status", "failed", "--json").output)
    assert bad in [j["id"] for j in failed] and ok not in [j["id"] for j in failed]
    table = runner("jobs", "list", "--tenant", slug)
    assert table.exit_code == 0 and "test.echo" in table.output and "3/3" in table.output

    shown = runner("jobs", "show", str(bad))
    assert shown.exit_code == 0 and "failed" in shown.output and "RuntimeError" in shown.output
    assert json.loads(runner("jobs", "show", str(ok), "--json").output)["result"]["echo"] == "api"


def test_jobs_cli_bad_input(runner):
    missing = runner("jobs", "show", "999999999")
    assert missing.exit_code == 1 and "No job 999999999" in missing.output
    assert runner("jobs", "list", "--tenant", "no-such-tenant").exit_code == 1
    assert runner("jobs", "list", "--status", "sleeping").exit_code == 2  # click's usage error


def test_jobs_api(api, finished_jobs):
    ok, bad, slug = finished_jobs
    one = api.get(f"/api/v1/jobs/{ok}")
    assert one.status_code == 200
    body = one.json
    assert body["status"] == "succeeded" and body["tenant"] == slug
    assert body["progress"] == {"done": 3, "total": 3} and body["result"]["echo"] == "api"
    assert body["started_at"] and body["finished_at"] and body["error"] is None

    listed = api.get(f"/api/v1/jobs?tenant={slug}")
    assert [j["id"] for j in listed.json] == [ok]
    page = api.get("/api/v1/jobs?status=failed&page=1&page_size=1")
    assert page.status_code == 200 and len(page.json) == 1 and page.json[0]["status"] == "failed"
    assert "total" in page.headers["X-Pagination"]


def test_jobs_api_errors(api, client):
    missing = api.get("/api/v1/jobs/999999999")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"

    bad = api.get("/api/v1/jobs?status=sleeping&page_size=0")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert "status" in bad.json["errors"]
    unknown = api.get("/api/v1/jobs?tenant=no-such-tenant")
    assert unknown.status_code == 422 and "tenant" in unknown.json["errors"]

    assert client.get("/api/v1/jobs").status_code == 401


def test_worker_command_stops_cleanly_on_sigterm(app, database_url, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": database_url, "SCHEMEHOST_INSTANCE": str(tmp_path),
           "SCHEMEHOST_WARM_POOL_SIZE": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "schemehost.platform.cli", "worker", "--concurrency", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "Starting worker" in line:
                break
        assert any("Starting worker" in line for line in seen), "".join(seen)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "Stopped worker" in rest
