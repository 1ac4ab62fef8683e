"""Shared helpers of the people tests (households, individuals, search, duplicates)."""

from __future__ import annotations

import pytest

from schemehost.tenants.identity.principal import Principal

WRITE = ("registry.read", "registry.write")


def be_nn(yymmdd: str, seq: int) -> str:
    """A valid Belgian national number (born before 2000) for a birth date and a serial."""
    base = f"{yymmdd}{seq:03d}"
    return base + f"{97 - int(base) % 97:02d}"


def system(location_ids=()) -> Principal:
    """A principal with every registry permission, restricted to ``location_ids`` when given."""
    return Principal(kind="user", id="1", name="Tester", tenant_id=0,
                     permissions=frozenset({"registry.read", "registry.write"}),
                     location_ids=frozenset(location_ids))


@pytest.fixture
def people_tenant(make_tenant):
    """A tenant in Belgium (country BE) with villages: North > Riverside > Town > Upper, Lower and
    South > Hills > Mount > Peak; returns (tenant, {code: id})."""
    from schemehost.tenants.core.services import put_setting
    from schemehost.tenants.registry import services as reg

    tenant = make_tenant("blank")
    ids: dict[str, int] = {}
    with tenant.session() as s:
        put_setting(s, "country", "BE")
        for code, parent in [("N", None), ("N-R", "N"), ("N-R-T", "N-R"), ("N-R-T-U", "N-R-T"), ("N-R-T-L", "N-R-T"),
                             ("S", None), ("S-H", "S"), ("S-H-M", "S-H"), ("S-H-M-P", "S-H-M")]:
            ids[code] = reg.create_location(s, code=code, name=f"Place {code}", parent_id=ids.get(parent)).id
    return tenant, ids


def person(village: int, given="Marie", family="Dupont", birth="1985-07-30", **kw) -> dict:
    return {"given_name": given, "family_name": family, "sex": kw.pop("sex", "female"), "birth_date": birth,
            "location_id": village, **kw}
