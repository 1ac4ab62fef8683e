"""Durable background jobs: a ``control.jobs`` row per job, run by procrastinate's worker."""

from schemehost.platform.jobs.app import defer_job, launch_job, procrastinate_app, run_worker
from schemehost.platform.jobs.models import Job, JobStatus
from schemehost.platform.jobs.services import (
    JOB_MODULES,
    JobContext,
    JobSetupError,
    create_job,
    get_job,
    job_handler,
    list_jobs,
    load_job_modules,
    run_job,
)

__all__ = [
    "JOB_MODULES", "Job", "JobContext", "JobSetupError", "JobStatus", "create_job", "defer_job",
    "get_job", "job_handler", "launch_job", "list_jobs", "load_job_modules", "procrastinate_app", "run_job",
    "run_worker",
]
