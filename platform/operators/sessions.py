"""Console sessions for operators (Flask-Login); sign-in attempts are rate-limited in views.py.

The session cookie holds ``<operator id>:<session version>``; an operator whose
version was bumped (password change, ``schemehost operators sign-out``) is
signed out of every browser at its next request (decision 0030).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from flask import Flask, g, has_request_context, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin, current_user

from schemehost.platform.extensions import db, login_manager
from schemehost.platform.operators.models import Operator

CONSOLE_PREFIX = "/console"
#: Console endpoints that answer without a signed-in operator.
PUBLIC_ENDPOINTS = {"console_auth.sign_in"}


class ConsoleOperator(UserMixin):
    """The signed-in operator as Flask-Login sees it (detached from the DB session)."""

    def __init__(self, op: Operator) -> None:
        self.id = op.id
        self.email = op.email
        self.role = op.role
        self.locale = op.locale
        self.session_version = op.session_version

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def can_manage_tenants(self) -> bool:
        return self.role in ("platform_admin", "partner_staff")

    @property
    def is_platform_admin(self) -> bool:
        return self.role == "platform_admin"


#: Loaders of other kinds of signed-in users, by the prefix of their Flask-Login id ("t" = tenant users).
_loaders: dict[str, Callable[[str], Any]] = {}


def register_user_loader(prefix: str, loader: Callable[[str], Any]) -> None:
    """Load Flask-Login ids ``<prefix>:<rest>`` with ``loader(rest)`` (Flask-Login has one loader per app)."""
    if not prefix or prefix.isdigit() or ":" in prefix:
        raise ValueError("a user-id prefix is a non-numeric word")
    _loaders[prefix] = loader


@login_manager.user_loader
def _load(user_id: str) -> Any:
    prefix, _sep, rest = (user_id or "").partition(":")
    if prefix in _loaders:
        return _loaders[prefix](rest)
    # "<operator id>:<version>": an operator, only ever on console paths
    if not (has_request_context() and _is_console(request.path)):
        return None
    return load_operator(user_id)


def load_operator(user_id: str) -> ConsoleOperator | None:
    """The operator of ``<id>:<session version>`` when active and the version is current."""
    op_id, _sep, version = (user_id or "").partition(":")
    if not (op_id.isdigit() and version.isdigit()):
        return None
    op = db.session.get(Operator, int(op_id))
    if op is None or not op.is_active or op.session_version != int(version):
        return None
    return ConsoleOperator(op)


def _is_console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def init_app(app: Flask) -> None:
    """Configure Flask-Login and require a signed-in operator on every console page."""
    login_manager.login_view = "console_auth.sign_in"
    login_manager.login_message = _l("Sign in to continue.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
    hours = int(app.config.get("CONSOLE_SESSION_HOURS", 12))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=hours)
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    app.config["REMEMBER_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE"))

    @app.before_request
    def _require_operator():
        if not _is_console(request.path):
            return None
        user = current_user._get_current_object()
        if isinstance(user, ConsoleOperator):  # never another kind of signed-in user
            g.operator = user
            return None
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        return redirect(url_for("console_auth.sign_in", next=request.full_path.rstrip("?")))
