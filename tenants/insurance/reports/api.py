"""Insurance reports API: ``GET /t/<slug>/api/v1/insurance/reports/<kind>`` (``reports.read``), as
JSON rows or, with ``format=csv``, as CSV. Figures are limited to the caller's locations."""

from __future__ import annotations

from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants import reporting
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance.reports import services as rp

READ = "reports.read"
MINOR = {"description": "integer amount in minor units of the currency"}

bp = Blueprint("insurance_reports", __name__, url_prefix="/t/<slug>/api/v1",
               description="Insurance reports: policies, contributions, claims")
bind_to_tenant(bp, module="insurance")


class InsuranceReportQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    level = fields.String(load_default=None, metadata={"description": "policies: location level (index or name)"})
    date_from = fields.Date(load_default=None, metadata={"description": "contributions: paid from; claims: "
                                                                        "claimed from (included)"})
    date_to = fields.Date(load_default=None, metadata={"description": "the last day, included"})


class InsuranceReportRowSchema(Schema):
    """One row of a report; each report has some of these keys (see its description)."""

    area = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    level = fields.String()
    idle = fields.Integer()
    ready = fields.Integer()
    active = fields.Integer()
    suspended = fields.Integer()
    expired = fields.Integer()
    total = fields.Integer()
    month = fields.String(metadata={"description": "YYYY-MM"})
    currency = fields.String(allow_none=True)
    contributions = fields.Integer()
    amount = fields.Integer(metadata=MINOR)
    status = fields.String()
    facility = fields.String()
    claims = fields.Integer()
    claimed = fields.Integer(metadata=MINOR)
    valuated_claims = fields.Integer()
    claimed_valuated = fields.Integer(metadata={"description": "what the valuated claims claimed (minor units)"})
    valuated = fields.Integer(metadata=MINOR)


@bp.route("/insurance/reports/<kind>")
class InsuranceReport(MethodView):
    @permission_required(READ)
    @bp.arguments(InsuranceReportQuerySchema, location="query")
    @bp.response(200, InsuranceReportRowSchema(many=True))
    def get(self, query, kind):
        """Report ``kind``: ``policies`` (by status and area of the holder, ``level``), ``contributions``
        (per month paid), ``claims`` (by status), ``months`` and ``facilities`` (amounts claimed against
        valuated). ``format=csv`` answers CSV."""
        rows = rp.report(tenant_session(), kind, principal=current_principal(), level=query["level"],
                         date_from=query["date_from"], date_to=query["date_to"])
        if query["format"] == "csv":
            return reporting.csv_response(rows, f"insurance-{kind}.csv")
        return rows


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
