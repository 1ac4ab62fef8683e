"""Demo data of the insurance module, so that a pilot scheme made from a template with demo data can
start the same day (decisions 0304 and 0323): the template's insurance products (``demo.programmes``
with ``module: insurance``), the catalogue entries they cover with a shared price list of the scheme's
tariffs, and paid policies —

* a product for households: paid policies of the first demo households;
* a product for employers (``payer: employer``): the template's employers (``demo.organisations`` of
  kind ``employer``), each enrolled with a few demo adults as workers at realistic monthly wages, the
  policy paid by the employer, and work incidents (one accepted, one reported).

A template product's ``details`` use the product fields of :mod:`.services.products`; the short
forms of the templates are read too: ``max_members`` is how many members the lump sum covers and
``extra_member`` the premium of each member above them; ``contribution_rate`` is a rate of wages as a
fraction (``"0.014"`` = 1.4 %). ``catalogue`` lists the covered entries with their price (minor units)
and limit per period; without it a short default catalogue (no prices) is used. ``demo_wage`` is the
monthly wage (minor units) the demo workers' wages start from.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.insurance.services.products import FIELDS

log = logging.getLogger("schemehost.insurance.demo")

#: (kind, code, name, type, care, limit per period) covered by a template product without a catalogue
DEMO_ENTRIES = [
    ("service", "OPD-CONS", "Out-patient consultation", "consultation", "out_patient", 6),
    ("service", "IPD-DAY", "In-patient day", "admission", "in_patient", 30),
    ("service", "LAB-MRDT", "Malaria rapid test", "laboratory", "out_patient", None),
    ("service", "DELIV-N", "Normal delivery", "delivery", "in_patient", 2),
    ("item", "MED-PARA500", "Paracetamol 500 mg (10 tablets)", "medicine", "both", None),
    ("item", "MED-AMOX250", "Amoxicillin 250 mg (20 capsules)", "medicine", "both", None),
]
DEMO_POLICIES = 20
DEMO_WORKERS = 6
#: the demo workers' wages, as multiples of the product's ``demo_wage``
WAGE_STEPS = (Decimal("1"), Decimal("1.25"), Decimal("1.5"), Decimal("2"), Decimal("1.1"), Decimal("3"))
#: (days before today, kind, place, description, accepted?) of the demo incidents, one per employer in turn
DEMO_INCIDENTS = [
    (5, "accident", "Loading yard", "Fell from a loading ramp; fractured left wrist.", True),
    (2, "commuting", "Ring Road", "Motorcycle collision on the way to work; cuts to the arm.", False),
]


def product_input(item: dict[str, Any], today: date) -> dict[str, Any]:
    """The fields of a product from a template item."""
    details = dict(item.get("details") or {})
    values: dict[str, Any] = {k: v for k, v in details.items() if k in FIELDS}
    values.update(code=item["code"], name=item["name"], valid_from=date(today.year, 1, 1))
    if details.get("payer") == "employer" or details.get("holder") == "employer":
        values["holder"] = "employer"
        if "contribution_rate" in details and "wage_rate_percent" not in details:
            values["wage_rate_percent"] = str(Decimal(str(details["contribution_rate"])) * 100)
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
    covered entries and price list, and paid policies; returns {product code: policies}."""
    from schemehost.tenants.insurance import services as ins

    today = today or date.today()
    demo = template.demo or {}
    items = [p for p in demo.get("programmes", []) if p.get("module") == "insurance"]
    if not items:
        return {}
    bound = conn.execution_options(schema_translate_map={TENANT_PLACEHOLDER: schema})
    session = Session(bind=bound, join_transaction_mode="create_savepoint")
    made: dict[str, int] = {}
    try:
        for item in items:
            values = product_input(item, today)
            enrolled = today - timedelta(days=int(values.get("waiting_period_days") or 0) + 10)
            # valid on the demo enrolment date, also early in January
            values["valid_from"] = min(values["valid_from"], date(enrolled.year, 1, 1))
            coverage = _catalogue(session, item, values["valid_from"])
            product = ins.create_product(session, coverage=coverage, **values)
            if product.holder == "employer":
                made[product.code] = _employers(session, product, item, demo, enrolled, today)
            else:
                made[product.code] = _households(session, product, enrolled, today)
        session.commit()  # releases the savepoint: the caller's transaction commits or rolls back
    finally:
        session.close()
    return made


def _catalogue(session: Session, item: dict[str, Any], valid_from: date) -> list[dict[str, Any]]:
    """The product's covered entries (created when missing) and, when they have prices, a shared price
    list ``PL-<product code>`` of them; returns the coverage lines."""
    from schemehost.tenants.registry import services as reg

    lines = (item.get("details") or {}).get("catalogue")
    if not lines:
        lines = [{"kind": k, "code": code, "name": name, "type": t, "care_type": care, "limit_count": limit}
                 for k, code, name, t, care, limit in DEMO_ENTRIES]
    coverage, prices = [], []
    for line in lines:
        try:
            entry = reg.get_entry_by_code(session, line["code"])
        except NotFound:
            entry = reg.create_entry(session, kind=line["kind"], code=line["code"], name=line["name"],
                                     type=line["type"], care_type=line.get("care_type", "both"),
                                     unit_price=line.get("price"), patient_sex=line.get("patient_sex", "any"),
                                     patient_age=line.get("patient_age", "any"))
        coverage.append({"code": entry.code, "limit_count": line.get("limit_count"),
                         "limit_amount": line.get("limit_amount")})
        if line.get("price") is not None:
            prices.append((entry, line["price"]))
    if prices:
        plist = reg.create_price_list(session, code=f"PL-{item['code']}"[:50],
                                      name=f"{item['name']} — tariffs"[:200], valid_from=valid_from)
        for entry, price in prices:
            reg.set_price(session, plist.id, entry, price)
    return coverage


def _households(session: Session, product, enrolled: date, today: date) -> int:
    from schemehost.tenants.insurance import services as ins
    from schemehost.tenants.registry.people import Household

    households = list(session.execute(select(Household.id).where(Household.head_id.is_not(None))
                                      .order_by(Household.id).limit(DEMO_POLICIES)).scalars())
    made = 0
    for n, household_id in enumerate(households):
        try:
            policy = ins.enrol(session, household_id=household_id, product_id=product.id, enrol_date=enrolled,
                               principal=None)
        except (ValidationError, Conflict):  # a household the product does not take (size): skipped
            log.info("demo household %s not enrolled in %s", household_id, product.code)
            continue
        ins.record_contribution(session, policy.id, amount=policy.value, paid_on=enrolled, method="cash",
                                receipt_no=f"DEMO-{product.code}-{n + 1:04d}", principal=None, today=today)
        made += 1
    return made


def _employers(session: Session, product, item: dict[str, Any], demo: dict[str, Any], enrolled: date,
               today: date) -> int:
    """The template's employers, each with demo workers on a paid policy, and demo incidents."""
    from schemehost.tenants.insurance import services as ins
    from schemehost.tenants.registry import services as reg
    from schemehost.tenants.registry.people import Individual, PersonStatus

    organisations = [o for o in demo.get("organisations", []) if o.get("kind") == "employer"]
    base_wage = int((item.get("details") or {}).get("demo_wage") or 1_000_000)
    youngest, oldest = date(today.year - 60, today.month, 1), date(today.year - 18, 1, 1)
    people = list(session.execute(
        select(Individual.id).where(Individual.status == PersonStatus.active, Individual.birth_date > youngest,
                                    Individual.birth_date < oldest)
        .order_by(Individual.id).limit(DEMO_WORKERS * len(organisations))).scalars())
    made = 0
    for n, org in enumerate(organisations):
        details = org.get("details") or {}
        try:
            employer = ins.get_employer_by_code(session, org["code"], principal=None)
        except NotFound:
            employer = ins.create_employer(
                session, principal=None, code=org["code"], name=org["name"],
                location_id=reg.get_location_by_code(session, org["location"]).id, sector=details.get("sector"),
                registration_no=details.get("registration_no"), address=details.get("address"))
        staff = people[n * DEMO_WORKERS:(n + 1) * DEMO_WORKERS]
        workers = [{"individual_id": person, "wage": int(base_wage * WAGE_STEPS[i % len(WAGE_STEPS)])}
                   for i, person in enumerate(staff)]
        policy = ins.enrol_employer(session, employer_id=employer.id, product_id=product.id, enrol_date=enrolled,
                                    workers=workers, principal=None)
        ins.record_contribution(session, policy.id, amount=policy.value, paid_on=enrolled, method="bank",
                                receipt_no=f"DEMO-{product.code}-E{n + 1:03d}", payer=employer.name, principal=None,
                                today=today)
        made += 1
        if staff and n < len(DEMO_INCIDENTS):
            days, kind, place, description, accepted = DEMO_INCIDENTS[n]
            incident = ins.record_incident(session, employer_id=employer.id, individual_id=staff[0],
                                           incident_date=today - timedelta(days=days), kind=kind, place=place,
                                           description=description, principal=None, today=today)
            if accepted:
                ins.decide_incident(session, incident.id, accept=True, note="Employer's report and site visit.",
                                    principal=None, today=today)
    return made
