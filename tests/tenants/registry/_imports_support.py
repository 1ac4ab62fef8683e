"""Helpers of the import/export tests: run an import through the real services and job."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from schemehost.platform.extensions import db as sadb


def run_file(tenant, kind: str, content: bytes, filename: str = "file.csv", **options):
    """Upload ``content`` as an import of ``kind`` and run its job here; returns (import dict, problems)."""
    from schemehost.platform.jobs import get_job, run_job
    from schemehost.tenants.registry.imports import create_import, import_dict, list_problems, problem_dict

    with tenant.session() as s:
        imp = create_import(s, sadb.session, tenant.id, kind=kind, filename=filename, stream=io.BytesIO(content),
                            created_by="tests", **options)
        import_id, job_id = imp.id, imp.job_id
        sadb.session.commit()
    with tenant.app.app_context():
        run_job(job_id)
        job = get_job(sadb.session, job_id)
        assert job.status == "succeeded", job.error
        sadb.session.rollback()
    with tenant.session() as s:
        from schemehost.tenants.registry.imports import get_import

        out = import_dict(get_import(s, import_id))
        problems = [problem_dict(p) for p in list_problems(s, import_id, limit=10000)]
    return out, problems


def count(tenant, model) -> int:
    with tenant.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()
