"""The application factory."""

from __future__ import annotations

import logging

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g

from schemehost.platform import errors, logging as applog
from schemehost.platform.config import Config, TestingConfig, instance_file
from schemehost.platform.database import resolve_url
from schemehost.platform.extensions import api, babel, csrf, db, login_manager
from schemehost.platform.tenancy import keep_prepared_statements


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI app; ``test_config`` overrides settings (and selects TestingConfig)."""
    cfg = TestingConfig() if test_config is not None else Config()
    settings = {k: v for k, v in vars(cfg).items() if k.isupper()}
    settings.update(test_config or {})
    instance = Path(settings["SCHEMEHOST_INSTANCE"]).resolve()
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=False)
    app.config.update(settings)
    app.config["TESTING"] = cfg.TESTING or bool(settings.get("TESTING"))
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_file(instance, "secret_key", lambda: secrets.token_urlsafe(48))

    app.config["SQLALCHEMY_DATABASE_URI"] = resolve_url(app.config.get("DATABASE_URL"), instance)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        # off by default: one round trip per request saved; a connection broken by a database restart
        # fails one request (503, Retry-After) and the pool is renewed (decision 0091)
        "pool_pre_ping": app.config["POOL_PRE_PING"],
        # error messages (and so logs) never carry a statement's values, which may be personal data
        "hide_parameters": True,
        "pool_recycle": app.config["POOL_RECYCLE_S"],
        "pool_size": app.config["POOL_SIZE"],
        "max_overflow": app.config["POOL_SIZE"],
    }

    applog.init_app(app)
    from schemehost.platform import passwords

    if passwords.COST != "standard":
        logging.getLogger("schemehost.passwords").warning(
            "passwords are hashed at the %s cost (SCHEMEHOST_PASSWORD_HASH_COST): for test suites only", passwords.COST)
    db.init_app(app)
    with app.app_context():  # tenants on the main database use its engine too
        keep_prepared_statements(db.engine, app.config["PREPARED_MAX"])
    babel.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    api.init_app(app)
    _request_boundary(app)

    from schemehost.platform.health import bp as health_bp
    from schemehost.platform.operators import auth as operator_auth

    from schemehost.platform.tenants import routing

    from schemehost.platform import metrics

    metrics.init_app(app)  # wrapped before the host rewrite below, so it sees the rewritten paths
    routing.init_app(app)  # before auth: an unknown or archived tenant answers 404/410 first
    from schemehost.tenants import modules as tenant_modules

    tenant_modules.init_app(app)  # then a module the tenant has not enabled answers 404 (decision 0230)
    operator_auth.init_app(app)
    from schemehost.platform import ratelimit
    from schemehost.tenants import console as tenant_console
    from schemehost.tenants import identity, registry

    ratelimit.init_app(app)
    identity.init_app(app)  # after routing: resolves g.principal for the request's tenant
    registry.init_app(app)  # locations, facilities, catalogue, price lists
    from schemehost.tenants import insurance

    insurance.init_app(app)  # products, policies, contributions, eligibility
    from schemehost.tenants import vouchers

    vouchers.init_app(app)  # programmes, issuance, redemption (needs the registry)
    from schemehost.tenants import payments

    payments.init_app(app)  # gateways, bills, callbacks, reconciliation (shared by every module)
    from schemehost.tenants import transfers

    transfers.init_app(app)  # programmes, enrolment, cycles, payrolls (pays through payments)
    app.register_blueprint(health_bp)
    from schemehost.platform import console

    console.init_app(app)  # console pages, languages, CSRF by path, security headers
    tenant_console.init_app(app)
    from schemehost.platform.jobs.api import bp as jobs_api

    api.register_blueprint(jobs_api)
    from schemehost.platform.tenants.api import bp as tenants_api
    from schemehost.tenants.core.api import bp as tenant_core_api

    api.register_blueprint(tenants_api)
    api.register_blueprint(tenant_core_api)
    from schemehost.platform import billing

    billing.init_app(app)  # control API, tenant billing page and API, Stripe webhook

    errors.init_app(app)  # last: replaces flask-smorest's JSON error handler with problem+json
    return app


def _request_boundary(app: Flask) -> None:
    """One place commits: the end of a successful request; anything else rolls back."""

    @app.after_request
    def _commit(response):
        tsession = g.get("tenant_session")
        # the control session only when this request used it (most tenant requests never do)
        control = db.session if db.session.registry.has() else None
        if response.status_code < 400:
            if tsession is not None:
                tsession.commit()
            if control is not None:
                control.commit()
        else:
            if tsession is not None:
                tsession.rollback()
            if control is not None:
                control.rollback()
        return response

    @app.teardown_appcontext
    def _close(exc):
        tsession = g.pop("tenant_session", None)
        if tsession is not None:
            tsession.close()
