"""Personal-data API under ``/t/<slug>/api/v1``: consents, subject access, erasure, retention rule.

Consents: read with ``registry.read``, recorded with ``registry.write``. The subject-access export and
erasure need ``registry.personal_data`` (decision 0122); erasure also needs ``confirm`` repeating the
individual's id. The retention rule is read with ``registry.read`` and set with ``settings.manage``.
A location-restricted principal reaches only people within its locations (404 otherwise).
"""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import privacy

bp = Blueprint("registry_privacy", __name__, url_prefix="/t/<slug>/api/v1",
               description="Registry personal data: consents, subject access, erasure, retention")
READ = "registry.read"
WRITE = "registry.write"
PERSONAL = "registry.personal_data"


bind_to_tenant(bp)


class ConsentSchema(Schema):
    id = fields.Integer(dump_only=True)
    purpose = fields.String(required=True, validate=validate.Length(1, 100),
                            metadata={"description": "a purpose code, e.g. data_sharing or sms_reminders"})
    given = fields.Boolean(required=True, metadata={"description": "false records a withdrawal"})
    evidence = fields.String(allow_none=True, metadata={"description": "where the proof is, e.g. 'form 2026/114'"})
    recorded_at = fields.DateTime(dump_only=True)
    recorded_by = fields.String(dump_only=True)


class ConsentsSchema(Schema):
    current = fields.Dict(keys=fields.String(), values=fields.Nested(ConsentSchema),
                          metadata={"description": "the record that holds per purpose (the latest)"})
    history = fields.List(fields.Nested(ConsentSchema), metadata={"description": "every record, newest first"})


class EraseSchema(Schema):
    confirm = fields.Integer(required=True, metadata={"description": "the individual's id, repeated"})


class ErasedSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    erased_at = fields.DateTime()


class RetentionSchema(Schema):
    inactive_years = fields.Integer(required=True, allow_none=True, validate=validate.Range(1, 100),
                                    metadata={"description": "null: keep records (no rule)"})


def _consents(session, individual_id: int) -> dict:
    return {"current": privacy.current_consents(session, individual_id),
            "history": privacy.list_consents(session, individual_id)}


@bp.route("/individuals/<int:individual_id>/consents")
class Consents(MethodView):
    @permission_required(READ)
    @bp.response(200, ConsentsSchema)
    def get(self, individual_id):
        """The individual's consents: the one that holds per purpose, and the whole history."""
        session = tenant_session()
        privacy.get_individual(session, individual_id, principal=current_principal())
        return _consents(session, individual_id)

    @permission_required(WRITE)
    @bp.arguments(ConsentSchema)
    @bp.response(201, ConsentSchema)
    def post(self, body, individual_id):
        """Record consent given (``given: true``) or withdrawn (``given: false``) for a purpose."""
        return privacy.record_consent(tenant_session(), individual_id, purpose=body["purpose"], given=body["given"],
                                      evidence=body.get("evidence"), principal=current_principal())


@bp.route("/individuals/<int:individual_id>/subject-access")
class SubjectAccess(MethodView):
    @permission_required(PERSONAL)
    @bp.response(200)
    def get(self, individual_id):
        """Everything held on the person (record, household links, consents, audit entries, duplicate
        flags, each module's data), for a subject-access request."""
        return privacy.subject_access(tenant_session(), individual_id, principal=current_principal())


@bp.route("/individuals/<int:individual_id>/erase")
class Erase(MethodView):
    @permission_required(PERSONAL)
    @bp.arguments(EraseSchema)
    @bp.response(200, ErasedSchema)
    def post(self, body, individual_id):
        """Erase the person by pseudonymisation (irreversible; ids, financial and audit records stay).
        Erasing an erased record again changes nothing."""
        return privacy.erase_individual(tenant_session(), individual_id, confirm=body["confirm"],
                                        principal=current_principal())


@bp.route("/registry/retention")
class Retention(MethodView):
    @permission_required(READ)
    @bp.response(200, RetentionSchema)
    def get(self):
        """The retention rule: inactive and deceased records untouched for this many years are erased."""
        rule = privacy.retention_rule(tenant_session()) or {}
        return {"inactive_years": rule.get("inactive_years")}

    @permission_required("settings.manage")
    @bp.arguments(RetentionSchema)
    @bp.response(200, RetentionSchema)
    def put(self, body):
        """Set the retention rule (``null`` removes it)."""
        rule = privacy.set_retention(tenant_session(), inactive_years=body["inactive_years"]) or {}
        return {"inactive_years": rule.get("inactive_years")}


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
