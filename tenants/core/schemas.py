"""Request and response schemas of the tenant core API."""

from marshmallow import Schema, fields

from schemehost.platform.serialize import FastDumpSchema


class SettingSchema(FastDumpSchema):  # listed on a hot path: dumped by a precomputed plan
    key = fields.String(dump_only=True)
    value = fields.Raw(required=True, allow_none=False)
    updated_at = fields.DateTime(dump_only=True)


class SettingValueSchema(Schema):
    value = fields.Raw(required=True, allow_none=False)


class ListQuerySchema(Schema):
    limit = fields.Integer(load_default=100, validate=lambda n: 1 <= n <= 1000)
