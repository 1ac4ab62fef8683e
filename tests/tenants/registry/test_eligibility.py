"""Eligibility filters: every operator on every field type, nested all/any/not, extra fields typed
from the tenant's JSON Schema, location subtrees, validation errors by JSON path, injection attempts,
other tenants' rows, a location-restricted principal's preview, and the API."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select, text

from schemehost.platform.errors import ValidationError
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.people import Household, Individual

ON = date(2026, 6, 15)
PROBLEM = "application/problem+json"
EXTRA_FIELDS = {
    "individual": {"type": "object", "properties": {
        "disability": {"type": "boolean", "title": "Disability"},
        "income": {"type": ["number", "null"]},
        "school": {"type": "string", "enum": ["none", "primary", "secondary"]},
        "note": {"type": "string"},
        "languages": {"type": "array", "items": {"type": "string", "enum": ["fr", "en", "ff"]}},
        "odd'name": {"type": "integer"},
        "photo_meta": {"type": "object"},
    }},
    "household": {"type": "object", "properties": {
        "water": {"enum": ["river", "tap", "well"]},
        "rooms": {"type": "integer"},
        "latrine": {"type": "boolean"},
        "assets": {"type": "array", "items": {"type": "string"}},
        "surveyed": {"type": "string", "format": "date"},
    }},
}

# households: H1 in Upper (North), H2 in Lower (North), H3 in Vale (South, no head)
# (name, household, relationship, sex, birth date, status, national id, phone, extra, estimated)
PEOPLE = [
    ("ana", "H1", "head", "female", "1990-03-01", "active", "N1", "+237670000001",
     {"disability": False, "income": 120.5, "school": "primary", "note": "Tall 50% _x", "languages": ["fr", "en"],
      "odd'name": 3}, False),
    ("ben", "H1", "spouse", "male", "1988-07-20", "active", None, None, {"income": "lots", "school": "none"}, False),
    ("cid", "H1", "child", "male", "2022-01-01", "active", None, None, {}, False),
    ("dee", "H1", "child", "female", "2024-06-16", "active", None, None, {"languages": ["ff"]}, True),
    ("eve", "H1", "child", "female", "2023-06-15", "active", None, None, {}, False),
    ("fay", "H2", "head", "female", "1950-06-15", "active", "N2", None, {"disability": True, "income": 10}, False),
    ("gus", "H2", "grandchild", "male", "2010-12-31", "inactive", None, "+237670000002", {}, False),
    ("hal", "H3", None, "other", "2000-02-29", "deceased", None, None, {"note": "x"}, False),
    ("ivy", None, None, "female", "1999-01-01", "active", "N3", None, {"disability": True}, False),
    ("zed", "H1", "child", "female", "1995-01-01", "erased", None, None, {"disability": True}, False),
]
HOUSEHOLDS = {
    "H1": ("N-R-T-U", {"water": "river", "rooms": 3, "latrine": True, "assets": ["radio", "bike"],
                       "surveyed": "2025-01-10"}),
    "H2": ("N-R-T-L", {"water": "tap", "rooms": 1, "latrine": False, "surveyed": "not a date"}),
    "H3": ("S-H-M-V", {"rooms": "two"}),
}
ALL_PEOPLE = {p[0] for p in PEOPLE} - {"zed"}


def build_registry(tenant, *, extra_fields=True, tag=""):
    """A small location tree, three households and ten people (inserted through the tenant session)."""
    ids: dict[str, int] = {}
    with tenant.session() as s:
        for code, name, parent in [("N", "North", None), ("N-R", "Riverside", "N"), ("N-R-T", "Town", "N-R"),
                                   ("N-R-T-U", "Upper", "N-R-T"), ("N-R-T-L", "Lower", "N-R-T"),
                                   ("S", "South", None), ("S-H", "Hills", "S"), ("S-H-M", "Mount", "S-H"),
                                   ("S-H-M-V", "Vale", "S-H-M")]:
            ids[code] = reg.create_location(s, code=code, name=name, parent_id=ids.get(parent)).id
        if extra_fields:
            s.merge(Setting(key="registry", value={"deduplication": "flag", "extra_fields": EXTRA_FIELDS}))
        homes = {}
        for ext, (village, extra) in HOUSEHOLDS.items():
            homes[ext] = Household(external_id=tag + ext, location_id=ids[village], extra=extra)
            s.add(homes[ext])
        s.flush()
        for n, (name, home, rel, sex, born, status, nid, phone, extra, estimated) in enumerate(PEOPLE):
            village = HOUSEHOLDS[home][0] if home else "S-H-M-V"
            person = Individual(household_id=homes[home].id if home else None, relationship=rel, given_name=name,
                                family_name="Test", name_search=f"{name} test", sex=sex,
                                birth_date=date.fromisoformat(born), birth_date_estimated=estimated,
                                national_id=(tag + nid) if nid else None, scheme_number=f"{tag}S{n}", phone=phone,
                                location_id=ids[village], status=status, extra=extra)
            s.add(person)
            s.flush()
            if rel == "head":
                homes[home].head_id = person.id
    return ids


@pytest.fixture(scope="module")
def world(make_module_tenant):
    """One tenant with the registry above, shared by the read-only tests of this module."""
    tenant = make_module_tenant("blank", prefix="el")
    return tenant, build_registry(tenant)


def names(tenant, spec, target="individuals", on_date=ON, **kw) -> set[str]:
    with tenant.session() as s:
        ids = el.compile_filter(s, spec, target=target, on_date=on_date, **kw)
        if target == "individuals":
            return set(s.execute(select(Individual.given_name).where(Individual.id.in_(ids))).scalars())
        return set(s.execute(select(Household.external_id).where(Household.id.in_(ids))).scalars())


def leaf(field, op, value, **kw):
    return {"field": field, "op": op, "value": value, **kw}


INDIVIDUAL_CASES = [
    # enum
    (leaf("sex", "eq", "female"), {"ana", "dee", "eve", "fay", "ivy"}),
    (leaf("sex", "ne", "female"), {"ben", "cid", "gus", "hal"}),
    (leaf("sex", "in", ["male", "other"]), {"ben", "cid", "gus", "hal"}),
    (leaf("sex", "not_in", ["male", "female"]), {"hal"}),
    (leaf("status", "eq", "inactive"), {"gus"}),
    (leaf("status", "in", ["deceased", "inactive"]), {"gus", "hal"}),
    (leaf("relationship", "eq", "child"), {"cid", "dee", "eve"}),
    (leaf("relationship", "ne", "head"), ALL_PEOPLE - {"ana", "fay"}),  # missing relationship included
    (leaf("relationship", "is_set", False), {"hal", "ivy"}),
    (leaf("relationship", "is_set", True), ALL_PEOPLE - {"hal", "ivy"}),
    # integer, computed at the reference date (eve is 3 today, dee turns 2 tomorrow)
    (leaf("age", "eq", 3), {"eve"}),
    (leaf("age", "ne", 3), ALL_PEOPLE - {"eve"}),
    (leaf("age", "lt", 2), {"dee"}),
    (leaf("age", "lte", 3), {"dee", "eve"}),
    (leaf("age", "gt", 36), {"ben", "fay"}),
    (leaf("age", "gte", 76), {"fay"}),
    (leaf("age", "between", [15, 49]), {"ana", "ben", "gus", "hal", "ivy"}),
    (leaf("age", "in", [1, 4]), {"dee", "cid"}),
    (leaf("age", "not_in", [1, 4]), ALL_PEOPLE - {"dee", "cid"}),
    (leaf("age_months", "lt", 24), {"dee"}),
    (leaf("age_months", "between", [36, 59]), {"eve", "cid"}),
    # date
    (leaf("birth_date", "eq", "2000-02-29"), {"hal"}),
    (leaf("birth_date", "ne", "2000-02-29"), ALL_PEOPLE - {"hal"}),
    (leaf("birth_date", "lt", "1990-03-01"), {"ben", "fay"}),
    (leaf("birth_date", "lte", "1990-03-01"), {"ana", "ben", "fay"}),
    (leaf("birth_date", "gt", "2023-06-15"), {"dee"}),
    (leaf("birth_date", "gte", "2023-06-15"), {"dee", "eve"}),
    (leaf("birth_date", "between", ["1999-01-01", "2010-12-31"]), {"gus", "hal", "ivy"}),
    (leaf("registered_on", "gte", "2000-01-01"), ALL_PEOPLE),
    # boolean
    (leaf("birth_date_estimated", "eq", True), {"dee"}),
    (leaf("has_national_id", "eq", True), {"ana", "fay", "ivy"}),
    (leaf("has_national_id", "eq", False), ALL_PEOPLE - {"ana", "fay", "ivy"}),
    (leaf("has_phone", "eq", True), {"ana", "gus"}),
    (leaf("has_household", "eq", False), {"ivy"}),
    # location subtrees
    (leaf("location", "within", ["N"]), ALL_PEOPLE - {"hal", "ivy"}),
    (leaf("location", "within", ["N-R-T-L", "S-H"]), {"fay", "gus", "hal", "ivy"}),
    (leaf("location", "not_within", ["N-R-T-U"]), {"fay", "gus", "hal", "ivy"}),
    # the household and its head
    (leaf("household.size", "gte", 4), {"ana", "ben", "cid", "dee", "eve"}),
    (leaf("household.size", "eq", 0), {"hal"}),  # H3's only member is deceased
    (leaf("household.size", "lt", 3), {"fay", "gus", "hal"}),  # no household: no size
    (leaf("household.members", "gte", 2, where=leaf("age", "lt", 5)), {"ana", "ben", "cid", "dee", "eve"}),
    (leaf("household.status", "eq", "active"), ALL_PEOPLE - {"ivy"}),
    (leaf("household.has_head", "eq", False), {"hal"}),
    (leaf("household.head.sex", "eq", "female"), {"ana", "ben", "cid", "dee", "eve", "fay", "gus"}),
    (leaf("household.head.sex", "ne", "female"), {"hal", "ivy"}),
    (leaf("household.head.age", "gte", 70), {"fay", "gus"}),
    (leaf("household.location", "within", ["S"]), {"hal"}),
    (leaf("household.extra.water", "eq", "river"), {"ana", "ben", "cid", "dee", "eve"}),
    # extra fields of the individual, typed from the schema
    (leaf("extra.disability", "eq", True), {"fay", "ivy"}),
    (leaf("extra.disability", "eq", False), {"ana"}),
    (leaf("extra.disability", "is_set", False), ALL_PEOPLE - {"ana", "fay", "ivy"}),
    (leaf("extra.income", "gt", 100), {"ana"}),  # ben's "lots" is not a number: missing
    (leaf("extra.income", "lte", 10), {"fay"}),
    (leaf("extra.income", "between", [5, 200]), {"ana", "fay"}),
    (leaf("extra.income", "eq", 10), {"fay"}),
    (leaf("extra.income", "ne", 10), ALL_PEOPLE - {"fay"}),
    (leaf("extra.income", "lt", 11), {"fay"}),
    (leaf("extra.income", "gte", 120.5), {"ana"}),
    (leaf("extra.school", "eq", "none"), {"ben"}),
    (leaf("extra.school", "in", ["none", "primary"]), {"ana", "ben"}),
    (leaf("extra.school", "not_in", ["none"]), ALL_PEOPLE - {"ben"}),
    (leaf("extra.note", "contains", "50%"), {"ana"}),
    (leaf("extra.note", "contains", "_"), {"ana"}),  # LIKE wildcards are plain characters
    (leaf("extra.note", "contains", "%"), {"ana"}),
    (leaf("extra.note", "starts_with", "tall"), {"ana"}),
    (leaf("extra.note", "eq", "x"), {"hal"}),
    (leaf("extra.note", "in", ["x", "y"]), {"hal"}),
    (leaf("extra.languages", "has", "en"), {"ana"}),
    (leaf("extra.languages", "has_any", ["en", "ff"]), {"ana", "dee"}),
    (leaf("extra.languages", "has_all", ["en", "fr"]), {"ana"}),
    (leaf("extra.odd'name", "eq", 3), {"ana"}),
]


@pytest.mark.parametrize("spec, expected", INDIVIDUAL_CASES,
                         ids=[f"{c[0]['field']}-{c[0]['op']}-{i}" for i, c in enumerate(INDIVIDUAL_CASES)])
def test_each_operator_on_individuals(world, spec, expected):
    tenant, _ids = world
    assert names(tenant, spec) == expected


HOUSEHOLD_CASES = [
    (leaf("size", "eq", 5), {"H1"}),  # zed (erased) is no member any more
    (leaf("size", "ne", 5), {"H2", "H3"}),
    (leaf("size", "lte", 1), {"H2", "H3"}),
    (leaf("size", "between", [0, 0]), {"H3"}),
    (leaf("size", "in", [1, 5]), {"H1", "H2"}),
    (leaf("members", "gte", 3, where=leaf("age", "lt", 5)), {"H1"}),
    (leaf("members", "eq", 0, where=leaf("age", "lt", 5)), {"H2", "H3"}),
    (leaf("members", "gte", 1, where={"all": [leaf("sex", "eq", "female"), leaf("age", "gte", 18)]}), {"H1", "H2"}),
    (leaf("members", "gte", 1), {"H1", "H2"}),
    (leaf("status", "eq", "active"), {"H1", "H2", "H3"}),
    (leaf("has_head", "eq", True), {"H1", "H2"}),
    (leaf("location", "within", ["N-R-T-L", "S-H-M"]), {"H2", "H3"}),
    (leaf("location", "not_within", ["S"]), {"H1", "H2"}),
    (leaf("head.sex", "eq", "female"), {"H1", "H2"}),
    (leaf("head.sex", "ne", "female"), {"H3"}),
    (leaf("head.age", "lt", 40), {"H1"}),
    (leaf("head.has_national_id", "eq", True), {"H1", "H2"}),
    (leaf("head.extra.disability", "eq", True), {"H2"}),
    (leaf("head.location", "within", ["N-R-T-U"]), {"H1"}),
    (leaf("extra.water", "eq", "river"), {"H1"}),
    (leaf("extra.water", "ne", "river"), {"H2", "H3"}),
    (leaf("extra.water", "in", ["tap", "well"]), {"H2"}),
    (leaf("extra.water", "is_set", False), {"H3"}),
    (leaf("extra.rooms", "gte", 2), {"H1"}),  # H3's "two" is not a number
    (leaf("extra.rooms", "lt", 3), {"H2"}),
    (leaf("extra.rooms", "in", [1, 3]), {"H1", "H2"}),
    (leaf("extra.rooms", "not_in", [1]), {"H1", "H3"}),
    (leaf("extra.latrine", "eq", False), {"H2"}),
    (leaf("extra.assets", "has", "bike"), {"H1"}),
    (leaf("extra.assets", "has_any", ["tv", "radio"]), {"H1"}),
    (leaf("extra.assets", "has_all", ["tv", "radio"]), set()),
    (leaf("extra.surveyed", "lt", "2026-01-01"), {"H1"}),  # "not a date" is no date
    (leaf("extra.surveyed", "eq", "2025-01-10"), {"H1"}),
    (leaf("extra.surveyed", "between", ["2020-01-01", "2030-01-01"]), {"H1"}),
    (leaf("extra.surveyed", "ne", "2025-01-10"), {"H2", "H3"}),
]


@pytest.mark.parametrize("spec, expected", HOUSEHOLD_CASES,
                         ids=[f"{c[0]['field']}-{c[0]['op']}-{i}" for i, c in enumerate(HOUSEHOLD_CASES)])
def test_each_operator_on_households(world, spec, expected):
    tenant, _ids = world
    assert names(tenant, spec, target="households") == expected


def test_nested_all_any_not(world):
    tenant, _ids = world
    women_15_49 = {"all": [leaf("sex", "eq", "female"), leaf("age", "between", [15, 49])]}
    assert names(tenant, women_15_49) == {"ana", "ivy"}
    spec = {"any": [women_15_49, {"all": [leaf("age", "lt", 5), {"not": leaf("sex", "eq", "female")}]}]}
    assert names(tenant, spec) == {"ana", "ivy", "cid"}
    assert names(tenant, {"not": spec}) == ALL_PEOPLE - {"ana", "ivy", "cid"}
    assert names(tenant, {"not": {"not": spec}}) == {"ana", "ivy", "cid"}
    # a missing value is false in a condition, so its negation is true
    assert names(tenant, {"not": leaf("household.size", "gte", 1)}) == {"hal", "ivy"}
    # under a negation, every kind of missing value counts as "does not hold"
    assert names(tenant, {"not": leaf("extra.disability", "eq", True)}) == ALL_PEOPLE - {"fay", "ivy"}
    assert names(tenant, {"not": leaf("household.head.sex", "eq", "female")}) == {"hal", "ivy"}
    assert names(tenant, {"not": leaf("household.extra.water", "in", ["tap"])}) == ALL_PEOPLE - {"fay", "gus"}
    assert names(tenant, {"not": leaf("household.members", "gte", 2, where=leaf("age", "lt", 5))}) == \
        {"fay", "gus", "hal", "ivy"}
    assert names(tenant, {"not": leaf("members", "gte", 1, where=leaf("sex", "eq", "male"))},
                 target="households") == {"H2", "H3"}  # gus is inactive: no active man in H2
    assert names(tenant, {"not": leaf("head.location", "within", ["N"])}, target="households") == {"H3"}
    assert names(tenant, {"any": [leaf("household.head.age", "gte", 70), leaf("household.size", "lt", 1)]}) == \
        {"fay", "gus", "hal"}
    assert names(tenant, {"all": []}) == ALL_PEOPLE  # everyone (never the erased)
    assert names(tenant, {"any": []}) == set()
    assert names(tenant, {"all": [{"any": [leaf("extra.disability", "eq", True), leaf("age", "lt", 2)]},
                                  leaf("location", "within", ["N"])]}) == {"fay", "dee"}
    households = {"all": [leaf("size", "gte", 1), {"not": leaf("head.sex", "eq", "male")},
                          {"any": [leaf("extra.water", "eq", "river"), leaf("members", "gte", 1,
                                                                                where=leaf("status", "eq", "active"))]}]}
    assert names(tenant, households, target="households") == {"H1", "H2"}


def test_ages_follow_the_reference_date(world):
    tenant, _ids = world
    assert names(tenant, leaf("age", "eq", 1), on_date=ON) == {"dee"}
    assert names(tenant, leaf("age", "eq", 2), on_date=date(2026, 6, 16)) == {"dee"}
    # born on 29 February: 26 on 28 February 2026 is not reached yet, on 1 March it is
    assert names(tenant, leaf("age", "eq", 26), on_date=date(2026, 2, 28)) == set()
    assert "hal" in names(tenant, leaf("age", "eq", 26), on_date=date(2026, 3, 1))


def test_compile_gives_one_select_of_ids(world):
    tenant, ids = world
    with tenant.session() as s:
        stmt = el.compile_filter(s, {"all": [leaf("sex", "eq", "female"), leaf("household.size", "gte", 4),
                                             leaf("location", "within", ["N"])]},
                                 target="individuals", on_date=ON)
        assert list(stmt.selected_columns.keys()) == ["id"]
        rows = s.execute(stmt).scalars().all()
        assert len(rows) == 3 and all(isinstance(r, int) for r in rows)
        # usable set-wise: INSERT ... SELECT / IN (subquery)
        counted = s.execute(select(text("count(*)")).select_from(stmt.subquery())).scalar()
        assert counted == 3


BAD = [
    ([], {"filter": "expected an object"}),
    ({"all": [leaf("sex", "eq", "female")], "any": []}, {"filter": "exactly one of"}),
    ({"all": {}}, {"all": "expected a list"}),
    ({"all": [leaf("sex", "eq", "female"), 3]}, {"all[1]": "expected an object"}),
    ({"all": [leaf("sex", "eq", "female"), leaf("age", "gte", 5), leaf("age", "lt", "ten")]},
     {"all[2].value": "expected a whole number"}),
    ({"all": [leaf("extra.income", "gt", "x")]}, {"all[0].value": "expected a number"}),
    (leaf("nope", "eq", 1), {"field": "unknown field 'nope'"}),
    (leaf("extra.nope", "eq", 1), {"field": "unknown field"}),
    (leaf("extra.photo_meta", "eq", 1), {"field": "unknown field"}),  # an object: not filterable
    (leaf("sex", "gt", "female"), {"op": "expected one of: eq, ne, in, not_in"}),
    (leaf("sex", "eq", "woman"), {"value": "expected one of: female, male, other"}),
    (leaf("sex", "in", []), {"value": "non-empty list"}),
    (leaf("sex", "in", ["female", "x"]), {"value[1]": "expected one of"}),
    (leaf("age", "between", [50, 15]), {"value": "must not be after"}),
    (leaf("age", "between", [1]), {"value": "two values"}),
    (leaf("age", "gte", True), {"value": "whole number"}),
    (leaf("age", "gte", 400), {"value": "between 0 and 150"}),
    (leaf("birth_date", "lt", "2020-02-30"), {"value": "expected a date"}),
    (leaf("birth_date", "lt", "15/06/2020"), {"value": "expected a date"}),
    (leaf("has_phone", "eq", "yes"), {"value": "true or false"}),
    (leaf("extra.note", "contains", ""), {"value": "some text"}),
    (leaf("location", "within", ["N", "NOWHERE"]), {"value[1]": "no location with code 'NOWHERE'"}),
    (leaf("location", "within", "N"), {"value": "non-empty list"}),
    ({"field": "sex", "op": "eq"}, {"value": "a value is needed"}),
    ({"field": "sex", "op": "eq", "value": "female", "colour": 1}, {"colour": "unknown key"}),
    ({"not": leaf("sex", "eq", "female"), "x": 1}, {"x": "unknown key"}),
    (leaf("sex", "eq", "female", where={"all": []}), {"where": "only 'members'"}),
    (leaf("household.members", "gte", 1, where=leaf("household.size", "gt", 1)), {"where.field": "unknown field"}),
    (leaf("head.sex", "eq", "female"), {"field": "unknown field"}),  # individuals have no head
    (leaf("household.household.size", "eq", 1), {"field": "unknown field"}),
    (leaf("household.head.household.size", "eq", 1), {"field": "unknown field"}),
    ({"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": leaf("sex", "eq", "male")}}}}}}}},
     {"not.not.not.not.not.not.not.not": "too deep"}),
    ({"any": [leaf("sex", "eq", "male")] * 101}, {"any[100]": "Too many conditions"}),
    ({"any": [leaf("household.members", "gte", i) for i in range(6)]}, {"any[5]": "member counts"}),
]


@pytest.mark.parametrize("spec, expected", BAD, ids=[str(i) for i in range(len(BAD))])
def test_validation_errors_point_at_the_json_path(world, spec, expected):
    tenant, _ids = world
    with tenant.session() as s:
        problems = el.validate_filter(s, spec, target="individuals")
        for path, words in expected.items():
            assert path in problems, problems
            assert any(words in m for m in problems[path]), problems
        with pytest.raises(ValidationError) as err:
            el.compile_filter(s, spec, target="individuals", on_date=ON)
        assert err.value.status == 422 and err.value.errors == problems


def test_a_valid_filter_has_no_problems_and_an_unknown_target_is_refused(world):
    tenant, _ids = world
    with tenant.session() as s:
        assert el.validate_filter(s, {"all": [leaf("sex", "eq", "female")]}, target="individuals") == {}
        with pytest.raises(ValidationError) as err:
            el.validate_filter(s, {"all": []}, target="people")
        assert "target" in err.value.errors


def test_extra_fields_follow_the_tenants_schema(make_tenant):
    tenant = make_tenant("blank")
    build_registry(tenant, extra_fields=False)
    with tenant.session() as s:
        assert "field" in el.validate_filter(s, leaf("extra.disability", "eq", True), target="individuals")
        fields = {f["field"]: f for f in el.available_fields(s, target="households")}
        assert "extra.water" not in fields and fields["head.sex"]["choices"] == ["female", "male", "other"]
        s.merge(Setting(key="registry", value={"extra_fields": EXTRA_FIELDS}))
        s.flush()
        fields = {f["field"]: f for f in el.available_fields(s, target="individuals")}
        assert fields["extra.disability"]["type"] == "boolean" and fields["extra.disability"]["label"] == "Disability"
        assert fields["extra.income"]["ops"] == ["eq", "ne", "lt", "lte", "gt", "gte", "between", "is_set"]
        assert fields["household.extra.water"]["choices"] == ["river", "tap", "well"]
        assert fields["household.extra.surveyed"]["type"] == "date"
        assert fields["household.head.extra.languages"]["item_type"] == "enum"
        assert "extra.photo_meta" not in fields and "household.members" in fields
    assert names(tenant, leaf("extra.disability", "eq", True)) == {"fay", "ivy"}


def test_injection_attempts_are_refused_or_harmless(world):
    tenant, _ids = world
    with tenant.session() as s:
        for field in ["sex; DROP TABLE individuals", "extra.x' OR '1'='1", "sex\" OR 1=1 --", "household.sex)--"]:
            assert "field" in el.validate_filter(s, leaf(field, "eq", "female"), target="individuals")
        assert "value" in el.validate_filter(s, leaf("sex", "eq", "female' OR '1'='1"), target="individuals")
        assert "value[0]" in el.validate_filter(s, leaf("location", "within", ["N') OR 1=1 --"]),
                                                target="individuals")
    # values that reach SQL are bound parameters: they match nothing and break nothing
    assert names(tenant, leaf("extra.note", "eq", "x' OR '1'='1")) == set()
    assert names(tenant, leaf("extra.note", "contains", "'; DROP TABLE individuals; --")) == set()
    assert names(tenant, leaf("extra.note", "starts_with", "%")) == set()
    assert names(tenant, leaf("extra.odd'name", "gte", 0)) == {"ana"}  # a quote in a property name
    with tenant.session() as s:
        assert s.execute(select(text("count(*)")).select_from(Individual)).scalar() == len(PEOPLE)


def test_filters_only_see_the_tenants_own_rows(world, make_tenant):
    tenant, _ids = world
    other = make_tenant("blank")
    build_registry(other, tag="o-")
    with other.session() as s:
        s.execute(Individual.__table__.update().values(extra={"disability": True}))
    assert names(tenant, leaf("extra.disability", "eq", True)) == {"fay", "ivy"}
    with tenant.session() as s:
        everyone = s.execute(el.compile_filter(s, {"all": []}, target="individuals", on_date=ON)).scalars().all()
        assert len(everyone) == len(ALL_PEOPLE)
        mine = set(s.execute(select(Individual.id)).scalars())
        assert set(everyone) <= mine
    with other.session() as s:
        assert len(s.execute(el.compile_filter(s, leaf("extra.disability", "eq", True), target="individuals",
                                               on_date=ON)).all()) == len(ALL_PEOPLE)
    # a location code another tenant has (and this one lacks) is unknown here
    with other.session() as s:
        reg.create_location(s, code="ONLY-OTHER", name="Elsewhere")
    with tenant.session() as s:
        problems = el.validate_filter(s, leaf("location", "within", ["ONLY-OTHER"]), target="households")
        assert "no location" in problems["value[0]"][0]


def _principal(tenant, *location_ids):
    return Principal(kind="user", id="1", name="Officer", tenant_id=tenant.id,
                     permissions=frozenset({"registry.read"}), location_ids=frozenset(location_ids))


def test_preview_counts_and_breaks_down_by_level(world):
    tenant, _ids = world
    with tenant.session() as s:
        out = el.preview(s, {"all": [leaf("sex", "eq", "female")]}, target="individuals",
                         principal=_principal(tenant), on_date=ON)
        assert out["count"] == 5 and out["level"] == 1 and out["level_name"] == "District"
        assert out["breakdown"] == [{"location": "N-R", "name": "Riverside", "count": 4},
                                    {"location": "S-H", "name": "Hills", "count": 1}]
        by_village = el.preview(s, leaf("age", "gte", 18), target="individuals", principal=_principal(tenant),
                                by_level="village", on_date=ON)
        assert {b["name"]: b["count"] for b in by_village["breakdown"]} == {"Upper": 2, "Lower": 1, "Vale": 2}
        regions = el.preview(s, leaf("size", "gte", 0), target="households", principal=_principal(tenant),
                             by_level=0, on_date=ON)
        assert regions["count"] == 3 and regions["breakdown"][0] == {"location": "N", "name": "North", "count": 2}
        with pytest.raises(ValidationError) as err:
            el.preview(s, {"all": []}, target="households", principal=_principal(tenant), by_level="Planet")
        assert "by_level" in err.value.errors


def test_a_restricted_principal_previews_only_their_area(world):
    tenant, ids = world
    with tenant.session() as s:
        lower = el.preview(s, {"all": []}, target="individuals", principal=_principal(tenant, ids["N-R-T-L"]),
                           on_date=ON)
        assert lower["count"] == 2 and lower["breakdown"] == [{"location": "N-R", "name": "Riverside", "count": 2}]
        south = el.preview(s, {"all": []}, target="households", principal=_principal(tenant, ids["S"]), on_date=ON)
        assert south["count"] == 1 and [b["location"] for b in south["breakdown"]] == ["S-H"]
        # the ids a restricted principal can enrol set-wise stop at their area too
        stmt = el.compile_filter(s, {"all": []}, target="individuals", on_date=ON,
                                 principal=_principal(tenant, ids["S"]))
        assert len(s.execute(stmt).all()) == 2
        with pytest.raises(RuntimeError):
            el.preview(s, {"all": []}, target="individuals", principal=None)


def test_parse_json_says_where_it_breaks():
    value, problems = el.parse_json('{"all": [\n  {"field": "sex",, }]}')
    assert value is None and "line 2" in problems["filter"][0]
    assert el.parse_json('{"all": []}') == ({"all": []}, {})


# ---- API ------------------------------------------------------------------------------------------


class Api:
    def __init__(self, client, slug, token):
        self.client, self.slug, self.token = client, slug, token

    def post(self, path, **kw):
        return self.client.post(f"/t/{self.slug}/api/v1{path}", headers={"Authorization": f"Bearer {self.token}"},
                                **kw)

    def get(self, path, **kw):
        return self.client.get(f"/t/{self.slug}/api/v1{path}", headers={"Authorization": f"Bearer {self.token}"},
                               **kw)


@pytest.fixture
def world_api(world, client, client_token):
    tenant, ids = world
    return tenant, ids, Api(client, tenant.slug, client_token(tenant, ("registry.read",)))


def test_api_preview_validate_and_fields(world_api):
    tenant, _ids, api = world_api
    body = {"target": "individuals", "on_date": "2026-06-15",
            "filter": {"all": [leaf("sex", "eq", "female"), leaf("age", "between", [15, 49])]}}
    resp = api.post("/eligibility/preview", json=body)
    assert resp.status_code == 200, resp.json
    assert resp.json["count"] == 2 and resp.json["on_date"] == "2026-06-15"
    assert {b["location"]: b["count"] for b in resp.json["breakdown"]} == {"N-R": 1, "S-H": 1}
    resp = api.post("/eligibility/preview", json={"target": "households", "filter": {"all": []}, "by_level": "Region"})
    assert resp.status_code == 200 and resp.json["level_name"] == "Region" and resp.json["count"] == 3

    ok = api.post("/eligibility/validate", json={"target": "households", "filter": leaf("extra.water", "eq", "tap")})
    assert ok.status_code == 200 and ok.json == {"valid": True}
    bad = api.post("/eligibility/validate", json={"target": "individuals",
                                                  "filter": {"all": [leaf("sex", "eq", "female"),
                                                                     leaf("age", "gte", 1),
                                                                     leaf("extra.income", "gt", "x")]}})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    assert bad.json["errors"] == {"all[2].value": ["expected a number"]}
    bad = api.post("/eligibility/preview", json={"target": "people", "filter": {}})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM and "target" in bad.json["errors"]
    bad = api.post("/eligibility/preview", json={"target": "individuals"})
    assert bad.status_code == 422 and "filter" in bad.json["errors"]
    bad = api.post("/eligibility/preview", json={"filter": leaf("location", "within", ["X'--"])})
    assert bad.status_code == 422 and "value[0]" in bad.json["errors"]

    fields = api.get("/eligibility/fields?target=households")
    assert fields.status_code == 200
    assert any(f["field"] == "size" and f["type"] == "integer" for f in fields.json)
    assert any(f["field"] == "extra.water" and f["choices"] == ["river", "tap", "well"] for f in fields.json)


def test_api_needs_registry_read_and_sees_only_its_tenant(world, client, client_token, make_tenant):
    tenant, _ids = world
    api = Api(client, tenant.slug, client_token(tenant, ("settings.manage",)))
    resp = api.post("/eligibility/preview", json={"filter": {"all": []}})
    assert resp.status_code == 403 and resp.mimetype == PROBLEM
    assert client.post(f"/t/{tenant.slug}/api/v1/eligibility/preview", json={"filter": {"all": []}}).status_code == 401
    other = make_tenant("blank")
    other_api = Api(client, other.slug, client_token(other, ("registry.read",)))
    resp = other_api.post("/eligibility/preview", json={"filter": {"all": []}})
    assert resp.status_code == 200 and resp.json["count"] == 0
    # another tenant's token on this tenant's path is refused
    resp = client.post(f"/t/{tenant.slug}/api/v1/eligibility/preview", json={"filter": {"all": []}},
                       headers={"Authorization": f"Bearer {client_token(other, ('registry.read',))}"})
    assert resp.status_code == 401


# ---- console page ---------------------------------------------------------------------------------


def _console(app, tenant, tenant_user, roles=("read_only",), locations=()):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
    from _console_support import csrf_from, own_address

    from schemehost.tenants.identity import roles as role_services

    user_id, email, password = tenant_user(tenant, roles=roles)
    if locations:
        with tenant.session() as s:
            role_services.set_user_locations(s, user_id, list(locations))
    client = app.test_client()
    own_address(client)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302
    page = client.get(f"/t/{tenant.slug}/registry/eligibility/")
    return client, page, csrf_from(page.get_data(as_text=True))


def test_console_page_builds_and_previews_without_scripts(app, world, tenant_user):
    tenant, _ids = world
    client, page, csrf = _console(app, tenant, tenant_user)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="filter"' in html and "eligibility.js" in html
    assert "extra.disability" in html  # the fields table names the tenant's own fields
    url = f"/t/{tenant.slug}/registry/eligibility/"
    resp = client.post(url, data={"csrf_token": csrf, "action": "build", "target": "households", "sex": "female",
                                  "age_min": "18", "within": "N, S", "size_min": "2", "by_level": "0",
                                  "on_date": "2026-06-15"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200, html
    assert "1 household qualifies" in html and "North" in html
    # the small form became JSON (one condition per line, as the page's script writes it too)
    assert ('{&#34;field&#34;: &#34;head.sex&#34;, &#34;op&#34;: &#34;eq&#34;, &#34;value&#34;: &#34;female&#34;},'
            in html)
    resp = client.post(url, data={"csrf_token": csrf, "action": "preview", "target": "individuals",
                                  "filter": json.dumps(leaf("sex", "eq", "female")), "by_level": "1",
                                  "on_date": "2026-06-15"})
    html = resp.get_data(as_text=True)
    assert "5 individuals qualify" in html and "Riverside" in html and "Hills" in html
    bad = client.post(url, data={"csrf_token": csrf, "filter": '{"all": [{"field": "age", "op": "gte", "value": "x"}]}'})
    assert bad.status_code == 422 and "all[0].value" in bad.get_data(as_text=True)
    broken = client.post(url, data={"csrf_token": csrf, "filter": '{"all": ['})
    assert broken.status_code == 422 and "not valid JSON" in broken.get_data(as_text=True)
    # the live preview asks for JSON and gets the rendered result
    live = client.post(url, data={"csrf_token": csrf, "filter": '{"all": []}', "target": "households"},
                       headers={"Accept": "application/json"})
    assert live.status_code == 200 and live.json["count"] == 3 and "3 households qualify" in live.json["html"]
    # without the CSRF token nothing is computed
    assert client.post(url, data={"filter": '{"all": []}'}).status_code in (400, 403)


def test_console_preview_of_a_restricted_user_stays_in_their_area(app, world, tenant_user):
    tenant, ids = world
    client, _page, csrf = _console(app, tenant, tenant_user, locations=[ids["S"]])
    resp = client.post(f"/t/{tenant.slug}/registry/eligibility/",
                       data={"csrf_token": csrf, "filter": '{"all": []}', "target": "individuals"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.json["count"] == 2
    assert "Hills" in resp.json["html"] and "Riverside" not in resp.json["html"]


def test_console_page_needs_registry_read(app, world, tenant_user):
    tenant, _ids = world
    from schemehost.tenants.identity.models import Role

    with tenant.session() as s:
        s.add(Role(code="nothing", name="Nothing", permissions=[]))
    client = app.test_client()
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
    from _console_support import csrf_from, own_address

    own_address(client)
    _uid, email, password = tenant_user(tenant, roles=("nothing",))
    page = client.get(f"/t/{tenant.slug}/login")
    client.post(f"/t/{tenant.slug}/login", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                 "email": email, "password": password, "next": ""})
    assert client.get(f"/t/{tenant.slug}/registry/eligibility/").status_code == 403


def test_records_enrolled_through_the_people_services_are_found(make_tenant):
    """Households enrolled the normal way (the people services: validation, normalisation, heads)."""
    from schemehost.tenants.core.services import put_setting
    from schemehost.tenants.registry.services import people as ppl

    tenant = make_tenant("blank")
    officer = Principal(kind="user", id="1", name="Officer", tenant_id=tenant.id,
                        permissions=frozenset({"registry.read", "registry.write"}))
    with tenant.session() as s:
        ids = {}
        for code, parent in [("A", None), ("A-1", "A"), ("A-1-1", "A-1"), ("A-1-1-1", "A-1-1"), ("B", None),
                             ("B-1", "B"), ("B-1-1", "B-1"), ("B-1-1-1", "B-1-1")]:
            ids[code] = reg.create_location(s, code=code, name=f"Place {code}", parent_id=ids.get(parent)).id
        put_setting(s, "registry", {"deduplication": "off", "extra_fields": EXTRA_FIELDS})

        def member(given, sex, born, rel=None, **extra):
            return {"given_name": given, "family_name": "Ngono", "sex": sex, "birth_date": born,
                    **({"relationship": rel} if rel else {}), **({"extra": extra} if extra else {})}

        ppl.create_household(s, principal=officer, location_id=ids["A-1-1-1"], extra={"water": "well", "rooms": 2},
                             head=member("Awa", "female", "1991-01-01", disability=True),
                             members=[member("Bio", "male", "2022-02-02", "child"),
                                      member("Cia", "female", "2023-03-03", "child"),
                                      member("Dan", "male", "2024-04-04", "child")])
        ppl.create_household(s, principal=officer, location_id=ids["B-1-1-1"], extra={"water": "tap"},
                             head=member("Eli", "male", "1970-05-05"),
                             members=[member("Fox", "female", "1975-06-06", "spouse")])
    with tenant.session() as s:
        stmt = el.compile_filter(s, leaf("members", "gte", 3, where=leaf("age", "lt", 5)), target="households",
                                 on_date=ON)
        heads = s.execute(select(Individual.given_name).join(Household, Household.head_id == Individual.id)
                          .where(Household.id.in_(stmt))).scalars().all()
        assert heads == ["Awa"]
    assert names(tenant, {"all": [leaf("household.head.sex", "eq", "female"), leaf("age", "lt", 5)]}) == \
        {"Bio", "Cia", "Dan"}
    assert names(tenant, leaf("household.extra.water", "eq", "tap")) == {"Eli", "Fox"}
    assert names(tenant, {"all": [leaf("extra.disability", "eq", True), leaf("relationship", "eq", "head")]}) == \
        {"Awa"}
    with tenant.session() as s:
        out = el.preview(s, {"all": [leaf("sex", "eq", "female")]}, target="individuals",
                         principal=_principal(tenant), on_date=ON)
        assert out["count"] == 3 and {b["location"] for b in out["breakdown"]} == {"A-1", "B-1"}
