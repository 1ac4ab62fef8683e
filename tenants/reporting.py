"""Helpers shared by the modules' reports and exports.

- Reports are lists of flat rows (dicts), so that the console, the JSON API and CSV show the same
  figures: :func:`to_csv` and :func:`csv_response` turn them into CSV (amounts stay integers of minor
  units). Console pages draw them as bars with the ``bars`` macro of
  ``tenant/_report.html`` (plain CSS widths, no scripts).
- Lists of any length (a statement's claims, a registry list) stream as CSV or XLSX through
  :func:`stream_export_response`, in a tenant session of its own, with the registry's writers
  (decision 0113): PostgreSQL's ``COPY`` for CSV, xlsxwriter in constant memory for XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response, current_app, g, stream_with_context
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError

FORMATS = ("csv", "xlsx")
MIMETYPES = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def to_csv(rows: Iterable[dict[str, Any]], columns: list[str] | None = None) -> str:
    """The rows as CSV: header from ``columns`` or the first row's keys; None as an empty cell."""
    rows = list(rows)
    out = io.StringIO()
    names = columns or (list(rows[0]) if rows else [])
    if names:
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()


def csv_response(rows: Iterable[dict[str, Any]], filename: str, columns: list[str] | None = None) -> Response:
    """A report's rows as a CSV download."""
    return Response(to_csv(rows, columns), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        message = _("Unknown format '%(fmt)s'; csv or xlsx.", fmt=fmt)
        raise ValidationError(message, errors={"format": [message]})
    return fmt


def stream_export_response(build: Callable[[Session], Any], fmt: str, filename: str) -> Response:
    """Stream the export that ``build(session)`` returns (a registry ``Export``: columns and a
    statement) as CSV or XLSX. ``build`` runs once in the request's session first, so that a bad
    request answers its error before streaming starts, then again in a session of its own that lives
    as long as the download (the request's transaction ends before the body is sent)."""
    from schemehost.platform.tenancy import open_tenant_session, server_engine, tenant_session
    from schemehost.tenants.registry.services import exports

    check_format(fmt)
    build(tenant_session())
    tenant = g.tenant
    timeout = current_app.config.get("REGISTRY_EXPORT_TIMEOUT_MS", 30 * 60 * 1000)

    def body():
        session = open_tenant_session(server_engine(tenant.server_dsn), tenant.schema_name, tenant.role_name,
                                      statement_timeout_ms=timeout)
        try:
            export = build(session)
            yield from (exports.stream_csv if fmt == "csv" else exports.stream_xlsx)(session, export)
        finally:
            session.rollback()
            session.close()

    return Response(stream_with_context(body()), mimetype=MIMETYPES[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


__all__ = ["FORMATS", "MIMETYPES", "to_csv", "csv_response", "check_format", "stream_export_response"]
