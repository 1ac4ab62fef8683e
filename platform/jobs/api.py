"""Control API: ``/api/v1/jobs`` (operator bearer token required)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from schemehost.platform.extensions import db
from schemehost.platform.jobs import services
from schemehost.platform.jobs.schemas import JobListQuerySchema, JobSchema

bp = Blueprint("jobs", __name__, url_prefix="/api/v1/jobs", description="Background jobs")


@bp.route("")
class Jobs(MethodView):
    @bp.arguments(JobListQuerySchema, location="query")
    @bp.response(200, JobSchema(many=True))
    @bp.paginate()
    def get(self, query, pagination_parameters):
        """Jobs, newest first, optionally of one tenant and status (paginated: ``page``, ``page_size``)."""
        p = pagination_parameters
        jobs, total = services.list_jobs(db.session, **query, limit=p.page_size, offset=p.first_item)
        p.item_count = total
        slugs = services.tenant_slugs(db.session, jobs)
        return [services.job_dict(j, slugs.get(j.tenant_id)) for j in jobs]


@bp.route("/<int:job_id>")
class JobItem(MethodView):
    @bp.response(200, JobSchema)
    def get(self, job_id):
        """One job: state, progress, result or error, timestamps."""
        job = services.get_job(db.session, job_id)
        return services.job_dict(job, services.tenant_slugs(db.session, [job]).get(job.tenant_id))
