"""Which tenant modules answer: a module the tenant has not enabled answers 404 and has no menu entries.

A tenant's enabled modules are its ``modules`` setting (from its template; the settings API changes
it). A blueprint of a module declares it with ``bind_to_tenant(bp, module="vouchers")`` (or
``tenant_blueprint(..., module=...)``); one ``before_request`` (:func:`init_app`, right after the
tenant is resolved) answers 404 — problem+json under the API, the console's 404 page elsewhere —
when the request's blueprint belongs to a module not enabled. Blueprints with no module (identity,
settings, the registry, billing) always answer, and so does the registry (:data:`ALWAYS_ON`).

The setting is read at most once per ``TENANT_CACHE_TTL_S`` per tenant and process
(:class:`EnabledModulesCache`, decision 0230): on the hot path the gate costs a dict lookup, no
query. A change through :func:`schemehost.tenants.core.services.put_setting` in this process is
obeyed at its commit; one made elsewhere within the TTL, like a tenant's status (decision 0061).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from flask import Flask, current_app, g, request
from flask_babel import gettext as _
from sqlalchemy import event, select

from schemehost.platform.errors import NotFound
from schemehost.platform.tenancy import TenantSession

#: Modules every tenant has, whatever its setting says.
ALWAYS_ON = frozenset({"registry"})

#: Blueprint name -> the module it belongs to (filled by ``bind_to_tenant(bp, module=...)``).
BLUEPRINT_MODULES: dict[str, str] = {}

#: ``session.info`` key noting that a transaction changed the ``modules`` setting.
CHANGED = "schemehost.modules_changed"


def declare(blueprint_name: str, module: str) -> None:
    """Say that ``blueprint_name``'s routes and menu entries belong to ``module``."""
    from schemehost.platform.permissions import MODULES

    if module not in MODULES:
        raise ValueError(f"unknown module {module!r}")
    BLUEPRINT_MODULES[blueprint_name] = module


class EnabledModulesCache:
    """Per-process cache of each tenant's enabled modules (by tenant schema), never older than ``ttl``
    seconds; ``ttl`` 0 reads the setting on every request."""

    def __init__(self, ttl: float, *, max_entries: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def get(self, schema: str, load: Callable[[], frozenset[str]]) -> frozenset[str]:
        now = self.clock()
        entry = self._entries.get(schema)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        modules = load()
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl}
                if len(self._entries) < self.max_entries:
                    self._entries[schema] = (now, modules)
        return modules

    def forget(self, schema: str) -> None:
        self._entries.pop(schema, None)

    def reset(self) -> None:
        self._entries = {}


_caches: list[EnabledModulesCache] = []


def read_modules(session) -> frozenset[str]:
    """The tenant's ``modules`` setting, read now, plus :data:`ALWAYS_ON`."""
    from schemehost.tenants.core.models import Setting

    value = session.execute(select(Setting.value).where(Setting.key == "modules")).scalar_one_or_none()
    return frozenset(v for v in (value or []) if isinstance(v, str)) | ALWAYS_ON


def enabled_modules() -> frozenset[str]:
    """The current request's tenant's enabled modules (cached; see the module docstring)."""
    modules = g.get("enabled_modules")
    if modules is None:
        from schemehost.platform.tenancy import tenant_session

        tenant = g.tenant
        cache: EnabledModulesCache = current_app.extensions["schemehost.enabled_modules"]
        modules = g.enabled_modules = cache.get(tenant.schema_name, lambda: read_modules(tenant_session()))
    return modules


def module_enabled(module: str | None) -> bool:
    """Whether ``module`` (None: a part every tenant has) answers for the current request's tenant."""
    return module is None or module in ALWAYS_ON or module in enabled_modules()


def endpoint_enabled(endpoint: str) -> bool:
    """Whether the blueprint of ``endpoint`` (e.g. a menu entry's) answers for the current tenant."""
    return module_enabled(BLUEPRINT_MODULES.get(endpoint.rpartition(".")[0]))


def note_changed(session) -> None:
    """Called by ``put_setting("modules", ...)``: forget the tenant's cached modules at commit."""
    session.info[CHANGED] = True


@event.listens_for(TenantSession, "after_commit")
def _forget_after_commit(session) -> None:
    if session.info.pop(CHANGED, None):
        schema = session.info.get("tenant_schema")
        for cache in _caches:
            cache.forget(schema)


@event.listens_for(TenantSession, "after_soft_rollback")
def _drop_note(session, previous_transaction) -> None:
    session.info.pop(CHANGED, None)


def init_app(app: Flask) -> None:
    """Register the gate; call right after tenant routing (before authentication), so a disabled
    module answers 404 to everyone."""
    cache = EnabledModulesCache(float(app.config["TENANT_CACHE_TTL_S"]))
    _caches.append(cache)
    app.extensions["schemehost.enabled_modules"] = cache

    @app.before_request
    def _module_gate():
        if g.get("tenant") is None or g.tenant.role_name is None:
            return None
        module = BLUEPRINT_MODULES.get(request.blueprint or "")
        if module is not None and not module_enabled(module):
            raise NotFound(_("This scheme does not use this module."))
        return None
