"""CSV batch entry of claims: one row per claim line, rows of one claim grouped by facility and claim
number (docs/insurance.md, "CSV format").

Every row is checked with the same rules as a claim entered alone (:func:`.services.clean_claim`);
problems are reported per row and column (``row`` counts the header as row 1, as spreadsheets do).
By default the batch is all-or-nothing: one problem and nothing is saved. With ``partial`` the good
claims are saved and the rows of bad ones reported. A claim whose number the facility already used is
skipped, so uploading the same file again saves nothing twice (decision 0313). One audit entry for
the batch: counts and the file's SHA-256, never its rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from schemehost.platform import money
from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.insurance.claims.models import InsuranceClaim
from schemehost.tenants.insurance.claims.services import ENTITY, BatchLookups, clean_claim, insert_claims
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.registry.models import HealthFacility
from schemehost.tenants.registry.services import tenant_currency

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
#: the claim's columns (equal on every row of a claim) and the line's
CLAIM_COLUMNS = ("claim_code", "facility", "insuree", "visit_type", "date_from", "date_to", "date_claimed",
                 "icd_code", "icd_codes")
LINE_COLUMNS = ("item", "quantity", "price")
REQUIRED = ("claim_code", "facility", "insuree", "visit_type", "date_from", "icd_code", "item", "quantity")
#: a field of :func:`clean_claim` -> the CSV column it comes from
COLUMN_OF = {"code": "claim_code", "facility": "facility", "insuree": "insuree", "visit_type": "visit_type",
             "date_from": "date_from", "date_to": "date_to", "date_claimed": "date_claimed",
             "icd_code": "icd_code", "icd_codes": "icd_codes", "lines": "item"}


@dataclass
class Report:
    created: int = 0
    skipped: int = 0
    rows: int = 0
    claim_ids: list[int] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, column: str, value: Any, message: str) -> None:
        self.problems.append({"row": row, "column": column, "value": "" if value is None else str(value)[:100],
                              "message": str(message)})

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "skipped": self.skipped, "claim_ids": self.claim_ids,
                "problems": sorted(self.problems, key=lambda x: (x["row"], x["column"]))}


def _fail(report: Report, detail: str) -> ValidationError:
    body = report.as_dict()
    errors: dict[str, list[str]] = {}
    for problem in body["problems"]:
        errors.setdefault(f"row.{problem['row']}.{problem['column']}", []).append(problem["message"])
    return ValidationError(detail, errors=errors, **body)


def _read(data: bytes | str, report: Report) -> list[tuple[int, dict[str, str]]]:
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            report.add(1, "file", None, _("The file is larger than %(n)d MB.", n=MAX_BYTES // 1024 // 1024))
            return []
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            report.add(1, "file", None, _("The file is not UTF-8 text (save it as CSV UTF-8)."))
            return []
    sample = data[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    reader = csv.reader(io.StringIO(data), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [col for col in REQUIRED if col not in header]
    for col in missing:
        report.add(1, col, None, _("The column %(col)s is missing.", col=col))
    for col in header:
        if col and col not in CLAIM_COLUMNS + LINE_COLUMNS:
            report.add(1, col, col, _("Unknown column (expected: %(cols)s).",
                                      cols=", ".join(CLAIM_COLUMNS + LINE_COLUMNS)))
    if missing:
        return []
    rows = []
    for n, record in enumerate(reader, start=2):
        if not "".join(record).strip():
            continue
        if len(rows) >= MAX_ROWS:
            report.add(n, "file", None, _("At most %(n)d rows in one file.", n=MAX_ROWS))
            return []
        rows.append((n, {col: (record[i].strip() if i < len(record) else "") for i, col in enumerate(header)}))
    if not rows:
        report.add(2, "file", None, _("The file has no claim rows."))
    return rows


def _number(text: str, row: int, column: str, report: Report, currency: str | None = None) -> int | None:
    if not text:
        return None
    try:
        return money.to_minor(text, currency) if currency else int(text)
    except ValueError:
        report.add(row, column, text, _("A whole number.") if currency is None else
                   _("An amount such as 1500 or 1500.50."))
        return -1


def import_claims(session: Session, data: bytes | str, *, principal: Principal | None, partial: bool = False,
                  filename: str | None = None, today: date | None = None) -> dict[str, Any]:
    """Enter the claims of a CSV file (see the module docstring). Raises 422 with the per-row
    ``problems`` (and ``errors`` keyed ``row.<n>.<column>``) when anything is wrong and ``partial`` is
    false; else returns ``{"rows", "created", "skipped", "claim_ids", "problems"}``."""
    report = Report()
    raw = data.encode() if isinstance(data, str) else data
    rows = _read(raw, report)
    report.rows = len(rows)
    if report.problems and not rows:
        raise _fail(report, _("The file cannot be read."))
    currency = tenant_currency(session)
    # group rows by (facility, claim number), in file order
    groups: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    for n, row in rows:
        groups.setdefault((row["facility"], row["claim_code"]), []).append((n, row))
    facilities = dict(session.execute(select(HealthFacility.code, HealthFacility.id)
                                      .where(HealthFacility.code.in_({f for f, _c in groups}))).all())
    keys = [(facilities[f], code) for f, code in groups if f in facilities]
    existing = set(session.execute(select(InsuranceClaim.facility_id, InsuranceClaim.code)
                                   .where(tuple_(InsuranceClaim.facility_id, InsuranceClaim.code).in_(keys))).all()) \
        if keys else set()
    icd = set()
    for _n, row in rows:
        for value in [row.get("icd_code", "")] + row.get("icd_codes", "").replace(";", " ").replace(",", " ").split():
            value = value.strip().upper()
            icd.add(f"{value[:3]}.{value[3:]}" if len(value) > 3 and "." not in value else value)
    look = BatchLookups(session, principal, facilities={f for f, _c in groups},
                        numbers={row["insuree"] for _n, row in rows if row.get("insuree")}, icd_codes=icd - {""},
                        entry_codes={row["item"] for _n, row in rows if row.get("item")})
    ready: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for (fac, code), members in groups.items():
        if fac in facilities and (facilities[fac], code) in existing:
            report.skipped += 1
            continue
        before = len(report.problems)
        first_n, first = members[0]
        for n, row in members[1:]:
            for col in CLAIM_COLUMNS:
                if col in row and row[col] and row[col] != first.get(col, ""):
                    report.add(n, col, row[col], _("Differs from row %(n)d of the same claim.", n=first_n))
        lines = []
        for n, row in members:
            lines.append({"code": row["item"], "quantity": _number(row["quantity"], n, "quantity", report),
                          "price": _number(row.get("price", ""), n, "price", report, currency)})
        claim_data = {"code": code, "facility": fac, "insuree": first["insuree"],
                      "visit_type": first["visit_type"], "date_from": first["date_from"],
                      "date_to": first.get("date_to") or None, "date_claimed": first.get("date_claimed") or None,
                      "icd_code": first["icd_code"], "icd_codes": first.get("icd_codes", ""), "lines": lines}
        p = c.Problems()
        values, clean_lines = clean_claim(session, claim_data, principal=principal, p=p, today=today, lookups=look)
        for name, messages in p.errors.items():
            parts = name.split(".")
            if parts[0] == "lines" and len(parts) == 3:
                n, row = members[int(parts[1])]
                column = parts[2]
                if row.get(column, "") != "" and column in ("quantity", "price") and \
                        any(x["row"] == n and x["column"] == column for x in report.problems):
                    continue  # already reported as not a number
            else:
                n, row = members[0]
                column = COLUMN_OF.get(parts[0], parts[0])
            for message in messages:
                report.add(n, column, row.get(column), message)
        if len(report.problems) == before:
            ready.append((values, clean_lines))
    if report.problems and not partial:
        raise _fail(report, _("The file has problems: nothing was saved."))
    report.claim_ids = insert_claims(session, ready, currency=currency, principal=principal)
    report.created = len(report.claim_ids)
    audit.record_bulk(session, "claims.import", ENTITY,
                      counts={"rows": report.rows, "created": report.created, "skipped": report.skipped,
                              "problems": len(report.problems)},
                      input_ref={"file": (filename or "")[:200], "sha256": hashlib.sha256(raw).hexdigest()})
    session.flush()
    return report.as_dict()
