"""Households and individuals: field checks (all problems at once), normalised identifiers, scheme
numbers, membership and head changes, photos, audit history without identifying values; API
problem+json and tenant isolation."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.registry.people import Household, Individual
from schemehost.tenants.registry.services import people as ppl

from ._people import WRITE, be_nn, people_tenant, person, system  # noqa: F401
from .conftest import audit_entries

PROBLEM = "application/problem+json"
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def _api(client, client_token, tenant, scopes=WRITE):
    token = client_token(tenant, scopes=scopes)

    class Caller:
        def __getattr__(self, method):
            def call(path, **kw):
                return getattr(client, method)(f"/t/{tenant.slug}/api/v1{path}",
                                               headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},
                                               **kw)
            return call

    return Caller()


def test_an_individual_is_registered_with_normalised_identifiers_and_a_scheme_number(people_tenant):
    tenant, ids = people_tenant
    from schemehost.tenants.core.services import put_setting

    with tenant.session() as s:
        put_setting(s, "registry", {"scheme_number_pattern": "BE-{year}-{seq:05d}"})
        p = ppl.create_individual(s, person(ids["N-R-T-U"], given="  Élodie ", family="d'Orléans  Ñúñez",
                                            national_id="85.07.30-033.28", phone="0470 12 34 56"),
                                  principal=system())
        assert (p.given_name, p.family_name) == ("Élodie", "d'Orléans Ñúñez")
        assert p.name_search == "elodie d'orleans nunez"
        assert (p.national_id, p.phone) == ("85073003328", "+32470123456")
        assert p.scheme_number == f"BE-{date.today().year}-{p.scheme_number[-5:]}" and p.scheme_number[-5:].isdigit()
        second = ppl.create_individual(s, person(ids["N-R-T-L"], given="Jan", family="Peeters", sex="male"),
                                       principal=system())
        assert int(second.scheme_number[-5:]) == int(p.scheme_number[-5:]) + 1
        assert second.household_id is None and second.national_id is None


def test_every_bad_field_is_reported_at_once(people_tenant):
    tenant, ids = people_tenant
    from schemehost.tenants.core.services import put_setting

    with tenant.session() as s:
        put_setting(s, "registry", {"extra_fields": {"individual": {
            "type": "object", "properties": {"occupation": {"enum": ["farmer", "trader"]},
                                             "children": {"type": "integer", "minimum": 0}},
            "required": ["occupation"], "additionalProperties": False}}})
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            ppl.create_individual(s, {"given_name": " ", "family_name": "X" * 101, "sex": "unknown",
                                      "birth_date": (date.today() + timedelta(days=2)).isoformat(),
                                      "national_id": "85.07.30-033.29", "phone": "12",
                                      "location_id": ids["N-R-T"], "extra": {"children": -1, "tribe": "x"},
                                      "colour": "blue"}, principal=system())
        errors = err.value.errors
        assert set(errors) == {"given_name", "family_name", "sex", "birth_date", "national_id", "phone",
                               "location_id", "extra.occupation", "extra.children", "extra.tribe", "colour"}
        assert errors["birth_date"] == ["The birth date cannot be in the future."]
        assert "check digits" in errors["national_id"][0]
        assert "phone number" in errors["phone"][0]
        assert "villages" in errors["location_id"][0]
        assert errors["extra.occupation"] == ["This field is required."]
        with pytest.raises(ValidationError) as err:
            ppl.create_individual(s, person(999999, birth="30/07/1985", extra={"occupation": "farmer"}),
                                  principal=system())
        assert err.value.errors == {"location_id": ["Unknown village."], "birth_date": ["A date such as 2026-01-31."]}
        assert s.execute(select(Individual)).first() is None


def test_a_household_is_enrolled_with_its_head_and_members_and_keeps_a_history(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        loner = ppl.create_individual(s, person(ids["N-R-T-L"], given="Paul", family="Martin", sex="male",
                                                birth="1950-01-02"), principal=system())
        hh = ppl.create_household(
            s, principal=system(), location_id=ids["N-R-T-U"], address="Rue 1",
            head=person(None, given="Jean", family="Dupont", sex="male", birth="1980-03-04", phone="0471234567"),
            members=[{**person(None, given="Anne", birth="2010-05-06"), "relationship": "child"},
                     {"individual_id": loner.id, "relationship": "parent"}])
        people = ppl.members(s, hh.id)
        assert [(m.given_name, m.relationship) for m in people] == [("Jean", "head"), ("Paul", "parent"),
                                                                      ("Anne", "child")]
        assert hh.head_id == people[0].id and people[2].location_id == ids["N-R-T-U"]
        assert people[1].location_id == ids["N-R-T-L"]  # a registered person keeps their village
        anne = people[2]

        # change head: the previous head stays a member
        ppl.change_head(s, hh.id, loner.id, principal=system(), previous_head_relationship="child")
        assert {m.given_name: m.relationship for m in ppl.members(s, hh.id)} == {
            "Paul": "head", "Jean": "child", "Anne": "child"}
        with pytest.raises(ValidationError) as err:
            ppl.move_member(s, loner.id, None, principal=system())
        assert "name another head" in err.value.errors["individual_id"][0]
        # move a member out, then into another household
        ppl.move_member(s, anne.id, None, principal=system())
        assert anne.household_id is None and anne.relationship is None
        other = ppl.create_household(s, principal=system(), location_id=ids["N-R-T-L"],
                                     head=person(None, given="Luc", family="Janssens", sex="male"))
        ppl.move_member(s, anne.id, other.id, principal=system(), relationship="other_relative")
        assert (anne.household_id, anne.relationship) == (other.id, "other_relative")
        ppl.update_individual(s, anne.id, {"family_name": "Janssens", "phone": "0475 00 11 22"}, principal=system())
        # moving the household moves members who lived in its village
        ppl.update_household(s, hh.id, {"location_id": ids["N-R-T-L"]}, principal=system())
        assert {m.location_id for m in ppl.members(s, hh.id)} == {ids["N-R-T-L"]}
        anne_id = anne.id

    history = [e for e in audit_entries(tenant, "individual") if e.entity_id == str(anne_id)]
    assert [e.action for e in history] == ["create", "move_member", "move_member", "update"]
    update = history[-1]
    assert update.details == {"personal_changed": ["family_name", "phone"]}
    assert update.before["has_phone"] is False and update.after["has_phone"] is True
    # nothing identifying in the append-only log (decision 0105)
    text = repr([(e.before, e.after, e.details) for e in audit_entries(tenant)])
    for value in ("Anne", "Dupont", "Janssens", "+32475001122", "2010-05-06", "Rue 1"):
        assert value not in text
    assert [e.action for e in audit_entries(tenant, "household")] == ["create", "change_head", "create", "update"]


def test_household_problems_are_reported_by_nested_field(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            ppl.create_household(s, principal=system(), location_id=ids["S-H"],
                                 head=person(None, phone="abc"),
                                 members=[{**person(None, given=""), "relationship": "head"}, 42])
        errors = err.value.errors
        assert set(errors) == {"location_id", "head.phone", "members.0.given_name", "members.0.relationship",
                               "members.1.relationship", "members.1"}
        assert s.execute(select(Household)).first() is None


def test_photos_are_small_images(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        p = ppl.create_individual(s, person(ids["N-R-T-U"]), principal=system())
        ppl.set_photo(s, p.id, PNG, principal=system())
        assert ppl.photo_type(p.photo) == "image/png"
        with pytest.raises(ValidationError) as err:
            ppl.set_photo(s, p.id, b"GIF89a....", principal=system())
        assert err.value.errors == {"photo": ["A JPEG or PNG image."]}
        with pytest.raises(ValidationError):
            ppl.set_photo(s, p.id, PNG + b"\0" * (300 * 1024), principal=system())
        ppl.set_photo(s, p.id, None, principal=system())
        assert p.photo is None


def test_an_exact_duplicate_is_refused_with_a_pointer(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        first = ppl.create_individual(s, person(ids["N-R-T-U"], national_id=be_nn("850730", 33)),
                                      principal=system())
        with pytest.raises(Conflict) as err:
            ppl.create_individual(s, person(ids["S-H-M-P"], given="Other", national_id="85 07 30 033 28"),
                                  principal=system())
        assert err.value.extra["existing_id"] == first.id and "national_id" in err.value.errors
        other = ppl.create_individual(s, person(ids["S-H-M-P"], given="Other"), principal=system())
        with pytest.raises(Conflict):
            ppl.update_individual(s, other.id, {"national_id": "85073003328"}, principal=system())


def test_location_restricted_users_reach_only_their_area(people_tenant):
    tenant, ids = people_tenant
    north_only = system([ids["N"]])
    with tenant.session() as s:
        south = ppl.create_individual(s, person(ids["S-H-M-P"]), principal=system())
        with pytest.raises(NotFound):
            ppl.get_individual(s, south.id, principal=north_only)
        with pytest.raises(NotFound):
            ppl.update_individual(s, south.id, {"given_name": "X"}, principal=north_only)
        with pytest.raises(ValidationError) as err:
            ppl.create_individual(s, person(ids["S-H-M-P"]), principal=north_only)
        assert err.value.errors == {"location_id": ["Unknown village."]}
        assert ppl.create_individual(s, person(ids["N-R-T-U"]), principal=north_only).id


def test_api_creates_reads_and_updates_with_problem_json(client, client_token, people_tenant, make_tenant):
    tenant, ids = people_tenant
    api = _api(client, client_token, tenant)
    created = api.post("/households", json={
        "location_id": ids["N-R-T-U"], "head": person(None, given="Jean", sex="male", national_id=be_nn("800304", 1)),
        "members": [{**person(None, given="Anne", birth="2012-01-01"), "relationship": "child"}]})
    assert created.status_code == 201, created.get_json()
    hh = created.json
    assert [m["given_name"] for m in hh["members"]] == ["Jean", "Anne"]
    assert created.headers["Location"].endswith(f"/households/{hh['id']}")
    head_id = hh["head_id"]

    bad = api.post("/individuals", json={"given_name": "", "family_name": "X", "sex": "f", "birth_date": "2999-01-01",
                                         "phone": "0000", "location_id": ids["N"], "national_id": "123", "eyes": 2})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    assert set(bad.json["errors"]) == {"given_name", "sex", "birth_date", "phone", "location_id", "national_id",
                                       "eyes"}

    dup = api.post("/individuals", json=person(ids["N-R-T-L"], given="Jan", national_id=be_nn("800304", 1)))
    assert dup.status_code == 409 and dup.mimetype == PROBLEM
    assert dup.json["existing_id"] == head_id and dup.json["existing_url"].endswith(f"/individuals/{head_id}")

    changed = api.patch(f"/individuals/{head_id}", json={"phone": "0471 23 45 67", "other_names": None})
    assert changed.status_code == 200 and changed.json["phone"] == "+32471234567"
    assert api.patch(f"/individuals/{head_id}", json={"birth_date": "tomorrow"}).json["errors"] == {
        "birth_date": ["A date such as 2026-01-31."]}
    assert api.put(f"/individuals/{head_id}/photo", data=PNG, content_type="image/png").status_code == 204
    photo = api.get(f"/individuals/{head_id}/photo")
    assert photo.status_code == 200 and photo.mimetype == "image/png" and photo.data == PNG

    # another tenant knows none of these ids
    other = make_tenant("blank")
    there = _api(client, client_token, other)
    assert there.get(f"/individuals/{head_id}").status_code == 404
    assert there.get(f"/households/{hh['id']}").status_code == 404
    assert there.patch(f"/individuals/{head_id}", json={"given_name": "X"}).status_code == 404
    assert there.get(f"/individuals/{head_id}/photo").status_code == 404
    assert there.post(f"/households/{hh['id']}/head", json={"individual_id": head_id}).status_code == 404

    reader = _api(client, client_token, tenant, scopes=("registry.read",))
    assert reader.get(f"/individuals/{head_id}").status_code == 200
    denied = reader.post("/individuals", json=person(ids["N-R-T-L"]))
    assert denied.status_code == 403 and denied.json["errors"] == {"permission": ["registry.write"]}


def test_api_household_membership_head_and_village(client, client_token, people_tenant):
    tenant, ids = people_tenant
    api = _api(client, client_token, tenant)
    hh = api.post("/households", json={"location_id": ids["N-R-T-U"], "address": "Rue 2",
                                       "head": person(None, given="Jean", sex="male", birth="1970-01-01"),
                                       "members": [{**person(None, given="Anne", birth="2001-01-01"),
                                                    "relationship": "child"}]}).json
    anne = hh["members"][1]["id"]
    loner = api.post("/individuals", json=person(ids["N-R-T-L"], given="Luc", sex="male", birth="1999-09-09")).json
    assert loner["household_id"] is None and loner["probable_duplicates"] == []

    joined = api.post(f"/individuals/{loner['id']}/household", json={"household_id": hh["id"],
                                                                      "relationship": "not_related"})
    assert joined.status_code == 200 and joined.json["household_id"] == hh["id"]
    refused = api.post(f"/individuals/{hh['head_id']}/household", json={"household_id": None})
    assert refused.status_code == 422 and "individual_id" in refused.json["errors"]
    assert api.patch(f"/individuals/{anne}", json={"household_id": 1}).status_code == 422

    head = api.post(f"/households/{hh['id']}/head", json={"individual_id": anne,
                                                          "previous_head_relationship": "parent"})
    assert head.status_code == 200 and head.json["head_id"] == anne
    assert [(m["given_name"], m["relationship"]) for m in head.json["members"]][0] == ("Anne", "head")
    not_member = api.post(f"/households/{hh['id']}/head", json={"individual_id": 999999})
    assert not_member.status_code == 422 and "individual_id" in not_member.json["errors"]

    moved = api.patch(f"/households/{hh['id']}", json={"location_id": ids["S-H-M-P"], "status": "active"})
    assert moved.status_code == 200 and moved.json["location_id"] == ids["S-H-M-P"]
    villages = {m["given_name"]: m["location_id"] for m in moved.json["members"]}
    assert villages == {"Anne": ids["S-H-M-P"], "Jean": ids["S-H-M-P"], "Luc": ids["N-R-T-L"]}
    bad = api.patch(f"/households/{hh['id']}", json={"location_id": ids["S"], "status": "gone", "colour": 1})
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"location_id", "status", "colour"}
    listed = api.get(f"/households?location={ids['S']}")
    assert [h["id"] for h in listed.json] == [hh["id"]]
    assert [h["id"] for h in api.get("/households?q=anne dupont").json] == [hh["id"]]
