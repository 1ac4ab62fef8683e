"""Request and response schemas of ``/api/v1/jobs``."""

from marshmallow import Schema, fields, validate

from schemehost.platform.jobs.models import JobStatus


class JobListQuerySchema(Schema):
    tenant = fields.String(metadata={"description": "slug of the tenant the jobs belong to"})
    status = fields.String(validate=validate.OneOf([s.value for s in JobStatus]))


class ProgressSchema(Schema):
    done = fields.Integer()
    total = fields.Integer(allow_none=True, metadata={"description": "null while unknown"})


class JobSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String(metadata={"description": "queued, running, succeeded or failed"})
    tenant = fields.String(allow_none=True, metadata={"description": "tenant slug, if the job has one"})
    progress = fields.Nested(ProgressSchema)
    result = fields.Raw(allow_none=True)
    error = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
