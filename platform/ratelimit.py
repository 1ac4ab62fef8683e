"""Rate limits (flask-limiter) on sign-in, token and password-reset endpoints.

Counters live in Redis when ``REDIS_URL`` is set (shared by every web
worker), in process memory otherwise. Only endpoints that opt in with
``@limiter.limit(...)`` are limited; a refused request gets 429 as
problem+json with ``Retry-After``.

Limits are configurable: ``SCHEMEHOST_SIGNIN_LIMIT`` (default
``"10 per minute;50 per hour"``), ``SCHEMEHOST_TOKEN_LIMIT`` (``"60 per minute"``)
and ``SCHEMEHOST_RESET_LIMIT`` (``"5 per 15 minutes"``), each per client address.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from schemehost.platform.errors import TYPE_BASE, render

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)


def signin_limit() -> str:
    return current_app.config["SIGNIN_LIMIT"]


def signin_failed(response) -> bool:
    """``deduct_when`` of sign-in limits: only attempts that signed nobody in count (a redirect is success)."""
    return response.status_code not in (302, 303)


def token_limit() -> str:
    return current_app.config["TOKEN_LIMIT"]


def reset_limit() -> str:
    return current_app.config["RESET_LIMIT"]


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "schemehost")
    limiter.init_app(app)
    # Only views decorated with @limiter.limit are limited, and the decorator checks their limits
    # itself; the extension's check on every request (for app-wide limits, which we do not use)
    # costs ~0.3 ms on each request of every kind, so it is taken out.
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(err: RateLimitExceeded):
        retry_after = 60
        current = limiter.current_limit
        if current is not None:
            retry_after = max(1, math.ceil(current.reset_at - time.time()))
        body = {
            "type": TYPE_BASE + "too-many-requests",
            "title": _("Too many requests"),
            "status": 429,
            "detail": _("Too many attempts; wait %(seconds)s seconds and try again.", seconds=retry_after),
        }
        return render(body, 429, {"Retry-After": str(retry_after)})
