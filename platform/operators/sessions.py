"""Console sessions for operators (Flask-Login) and the sign-in throttle.

The session cookie holds ``<operator id>:<session version>``; an operator whose
version was bumped (password change, ``schemehost operators sign-out``) is
signed out of every browser at its next request (decision 0030).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import timedelta

from flask import Flask, g, redirect, request, url_for
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


@login_manager.user_loader
def _load(user_id: str) -> ConsoleOperator | None:
    op_id, _, version = (user_id or "").partition(":")
    if not (op_id.isdigit() and version.isdigit()):
        return None
    op = db.session.get(Operator, int(op_id))
    if op is None or not op.is_active or op.session_version != int(version):
        return None
    return ConsoleOperator(op)


class LoginThrottle:
    """Counts failed sign-ins per (e-mail, client address) and per address, in memory.

    Each process keeps its own counters (a restart forgets them); with N web
    workers an attacker gets at most N times the budget (decision 0033).
    """

    def __init__(self, *, per_account: int = 5, per_address: int = 50, window_s: float = 900) -> None:
        self.per_account = per_account
        self.per_address = per_address
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._failures.get(key)
        if q is None:
            return deque()
        while q and now - q[0] > self.window_s:
            q.popleft()
        if not q:
            del self._failures[key]
        return q

    def retry_after(self, email: str, address: str) -> int:
        """Seconds to wait before trying again, 0 when a try is allowed."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in (((email, address), self.per_account), (("", address), self.per_address)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    waits.append(int(self.window_s - (now - q[0])) + 1)
            return max(waits, default=0)

    def failed(self, email: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in ((email, address), ("", address)):
                self._recent(key, now)
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures.clear()

    def succeeded(self, email: str, address: str) -> None:
        with self._lock:
            self._failures.pop((email, address), None)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


throttle = LoginThrottle()


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
    throttle.per_account = int(app.config.get("LOGIN_MAX_FAILURES", 5))
    throttle.window_s = float(app.config.get("LOGIN_FAILURE_WINDOW_S", 900))

    @app.before_request
    def _require_operator():
        if not _is_console(request.path):
            return None
        if current_user.is_authenticated:
            g.operator = current_user._get_current_object()
            return None
        if request.endpoint in PUBLIC_ENDPOINTS:
            return None
        return redirect(url_for("console_auth.sign_in", next=request.full_path.rstrip("?")))
