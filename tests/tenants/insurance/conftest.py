"""Insurance test helpers: a health-insurance tenant with a village, catalogue entries and households."""

from __future__ import annotations

from datetime import date

import pytest

from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.services import people as ppl

ALL_INSURANCE = ("insurance.read", "insurance.products.manage", "insurance.policies.manage",
                 "insurance.policies.activate", "insurance.eligibility", "registry.read")


class Scheme:
    """A tenant handle with a village id and catalogue codes -> ids."""

    def __init__(self, tenant, village_id: int, entries: dict[str, int]):
        self.tenant, self.village_id, self.entries = tenant, village_id, entries
        self.slug = tenant.slug

    def household(self, *births: str, sexes: tuple[str, ...] = ()) -> tuple[int, list[int], list[str]]:
        """A household whose members are born on ``births`` (the first is the head): (id, member ids,
        scheme numbers)."""
        def person(i: int, born: str) -> dict:
            return {"given_name": f"Person{i}", "family_name": "Family", "birth_date": born,
                    "sex": sexes[i] if i < len(sexes) else ("female" if i % 2 else "male")}

        with self.tenant.session() as s:
            hh = ppl.create_household(s, principal=None, location_id=self.village_id, head=person(0, births[0]),
                                      members=[{**person(i, b), "relationship": "child" if i > 1 else "spouse"}
                                               for i, b in enumerate(births[1:], start=1)])
            people = ppl.members(s, hh.id)
            return hh.id, [p.id for p in people], [p.scheme_number for p in people]


def build_scheme(tenant) -> Scheme:
    with tenant.session() as s:
        parent = None
        for level, code in enumerate(("R", "R-D", "R-D-W", "R-D-W-V")):
            parent = reg.create_location(s, code=code, name=f"Place {code}", parent_id=parent).id
        entries = {}
        for kind, code, type_, extra in (
                ("service", "CONS", "consultation", {}), ("item", "PARA", "medicine", {}),
                ("service", "DELIV", "delivery", {"patient_sex": "female"}),
                ("service", "XRAY", "imaging", {}),
                ("service", "OLD", "procedure", {"valid_from": date(2020, 1, 1), "valid_to": date(2020, 12, 31)})):
            entries[code] = reg.create_entry(s, kind=kind, code=code, name=f"Entry {code}", type=type_, **extra).id
    return Scheme(tenant, parent, entries)


@pytest.fixture
def scheme(make_tenant):
    return build_scheme(make_tenant("health-insurance"))


def product_body(**over) -> dict:
    body = {"code": "CHF", "name": "Family cover", "valid_from": "2020-01-01", "insurance_period_months": 12,
            "lump_sum": 3_000_000, "threshold": 6, "premium_adult": 500_000, "premium_child": 500_000,
            "waiting_period_days": 30, "copayment_percent": "10",
            "coverage": [{"service": "CONS", "limit_count": 4}, {"item": "PARA", "limit_amount": 200_000},
                         {"service": "DELIV"}, {"service": "OLD"}]}
    body.update(over)
    return body
