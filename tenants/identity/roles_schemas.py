"""Request and response schemas of the roles API.

Inputs are checked for shape only; the roles services check the values (code
pattern, known permissions of enabled modules) and report each bad item by index.
"""

from marshmallow import Schema, ValidationError, fields, validates_schema
from flask_babel import lazy_gettext as _l


class RoleSchema(Schema):
    code = fields.String()
    name = fields.String()
    builtin = fields.Boolean()
    permissions = fields.List(fields.String())
    users = fields.Integer(metadata={"description": "how many users hold the role"})


class RoleCreateSchema(Schema):
    code = fields.String(required=True, metadata={"description": "2-60 chars: a-z, 0-9 and _, starting with a letter"})
    name = fields.String(required=True)
    permissions = fields.List(fields.Raw(), load_default=list,
                              metadata={"description": "permission names (see /permissions)"})


class RoleUpdateSchema(Schema):
    name = fields.String()
    permissions = fields.List(fields.Raw())

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(str(_l("Send a new name, new permissions, or both.")), "_schema")


class UserRolesSchema(Schema):
    roles = fields.List(fields.String(), required=True, metadata={"description": "role codes"})


class UserRolesOutSchema(Schema):
    user_id = fields.Integer()
    roles = fields.List(fields.String())


class UserLocationsSchema(Schema):
    locations = fields.List(fields.Raw(), required=True,
                            metadata={"description": "location ids; an empty list lifts the restriction"})


class UserLocationsOutSchema(Schema):
    user_id = fields.Integer()
    locations = fields.List(fields.Integer())


class PermissionSchema(Schema):
    name = fields.String()
    module = fields.String(allow_none=True, metadata={"description": "null for the scheme's core permissions"})
    description = fields.String()
    granted = fields.Boolean(metadata={"description": "whether the caller holds it"})
