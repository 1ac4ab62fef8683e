"""Request and response schemas of the users API.

Inputs are checked for shape only; the users services check the values
(e-mail, name, language, role codes) and answer with field errors. A user's
password hash, TOTP secret and tokens are never part of any schema.
"""

from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate, validates_schema


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    locale = fields.String(allow_none=True, metadata={"description": "null: the scheme's language"})
    is_active = fields.Boolean()
    status = fields.String(metadata={"description": "pending (invited, no password yet), active or deactivated"})
    roles = fields.List(fields.String(), metadata={"description": "role codes"})
    totp_enabled = fields.Boolean()
    last_sign_in_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class UserInviteSchema(Schema):
    email = fields.String(required=True)
    name = fields.String(required=True)
    roles = fields.List(fields.String(), load_default=list, metadata={"description": "codes of existing roles"})
    locale = fields.String(load_default=None, allow_none=True,
                           metadata={"description": "language of the user's e-mails and pages (en, fr)"})


class UserUpdateSchema(Schema):
    name = fields.String()
    locale = fields.String(allow_none=True, metadata={"description": "null: the scheme's language"})
    is_active = fields.Boolean(metadata={"description": "false signs the user out and stops them signing in"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError(str(_l("Send a name, a language or is_active.")), "_schema")


class UserListQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    after = fields.Integer(load_default=None, allow_none=True,
                           metadata={"description": "the last id of the previous page (see the Link header)"})
