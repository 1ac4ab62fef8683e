"""Requests per tenant per day, for the cost-of-service report (meter ``api_requests``).

Every web process counts the requests answered under ``/t/<slug>/`` in memory (the metrics middleware
calls :func:`count`) and adds its counts to ``billing_usage`` about once a minute from a background
thread, and once more when the process exits. One ``INSERT ... ON CONFLICT`` per flush adds to the
tenant's row of the day (the tenant's local date); slugs that are not tenants are dropped there. A
process killed without warning loses at most its last minute of counts: the figure is for pricing and
capacity planning, not for billing by the request (decision 0064).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import Counter

from flask import Flask
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from schemehost.platform.billing.meters import Meter, register_meter
from schemehost.platform.billing.models import Usage

log = logging.getLogger(__name__)

METER = "api_requests"
# counted here, not by the daily metering run (no count_sql, no measure); a plan may still price it
register_meter(Meter(METER, _l("Requests"), _l("request"), external=True, aggregate="sum"))
#: distinct slugs held between flushes; requests for more (e.g. a scan of made-up slugs) are not counted
MAX_PENDING = 10_000

_lock = threading.Lock()
_pending: Counter[str] = Counter()
_app: Flask | None = None
_every_s = 0.0
_flusher_pid: int | None = None  # the process whose flush thread runs (threads do not survive a fork)

_FLUSH_SQL = text(
    f"INSERT INTO {Usage.__table__.fullname} AS u (tenant_id, meter, day, value, measured_at) "
    "SELECT t.id, :meter, (now() AT TIME ZONE t.timezone)::date, c.n, now() "
    "FROM unnest(CAST(:slugs AS text[]), CAST(:counts AS bigint[])) AS c(slug, n) "
    "JOIN control.tenants t ON t.slug = c.slug "
    # rows locked in one order by every process: two flushes of overlapping tenants wait, never deadlock
    "ORDER BY t.id "
    "ON CONFLICT (tenant_id, meter, day) DO UPDATE SET value = u.value + EXCLUDED.value, "
    "measured_at = EXCLUDED.measured_at")


def count(slug: str) -> None:
    """One request answered for tenant ``slug``."""
    if not slug:
        return
    if _flusher_pid != os.getpid() and _every_s > 0:
        _start_flusher()
    with _lock:
        if slug in _pending or len(_pending) < MAX_PENDING:
            _pending[slug] += 1


def flush(app: Flask) -> int:
    """Add the counts held by this process to ``billing_usage``; returns the requests written."""
    with _lock:
        taken = dict(_pending)
        _pending.clear()
    if not taken:
        return 0
    from schemehost.platform.extensions import db

    try:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(_FLUSH_SQL, {"meter": METER, "slugs": list(taken), "counts": list(taken.values())})
    except Exception:  # database away: keep the counts for the next flush rather than lose them
        log.warning("request counts not written; kept for the next flush", exc_info=True)
        with _lock:
            _pending.update(taken)
        return 0
    return sum(taken.values())


def _run(app: Flask, every_s: float, stop: threading.Event) -> None:
    while not stop.wait(every_s):
        flush(app)


def _start_flusher() -> None:
    global _flusher_pid
    with _lock:
        if _flusher_pid == os.getpid() or _app is None:
            return
        _flusher_pid = os.getpid()
    app, stop = _app, threading.Event()
    threading.Thread(target=_run, args=(app, _every_s, stop), name="request-meter", daemon=True).start()
    atexit.register(lambda: (stop.set(), flush(app)))


def start(app: Flask) -> None:
    """Count tenant requests in this process; a thread started by the first one (in each worker, after
    any fork) flushes them every ``REQUEST_METER_FLUSH_S`` seconds (0: only when :func:`flush` is called)."""
    global _app, _every_s
    from schemehost.platform import metrics

    _app = app
    _every_s = float(app.config.get("REQUEST_METER_FLUSH_S") or 0)
    metrics.on_tenant_request(count)
