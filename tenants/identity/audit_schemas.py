"""Request and response schemas of the tenant audit log and support sessions."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, Schema, fields, validate

from schemehost.tenants.identity.audit_query import MAX_PAGE


class DateOrDateTime(fields.Field):
    """``2026-03-01`` (a whole day in the tenant's time zone) or an ISO 8601 date-time."""

    default_error_messages = {"invalid": _l("Enter a date (2026-03-01) or a date and time (2026-03-01T08:00)."),
                              }

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, (date, datetime)):
            return value
        text = str(value).strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self.make_error("invalid") from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


def _text(max_length: int):
    return fields.String(load_default=None, validate=validate.Length(max=max_length))


class AuditQuerySchema(Schema):
    """Filters of the audit log (API query string, console filter form and CSV export)."""

    class Meta:
        unknown = EXCLUDE

    actor_type = fields.String(load_default=None, validate=validate.OneOf(
        ["user", "client", "support", "operator", "system"],
        error=_l("One of: user, client, support, operator, system.")))
    actor_id = _text(100)
    action = _text(40)
    entity_type = _text(60)
    entity_id = _text(100)
    from_ = DateOrDateTime(data_key="from", load_default=None,
                           metadata={"description": "Start (inclusive): a date or an ISO 8601 date-time."})
    to = DateOrDateTime(load_default=None,
                        metadata={"description": "End: a date (inclusive, whole day) or a date-time (exclusive)."})


class AuditPageQuerySchema(AuditQuerySchema):
    cursor = fields.String(load_default=None, validate=validate.Length(max=20),
                           metadata={"description": "The `next` value of the previous page."})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))


class AuditEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_type = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_name = fields.String(allow_none=True)
    action = fields.String()
    entity_type = fields.String(allow_none=True)
    entity_id = fields.String(allow_none=True)
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    details = fields.Raw(allow_none=True)
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)


class AuditPageSchema(Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema))
    next = fields.String(allow_none=True, metadata={"description": "Cursor of the next (older) page; null at the end."})


class SupportSessionSchema(Schema):
    id = fields.Integer()
    operator_email = fields.String()
    reason = fields.String()
    started_at = fields.DateTime()
    expires_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    active = fields.Boolean()


class SupportListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
