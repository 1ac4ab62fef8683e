"""Request and response schemas of the control API for tenants and partners."""

from marshmallow import Schema, fields, validate

from schemehost.platform.tenants.models import TenantStatus


class TenantCreateSchema(Schema):
    slug = fields.String(required=True, metadata={"description": "3-40 chars, a DNS label, not reserved"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    partner = fields.String(required=True, metadata={"description": "slug of the hosting partner"})
    template = fields.String(load_default="blank")
    demo_data = fields.Boolean(load_default=False)
    cold = fields.Boolean(load_default=False, metadata={"description": "build a fresh schema (202 + job)"})


class TenantSchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    partner = fields.String(allow_none=True)
    template = fields.String()
    template_version = fields.Integer()
    status = fields.String()
    schema_name = fields.String()
    schema_version = fields.String(allow_none=True)
    server = fields.String(allow_none=True)
    locale = fields.String()
    timezone = fields.String()
    currency = fields.String()
    failure = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    updated_at = fields.String(allow_none=True)
    archived_at = fields.String(allow_none=True)
    job = fields.String(allow_none=True, metadata={"description": "link to the build job (cold path)"})


class TenantListQuerySchema(Schema):
    partner = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in TenantStatus]))
    after = fields.String(metadata={"description": "slug of the last tenant of the previous page"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class TransitionSchema(Schema):
    reason = fields.String(validate=validate.Length(max=2000), load_default=None)


class DeleteQuerySchema(Schema):
    force = fields.Boolean(load_default=False)


class EventSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String(allow_none=True)
    actor = fields.String()
    reason = fields.String(allow_none=True)
    data = fields.Raw(allow_none=True)
    created_at = fields.String()


class PartnerCreateSchema(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    country = fields.String(load_default=None)
    contact_email = fields.Email(load_default=None)


class PartnerSchema(Schema):
    slug = fields.String()
    name = fields.String()
    country = fields.String(allow_none=True)
    contact_email = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
