"""OAuth 2 for machine clients of a tenant: the token endpoint and bearer-token principals.

``POST /t/<slug>/oauth/token`` is Authlib's ``AuthorizationServer`` with the
client-credentials grant (``client_secret_basic`` or ``client_secret_post``);
``POST /t/<slug>/oauth/revoke`` is its RFC 7009 revocation endpoint. There is
one server for all tenants: it reads clients and writes tokens in the
request's tenant session (the tenant's own schema and role), so a client of
tenant A does not exist at tenant B. Errors there are RFC 6749 JSON
(``{"error": ..., "error_description": ...}``), in English ASCII as the RFC
requires.

Every other tenant request carrying ``Authorization: Bearer <token>`` is
resolved by :func:`bearer_principal` (one indexed query in the tenant session
the request uses anyway, docs/decisions/0077); a token that is unknown to this
tenant, expired or revoked answers 401 problem+json with its reason.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from datetime import datetime, timezone

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from sqlalchemy import select

from schemehost.platform.console.security import csrf_exempt_path
from schemehost.platform.errors import Unauthorized
from schemehost.platform.ratelimit import limiter, token_limit
from schemehost.platform.tenancy import run_at_begin, tenant_session
from schemehost.tenants.console import tenant_blueprint
from schemehost.tenants.identity import clients
from schemehost.tenants.identity.models import OAuthClient, OAuthToken
from schemehost.tenants.identity.principal import Principal, register_resolver

# Authlib logs issued tokens at DEBUG ("Issue token {...}"): keep that out of every handler.
logging.getLogger("authlib").setLevel(logging.INFO)

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
OAUTH_PATH = re.compile(r"^/t/[^/]+/oauth/(token|revoke)$")
SCOPE_NAME = re.compile(r"^[a-z0-9_.*-]{1,60}$")
#: a well-formed value that no secret hashes to, compared against for unknown clients
_NO_HASH = clients.HASH_SCHEME + "0" * 64


# ---- Authlib's view of our rows ---------------------------------------------------------------------

class ApiClient(ClientMixin):
    """Authlib's client protocol around an :class:`OAuthClient` row of the tenant."""

    def __init__(self, row: OAuthClient | None):
        self.row = row

    def get_client_id(self):
        return self.row.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        # the grant has refused scopes outside the client's; no scope asked means all of them
        requested = scope_to_list(scope) if scope else None
        return " ".join(requested if requested else self.row.scopes)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        if not clients.secret_matches(self.row.secret_hash, client_secret):
            return False
        if self.row.revoked_at is not None:
            # told only to whoever holds the right secret
            raise InvalidClientError(status_code=401, description="This client has been revoked.")
        return True

    def check_endpoint_auth_method(self, method, endpoint):
        return method in AUTH_METHODS

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class UnknownClient(ApiClient):
    """Stands for a client id this tenant does not have: it fails like a wrong secret, at the same cost,
    so that answers do not tell which client ids exist."""

    def __init__(self):
        super().__init__(None)

    def check_client_secret(self, client_secret):
        clients.secret_matches(_NO_HASH, client_secret)
        return False


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_requested_scope(self):
        """A client asks for some of its scopes (all when it names none); asking for more is refused."""
        requested = scope_to_list(self.request.payload.scope) or []
        outside = sorted(set(requested) - set(self.request.client.row.scopes))
        if outside:
            shown = " ".join(s for s in outside if SCOPE_NAME.match(s))
            raise InvalidScopeError(description="This client may not ask for: " + (shown or "(invalid scope)"))


class IssuedToken:
    """Authlib's token protocol around an :class:`OAuthToken` row, for revocation."""

    def __init__(self, row: OAuthToken, value: str):
        self.row, self.value = row, value

    def check_client(self, client) -> bool:
        return client.row is not None and self.row.client_id == client.row.id


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        row = tenant_session().execute(
            select(OAuthToken).where(OAuthToken.token_hash == clients.token_digest(token_string))
        ).scalar_one_or_none()
        return IssuedToken(row, token_string) if row is not None else None

    def authenticate_token(self, request, client):
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        # RFC 7009 2.2: a token that is not the client's is answered like an unknown one (200, nothing done)
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token, request):
        clients.revoke_token(tenant_session(), request.client.row, token.value)


class TenantAuthorizationServer(AuthorizationServer):
    """One authorization server for every tenant: clients are read and tokens written in the
    request's tenant session, never across tenants."""

    def query_client(self, client_id):
        if not isinstance(client_id, str) or not client_id.startswith(clients.CLIENT_ID_PREFIX) \
                or len(client_id) > 64:
            return UnknownClient()
        row = tenant_session().execute(
            select(OAuthClient).where(OAuthClient.client_id == client_id)).scalar_one_or_none()
        return ApiClient(row) if row is not None else UnknownClient()

    def save_token(self, token, request):
        return None  # generate_bearer_token has stored it (hashed) already


def generate_bearer_token(grant_type, client, user=None, scope=None, expires_in=None,
                          include_refresh_token=False):
    """Authlib token generator: issue (and store, hashed) an access token for the client."""
    ttl = int(current_app.config["OAUTH_TOKEN_TTL_S"])
    scopes = scope_to_list(scope) if scope else list(client.row.scopes)
    value, row = clients.issue_token(tenant_session(), client.row, scopes, ttl_s=ttl)
    return {"token_type": "Bearer", "access_token": value, "expires_in": ttl, "scope": " ".join(row.scopes)}


def _server() -> TenantAuthorizationServer:
    return current_app.extensions["schemehost.oauth"]


def _malformed_basic() -> bool:
    """An ``Authorization: Basic`` header Authlib could not decode (it would raise, not refuse)."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return True
    return False


def _bad_basic():
    return _server().handle_error_response(
        None, InvalidClientError(status_code=401, description="The Basic credentials are not valid base64 UTF-8."))


bp = tenant_blueprint("oauth", __name__, "/oauth")


@bp.post("/token")
@limiter.limit(token_limit)
def token():
    """Client credentials grant: a short-lived bearer token for this tenant's API."""
    if _malformed_basic():
        return _bad_basic()
    return _server().create_token_response()


@bp.post("/revoke")
@limiter.limit(token_limit)
def revoke():
    """RFC 7009: a client revokes one of its tokens."""
    if _malformed_basic():
        return _bad_basic()
    return _server().create_endpoint_response(Revocation.ENDPOINT_NAME)


# ---- bearer tokens on tenant requests --------------------------------------------------------------

# the tables of OAuthToken and OAuthClient (tenants/identity/models.py), as plain SQL: it travels with
# the transaction's BEGIN and role switch in one round trip (tenancy.run_at_begin)
_LOOKUP = ("SELECT t.scopes, t.expires_at, t.revoked_at, c.client_id, c.name, c.revoked_at AS client_revoked_at "
           "FROM {schema}.oauth_tokens t JOIN {schema}.oauth_clients c ON c.id = t.client_id "
           "WHERE t.token_hash = %(digest)s")


def _invalid(reason: str, detail: str, description: str) -> Unauthorized:
    return Unauthorized(detail, reason=reason, headers={
        "WWW-Authenticate": f'Bearer realm="schemehost", error="invalid_token", error_description="{description}"'})


def bearer_principal() -> Principal | None:
    """The API client whose access token the request carries (None without ``Authorization: Bearer``);
    401 when the token is not a live token of this tenant."""
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or OAUTH_PATH.match(request.path):
        return None
    value = value.strip()
    if not value.startswith(clients.TOKEN_PREFIX) or len(value) > 128:
        if value.startswith("sho_"):
            raise _invalid("operator_token", _("Operator API tokens are for the control API (/api/v1) only; "
                                               "a scheme's API takes access tokens of its API clients."),
                           "operator tokens are not accepted here")
        raise _invalid("malformed", _("This is not an access token of this scheme."), "malformed token")
    # the first statement of the request's tenant transaction (the view's own), sent with its BEGIN
    row = run_at_begin(tenant_session(), _LOOKUP, {"digest": clients.token_digest(value)})
    if row is None:
        raise _invalid("unknown", _("The access token is unknown to this scheme."), "unknown token")
    if row.client_revoked_at is not None:
        raise _invalid("client_revoked", _("The API client of this access token has been revoked."),
                       "client revoked")
    if row.revoked_at is not None:
        raise _invalid("revoked", _("The access token has been revoked."), "token revoked")
    if row.expires_at <= datetime.now(timezone.utc):
        raise _invalid("expired", _("The access token has expired; ask the token endpoint for a new one."),
                       "token expired")
    return Principal(kind="client", id=row.client_id, name=row.name, tenant_id=g.tenant.id,
                     permissions=frozenset(row.scopes))


def init_app(app: Flask) -> None:
    server = TenantAuthorizationServer()
    server.init_app(app)
    server.register_token_generator("default", generate_bearer_token)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    app.extensions["schemehost.oauth"] = server
    register_resolver(bearer_principal, order=10)
    csrf_exempt_path(OAUTH_PATH.pattern)
    app.register_blueprint(bp)
