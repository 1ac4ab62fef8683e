"""Tenant core API: ``/t/<slug>/api/v1/settings``; every query runs under the tenant's role."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.core import services
from schemehost.tenants.core.schemas import ListQuerySchema, SettingSchema, SettingValueSchema
from schemehost.tenants.identity.principal import permission_required

bp = Blueprint("core", __name__, url_prefix="/t/<slug>/api/v1", description="Tenant settings")


bind_to_tenant(bp)


@bp.route("/settings")
class Settings(MethodView):
    @bp.arguments(ListQuerySchema, location="query")
    @bp.response(200, SettingSchema(many=True))
    def get(self, query):
        """The tenant's settings."""
        return services.list_settings(tenant_session(), limit=query["limit"])


@bp.route("/settings/<key>")
class SettingItem(MethodView):
    @bp.response(200, SettingSchema)
    def get(self, key):
        """One setting."""
        return services.get_setting(tenant_session(), key)

    @permission_required("settings.manage")
    @bp.arguments(SettingValueSchema)
    @bp.response(200, SettingSchema)
    def put(self, body, key):
        """Create or replace a setting."""
        return services.put_setting(tenant_session(), key, body["value"])
