"""Template demo data of the vouchers module: the template's voucher programmes (``demo.programmes``
with ``module: vouchers``) created through the services, and a voucher for everyone they select.

A programme's ``details``: ``services`` (code, name, tariff in minor units, count, and optionally
``requires_code`` / ``requires_count``), ``validity_days`` (default: the ``vouchers`` setting's, else
300), ``facilities`` (codes; default every demo facility), ``eligibility`` (a registry filter),
``budget_ceiling`` (minor units) and ``issue_demo_vouchers`` (default true).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER

DEFAULT_VALIDITY_DAYS = 300
SERVICE_KEYS = ("code", "name", "tariff", "count", "requires_code", "requires_count")


def programme_input(item: dict[str, Any], settings: dict[str, Any], facility_codes: list[str]) -> dict[str, Any]:
    """The input of :func:`~schemehost.tenants.vouchers.services.create_programme` for one template programme."""
    details = item.get("details") or {}
    module_settings = settings.get("vouchers") if isinstance(settings.get("vouchers"), dict) else {}
    return {"code": item["code"], "name": item["name"],
            "validity_days": details.get("validity_days", module_settings.get("validity_days", DEFAULT_VALIDITY_DAYS)),
            "services": [{k: s.get(k) for k in SERVICE_KEYS} for s in details.get("services", [])],
            "facilities": details.get("facilities", facility_codes),
            "eligibility": details.get("eligibility"), "budget_ceiling": details.get("budget_ceiling")}


def seed_programmes(conn: Connection, schema: str, template) -> dict[str, int]:
    """Create the template's voucher programmes in ``schema`` (in ``conn``'s transaction) and issue
    their demo vouchers; returns {programme code: vouchers issued}. Runs after the registry's demo data."""
    from schemehost.tenants.vouchers import services as vs

    items = [p for p in (template.demo or {}).get("programmes", []) if p.get("module") == "vouchers"]
    if not items:
        return {}
    facility_codes = [f["code"] for f in (template.demo or {}).get("facilities", [])]
    settings = template.tenant_settings()
    bound = conn.execution_options(schema_translate_map={TENANT_PLACEHOLDER: schema})
    session = Session(bind=bound, join_transaction_mode="create_savepoint")
    actor = ("system", "demo", None)
    issued: dict[str, int] = {}
    try:
        for item in items:
            programme = vs.create_programme(session, programme_input(item, settings, facility_codes))
            if (item.get("details") or {}).get("issue_demo_vouchers", True):
                issued[programme.code] = vs.issue_bulk(session, programme.id, issued_by="demo", actor=actor)["issued"]
        session.commit()  # releases the session's savepoint: the caller's transaction commits or rolls back
    finally:
        session.close()
    return issued
