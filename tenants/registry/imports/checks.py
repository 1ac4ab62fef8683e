"""Checks that only Python can do (phone numbers with ``phonenumbers``, national identifiers with
``python-stdnum``), run over batches of staged rows on every core.

Workers are separate processes (``spawn``: never a fork of a process holding database
connections and threads) that import only this module and the registry's normalizers. Small
files are checked in the calling process, where starting workers would cost more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

#: (row, phone, national_id) in; (row, phone E.164, national id compact) and problems out
Row = tuple[int, "str | None", "str | None"]
Problem = tuple[int, str, str, str, str]  # row, column, value, code, reason

BATCH = 20_000
#: longest E.164 number kept (validation.PHONE_LENGTH; not imported here: workers import little)
PHONE_LENGTH = 20
#: below this many rows the checks run in the calling process
PARALLEL_FROM = 20_000


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def e164_as_given(value: str) -> str | None:
    """``value`` itself when it is already a valid number written in E.164 (``+237670000001``) and
    ``phonenumbers.parse`` would read it as exactly that number; else None (the caller then goes
    the full way, :func:`~..validation.normalize_phone`, which also words the refusal).

    Parsing is most of a phone check's cost; a number already written in E.164 is rebuilt from its
    digits instead. That is the parser's result only when the parser strips no national prefix:
    the country's metadata has none, or only "0" and the number does not start with 0
    (decision 0127; a test compares both ways)."""
    import phonenumbers
    from phonenumbers.phonemetadata import PhoneMetadata

    if len(value) > PHONE_LENGTH or not _E164.fullmatch(value):
        return None
    digits = value[1:]
    for n in (1, 2, 3):  # country calling codes are prefix-free
        cc = int(digits[:n])
        if cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[n:]
    if not national or national[0] == "0":
        return None
    meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, phonenumbers.region_code_for_country_code(cc))
    if meta is None or meta.national_prefix_for_parsing not in (None, "0"):
        return None
    number = phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value:
        return None
    return value


def check_rows(country: str | None, rows: list[Row]) -> tuple[list[Row], list[Problem]]:
    """Normalise the phones and national ids of ``rows``; a value that does not pass becomes a problem."""
    from schemehost.tenants.registry.validation import normalize_national_id, normalize_phone

    out: list[Row] = []
    problems: list[Problem] = []
    for row, phone, nid in rows:
        e164 = compact = None
        if phone:
            try:
                e164 = e164_as_given(phone) or normalize_phone(phone, country)
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
