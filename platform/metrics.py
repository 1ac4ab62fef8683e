"""Prometheus metrics on ``/metrics`` (docs/decisions/0063).

Requests are counted and timed by a thin WSGI wrapper, labelled by *area* (control API, console,
tenant API, tenant console, health, other), method and status class — never by tenant, path or user,
so the number of series stays fixed however many tenants an installation hosts. Fleet figures
(tenants by status, jobs by status, database pool use) are read from the control plane when
Prometheus scrapes.

Under gunicorn each worker counts for itself; set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
(recreated at every start) and the scrape sums every worker's counts. With ``SCHEMEHOST_METRICS_TOKEN``
set, ``/metrics`` asks for ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable

from flask import Blueprint, Flask, Response, current_app, request
from flask_babel import gettext as _
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text

from schemehost.platform.errors import Unauthorized
from schemehost.platform.extensions import db

bp = Blueprint("metrics", __name__)

# one process-wide registry: metric objects may be created only once per process, however many apps
# the process builds (the test suite builds several)
_REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("schemehost_http_requests", "HTTP requests answered, by area, method and status class",
                   ["area", "method", "status"], registry=_REGISTRY)
DURATION = Histogram("schemehost_http_request_duration_seconds",
                     "Time to the response's first byte, by area", ["area"], registry=_REGISTRY,
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: called with the slug of every request under ``/t/<slug>/`` (billing's request meter)
_TENANT_LISTENERS: list[Callable[[str], None]] = []


def on_tenant_request(listener: Callable[[str], None]) -> None:
    """Call ``listener(slug)`` once per request answered under ``/t/<slug>/`` (once per process)."""
    if listener not in _TENANT_LISTENERS:
        _TENANT_LISTENERS.append(listener)


def area_of(path: str) -> str:
    """The part of schemehost a path belongs to (a fixed, small set of values)."""
    if path.startswith("/t/"):
        rest = path.split("/", 3)[3] if path.count("/") >= 3 else ""
        return "tenant_api" if rest.startswith("api/") else "tenant_console"
    if path.startswith("/api/"):
        return "control_api"
    if path.startswith("/console"):
        return "console"
    if path in ("/healthz", "/readyz", "/metrics"):
        return "health"
    return "other"


class MetricsMiddleware:
    """Counts and times every request below the host rewrite (so host-routed tenants count as tenants)."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: list[str] = []

        def _start_response(status: str, headers, exc_info=None):
            seen.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, _start_response)
        finally:
            area = area_of(environ.get("PATH_INFO", ""))
            method = environ.get("REQUEST_METHOD", "")
            status = f"{seen[-1][0]}xx" if seen else "5xx"
            REQUESTS.labels(area, method if method in _METHODS else "other", status).inc()
            DURATION.labels(area).observe(time.perf_counter() - started)
            if area.startswith("tenant") and _TENANT_LISTENERS:
                slug = environ["PATH_INFO"].split("/", 3)[2]
                for listener in _TENANT_LISTENERS:
                    listener(slug)


class FleetCollector:
    """Gauges read from the control plane at scrape time: tenants and jobs by status, pool use."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self):
        tenants = GaugeMetricFamily("schemehost_tenants", "Tenants by status", labels=["status"])
        jobs = GaugeMetricFamily("schemehost_jobs", "Background jobs by status", labels=["status"])
        pool = GaugeMetricFamily("schemehost_db_connections_in_use",
                                 "Database connections checked out of this process's pools", labels=["pool"])
        with self.app.app_context():
            session = db.session
            try:
                for status, n in session.execute(text(
                        "SELECT status, count(*) FROM control.tenants GROUP BY status ORDER BY status")):
                    tenants.add_metric([status], n)
                for status, n in session.execute(text(
                        "SELECT status, count(*) FROM control.jobs GROUP BY status ORDER BY status")):
                    jobs.add_metric([status], n)
            finally:
                session.rollback()
            pool.add_metric(["control"], db.engine.pool.checkedout())
        yield tenants
        yield jobs
        yield pool


def _registry() -> CollectorRegistry:
    """The registry a scrape renders: this process's, or every worker's when multiprocess is on."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCounts())
    registry.register(FleetCollector(current_app._get_current_object()))
    return registry


class _ProcessCounts:
    def collect(self):
        yield from _REGISTRY.collect()


@bp.get("/metrics")
def metrics() -> Response:
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise Unauthorized(_("Metrics need the metrics token."),
                               errors={"Authorization": [_("a bearer token is required")]})
    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.wsgi_app = MetricsMiddleware(app.wsgi_app)
    app.register_blueprint(bp)
