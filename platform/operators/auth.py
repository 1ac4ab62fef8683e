"""Authentication of operators: bearer tokens on ``/api/v1``, sessions on the console.

A single ``before_request`` guard means nothing under ``/api/v1`` answers
without an operator, whatever blueprint later modules add.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import gettext as _

from schemehost.platform.errors import Unauthorized
from schemehost.platform.extensions import db
from schemehost.platform.operators.services import operator_for_token

API_PREFIX = "/api/v1"
# Tenant APIs (/t/<slug>/api) never take operator tokens: they need a principal of the
# tenant (tenants/identity/principal.py), e.g. an access token of one of its API clients.


def init_app(app: Flask) -> None:
    @app.before_request
    def _guard_api():
        path = request.path
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized(
                _("Send an operator API token as 'Authorization: Bearer <token>' "
                  "(create one with `schemehost operators token EMAIL`)."),
                headers={"WWW-Authenticate": 'Bearer realm="schemehost"'},
            )
        operator = operator_for_token(db.session, token.strip())
        if operator is None:
            raise Unauthorized(_("The API token is unknown, revoked or belongs to an inactive operator."),
                               headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        g.operator = operator
        return None


def actor() -> str:
    """Who is acting, for events and audit: the operator's e-mail, or 'cli'."""
    op = g.get("operator")
    return f"operator:{op.email}" if op is not None else "cli"
