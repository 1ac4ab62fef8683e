"""Usage meters: what the daily metering job counts in each tenant, set-based, from the control plane.

A module registers its meters with :func:`register_meter` (the registry's are below; insurance, vouchers
and transfers add theirs when they exist). A meter is either a ``count_sql`` run against each tenant's
schema — one ``UNION ALL`` statement per batch of tenants, never loading rows — or a ``measure`` function
that answers for many schemas at once (storage). A meter whose ``tables`` a tenant lacks is skipped for
that tenant (an older schema, or a module the tenant does not have).

The billable quantity of a period is the **maximum daily value** measured in it (``billable`` converts the
stored value to the priced unit, e.g. megabytes to whole gigabytes, rounded up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from schemehost.platform.tenancy import quote_ident


@dataclass(frozen=True)
class Meter:
    code: str
    label: object  # lazily translated
    unit: object  # lazily translated, the priced unit
    #: SQL counting in one tenant; ``{schema}`` is replaced by the quoted schema name
    count_sql: str | None = None
    #: tables the count needs (in the tenant's schema)
    tables: tuple[str, ...] = ()
    #: ``measure(conn, schemas) -> {schema: value}`` for meters read from the catalogue
    measure: Callable[[Connection, list[str]], dict[str, int]] | None = None
    #: stored value -> priced quantity
    billable: Callable[[int], int] = lambda value: value
    #: values written as they happen by another part of schemehost (the request meter), not by the daily run
    external: bool = False
    #: how a period's daily values make its quantity (decision 0065): ``max`` — the highest day (things that
    #: exist: active people); ``increase`` — the values are readings of a running total (things that happen:
    #: vouchers redeemed), the quantity is the period's last reading minus the last one before it;
    #: ``sum`` — each day's value is that day's own amount (requests)
    aggregate: str = "max"


METERS: dict[str, Meter] = {}
AGGREGATES = ("max", "increase", "sum")


def period_quantity(meter: Meter | None, *, highest: int, total: int, before: int | None) -> int:
    """A period's quantity of ``meter`` from its daily values there (``highest``, ``total``) and the
    reading before the period (``before``; none counts as 0), as the meter's aggregate says (0065);
    an unknown meter counts its highest day."""
    aggregate = meter.aggregate if meter else "max"
    if aggregate == "sum":
        return total
    if aggregate == "increase":
        return max(0, highest - (before or 0))
    return highest


def register_meter(meter: Meter) -> Meter:
    """Add a meter to the registry (modules call this at import); a code is registered once."""
    if meter.aggregate not in AGGREGATES:
        raise ValueError(f"meter {meter.code!r}: aggregate is one of {', '.join(AGGREGATES)}")
    if meter.code in METERS and METERS[meter.code] != meter:
        raise ValueError(f"meter {meter.code!r} is already registered")
    if (meter.count_sql is None) == (meter.measure is None) and not (
            meter.external and meter.count_sql is None and meter.measure is None):
        raise ValueError("a meter has either count_sql or measure, or neither when it is external")
    METERS[meter.code] = meter
    return meter


#: relations sized per statement: ``pg_total_relation_size`` locks each table with its indexes and TOAST
#: until the statement ends
SIZE_BUDGET = 1000


def _storage(conn: Connection, schemas: list[str]) -> dict[str, int]:
    """Megabytes (rounded up) of each schema's tables with their indexes and TOAST.

    One catalogue query lists each schema's tables (and how many relations it holds); the sizes are then
    summed in statements of at most ``SIZE_BUDGET`` relations, on an autocommit connection, so that the
    locks ``pg_total_relation_size`` takes never pile up across a fleet (decision 0503)."""
    listing = conn.execute(text(
        "SELECT n.nspname, array_agg(c.oid) FILTER (WHERE c.relkind IN ('r', 'm', 'p')), count(c.oid) "
        "FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid "
        "WHERE n.nspname = ANY(:schemas) GROUP BY n.nspname"), {"schemas": schemas}).all()
    sizes = {schema: 0 for schema, _oids, _n in listing}
    names: list[str] = []
    oids: list[int] = []
    weight = 0

    def flush() -> None:
        nonlocal weight
        if oids:
            for schema, mb in conn.execute(text(
                    "SELECT s, ceil(coalesce(sum(pg_total_relation_size(o)), 0) / 1048576.0)::bigint "
                    "FROM unnest(CAST(:names AS text[]), CAST(:oids AS oid[])) AS u(s, o) GROUP BY s"),
                    {"names": names, "oids": oids}):
                sizes[schema] = int(mb)
        names.clear()
        oids.clear()
        weight = 0

    for schema, table_oids, relations in listing:
        if weight and weight + relations > SIZE_BUDGET:
            flush()
        for oid in table_oids or []:
            names.append(schema)
            oids.append(int(oid))
        weight += int(relations)
    flush()
    return sizes


register_meter(Meter("active_individuals", _l("Active individuals"), _l("individual"),
                     count_sql="SELECT count(*) FROM {schema}.individuals WHERE status = 'active'",
                     tables=("individuals",)))
register_meter(Meter("active_households", _l("Active households"), _l("household"),
                     count_sql="SELECT count(*) FROM {schema}.households WHERE status = 'active'",
                     tables=("households",)))
register_meter(Meter("storage_mb", _l("Storage"), _l("GB"), measure=_storage,
                     billable=lambda mb: math.ceil(mb / 1024)))

#: tenants per UNION ALL count statement: each statement locks its tables and their indexes (about 15
#: per tenant) until it ends, so a batch stays far below max_locks_per_transaction × connections
BATCH = 25


def measure_tenants(conn: Connection, tenants: list[tuple[int, str]]) -> list[tuple[int, str, int]]:
    """``(tenant_id, meter, value)`` of every meter for ``tenants`` (``(id, schema)`` pairs on the server
    ``conn`` is connected to): one count statement per batch of tenants, size statements of at most ``SIZE_BUDGET`` relations.
    ``conn`` should be in autocommit mode, so that no statement's locks outlive it."""
    if not tenants:
        return []
    schemas = [schema for _id, schema in tenants]
    for schema in schemas:
        quote_ident(schema)  # refuses anything but a schema name we generated
    present: dict[str, set[str]] = {}
    for schema, table in conn.execute(text(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p')"), {"schemas": schemas}):
        present.setdefault(schema, set()).add(table)
    results: list[tuple[int, str, int]] = []
    counted = [m for m in METERS.values() if m.count_sql]
    parts: list[str] = []

    def flush() -> None:
        if parts:
            results.extend((int(t), m, int(v)) for t, m, v in conn.execute(text(" UNION ALL ".join(parts))))
            parts.clear()

    for tenant_id, schema in tenants:
        tables = present.get(schema, set())
        for meter in counted:
            if all(t in tables for t in meter.tables):
                sql = meter.count_sql.format(schema=quote_ident(schema))
                parts.append(f"SELECT {int(tenant_id)}, '{meter.code}', ({sql})")
        if len(parts) >= BATCH * max(1, len(counted)):
            flush()
    flush()
    by_schema = {schema: tenant_id for tenant_id, schema in tenants}
    for meter in (m for m in METERS.values() if m.measure):
        for schema, value in meter.measure(conn, schemas).items():
            results.append((by_schema[schema], meter.code, value))
    return results


def store_usage(session: Session, rows: list[tuple[int, str, date, int]]) -> int:
    """Upsert ``(tenant_id, meter, day, value)`` rows: measuring a day again replaces its value."""
    from schemehost.platform.billing.models import Usage

    for start in range(0, len(rows), 5000):
        chunk = [{"tenant_id": t, "meter": m, "day": d, "value": v} for t, m, d, v in rows[start:start + 5000]]
        stmt = insert(Usage).values(chunk)
        session.execute(stmt.on_conflict_do_update(
            index_elements=[Usage.tenant_id, Usage.meter, Usage.day],
            set_={"value": stmt.excluded.value, "measured_at": text("now()")}))
    return len(rows)
