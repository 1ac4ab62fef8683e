"""Finding the tenant of a request and answering for its lifecycle status.

Three ways in, one set of routes: path ``/t/<slug>/...`` (always), host
``<slug>.<BASE_DOMAIN>``, or a verified custom domain. The host forms are
rewritten to the path form by ``HostRewriteMiddleware`` before Flask routes.
"""

from __future__ import annotations

import re
import time
from typing import Callable

from flask import Flask, g, request
from flask_babel import gettext as _
from sqlalchemy import select

from schemehost.platform.errors import Gone, Locked, NotFound, Unavailable
from schemehost.platform.extensions import db
from schemehost.platform.tenancy import SLUG_RE, TenantRef
from schemehost.platform.tenants.models import Domain, Tenant, TenantStatus

TENANT_PATH = re.compile(r"^/t/([^/]+)(/.*)?$")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths (below /t/<slug>/) that keep working while a tenant is suspended or
# read-only, so that paying resumes it: payment callbacks and webhooks, the
# billing page, and signing in.
ALWAYS_OPEN = ("payments/callbacks", "webhooks", "billing", "login", "logout", "oauth/token")


class HostRewriteMiddleware:
    """Rewrites ``<slug>.<base>/x`` and verified custom domains to ``/t/<slug>/x``."""

    def __init__(self, wsgi_app, base_domain: str, custom_domain_lookup: Callable[[str], str | None]):
        self.wsgi_app = wsgi_app
        self.suffix = "." + base_domain.lower().strip(".")
        self.base = base_domain.lower().strip(".")
        self.lookup = custom_domain_lookup

    def __call__(self, environ, start_response):
        host = (environ.get("HTTP_HOST") or "").split(":", 1)[0].lower().rstrip(".")
        slug = None
        if host and host not in (self.base, "www" + self.suffix, "localhost", "127.0.0.1"):
            if host.endswith(self.suffix):
                label = host[: -len(self.suffix)]
                if SLUG_RE.match(label):
                    slug = label
            else:
                slug = self.lookup(host)
        path = environ.get("PATH_INFO", "")
        if slug and not path.startswith(("/static/", "/healthz", "/readyz", "/metrics")):
            environ["PATH_INFO"] = f"/t/{slug}{path if path.startswith('/') else '/' + path}"
            environ["schemehost.routed_by"] = "host"
        return self.wsgi_app(environ, start_response)


class CustomDomainCache:
    """Verified custom domains, re-read from the control plane at most every ``ttl`` seconds."""

    def __init__(self, app: Flask, ttl: float = 30.0):
        self.app, self.ttl = app, ttl
        self._map: dict[str, str] = {}
        self._loaded = 0.0

    def __call__(self, host: str) -> str | None:
        if time.monotonic() - self._loaded > self.ttl:
            self.refresh()
        return self._map.get(host)

    def refresh(self) -> None:
        with self.app.app_context():
            rows = db.session.execute(
                select(Domain.host, Tenant.slug).join(Tenant, Tenant.id == Domain.tenant_id)
                .where(Domain.verified_at.is_not(None))
            ).all()
            db.session.rollback()
        self._map = {h.lower(): s for h, s in rows}
        self._loaded = time.monotonic()


def load_tenant_ref(slug: str) -> TenantRef | None:
    row = db.session.execute(
        select(Tenant.id, Tenant.slug, Tenant.name, Tenant.status, Tenant.schema_name, Tenant.role_name,
               Tenant.server_id, Tenant.locale, Tenant.timezone, Tenant.currency)
        .where(Tenant.slug == slug)
    ).first()
    return TenantRef(*row) if row else None


def check_status(tenant: TenantRef | None, slug: str, method: str, rest: str) -> None:
    """Raise the problem a request to this tenant gets for its status (nothing if it may go on)."""
    if tenant is None or tenant.status == TenantStatus.failed:
        raise NotFound(_("There is no scheme at '%(slug)s'.", slug=slug))
    open_path = rest.lstrip("/").startswith(ALWAYS_OPEN)
    if tenant.status == TenantStatus.provisioning:
        raise Unavailable(_("This scheme is being set up; try again in a few seconds."),
                          headers={"Retry-After": "5"})
    if tenant.status == TenantStatus.archived:
        raise Gone(_("This scheme has been archived."))
    if tenant.status == TenantStatus.suspended and not open_path:
        raise Locked(_("This scheme is suspended. Its billing page and sign-in remain available."),
                     tenant_status=tenant.status)
    if tenant.status == TenantStatus.read_only and method not in READ_METHODS and not open_path:
        raise Locked(_("This scheme is read-only; changes are not accepted at the moment."),
                     tenant_status=tenant.status)


def init_app(app: Flask) -> None:
    lookup = CustomDomainCache(app)
    app.extensions["schemehost.domains"] = lookup
    app.wsgi_app = HostRewriteMiddleware(app.wsgi_app, app.config["BASE_DOMAIN"], lookup)

    @app.before_request
    def _resolve_tenant():
        match = TENANT_PATH.match(request.path)
        if not match:
            return None
        slug, rest = match.group(1), match.group(2) or "/"
        tenant = load_tenant_ref(slug) if SLUG_RE.match(slug) else None
        check_status(tenant, slug, request.method, rest)
        g.tenant = tenant
        return None
