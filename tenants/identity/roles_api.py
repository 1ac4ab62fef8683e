"""Roles API: ``/t/<slug>/api/v1/roles``, ``/users/<id>/roles|locations`` and ``/permissions``.

Changing roles and assignments needs ``users.manage``; the permission
catalogue of the tenant is readable by any principal of the tenant.
"""

from __future__ import annotations

from flask import Flask, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import Unauthorized
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity import roles
from schemehost.tenants.identity import roles_schemas as s
from schemehost.tenants.identity.principal import current_principal, permission_required

bp = Blueprint("roles_api", __name__, url_prefix="/t/<slug>/api/v1", description="Tenant roles and permissions")
MANAGE = "users.manage"


bind_to_tenant(bp)


@bp.route("/roles")
class Roles(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, s.RoleSchema(many=True))
    def get(self):
        """The tenant's roles, built-in first, with how many users hold each."""
        return [roles.role_dict(r) for r in roles.list_roles(tenant_session())]

    @permission_required(MANAGE)
    @bp.arguments(s.RoleCreateSchema)
    @bp.response(201, s.RoleSchema)
    def post(self, body):
        """Create a custom role (409 when the code is taken, 422 for bad permissions, by index)."""
        role = roles.create_role(tenant_session(), body["code"], body["name"], body["permissions"])
        return roles.role_dict(role), 201, {"Location": url_for("roles_api.RoleItem", code=role.code)}


@bp.route("/roles/<code>")
class RoleItem(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, s.RoleSchema)
    def get(self, code):
        """One role."""
        return roles.role_dict(roles.get_role(tenant_session(), code))

    @permission_required(MANAGE)
    @bp.arguments(s.RoleUpdateSchema)
    @bp.response(200, s.RoleSchema)
    def patch(self, body, code):
        """Rename a role or replace its permissions (the tenant administrator keeps every permission)."""
        return roles.role_dict(roles.update_role(tenant_session(), code, name=body.get("name"),
                                                 permissions=body.get("permissions")))

    @permission_required(MANAGE)
    @bp.response(204)
    def delete(self, code):
        """Delete a custom role nobody holds (409 for a built-in or assigned role)."""
        roles.delete_role(tenant_session(), code)


@bp.route("/users/<int:user_id>/roles")
class UserRoles(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, s.UserRolesOutSchema)
    def get(self, user_id):
        """The codes of a user's roles."""
        return {"user_id": user_id, "roles": roles.user_role_codes(tenant_session(), user_id)}

    @permission_required(MANAGE)
    @bp.arguments(s.UserRolesSchema)
    @bp.response(200, s.UserRolesOutSchema)
    def put(self, body, user_id):
        """Give a user exactly these roles (applies from the user's next request; audited)."""
        return {"user_id": user_id, "roles": roles.set_user_roles(tenant_session(), user_id, body["roles"])}


@bp.route("/users/<int:user_id>/locations")
class UserLocations(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, s.UserLocationsOutSchema)
    def get(self, user_id):
        """The locations a user is restricted to (empty: no restriction)."""
        return {"user_id": user_id, "locations": roles.user_location_ids(tenant_session(), user_id)}

    @permission_required(MANAGE)
    @bp.arguments(s.UserLocationsSchema)
    @bp.response(200, s.UserLocationsOutSchema)
    def put(self, body, user_id):
        """Restrict a user to these locations and their subtrees (an empty list lifts it; audited)."""
        return {"user_id": user_id,
                "locations": roles.set_user_locations(tenant_session(), user_id, body["locations"])}


@bp.route("/permissions")
class Permissions(MethodView):
    @bp.response(200, s.PermissionSchema(many=True))
    def get(self):
        """The permissions a role of this tenant may hold (core and enabled modules), and which the caller holds."""
        principal = current_principal()
        if principal is None:
            raise Unauthorized(_("Sign in or send an access token for this scheme."),
                               headers={"WWW-Authenticate": 'Bearer realm="schemehost"'})
        return [{"name": p.name, "module": p.module, "description": str(p.description),
                 "granted": principal.can(p.name)} for p in roles.available_permissions(tenant_session())]


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
