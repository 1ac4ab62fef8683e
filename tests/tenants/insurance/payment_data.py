"""A small insurance scheme for the facility-payment and report tests, with figures one can add up by
hand: two districts (North, South), a facility in each, three households, policies and contributions
made through the insurance services, and claims inserted as rows in the statuses they would reach
(claims at every status, some valuated on known days).

Claims are inserted with SQL through the tenant session: the claim entry and valuation services are
not used here, so these tests depend only on the agreed shape of the ``claims`` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from sqlalchemy import insert

from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.claims.models import InsuranceClaim
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.services import people as ppl

from .conftest import product_body

#: (code, facility, status, date_claimed, claimed, valuated, valuated on) — valuated on a day of the
#: tenant's calendar (Africa/Dar_es_Salaam, UTC+3: 22:30 UTC is already the next day there)
CLAIMS = [
    ("N-1", "FN", "valuated", date(2026, 10, 3), 100_000, 90_000, datetime(2026, 10, 5, 8, 0, tzinfo=timezone.utc)),
    ("N-2", "FN", "valuated", date(2026, 10, 9), 50_000, 50_000, datetime(2026, 10, 20, 9, 0, tzinfo=timezone.utc)),
    # valuated on 1 November in the tenant's calendar (31 October in UTC)
    ("N-3", "FN", "valuated", date(2026, 10, 28), 30_000, 25_000, datetime(2026, 10, 31, 22, 30, tzinfo=timezone.utc)),
    ("N-4", "FN", "valuated", date(2026, 11, 2), 40_000, 40_000, datetime(2026, 11, 10, 7, 0, tzinfo=timezone.utc)),
    ("N-5", "FN", "entered", date(2026, 11, 4), 20_000, None, None),
    ("N-6", "FN", "rejected", date(2026, 10, 15), 10_000, None, None),
    ("S-1", "FS", "valuated", date(2026, 10, 7), 70_000, 60_000, datetime(2026, 10, 12, 8, 0, tzinfo=timezone.utc)),
    ("S-2", "FS", "processed", date(2026, 11, 6), 15_000, None, None),
    ("S-3", "FS", "checked", date(2026, 11, 8), 5_000, None, None),
]


@dataclass
class PaymentWorld:
    tenant: object
    slug: str
    locations: dict[str, int]
    facilities: dict[str, int]
    households: dict[str, int]
    policies: dict[str, int]
    claims: dict[str, int] = field(default_factory=dict)
    product_id: int = 0


def _person(i: int, born: str) -> dict:
    return {"given_name": f"Person{i}", "family_name": "Payment", "birth_date": born,
            "sex": "female" if i % 2 else "male"}


def add_claims(world: PaymentWorld, rows=CLAIMS, prefix: str = "") -> dict[str, int]:
    """Insert claims ``rows`` (see :data:`CLAIMS`) for the first insuree of household H1 (North) or H3
    (South); returns code -> id."""
    made = {}
    with world.tenant.session() as s:
        people = {k: ppl.members(s, hid)[0].id for k, hid in world.households.items()}
        for code, facility, status, claimed_on, claimed, valuated, valuated_at in rows:
            household = "H1" if facility == "FN" else "H3"
            made[code] = s.execute(insert(InsuranceClaim).values(
                code=prefix + code, facility_id=world.facilities[facility], individual_id=people[household],
                policy_id=world.policies[household], product_id=world.product_id, visit_type="out_patient",
                date_from=claimed_on, date_to=claimed_on, date_claimed=claimed_on, icd_code="A09",
                status=status, currency="TZS", claimed=claimed,
                approved=claimed if status in ("processed", "valuated") else None, valuated=valuated,
                valuated_at=valuated_at).returning(InsuranceClaim.id)).scalar_one()
    world.claims.update(made)
    return made


def build_payment_world(tenant) -> PaymentWorld:
    loc: dict[str, int] = {}
    with tenant.session() as s:
        for code, name, parent in [("R", "Region", None), ("DN", "North", "R"), ("DS", "South", "R"),
                                   ("WN", "Ward north", "DN"), ("WS", "Ward south", "DS"),
                                   ("VN", "Village north", "WN"), ("VS", "Village south", "WS")]:
            loc[code] = reg.create_location(s, code=code, name=name, parent_id=loc.get(parent)).id
        facilities = {code: reg.create_facility(s, code=code, name=f"Centre {code}", level="health_centre",
                                                care_type="both", location_id=loc[ward]).id
                      for code, ward in (("FN", "WN"), ("FS", "WS"))}
        reg.create_entry(s, kind="service", code="CONS", name="Consultation", type="consultation")
        body = product_body(coverage=[{"service": "CONS"}], waiting_period_days=0)
        product = ins.create_product(s, **body)
        households, policies = {}, {}
        # H1 north (active, paid in two parts), H2 north (idle, part paid), H3 south (active)
        for key, village, births in (("H1", "VN", ("1980-01-01", "2015-01-01")), ("H2", "VN", ("1975-03-03",)),
                                     ("H3", "VS", ("1990-02-02", "1992-02-02"))):
            hh = ppl.create_household(s, principal=None, location_id=loc[village], head=_person(0, births[0]),
                                      members=[{**_person(i, b), "relationship": "child"}
                                               for i, b in enumerate(births[1:], start=1)])
            households[key] = hh.id
            policies[key] = ins.enrol(s, household_id=hh.id, product_id=product.id, principal=None,
                                      enrol_date=date(2026, 9, 1)).id
        value = {k: ins.get_policy(s, pid, principal=None).value for k, pid in policies.items()}
        for key, amount, paid_on, receipt in (("H1", 1_000_000, date(2026, 9, 10), "R-1"),
                                              ("H1", value["H1"] - 1_000_000, date(2026, 10, 2), "R-2"),
                                              ("H2", 500_000, date(2026, 10, 20), "R-3"),
                                              ("H3", value["H3"], date(2026, 10, 5), "R-4")):
            ins.record_contribution(s, policies[key], amount=amount, paid_on=paid_on, method="cash",
                                    receipt_no=receipt, principal=None, today=date(2026, 10, 25))
        product_id = product.id
    world = PaymentWorld(tenant, tenant.slug, loc, facilities, households, policies, product_id=product_id)
    add_claims(world)
    return world
