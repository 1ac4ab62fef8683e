"""Fixtures of the voucher tests: a maternal-voucher tenant with a small registry, two facilities and
a programme (antenatal ×2, delivery after one antenatal visit, transport), through the services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.people import Individual

# (given name, sex, birth date, pregnant, village)
PEOPLE = [("amina", "female", "1998-04-01", True, "V1"), ("bintou", "female", "2001-09-12", True, "V1"),
          ("clara", "female", "1995-01-20", False, "V1"), ("dora", "female", "1990-06-30", True, "V2"),
          ("emil", "male", "1992-02-02", False, "V2"), ("fatou", "female", "2003-11-11", True, "V2")]
ELIGIBILITY = {"all": [{"field": "sex", "op": "eq", "value": "female"},
                       {"field": "age", "op": "between", "value": [12, 55]},
                       {"field": "extra.pregnant", "op": "eq", "value": True}]}
SERVICES = [{"code": "CPN", "name": "Antenatal visit", "tariff": 2500, "count": 2},
            {"code": "ACC", "name": "Delivery", "tariff": 20000, "count": 1, "requires_code": "CPN",
             "requires_count": 1},
            {"code": "TRANS", "name": "Transport", "tariff": 5000, "count": 1}]
EXTRA_FIELDS = {"individual": {"type": "object", "properties": {"pregnant": {"type": "boolean"}}},
                "household": {"type": "object", "properties": {}}}


@dataclass
class World:
    tenant: object
    locations: dict[str, int]
    facilities: dict[str, int]
    people: dict[str, int]
    programme_id: int


def build_world(tenant, tag: str = "") -> World:
    from schemehost.tenants.core.models import Setting
    from schemehost.tenants.vouchers import services as vs

    locs: dict[str, int] = {}
    facilities: dict[str, int] = {}
    people: dict[str, int] = {}
    with tenant.session() as s:
        s.merge(Setting(key="registry", value={"extra_fields": EXTRA_FIELDS}))
        for code, name, parent in [("R", "Region", None), ("R-D", "District", "R"), ("R-D-A", "Arrondissement", "R-D"),
                                   ("V1", "Village one", "R-D-A"), ("V2", "Village two", "R-D-A")]:
            locs[code] = reg.create_location(s, code=tag + code, name=name, parent_id=locs.get(parent)).id
        for code in ("CSI-A", "CSI-B", "CSI-C"):
            facilities[code] = reg.create_facility(s, code=tag + code, name=f"Centre {code}", level="health_centre",
                                                   care_type="both", location_id=locs["R-D-A"]).id
        for n, (name, sex, born, pregnant, village) in enumerate(PEOPLE):
            person = Individual(given_name=name, family_name="Test", name_search=f"{name} test", sex=sex,
                                birth_date=date.fromisoformat(born), scheme_number=f"{tag}VS{n}",
                                location_id=locs[village], extra={"pregnant": pregnant})
            s.add(person)
            s.flush()
            people[name] = person.id
        programme = vs.create_programme(s, {"code": tag + "CS-MERE", "name": "Mother and child", "validity_days": 300,
                                            "services": SERVICES, "facilities": [tag + "CSI-A", tag + "CSI-B"],
                                            "eligibility": ELIGIBILITY, "budget_ceiling": 10_000_000})
        pid = programme.id
    return World(tenant, locs, facilities, people, pid)


@pytest.fixture
def world(make_tenant):
    return build_world(make_tenant("maternal-voucher", prefix="vo"))
