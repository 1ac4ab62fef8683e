"""Users API: ``/t/<slug>/api/v1/users`` (list, invite) and ``/users/<id>`` (read, change).

Every route needs ``users.manage``. Lists are paged by id (keyset): the
``Link: <...>; rel="next"`` header gives the next page while there is one.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Flask, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity import users
from schemehost.tenants.identity import users_schemas as s
from schemehost.tenants.identity.principal import current_principal, permission_required

bp = Blueprint("users_api", __name__, url_prefix="/t/<slug>/api/v1", description="Tenant users")
MANAGE = "users.manage"


bind_to_tenant(bp)


@bp.route("/users")
class Users(MethodView):
    @permission_required(MANAGE)
    @bp.arguments(s.UserListQuerySchema, location="query")
    @bp.response(200, s.UserSchema(many=True))
    def get(self, query):
        """The scheme's users by id, ``limit`` at a time after ``after``."""
        page, next_after = users.list_users(tenant_session(), limit=query["limit"], after_id=query["after"])
        headers = {}
        if next_after is not None:
            headers["Link"] = f'<{url_for("users_api.Users", limit=query["limit"], after=next_after)}>; rel="next"'
        return [asdict(u) for u in page], headers

    @permission_required(MANAGE)
    @bp.arguments(s.UserInviteSchema)
    @bp.response(201, s.UserSchema)
    def post(self, body):
        """Invite a user by e-mail (re-inviting someone who has not accepted yet sends a new link;
        409 when the address belongs to a user who has)."""
        user = users.invite_user(tenant_session(), body["email"], body["name"], role_codes=body["roles"],
                                 invited_by=current_principal(), locale=body["locale"])
        return asdict(user), 201, {"Location": url_for("users_api.UserItem", user_id=user.id)}


@bp.route("/users/<int:user_id>")
class UserItem(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, s.UserSchema)
    def get(self, user_id):
        """One user."""
        return asdict(users.get_user(tenant_session(), user_id))

    @permission_required(MANAGE)
    @bp.arguments(s.UserUpdateSchema)
    @bp.response(200, s.UserSchema)
    def patch(self, body, user_id):
        """Change a user's name or language, or deactivate/reactivate them (the last active tenant
        administrator cannot be deactivated: 409)."""
        clear = "locale" in body and body["locale"] is None
        return asdict(users.update_user(tenant_session(), user_id, name=body.get("name"),
                                        locale=body.get("locale"), clear_locale=clear,
                                        is_active=body.get("is_active")))


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
