"""Checks that only Python can do (phone numbers with ``phonenumbers``, national identifiers with
``python-stdnum``), run over batches of staged rows on every core.

Workers are separate processes (``spawn``: never a fork of a process holding database
connections and threads) that import only this module and the registry's normalizers. Small
files are checked in the calling process, where starting workers would cost more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

#: (row, phone, national_id) in; (row, phone E.164, national id compact) and problems out
Row = tuple[int, "str | None", "str | None"]
Problem = tuple[int, str, str, str, str]  # row, column, value, code, reason

BATCH = 20_000
#: below this many rows the checks run in the calling process
PARALLEL_FROM = 20_000


def check_rows(country: str | None, rows: list[Row]) -> tuple[list[Row], list[Problem]]:
    """Normalise the phones and national ids of ``rows``; a value that does not pass becomes a problem."""
    from schemehost.tenants.registry.validation import normalize_national_id, normalize_phone

    out: list[Row] = []
    problems: list[Problem] = []
    for row, phone, nid in rows:
        e164 = compact = None
        if phone:
            try:
                e164 = normalize_phone(phone, country)
            except ValueError as err:
                problems.append((row, "phone", phone, "invalid_phone", str(err)))
        if nid:
            try:
                compact = normalize_national_id(nid, country)
            except ValueError as err:
                problems.append((row, "national_id", nid, "invalid_national_id", str(err)))
        out.append((row, e164, compact))
    return out, problems


def workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 8))


def _warm() -> None:
    from schemehost.tenants.registry import validation  # noqa: F401  (imported once per worker)


def start_pool() -> ProcessPoolExecutor:
    """A pool of ``spawn``ed workers, already importing the normalizers (start it early: the
    imports then overlap with the staging)."""
    pool = ProcessPoolExecutor(max_workers=workers(), mp_context=multiprocessing.get_context("spawn"))
    for _ in range(workers()):
        pool.submit(_warm)
    return pool


def run_checks(country: str | None, batches: Iterable[list[Row]], *, total: int,
               pool: ProcessPoolExecutor | None = None) -> Iterator[tuple[list[Row], list[Problem]]]:
    """Results of :func:`check_rows` for each batch, in order; on every core when ``total`` is large
    (in ``pool`` if given, else in a pool started here). At most two batches per worker are in
    flight, so memory stays bounded."""
    if total < PARALLEL_FROM or workers() == 1:
        for batch in batches:
            yield check_rows(country, batch)
        return
    n = workers()
    own = pool is None
    pool = pool or start_pool()
    try:
        pending: list[Future] = []
        for batch in batches:
            pending.append(pool.submit(check_rows, country, batch))
            if len(pending) >= 2 * n:
                yield pending.pop(0).result()
        for fut in pending:
            yield fut.result()
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
