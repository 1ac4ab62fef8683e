"""Reading the tenant's audit log: filters, keyset pages (newest first) and batched export.

Entries are only ever read here; there is no service that changes or deletes
one (and the database refuses it, see ``migrations/tenant`` t0002).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity.models import AuditEntry

MAX_PAGE = 500
EXPORT_BATCH = 1000

#: Export columns, in order.
CSV_COLUMNS = ("id", "at", "actor_type", "actor_id", "actor_name", "action", "entity_type", "entity_id",
               "before", "after", "details", "request_id", "ip")
# a cell starting with one of these is a formula for a spreadsheet: CSV injection
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every field is optional and they combine with AND. ``since`` is inclusive,
    ``until`` exclusive (both aware datetimes)."""

    actor_type: str | None = None
    actor_id: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    #: the cursor of the next (older) page, None on the last page
    next: str | None


def time_range(start: date | datetime | None, end: date | datetime | None, timezone: str) -> tuple[datetime | None, datetime | None]:
    """``[since, until)`` for a "from"/"to" filter: a date is a whole day in the tenant's time zone
    (so "to" includes its day), a datetime without offset is read in that zone."""
    tz = ZoneInfo(timezone)

    def aware(value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)

    since = until = None
    if isinstance(start, datetime):
        since = aware(start)
    elif isinstance(start, date):
        since = datetime.combine(start, time.min, tzinfo=tz)
    if isinstance(end, datetime):
        until = aware(end)
    elif isinstance(end, date):
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    if since is not None and until is not None and until <= since:
        message = _("The end of the period must come after its start.")
        raise ValidationError(message, errors={"to": [message]})
    return since, until


def parse_cursor(value: str | None) -> int | None:
    """The id a page starts below; field error for anything but a cursor this service handed out."""
    if value in (None, ""):
        return None
    if not value.isdigit() or not 0 < int(value) < 2**63:
        message = _("This is not a cursor from a previous page.")
        raise ValidationError(message, errors={"cursor": [message]})
    return int(value)


def _filtered(stmt: Select, f: AuditFilter) -> Select:
    for column in ("actor_type", "actor_id", "action", "entity_type", "entity_id"):
        value = getattr(f, column)
        if value:
            stmt = stmt.where(getattr(AuditEntry, column) == value)
    if f.since is not None:
        stmt = stmt.where(AuditEntry.at >= f.since)
    if f.until is not None:
        stmt = stmt.where(AuditEntry.at < f.until)
    return stmt


def list_audit(session: Session, filters: AuditFilter = AuditFilter(), *, cursor: str | None = None,
               limit: int = 50) -> AuditPage:
    """One page of entries matching ``filters``, newest first, starting below ``cursor``.

    Keyset pagination on the id: a page costs the same however deep it is, and
    entries written meanwhile never shift the pages an auditor is reading.
    """
    limit = max(1, min(limit, MAX_PAGE))
    below = parse_cursor(cursor)
    stmt = _filtered(select(AuditEntry), filters)
    if below is not None:
        stmt = stmt.where(AuditEntry.id < below)
    rows = list(session.execute(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, str(rows[-1].id) if more else None)


def iter_audit(session: Session, filters: AuditFilter = AuditFilter(), *,
               batch: int = EXPORT_BATCH) -> Iterator[Any]:
    """Every matching entry (as a row), newest first, read in keyset batches of ``batch``: memory
    stays constant however long the log, and no query holds a cursor open between batches."""
    table = AuditEntry.__table__
    base = _filtered(select(*(table.c[name] for name in CSV_COLUMNS)), filters).order_by(table.c.id.desc())
    below = None
    while True:
        stmt = base if below is None else base.where(table.c.id < below)
        rows = session.execute(stmt.limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        below = rows[-1].id


def entry_dict(entry: Any) -> dict[str, Any]:
    """An entry as the API returns it."""
    return {name: getattr(entry, name) for name in CSV_COLUMNS}


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_chunks(rows: Iterator[Any], *, rows_per_chunk: int = 500) -> Iterator[str]:
    """The export as CSV text, a header line then chunks of ``rows_per_chunk`` lines.

    Text cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    n = 0
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in CSV_COLUMNS])
        n += 1
        if n % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
