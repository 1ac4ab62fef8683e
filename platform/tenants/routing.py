"""Finding the tenant of a request and answering for its lifecycle status.

Three ways in, one set of routes: path ``/t/<slug>/...`` (always), host
``<slug>.<BASE_DOMAIN>``, or a verified custom domain. The host forms are
rewritten to the path form by ``HostRewriteMiddleware`` before Flask routes.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from typing import Callable

from flask import Flask, g, request
from flask_babel import gettext as _
from sqlalchemy import String, any_, bindparam, event, inspect, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from schemehost.platform.errors import Gone, Locked, NotFound, Unavailable
from schemehost.platform.extensions import db
from schemehost.platform.tenancy import SLUG_RE, TenantRef
from schemehost.platform.tenants.models import DatabaseServer, Domain, Tenant, TenantStatus

TENANT_PATH = re.compile(r"^/t/([^/]+)(/.*)?$")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths (below /t/<slug>/) that keep working while a tenant is suspended or
# read-only, so that paying resumes it: payment callbacks and webhooks, the
# billing page, and signing in.
ALWAYS_OPEN = ("payments/callbacks", "webhooks", "billing", "login", "logout", "oauth")


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
            prefix = f"/t/{slug}"
            # links built by url_for already carry the tenant's own prefix: keep them as they are
            if not (path == prefix or path.startswith(prefix + "/")):
                environ["PATH_INFO"] = f"{prefix}{path if path.startswith('/') else '/' + path}"
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


def _ref_query():
    # Core columns, not ORM attributes: the refresh re-reads up to thousands of rows every second
    t, srv = Tenant.__table__, DatabaseServer.__table__
    return (select(t.c.id, t.c.slug, t.c.name, t.c.status, t.c.schema_name, t.c.role_name, t.c.server_id,
                   t.c.locale, t.c.timezone, t.c.currency, srv.c.dsn)
            .join(srv, srv.c.id == t.c.server_id))


_ONE_REF = _ref_query().where(Tenant.__table__.c.slug == bindparam("slug"))
_SOME_REFS = _ref_query().where(Tenant.__table__.c.slug == any_(bindparam("slugs", type_=ARRAY(String))))


def load_tenant_ref(slug: str) -> TenantRef | None:
    """The tenant at ``slug`` read from the control plane now (no cache)."""
    row = db.session.execute(_ONE_REF, {"slug": slug}).first()
    return TenantRef(*row) if row else None


class TenantRefCache:
    """Per-process cache of the tenant refs that requests use, never more than ``ttl`` seconds old.

    Every ``ttl`` seconds all cached refs are re-read together in one query, so
    a status change made anywhere — another process, the CLI, a job, plain
    SQL — is obeyed within ``ttl``; a change committed through an ORM session
    in this process drops the entry at once (``forget``). Refs unused for
    ``idle`` seconds (default a minute) are dropped, so the refresh reads only the tenants in use.
    Unknown slugs are never cached: a new tenant answers as soon as it is
    committed. ``ttl`` 0 turns the cache off.
    """

    def __init__(self, ttl: float, *, idle: float = 60.0, max_entries: int = 50_000,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl, self.idle, self.max_entries, self.clock = ttl, idle, max_entries, clock
        self._refs: dict[str, TenantRef] = {}
        self._used: dict[str, float] = {}  # slug -> last use
        self._refreshed = clock()
        self._lock = threading.Lock()

    def get(self, slug: str) -> TenantRef | None:
        """The ref of ``slug``, loaded with the caller's (control) session when not cached."""
        if self.ttl <= 0:
            return load_tenant_ref(slug)
        now = self.clock()
        if now - self._refreshed >= self.ttl:
            self.refresh()
        ref = self._refs.get(slug)
        if ref is None:
            ref = load_tenant_ref(slug)
            if ref is None:
                return None
            if len(self._refs) < self.max_entries:
                self._refs[slug] = ref
        self._used[slug] = now
        return ref

    def refresh(self) -> None:
        """Re-read every ref used in the last ``idle`` seconds (one query per 10,000); drop the rest."""
        with self._lock:
            now = self.clock()
            if now - self._refreshed < self.ttl:
                return  # another thread has just refreshed
            keep = [slug for slug, used in list(self._used.items()) if now - used < self.idle and slug in self._refs]
            refs: dict[str, TenantRef] = {}
            for start in range(0, len(keep), 10_000):
                rows = db.session.execute(_SOME_REFS, {"slugs": keep[start:start + 10_000]}).all()
                refs.update((row.slug, TenantRef(*row)) for row in rows)
            used = self._used
            self._refs, self._used = refs, {slug: used.get(slug, now) for slug in refs}
            self._refreshed = now

    def forget(self, slugs) -> None:
        for slug in slugs:
            self._refs.pop(slug, None)

    def reset(self) -> None:
        """Empty the cache and start a new period now."""
        with self._lock:
            self._refs, self._used, self._refreshed = {}, {}, self.clock()


# Slugs of tenants changed through ORM sessions of this process, forgotten by
# every TenantRefCache once the change is committed.
_caches: "weakref.WeakSet[TenantRefCache]" = weakref.WeakSet()


@event.listens_for(Session, "after_flush")
def _note_changed_tenants(session, flush_context) -> None:
    changed = {inspect(obj).dict.get("slug") for obj in (*session.dirty, *session.deleted, *session.new)
               if isinstance(obj, Tenant)}
    changed.discard(None)
    if changed:
        session.info.setdefault("schemehost.changed_tenants", set()).update(changed)


@event.listens_for(Session, "after_commit")
def _forget_changed_tenants(session) -> None:
    changed = session.info.pop("schemehost.changed_tenants", None)
    if changed:
        for cache in list(_caches):
            cache.forget(changed)


@event.listens_for(Session, "after_soft_rollback")
def _drop_changed_tenants(session, previous_transaction) -> None:
    if not session.in_transaction():
        session.info.pop("schemehost.changed_tenants", None)


def is_open_path(rest: str) -> bool:
    """Whether a tenant path (after ``/t/<slug>``) stays open for a suspended or read-only tenant;
    matched on whole path segments, so ``/loginfoo`` is not ``/login``."""
    path = rest.strip("/")
    return any(path == p or path.startswith(p + "/") for p in ALWAYS_OPEN)


def check_status(tenant: TenantRef | None, slug: str, method: str, rest: str) -> None:
    """Raise the problem a request to this tenant gets for its status (nothing if it may go on)."""
    if tenant is None or tenant.status == TenantStatus.failed:
        raise NotFound(_("There is no scheme at '%(slug)s'.", slug=slug))
    open_path = is_open_path(rest)
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
    ttl = float(app.config["TENANT_CACHE_TTL_S"])
    if not 0 <= ttl <= 2:
        raise ValueError("TENANT_CACHE_TTL_S must be between 0 and 2 seconds")
    refs = TenantRefCache(ttl)
    _caches.add(refs)
    app.extensions["schemehost.tenant_refs"] = refs
    lookup = CustomDomainCache(app)
    app.extensions["schemehost.domains"] = lookup
    app.wsgi_app = HostRewriteMiddleware(app.wsgi_app, app.config["BASE_DOMAIN"], lookup)

    @app.before_request
    def _resolve_tenant():
        match = TENANT_PATH.match(request.path)
        if not match:
            return None
        slug, rest = match.group(1), match.group(2) or "/"
        tenant = refs.get(slug) if SLUG_RE.match(slug) else None
        check_status(tenant, slug, request.method, rest)
        g.tenant = tenant
        return None
