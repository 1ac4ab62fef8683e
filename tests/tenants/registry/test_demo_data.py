"""The demo-data generator: a realistic registry whose phones and national ids pass the registry's own
checks, reproducible with a seed, set-wise; the CLI and demo tenants use it."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select

from schemehost.tenants.registry import demo
from schemehost.tenants.registry.models import HealthFacility, Location
from schemehost.tenants.registry.people import Household, Individual
from schemehost.tenants.registry.validation import normalize_name, normalize_national_id, normalize_phone

from .conftest import audit_entries

TODAY = date(2026, 11, 26)


def _people(tenant):
    with tenant.session() as s:
        return list(s.execute(select(Individual).order_by(Individual.id)).scalars())


def _set_country(tenant, country):
    from schemehost.tenants.core.services import put_setting

    with tenant.session() as s:
        put_setting(s, "country", country)


def test_generator_fills_a_tenant_with_a_valid_realistic_registry(make_tenant):
    tenant = make_tenant("health-insurance")  # Tanzania by its time zone: Swahili names, +255 phones
    with tenant.session() as s:
        result = demo.generate_for_session(s, households=120, seed=7, today=TODAY)
    assert (result.country, result.locale, result.households) == ("TZ", "sw", 120)

    with tenant.session() as s:
        levels = dict(s.execute(select(Location.level, func.count()).group_by(Location.level)).all())
        assert sorted(levels) == [0, 1, 2, 3] and levels[0] >= 2 and levels[3] >= 4
        # the template's own places and facilities are there
        assert s.execute(select(Location.name).where(Location.code == "DOD-KON-BUS-01")).scalar_one() == "Busi Kati"
        facilities = list(s.execute(select(HealthFacility)).scalars())
        assert "KON-DH" in {f.code for f in facilities} and {f.level for f in facilities} >= {"hospital",
                                                                                             "dispensary"}
        households = list(s.execute(select(Household)).scalars())
        village_ids = set(s.execute(select(Location.id).where(Location.level == 3)).scalars())
    people = _people(tenant)
    assert len(households) == 120 and len(people) == result.individuals
    assert 3.5 <= len(people) / len(households) <= 6.5

    by_household: dict[int, list[Individual]] = {}
    for p in people:
        by_household.setdefault(p.household_id, []).append(p)
    for hh in households:
        members = by_household[hh.id]
        heads = [m for m in members if m.relationship == "head"]
        assert len(heads) == 1 and hh.head_id == heads[0].id and hh.location_id in village_ids
        assert all(m.location_id == hh.location_id for m in members)
        for child in (m for m in members if m.relationship == "child"):
            assert child.birth_date > heads[0].birth_date  # children are younger than the head
    relationships = Counter(p.relationship for p in people)
    assert relationships["head"] == 120 and relationships["spouse"] > 40 and relationships["child"] > 120

    phones = [p.phone for p in people if p.phone]
    assert len(phones) > 100 and all(normalize_phone(ph, "TZ") == ph and ph.startswith("+255") for ph in phones)
    assert all(p.national_id is None for p in people)  # Tanzania: no identifier rule in python-stdnum
    assert all(p.name_search == normalize_name(p.given_name, p.family_name, p.other_names) for p in people)
    assert len({p.scheme_number for p in people}) == len(people)
    assert all(p.birth_date <= TODAY for p in people)

    runs = audit_entries(tenant, "registry", "demo.generate")
    assert len(runs) == 1 and runs[0].details["counts"]["households"] == 120


def test_national_ids_are_valid_for_countries_with_a_rule(make_tenant):
    tenant = make_tenant("blank")
    _set_country(tenant, "ZA")
    with tenant.session() as s:
        demo.generate_for_session(s, households=40, seed=3, today=TODAY)
    people = _people(tenant)
    ids = [p for p in people if p.national_id]
    assert len(ids) > 30 and len({p.national_id for p in ids}) == len(ids)
    for p in ids:
        assert normalize_national_id(p.national_id, "ZA") == p.national_id
        assert p.national_id[:6] == p.birth_date.strftime("%y%m%d")  # the identifier encodes the birth date
        assert (int(p.national_id[6:10]) >= 5000) == (p.sex == "male")
    assert all(p.phone is None or (normalize_phone(p.phone, "ZA") == p.phone and p.phone.startswith("+27"))
               for p in people)
    assert all((TODAY - p.birth_date).days >= 18 * 365 for p in ids)  # only adults carry one


@pytest.mark.parametrize("country", ["BR", "NL", "SE"])
def test_other_countries_identifiers_validate(make_tenant, country):
    tenant = make_tenant("blank")
    _set_country(tenant, country)
    with tenant.session() as s:
        result = demo.generate_for_session(s, households=8, seed=1, today=TODAY)
    ids = [p.national_id for p in _people(tenant) if p.national_id]
    if result.extra.get("national_ids"):
        assert ids and all(normalize_national_id(v, country) == v for v in ids)
    else:  # no generator found for the rule: none rather than invalid ones
        assert ids == []


def test_same_seed_same_people_and_another_seed_others(make_tenant):
    def run(seed):
        tenant = make_tenant("maternal-voucher")  # Cameroon: French and Cameroonian names, +237 phones
        with tenant.session() as s:
            demo.generate_for_session(s, households=25, seed=seed, today=TODAY)
        return [(p.relationship, p.given_name, p.family_name, p.sex, p.birth_date, p.phone, p.scheme_number)
                for p in _people(tenant)]

    first, again, other = run(11), run(11), run(12)
    assert first == again and first != other
    assert all(p[5] is None or p[5].startswith("+237") for p in first)
    assert {p[2] for p in first} & set(demo.NAMES["CM"][2])


def test_generating_twice_adds_to_the_same_tree(make_tenant):
    tenant = make_tenant("blank")
    with tenant.session() as s:
        demo.generate_for_session(s, households=10, seed=5, today=TODAY)
    with tenant.session() as s:
        locations = s.execute(select(func.count()).select_from(Location)).scalar_one()
        second = demo.generate_for_session(s, households=10, seed=5, today=TODAY)
        assert second.locations == 0 and second.facilities == 0
        assert s.execute(select(func.count()).select_from(Location)).scalar_one() == locations
    people = _people(tenant)
    assert len({p.household_id for p in people}) == 20


def test_cli_fills_a_tenant(runner, make_tenant):
    tenant = make_tenant("cash-transfer")  # The Gambia, levels Region > District > Settlement
    result = runner("registry", "demo", tenant.slug, "--households", "15", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "15 households" in result.output
    people = _people(tenant)
    assert people and all(p.phone is None or normalize_phone(p.phone, "GM") == p.phone for p in people)
    bad = runner("registry", "demo", "no-such-tenant", "--households", "5")
    assert bad.exit_code != 0


def test_demo_tenants_are_created_with_a_registry(app, make_tenant, unique):
    from schemehost.platform.extensions import db
    from schemehost.platform.partners.models import Partner
    from schemehost.provisioning.create import create_tenant

    with app.app_context():
        partner = Partner(slug=unique("dp"), name="Demo partner")
        db.session.add(partner)
        db.session.commit()
        slug = unique("demo")
        res = create_tenant(db.session, slug, name="Demo", partner=partner.slug, template="blank", demo_data=True,
                            cold=True)
        db.session.commit()
        res.after_commit(wait=True)
        tenant = res.tenant
        assert tenant.status == "active"
        from schemehost.platform.tenancy import open_tenant_session, server_engine

        s = open_tenant_session(server_engine(None), tenant.schema_name, tenant.role_name)
        try:
            households = s.execute(select(func.count()).select_from(Household)).scalar_one()
            codes = set(s.execute(select(Location.code)).scalars())
        finally:
            s.close()
    assert households == demo.DEMO_HOUSEHOLDS and "R1-D1-M1-V1" in codes
