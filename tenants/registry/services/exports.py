"""Exports of registry lists (locations, facilities, households, individuals, prices) as CSV or XLSX.

CSV is written by PostgreSQL itself (``COPY (SELECT ...) TO STDOUT``, every column cast to text in
the import's format) and passed on chunk by chunk; XLSX rows come from a server-side cursor in
batches (``yield_per``) through ``xlsxwriter`` in ``constant_memory`` mode into a temporary file
that is then streamed. Memory does not grow with the list. The columns are the import's columns
(same names, same value formats), so an exported file imports again unchanged. The list's
filters apply, and people and households are limited to the principal's locations
(``restrict_to_locations``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, aliased

from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry.models import CatalogueEntry, HealthFacility, Location, PriceList, PriceListLine
from schemehost.tenants.registry.people import Household, Individual, PersonStatus

BATCH = 10_000
FORMATS = ("csv", "xlsx")
LISTS = ("locations", "facilities", "households", "individuals", "prices")
#: filters each list accepts (query-string names)
FILTERS: dict[str, tuple[str, ...]] = {
    "locations": ("within", "level"),
    "facilities": ("within", "status", "level"),
    "households": ("within", "status"),
    "individuals": ("within", "status", "sex", "household"),
    "prices": ("price_list", "facility"),
}


@dataclass(frozen=True)
class Export:
    """A list ready to stream: its column names and the statement giving its rows in that order."""

    name: str
    columns: list[str]
    stmt: Select
    #: XLSX cells of numbers as numbers (a statement's amounts), not text as the import templates want
    typed: bool = False


def _within(column, root: Any):
    from schemehost.tenants.registry.services.locations import in_subtree

    return in_subtree(column, int(root))


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        message = _("A whole number.")
        raise ValidationError(message, errors={field: [message]}) from None


def build_export(session: Session, name: str, *, principal, filters: dict[str, Any] | None = None) -> Export:
    """The columns and statement of list ``name`` with ``filters`` applied and, for people and
    households, limited to ``principal``'s locations. Unknown lists or filters are a 422."""
    if name not in LISTS:
        message = _("Unknown list '%(name)s'; one of: %(lists)s.", name=name, lists=", ".join(LISTS))
        raise ValidationError(message, errors={"list": [message]})
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    unknown = sorted(set(filters) - set(FILTERS[name]))
    if unknown:
        message = _("Unknown filters: %(names)s.", names=", ".join(unknown))
        raise ValidationError(message, errors={k: [_("unknown filter")] for k in unknown})
    if "within" in filters:
        filters["within"] = _int(filters["within"], "within")
    return BUILDERS[name](session, principal, filters)


def _locations(session, principal, f) -> Export:
    parent = aliased(Location)
    from schemehost.tenants.registry.services._common import level_names

    names = level_names(session)
    from sqlalchemy import case

    level_name = case(*((Location.level == i, n) for i, n in enumerate(names)), else_=None)
    stmt = (select(Location.code, Location.name, parent.code, level_name, Location.male_population,
                   Location.female_population, Location.other_population, Location.families)
            .outerjoin(parent, parent.id == Location.parent_id).order_by(Location.level, Location.id))
    if "within" in f:
        stmt = stmt.where(_within(Location.id, f["within"]))
    if "level" in f:
        level = f["level"]
        index = names.index(level) if level in names else _int(level, "level")
        stmt = stmt.where(Location.level == index)
    return Export("locations", ["code", "name", "parent", "level", "male_population", "female_population",
                                "other_population", "families"], stmt)


def _facilities(session, principal, f) -> Export:
    stmt = (select(HealthFacility.code, HealthFacility.name, HealthFacility.level, HealthFacility.care_type,
                   Location.code, HealthFacility.contract_start, HealthFacility.contract_end, HealthFacility.status)
            .join(Location, Location.id == HealthFacility.location_id).order_by(HealthFacility.id))
    if "within" in f:
        stmt = stmt.where(_within(HealthFacility.location_id, f["within"]))
    if "status" in f:
        stmt = stmt.where(HealthFacility.status == f["status"])
    if "level" in f:
        stmt = stmt.where(HealthFacility.level == f["level"])
    return Export("facilities", ["code", "name", "level", "care_type", "location", "contract_start", "contract_end",
                                 "status"], stmt)


def _extras(session, list_name: str, column) -> tuple[list[str], list]:
    """The tenant's extra-field columns of a list (``extra.<name>``) and their values as text
    (``extra ->> name``: strings as they are, numbers, booleans, arrays and objects as JSON), in
    the import's format."""
    from schemehost.tenants.registry.imports.kinds import extra_columns

    extras = extra_columns(session, list_name)
    return [x.column for x in extras], [column[x.name].astext for x in extras]


def _households(session, principal, f) -> Export:
    names, values = _extras(session, "households", Household.extra)
    stmt = (select(Household.external_id, Location.code, Household.address, Household.status, *values)
            .join(Location, Location.id == Household.location_id).order_by(Household.id))
    stmt = restrict_to_locations(stmt, principal, Household.location_id)
    if "within" in f:
        stmt = stmt.where(_within(Household.location_id, f["within"]))
    if "status" in f:
        stmt = stmt.where(Household.status == f["status"])
    return Export("households", ["external_id", "village", "address", "status", *names], stmt)


def _individuals(session, principal, f) -> Export:
    names, values = _extras(session, "individuals", Individual.extra)
    stmt = (select(Individual.external_id, Household.external_id, Individual.relationship, Individual.given_name,
                   Individual.family_name, Individual.other_names, Individual.sex, Individual.birth_date,
                   Individual.birth_date_estimated, Individual.national_id, Individual.phone, Location.code,
                   Individual.scheme_number, Individual.status, *values)
            .join(Location, Location.id == Individual.location_id)
            .outerjoin(Household, Household.id == Individual.household_id)
            .order_by(Individual.id))
    stmt = restrict_to_locations(stmt, principal, Individual.location_id)
    if "within" in f:
        stmt = stmt.where(_within(Individual.location_id, f["within"]))
    if "status" in f:
        stmt = stmt.where(Individual.status == f["status"])
    else:
        stmt = stmt.where(Individual.status != PersonStatus.erased)
    if "sex" in f:
        stmt = stmt.where(Individual.sex == f["sex"])
    if "household" in f:
        stmt = stmt.where(Household.external_id == str(f["household"]))
    return Export("individuals", ["external_id", "household_external_id", "relationship", "given_name",
                                  "family_name", "other_names", "sex", "birth_date", "birth_date_estimated",
                                  "national_id", "phone", "village", "scheme_number", "status", *names], stmt)


def _prices(session, principal, f) -> Export:
    stmt = (select(PriceList.code, CatalogueEntry.code, PriceListLine.price)
            .join(PriceList, PriceList.id == PriceListLine.price_list_id)
            .join(CatalogueEntry, CatalogueEntry.id == PriceListLine.entry_id)
            .order_by(PriceList.id, PriceListLine.id))
    if "price_list" in f:
        stmt = stmt.where(PriceList.code == str(f["price_list"]))
    if "facility" in f:
        stmt = stmt.join(HealthFacility, and_(HealthFacility.id == PriceList.facility_id,
                                              HealthFacility.code == str(f["facility"])))
    return Export("prices", ["price_list", "entry", "price"], stmt)


BUILDERS: dict[str, Callable[..., Export]] = {"locations": _locations, "facilities": _facilities,
                                              "households": _households, "individuals": _individuals,
                                              "prices": _prices}


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return value


def iter_rows(session: Session, export: Export, *, batch: int = BATCH) -> Iterator[list[tuple]]:
    """The rows of ``export`` in batches, from a server-side cursor."""
    result = session.execute(export.stmt.execution_options(yield_per=batch))
    for part in result.partitions(batch):
        yield part


def copy_sql(session: Session, export: Export) -> tuple[str, dict[str, Any]]:
    """``export``'s statement as SQL text for ``COPY (...) TO STDOUT``, with the tenant's schema
    written in and its parameters (bound by psycopg on the client side), every column as text in
    the import's format (booleans ``true``/``false``, dates ``YYYY-MM-DD``)."""
    from sqlalchemy import String, case, cast, func, literal

    from schemehost.platform.db import TENANT_PLACEHOLDER

    columns = []
    for col in export.stmt.selected_columns:
        try:
            python_type = col.type.python_type
        except NotImplementedError:
            python_type = None
        if python_type is bool:
            columns.append(case((col.is_(True), literal("true")), (col.is_(False), literal("false")), else_=None))
        elif python_type is date:
            columns.append(func.to_char(col, "YYYY-MM-DD"))
        else:
            columns.append(cast(col, String))
    stmt = export.stmt.with_only_columns(*columns, maintain_column_froms=True)
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect,
                            schema_translate_map={TENANT_PLACEHOLDER: session.info["tenant_schema"]},
                            render_schema_translate=True)
    return str(compiled), dict(compiled.params)


def stream_csv(session: Session, export: Export, *, batch: int = BATCH) -> Iterator[bytes]:
    """``export`` as UTF-8 CSV (with a BOM for spreadsheet programs; the import skips it), written
    by PostgreSQL (``COPY (SELECT ...) TO STDOUT``) and passed on chunk by chunk."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(export.columns)  # COPY ends its lines with \n too
    yield ("\ufeff" + buf.getvalue()).encode("utf-8")
    sql, params = copy_sql(session, export)
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
        pending: list[bytes] = []
        size = 0
        for data in copy:
            pending.append(bytes(data))
            size += len(data)
            if size >= 1 << 18:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)


def write_xlsx(session: Session, export: Export, path: str, *, batch: int = BATCH) -> int:
    """Write ``export`` to an XLSX file at ``path`` (constant memory: rows are flushed as written);
    returns the number of rows. Every cell is text, as in the import's template (whole numbers are
    numbers when ``export.typed``)."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False,
                                      "strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet(export.name)
    bold = book.add_format({"bold": True})
    for col, name in enumerate(export.columns):
        sheet.write_string(0, col, name, bold)
    n = 0
    for rows in iter_rows(session, export, batch=batch):
        for row in rows:
            n += 1
            for col, value in enumerate(row):
                if export.typed and isinstance(value, int) and not isinstance(value, bool):
                    sheet.write_number(n, col, value)
                    continue
                text = _text(value)
                if text != "":
                    sheet.write_string(n, col, str(text))
    book.close()
    return n


def stream_xlsx(session: Session, export: Export, *, batch: int = BATCH, chunk: int = 1 << 20) -> Iterator[bytes]:
    """``export`` as XLSX bytes: written to a temporary file first (constant memory), then read out."""
    fd, path = tempfile.mkstemp(prefix="schemehost-export-", suffix=".xlsx")
    os.close(fd)
    try:
        write_xlsx(session, export, path, batch=batch)
        with open(path, "rb") as handle:
            while True:
                data = handle.read(chunk)
                if not data:
                    break
                yield data
    finally:
        os.unlink(path)


def stream_export(session: Session, name: str, fmt: str, *, principal, filters: dict[str, Any] | None = None,
                  batch: int = BATCH) -> Iterator[bytes]:
    """List ``name`` as ``fmt`` (csv or xlsx), streamed."""
    if fmt not in FORMATS:
        message = _("Unknown format '%(fmt)s'; csv or xlsx.", fmt=fmt)
        raise ValidationError(message, errors={"format": [message]})
    export = build_export(session, name, principal=principal, filters=filters)
    return (stream_csv if fmt == "csv" else stream_xlsx)(session, export, batch=batch)


def export_filename(name: str, fmt: str) -> str:
    return f"{name}-{date.today().isoformat()}.{fmt}"


__all__ = ["LISTS", "FORMATS", "FILTERS", "Export", "build_export", "iter_rows", "stream_csv", "write_xlsx",
           "stream_xlsx", "stream_export", "export_filename"]
