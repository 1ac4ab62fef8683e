"""The operator console: layout, languages, security headers, CSRF and sign-in guard.

``init_app`` wires everything the console pages need; each capability keeps
its own pages in its ``views.py`` (blueprints named ``console_<capability>``)
and templates under ``platform/templates/<capability>/`` extending ``base.html``.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask, redirect, url_for

bp = Blueprint("console", __name__, url_prefix="/console")


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


#: Console settings: app config key -> (environment variable, type, default).
SETTINGS = {
    "CONSOLE_SESSION_HOURS": ("SCHEMEHOST_CONSOLE_SESSION_HOURS", int, 12),
    "CONSOLE_BUILD_INLINE": ("SCHEMEHOST_CONSOLE_BUILD_INLINE", _flag, False),
}


def _settings(app: Flask) -> None:
    """Console settings from the app config, else the environment, else their defaults."""
    for key, (env, cast, default) in SETTINGS.items():
        if key not in app.config:
            app.config[key] = cast(os.environ[env]) if os.environ.get(env) else default


@bp.get("/")
def home():
    return redirect(url_for("console_tenants.index"))


def init_app(app: Flask) -> None:
    from schemehost.platform.console import i18n, security
    from schemehost.platform.operators import mfa_views, sessions
    from schemehost.platform.operators.views import bp as auth_bp
    from schemehost.platform.tenants.views import bp as tenants_bp

    _settings(app)
    security.init_app(app)
    i18n.init_app(app)
    sessions.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(auth_bp)
    mfa_views.init_app(app)  # second sign-in step (TOTP)
    app.register_blueprint(tenants_bp)
    app.add_url_rule("/", "root", lambda: redirect(url_for("console.home")))
