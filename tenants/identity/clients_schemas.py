"""Request and response schemas of the API clients API."""

from marshmallow import Schema, fields, validate


class ClientSchema(Schema):
    client_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    created_by = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    rotated_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True,
                                   metadata={"description": "when the client last received a token"})
    active = fields.Function(lambda c: (c["revoked_at"] if isinstance(c, dict) else c.revoked_at) is None,
                             dump_only=True)


class ClientWithSecretSchema(ClientSchema):
    client_secret = fields.String(dump_only=True, metadata={"description": "shown this once; keep it safe"})


class ClientCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(max=200))
    scopes = fields.List(fields.String(validate=validate.Length(max=60)), required=True,
                         validate=validate.Length(max=100),
                         metadata={"description": "permission names, e.g. registry.read"})


class ClientListQuerySchema(Schema):
    include_revoked = fields.Boolean(load_default=True)


class PrincipalSchema(Schema):
    kind = fields.String(metadata={"description": "user, client or support"})
    id = fields.String()
    name = fields.String()
    permissions = fields.Function(lambda p: sorted(p.permissions))
