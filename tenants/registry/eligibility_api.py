"""Eligibility filter API under ``/t/<slug>/api/v1/eligibility``: preview (count and breakdown by a
location level), validate, and the fields a filter may use. Needs ``registry.read``; a principal
restricted to some locations counts only what lies within them.

Filter problems are 422 problem+json whose ``errors`` are keyed by the JSON path inside ``filter``
(``all[2].value``; ``filter`` for the filter as a whole).
"""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import eligibility as el

bp = Blueprint("eligibility", __name__, url_prefix="/t/<slug>/api/v1/eligibility",
               description="Eligibility filters: preview, validate, fields")
READ = "registry.read"

FILTER_DOC = {"description": "the filter: {all: [...]}, {any: [...]}, {not: {...}} or {field, op, value}",
              "example": {"all": [{"field": "sex", "op": "eq", "value": "female"},
                                  {"field": "age", "op": "between", "value": [15, 49]},
                                  {"field": "location", "op": "within", "value": ["D01", "D02"]}]}}


bind_to_tenant(bp)


class _Filter(Schema):
    target = fields.String(load_default="individuals", validate=validate.OneOf(el.TARGETS),
                           metadata={"description": "what the filter selects"})
    filter = fields.Raw(required=True, metadata=FILTER_DOC)


class PreviewSchema(_Filter):
    on_date = fields.Date(load_default=None,
                          metadata={"description": "ages are counted on this day (default: today)"})
    by_level = fields.Raw(load_default=None, metadata={
        "description": "location level of the breakdown, by index (0 = top) or name (default: the second level)"})


class BreakdownSchema(Schema):
    location = fields.String(allow_none=True, metadata={"description": "location code (null: above this level)"})
    name = fields.String(allow_none=True)
    count = fields.Integer()


class PreviewOutSchema(Schema):
    target = fields.String()
    on_date = fields.String()
    level = fields.Integer()
    level_name = fields.String()
    count = fields.Integer()
    breakdown = fields.List(fields.Nested(BreakdownSchema))


class ValidOutSchema(Schema):
    valid = fields.Boolean()


class FieldsQuerySchema(Schema):
    target = fields.String(load_default="individuals", validate=validate.OneOf(el.TARGETS))


class FieldOutSchema(Schema):
    field = fields.String()
    type = fields.String()
    label = fields.String()
    ops = fields.List(fields.String())
    choices = fields.List(fields.Raw())
    item_type = fields.String()


@bp.route("/preview")
class Preview(MethodView):
    @permission_required(READ)
    @bp.arguments(PreviewSchema)
    @bp.response(200, PreviewOutSchema)
    def post(self, body):
        """How many individuals or households match, and how many in each location of a level."""
        return el.preview(tenant_session(), body["filter"], target=body["target"], principal=current_principal(),
                          by_level=body["by_level"], on_date=body["on_date"])


@bp.route("/validate")
class Validate(MethodView):
    @permission_required(READ)
    @bp.arguments(_Filter)
    @bp.response(200, ValidOutSchema)
    def post(self, body):
        """``{"valid": true}``, or 422 with errors keyed by the JSON path inside the filter."""
        el.raise_problems(el.validate_filter(tenant_session(), body["filter"], target=body["target"]))
        return {"valid": True}


@bp.route("/fields")
class Fields(MethodView):
    @permission_required(READ)
    @bp.arguments(FieldsQuerySchema, location="query")
    @bp.response(200, FieldOutSchema(many=True))
    def get(self, query):
        """The fields a filter on this target may use: type, label, operators, choices."""
        return el.available_fields(tenant_session(), target=query["target"])


def init_app(app: Flask) -> None:
    """The API and the console page."""
    from schemehost.platform.extensions import api
    from schemehost.tenants.registry import eligibility_views

    api.register_blueprint(bp)
    eligibility_views.init_app(app)

