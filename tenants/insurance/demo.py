"""Demo data of the insurance module: the template's insurance products (``demo.programmes`` with
``module: insurance``), a few common catalogue entries they cover, and paid policies for the first
demo households, so that the eligibility page answers on a fresh demo scheme (decision 0304).

A template product's ``details`` use the product fields of :mod:`.services.products`; the short
forms of the templates are read too: ``max_members`` is how many members the lump sum covers and
``extra_member`` the premium of each member above them. A wage-based product (``contribution_rate``,
paid by an employer) is left out until employment-injury insurance exists.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.insurance.services.products import FIELDS

log = logging.getLogger("schemehost.insurance.demo")

#: (kind, code, name, type, care, limit per period) covered by the demo products
DEMO_ENTRIES = [
    ("service", "OPD-CONS", "Out-patient consultation", "consultation", "out_patient", 6),
    ("service", "IPD-DAY", "In-patient day", "admission", "in_patient", 30),
    ("service", "LAB-MRDT", "Malaria rapid test", "laboratory", "out_patient", None),
    ("service", "DELIV-N", "Normal delivery", "delivery", "in_patient", 2),
    ("item", "MED-PARA500", "Paracetamol 500 mg (10 tablets)", "medicine", "both", None),
    ("item", "MED-AMOX250", "Amoxicillin 250 mg (20 capsules)", "medicine", "both", None),
]
DEMO_POLICIES = 20


def product_input(item: dict[str, Any], today: date) -> dict[str, Any] | None:
    """The fields of a product from a template item, or None for a kind of product not supported yet."""
    details = dict(item.get("details") or {})
    if "contribution_rate" in details or details.get("payer") == "employer":
        return None
    values: dict[str, Any] = {k: v for k, v in details.items() if k in FIELDS}
    values.update(code=item["code"], name=item["name"], valid_from=date(today.year, 1, 1))
    if "max_members" in details and "threshold" not in details:
        values["threshold"] = details["max_members"]
        values["max_members"] = None
    if "extra_member" in details:
        values.setdefault("premium_adult", details["extra_member"])
        values.setdefault("premium_child", details["extra_member"])
    values.setdefault("insurance_period_months", 12)
    return values


def seed_products(conn: Connection, schema: str, template, *, today: date | None = None) -> dict[str, int]:
    """Create the template's insurance products in ``schema`` (in ``conn``'s transaction), their
    covered entries, and paid policies for the first demo households; returns {product code: policies}."""
    from schemehost.tenants.insurance import services as ins
    from schemehost.tenants.registry import services as reg
    from schemehost.tenants.registry.people import Household

    today = today or date.today()
    items = [p for p in (template.demo or {}).get("programmes", []) if p.get("module") == "insurance"]
    if not items:
        return {}
    bound = conn.execution_options(schema_translate_map={TENANT_PLACEHOLDER: schema})
    session = Session(bind=bound, join_transaction_mode="create_savepoint")
    made: dict[str, int] = {}
    try:
        coverage = []
        for kind, code, name, type_, care, limit in DEMO_ENTRIES:
            try:
                reg.get_entry_by_code(session, code)
            except NotFound:
                reg.create_entry(session, kind=kind, code=code, name=name, type=type_, care_type=care)
            coverage.append({"code": code, "limit_count": limit})
        households = list(session.execute(select(Household.id).where(Household.head_id.is_not(None))
                                          .order_by(Household.id).limit(DEMO_POLICIES)).scalars())
        for item in items:
            values = product_input(item, today)
            if values is None:
                log.info("template product %s is wage-based: not created", item.get("code"))
                continue
            product = ins.create_product(session, coverage=coverage, **values)
            made[product.code] = 0
            enrolled = today - timedelta(days=product.waiting_period_days + 10)
            for n, household_id in enumerate(households):
                try:
                    policy = ins.enrol(session, household_id=household_id, product_id=product.id,
                                       enrol_date=enrolled, principal=None)
                except (ValidationError, Conflict):  # a household the product does not take (size): skipped
                    log.info("demo household %s not enrolled in %s", household_id, product.code)
                    continue
                ins.record_contribution(session, policy.id, amount=policy.value, paid_on=enrolled, method="cash",
                                        receipt_no=f"DEMO-{product.code}-{n + 1:04d}", principal=None, today=today)
                made[product.code] += 1
        session.commit()  # releases the savepoint: the caller's transaction commits or rolls back
    finally:
        session.close()
    return made
