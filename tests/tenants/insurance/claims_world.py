"""A health-insurance tenant ready for claims: a product covering consultations (4 per period) and
paracetamol, two facilities in two villages, a shared price list, and an insured household whose
coverage started 60 days ago."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemehost.tenants.insurance import services as ins
from schemehost.tenants.registry import services as reg

from .conftest import build_scheme, product_body
from .test_products_api import Api

TODAY = date.today()
VISIT = TODAY - timedelta(days=3)

CLAIM_SCOPES = ("claims.submit", "claims.review", "insurance.read", "registry.read", "settings.manage")


class World:
    def __init__(self, scheme, facility, other_facility, numbers, members, uninsured):
        self.scheme, self.facility, self.other_facility = scheme, facility, other_facility
        self.numbers, self.members, self.uninsured = numbers, members, uninsured
        self.slug, self.tenant = scheme.slug, scheme.tenant
        self.base = f"/t/{scheme.slug}/api/v1/claims"

    def body(self, code: str, **over) -> dict:
        body = {"code": code, "facility": self.facility, "insuree": self.numbers[0], "visit_type": "out_patient",
                "date_from": VISIT.isoformat(), "icd_code": "B54", "icd_codes": ["R50"],
                "lines": [{"service": "CONS", "quantity": 1, "price": 5_000},
                          {"item": "PARA", "quantity": 10, "price": 200}]}
        body.update(over)
        return body


def build_world(tenant) -> World:
    scheme = build_scheme(tenant)
    start = TODAY - timedelta(days=100)
    with tenant.session() as s:
        other_village = reg.create_location(s, code="R-D-W-V2", name="Other village",
                                            parent_id=reg.get_location_by_code(s, "R-D-W").id).id
        reg.create_facility(s, code="HC1", name="Health centre one", level="health_centre", care_type="both",
                            location_id=scheme.village_id)
        reg.create_facility(s, code="HC2", name="Health centre two", level="health_centre", care_type="both",
                            location_id=other_village)
        plist = reg.create_price_list(s, code="PL", name="Prices", valid_from=date(2020, 1, 1))
        reg.set_price(s, plist.id, "CONS", 5_000)
        reg.set_price(s, plist.id, "PARA", 200)
        body = product_body(waiting_period_days=30,
                            coverage=[{"service": "CONS", "limit_count": 4}, {"item": "PARA"}])
        product = ins.create_product(s, **body)
    household, members, numbers = scheme.household("1980-01-01", "1982-05-05", "2015-01-01")
    _h2, _m2, uninsured = scheme.household("1970-01-01")
    with tenant.session() as s:
        policy = ins.enrol(s, household_id=household, product_id=product.id, enrol_date=start, principal=None)
        ins.record_contribution(s, policy.id, amount=policy.value, paid_on=start, method="cash",
                                receipt_no=f"R-{household}", principal=None)
    return World(scheme, "HC1", "HC2", numbers, members, uninsured[0])


# fixtures of the claims test modules (each module imports them: one tenant per module)


@pytest.fixture(scope="module")
def world(make_module_tenant):
    return build_world(make_module_tenant("health-insurance"))


@pytest.fixture
def api(client, client_token, world):
    return Api(client, client_token(world.tenant, scopes=CLAIM_SCOPES))
