"""Control API: ``/api/v1/jobs`` (operator bearer token required)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from flask_babel import gettext as _

from schemehost.platform.errors import NotFound
from schemehost.platform.extensions import db
from schemehost.platform.jobs import services
from schemehost.platform.operators.roles import current_scope
from schemehost.platform.tenants.models import Tenant
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
        scope = current_scope()
        partner = None if scope.all_tenants else (scope.partner_id or -1)
        jobs, total = services.list_jobs(db.session, **query, limit=p.page_size, offset=p.first_item,
                                         partner_id=partner)
        p.item_count = total
        slugs = services.tenant_slugs(db.session, jobs)
        return [services.job_dict(j, slugs.get(j.tenant_id)) for j in jobs]


@bp.route("/<int:job_id>")
class JobItem(MethodView):
    @bp.response(200, JobSchema)
    def get(self, job_id):
        """One job: state, progress, result or error, timestamps."""
        job = services.get_job(db.session, job_id)
        scope = current_scope()
        owner = db.session.get(Tenant, job.tenant_id) if job.tenant_id is not None else None
        if not scope.all_tenants and (owner is None or not scope.sees(owner)):
            raise NotFound(_("No job %(id)s.", id=job_id))  # another partner's job: as if it did not exist
        return services.job_dict(job, services.tenant_slugs(db.session, [job]).get(job.tenant_id))
