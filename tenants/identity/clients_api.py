"""API clients API: ``/t/<slug>/api/v1/clients`` (permission ``clients.manage``) and ``/whoami``."""

from __future__ import annotations

from flask import Flask, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity import clients as services
from schemehost.tenants.identity.clients_schemas import (ClientCreateSchema, ClientListQuerySchema, ClientSchema,
                                                         ClientWithSecretSchema, PrincipalSchema)
from schemehost.tenants.identity.principal import current_principal, permission_required, require

MANAGE = "clients.manage"

bp = Blueprint("clients", __name__, url_prefix="/t/<slug>/api/v1", description="API clients (OAuth 2)")


bind_to_tenant(bp)


def _with_secret(client, secret: str) -> dict:
    data = {name: getattr(client, name) for name in ClientSchema().fields if name != "active"}
    return data | {"client_secret": secret}


@bp.route("/clients")
class Clients(MethodView):
    @permission_required(MANAGE)
    @bp.arguments(ClientListQuerySchema, location="query")
    @bp.response(200, ClientSchema(many=True))
    def get(self, query):
        """The scheme's API clients, newest first (never their secrets)."""
        return services.list_clients(tenant_session(), include_revoked=query["include_revoked"])

    @permission_required(MANAGE)
    @bp.arguments(ClientCreateSchema)
    @bp.response(201, ClientWithSecretSchema)
    def post(self, body):
        """Create an API client; its secret is in this answer only."""
        principal = require(MANAGE)
        client, secret = services.create_client(tenant_session(), body["name"], body["scopes"],
                                                created_by=principal.name, grantor=principal)
        location = url_for("clients.ClientItem", client_id=client.client_id)
        return _with_secret(client, secret), 201, {"Location": location, "Cache-Control": "no-store"}


@bp.route("/clients/<client_id>")
class ClientItem(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, ClientSchema)
    def get(self, client_id):
        """One API client."""
        return services.get_client(tenant_session(), client_id)

    @permission_required(MANAGE)
    @bp.response(204)
    def delete(self, client_id):
        """Revoke the client and every token it holds (for good)."""
        services.revoke_client(tenant_session(), client_id)


@bp.route("/clients/<client_id>/rotate")
class ClientRotate(MethodView):
    @permission_required(MANAGE)
    @bp.response(200, ClientWithSecretSchema)
    def post(self, client_id):
        """A new secret (in this answer only); the old one and its tokens stop working at once."""
        client, secret = services.rotate_secret(tenant_session(), client_id)
        return _with_secret(client, secret), 200, {"Cache-Control": "no-store"}


@bp.route("/whoami")
class WhoAmI(MethodView):
    @bp.response(200, PrincipalSchema)
    def get(self):
        """Who the credential of this request is, and its permissions (scopes, for an API client)."""
        return current_principal()


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
