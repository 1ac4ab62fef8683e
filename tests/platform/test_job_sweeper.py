"""Jobs whose worker died mid-run are marked failed, and a tenant left provisioning becomes failed."""

import pytest
from sqlalchemy import select

from schemehost.platform.extensions import db
from schemehost.platform.jobs import services
from schemehost.platform.jobs.models import Job
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import Tenant, TenantEvent
from schemehost.provisioning.create import create_tenant


@pytest.fixture
def pg(pg):
    """The raw connection; the fake procrastinate rows made here are removed afterwards
    (other tests count procrastinate's unfinished jobs)."""
    yield pg
    pg.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'elsewhere'")


def _running_under(pg, job_id, *, worker_heartbeat_age_s, pjob_status="doing"):
    """Make job ``job_id`` look claimed by a procrastinate worker whose last heartbeat is that old."""
    worker = pg.execute("INSERT INTO procrastinate_workers (last_heartbeat) "
                        "VALUES (now() - make_interval(secs => %s)) RETURNING id", (worker_heartbeat_age_s,)).fetchone()[0]
    pjob = pg.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, worker_id) "
                      "VALUES ('elsewhere', 'schemehost:run_job', '{}', %s, %s) RETURNING id",
                      (pjob_status, worker)).fetchone()[0]
    pg.execute("UPDATE control.jobs SET status = 'running', started_at = now(), procrastinate_job_id = %s "
               "WHERE id = %s", (pjob, job_id))
    return worker


def _cold_tenant(app, unique):
    with app.app_context():
        partner = Partner(slug=unique("swp"), name="Sweep partner")
        db.session.add(partner)
        db.session.commit()
        res = create_tenant(db.session, unique("sw"), name="Sweep", partner=partner.slug, template="blank", cold=True)
        db.session.commit()
        return res.tenant.id, res.job_id


def test_dead_worker_job_fails_and_its_tenant_is_marked_failed(app, pg, unique):
    tenant_id, job_id = _cold_tenant(app, unique)
    _running_under(pg, job_id, worker_heartbeat_age_s=600)
    with app.app_context():
        assert job_id in services.sweep_interrupted(stale_after_s=60)
        job = db.session.get(Job, job_id)
        assert job.status == "failed" and "interrupted" in job.error.lower()
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant.status == "failed" and "interrupted" in tenant.failure
        kinds = db.session.execute(select(TenantEvent.kind).where(TenantEvent.tenant_id == tenant_id)).scalars().all()
        assert "provisioning_failed" in kinds
        # a second sweep finds nothing more
        assert job_id not in services.sweep_interrupted(stale_after_s=60)


def test_live_worker_job_is_left_running(app, pg, unique):
    tenant_id, job_id = _cold_tenant(app, unique)
    _running_under(pg, job_id, worker_heartbeat_age_s=1)
    with app.app_context():
        assert job_id not in services.sweep_interrupted(stale_after_s=60)
        assert db.session.get(Job, job_id).status == "running"
        assert db.session.get(Tenant, tenant_id).status == "provisioning"


def test_job_whose_procrastinate_job_ended_is_failed(app, pg, unique):
    _tenant_id, job_id = _cold_tenant(app, unique)
    _running_under(pg, job_id, worker_heartbeat_age_s=1, pjob_status="failed")
    with app.app_context():
        assert job_id in services.sweep_interrupted(stale_after_s=60)
