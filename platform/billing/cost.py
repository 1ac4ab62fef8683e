"""Cost of service: per tenant, what hosting it consumed in a month next to what it was billed.

Columns: database size (the highest daily ``storage_mb`` metered in the month), rows (the planner's row
estimates of the schema's tables, ``pg_class.reltuples``, read from the catalogue without locking
anything), job time (seconds of the tenant's finished jobs that started in the month), requests answered
under ``/t/<slug>/`` in the month (the ``api_requests`` meter, :mod:`.request_meter`) and what its
invoices for periods starting in the month came to (subtotal before tax, per currency).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from schemehost.platform.billing.models import Invoice, InvoiceKind, InvoiceStatus, Usage
from schemehost.platform.billing.pricing import add_months
from schemehost.platform.db import any_of
from schemehost.platform.jobs.models import Job
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import Tenant

COLUMNS = ("tenant", "partner", "status", "storage_mb", "rows", "job_seconds", "requests", "billed", "currency")


def month_window(month: str) -> tuple[date, date]:
    """``"2026-02"`` → ``(2026-02-01, 2026-03-01)``; ValueError when it is not a month."""
    year, _sep, mon = month.partition("-")
    start = date(int(year), int(mon), 1)
    return start, add_months(start, 1)


def cost_of_service(session: Session, *, start: date, end: date, partner_id: int | None = None) -> list[dict[str, Any]]:
    """One row per tenant (of ``partner_id`` when given), in a handful of set-based queries."""
    stmt = (select(Tenant.id, Tenant.slug, Tenant.schema_name, Tenant.status, Partner.slug.label("partner"))
            .join(Partner, Partner.id == Tenant.partner_id).order_by(Partner.slug, Tenant.slug))
    if partner_id is not None:
        stmt = stmt.where(Tenant.partner_id == partner_id)
    tenants = session.execute(stmt).all()
    ids = [t.id for t in tenants]
    storage = dict(session.execute(
        select(Usage.tenant_id, func.max(Usage.value))
        .where(any_of(Usage.tenant_id, ids), Usage.meter == "storage_mb", Usage.day >= start, Usage.day < end)
        .group_by(Usage.tenant_id)).all())
    requests = dict(session.execute(
        select(Usage.tenant_id, func.sum(Usage.value))
        .where(any_of(Usage.tenant_id, ids), Usage.meter == "api_requests", Usage.day >= start, Usage.day < end)
        .group_by(Usage.tenant_id)).all())
    rows = dict(session.execute(text(
        "SELECT n.nspname, sum(greatest(c.reltuples, 0))::bigint FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'p') GROUP BY n.nspname"),
        {"schemas": [t.schema_name for t in tenants]}).all())
    seconds = dict(session.execute(
        select(Job.tenant_id, func.sum(func.extract("epoch", Job.finished_at - Job.started_at)))
        .where(any_of(Job.tenant_id, ids), Job.started_at >= start, Job.started_at < end, Job.finished_at.is_not(None))
        .group_by(Job.tenant_id)).all())
    billed: dict[int, list[tuple[str, int]]] = {}
    for tenant_id, currency, amount in session.execute(
            select(Invoice.tenant_id, Invoice.currency, func.sum(Invoice.subtotal))
            .where(any_of(Invoice.tenant_id, ids), Invoice.kind == InvoiceKind.invoice,
                   Invoice.status.in_([InvoiceStatus.issued, InvoiceStatus.paid, InvoiceStatus.uncollectible]),
                   Invoice.period_start >= start, Invoice.period_start < end)
            .group_by(Invoice.tenant_id, Invoice.currency)):
        billed.setdefault(tenant_id, []).append((currency, int(amount)))
    out = []
    for t in tenants:
        amounts = billed.get(t.id) or [(None, 0)]
        for currency, amount in amounts:
            out.append({"tenant": t.slug, "partner": t.partner, "status": t.status,
                        "storage_mb": int(storage.get(t.id) or 0), "rows": int(rows.get(t.schema_name) or 0),
                        "job_seconds": round(float(seconds.get(t.id) or 0), 1),
                        "requests": int(requests.get(t.id) or 0), "billed": amount,
                        "currency": currency})
    return out


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The report as CSV (amounts in minor units, as stored)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})
    return buf.getvalue()
