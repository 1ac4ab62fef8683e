"""Security on every response and CSRF on every cookie-authenticated form.

CSRF is checked by path rather than per view: every unsafe request is checked
except those under the bearer-token APIs (``/api/...`` and
``/t/<slug>/api|fhir/...``), so blueprints added later are covered without
having to remember an exemption (decision 0031).
"""

from __future__ import annotations

import re

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from schemehost.platform.errors import AppError
from schemehost.platform.extensions import csrf

#: Paths whose requests authenticate with a bearer token (never a cookie), so no CSRF check.
CSRF_EXEMPT_PATHS: list[re.Pattern[str]] = [
    re.compile(r"^/api(/|$)"),
    re.compile(r"^/t/[^/]+/(api|fhir)(/|$)"),
]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self' https://checkout.stripe.com; "
    "frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


class CsrfFailed(AppError):
    status = 400
    type = "csrf-failed"
    title = _l("The form could not be accepted")


def csrf_exempt_path(pattern: str) -> None:
    """Exempt paths matching ``pattern`` (a regex on the request path) from CSRF checks.

    Only for endpoints that never rely on the console's session cookie
    (bearer tokens, signed webhooks).
    """
    CSRF_EXEMPT_PATHS.append(re.compile(pattern))


def is_csrf_exempt(path: str) -> bool:
    return any(p.match(path) for p in CSRF_EXEMPT_PATHS)


def init_app(app: Flask) -> None:
    # Flask-WTF's own per-view check is replaced by the path rule below.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False

    @app.before_request
    def _csrf():
        if not app.config.get("WTF_CSRF_ENABLED", True):
            return None
        if request.method not in UNSAFE_METHODS or is_csrf_exempt(request.path):
            return None
        try:
            csrf.protect()
        except CSRFError as err:
            raise CsrfFailed(str(_l("The form has expired or was sent from another site. "
                                    "Reload the page and try again."))) from err
        return None

    csp = app.config.get("CONTENT_SECURITY_POLICY", DEFAULT_CSP)

    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", csp)
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE"):
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/console") and response.mimetype == "text/html":
            # pages show tenant data: never keep them in shared caches or history snapshots
            h.setdefault("Cache-Control", "no-store")
        return response
