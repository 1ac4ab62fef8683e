"""The location tree through the services: levels, codes, moves, population, deletion, subtrees, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.core.services import put_setting
from schemehost.tenants.identity import roles, scoping
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import Location

from .conftest import audit_entries


def test_levels_follow_the_tree_and_paths_end_with_the_location(tenant, tree):
    with tenant.session() as s:
        village = reg.get_location(s, tree["N-R-T-U"])
        assert village.level == 3 and village.parent_id == tree["N-R-T"]
        assert village.path == [tree["N"], tree["N-R"], tree["N-R-T"], tree["N-R-T-U"]]
        assert reg.level_name(reg.level_names(s), village.level) == "Village"
        assert [a.code for a in reg.ancestors(s, village)] == ["N", "N-R", "N-R-T"]
        # an explicit level is accepted by index or by name (any case) when it is the right one
        extra = reg.create_location(s, code="S-H-M", name="Hilltop", parent_id=tree["S-H"], level="municipality")
        assert extra.level == 2


def test_wrong_levels_codes_and_parents_are_refused_with_field_errors(tenant, tree):
    with tenant.session() as s:
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="X", name="X", parent_id=tree["N"], level="Village")
        assert "Below a Region comes a District" in err.value.errors["level"][0]
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="X", name="X", level="District")
        assert list(err.value.errors) == ["level"]
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="X", name="X", parent_id=tree["N-R-T-U"])
        assert "lowest level" in err.value.errors["parent_id"][0]
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="bad code!", name="  ", parent_id=999999)
        assert set(err.value.errors) == {"code", "name", "parent_id"}
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="Y", name="Y", population={"male_population": -1, "cows": 3})
        assert set(err.value.errors) == {"male_population", "cows"}
        with pytest.raises(Conflict) as err:
            reg.create_location(s, code="N-R", name="Again", parent_id=tree["N"])
        assert err.value.errors == {"code": ["This code is already taken."]}


def test_level_names_come_from_the_tenant_settings(tenant):
    with tenant.session() as s:
        put_setting(s, "location_levels", ["Province", "Ward"])
        top = reg.create_location(s, code="P1", name="Province one", level="Province")
        ward = reg.create_location(s, code="W1", name="Ward one", parent_id=top.id, level=1)
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="W2", name="Nope", parent_id=ward.id)
        assert "A Ward is the lowest level" in err.value.errors["parent_id"][0]


def test_move_rewrites_the_whole_subtree_and_refuses_cycles_and_level_mismatches(tenant, tree):
    with tenant.session() as s:
        moved = reg.move_location(s, tree["N-R"], tree["S"])
        assert moved.parent_id == tree["S"] and moved.path == [tree["S"], tree["N-R"]]
        village = reg.get_location(s, tree["N-R-T-L"])
        s.refresh(village)
        assert village.path == [tree["S"], tree["N-R"], tree["N-R-T"], tree["N-R-T-L"]] and village.level == 3
        assert {loc.code for loc in reg.list_locations(s, within=tree["S"])} == {
            "S", "S-H", "N-R", "N-R-T", "N-R-T-U", "N-R-T-L"}
        assert {loc.code for loc in reg.list_locations(s, within=tree["N"])} == {"N"}

        with pytest.raises(ValidationError) as err:  # under its own descendant
            reg.move_location(s, tree["N-R"], tree["N-R-T"])
        assert "under itself or one of the locations below it" in err.value.errors["parent_id"][0]
        with pytest.raises(ValidationError) as err:  # under itself
            reg.move_location(s, tree["N-R"], tree["N-R"])
        assert "under itself" in err.value.errors["parent_id"][0]
        with pytest.raises(ValidationError) as err:  # a village under a district
            reg.move_location(s, tree["N-R-T-U"], tree["S-H"])
        assert "A Village goes below a Municipality, not below a District" in err.value.errors["parent_id"][0]
        with pytest.raises(ValidationError) as err:  # a district to the top
            reg.move_location(s, tree["S-H"], None)
        assert "needs a parent" in err.value.errors["parent_id"][0]
        with pytest.raises(ValidationError) as err:
            reg.move_location(s, tree["N"], tree["S"])
        assert "top level" in err.value.errors["parent_id"][0]
    moves = audit_entries(tenant, "location", "move")
    assert len(moves) == 1
    assert moves[0].before["parent_id"] == tree["N"] and moves[0].after["parent_id"] == tree["S"]
    assert moves[0].after["path"] == [tree["S"], tree["N-R"]]


def test_rename_recode_and_population_are_audited_with_before_and_after(tenant, tree):
    with tenant.session() as s:
        reg.rename_location(s, tree["N-R-T-U"], "  Upper   Ford ", code="N-R-T-UF")
        reg.set_population(s, tree["N-R-T-U"], male_population=120, female_population=130, families=40)
        loc = reg.get_location_by_code(s, "N-R-T-UF")
        assert (loc.name, loc.male_population, loc.female_population, loc.other_population, loc.families) == (
            "Upper Ford", 120, 130, None, 40)
        reg.rename_location(s, tree["N-R-T-U"], "Upper Ford")  # no change: no entry
        with pytest.raises(Conflict):
            reg.rename_location(s, tree["N-R-T-U"], "Upper Ford", code="N")
    updates = audit_entries(tenant, "location", "update")
    assert [(u.before["name"], u.after["name"]) for u in updates] == [("Upper", "Upper Ford"),
                                                                      ("Upper Ford", "Upper Ford")]
    assert updates[0].after["code"] == "N-R-T-UF" and updates[1].after["families"] == 40
    assert updates[0].entity_id == str(tree["N-R-T-U"])
    assert len(audit_entries(tenant, "location", "create")) == 7


def test_delete_only_when_nothing_refers_to_the_location(tenant, tree, tenant_user):
    user_id, _email, _password = tenant_user(tenant)
    with tenant.session() as s:
        with pytest.raises(Conflict) as err:
            reg.delete_location(s, tree["N-R-T"])
        assert err.value.extra["usage"]["children"] == 2
        reg.create_facility(s, code="HC", name="Health centre", level="health_centre", care_type="both",
                            location_id=tree["N-R-T-U"])
        roles.set_user_locations(s, user_id, [tree["N-R-T-L"]])
        with pytest.raises(Conflict) as err:
            reg.delete_location(s, tree["N-R-T-U"])
        assert "1 health facilities" in err.value.detail
        with pytest.raises(Conflict) as err:
            reg.delete_location(s, tree["N-R-T-L"])
        assert err.value.extra["usage"] == {"children": 0, "facilities": 0, "users": 1}
        reg.delete_location(s, tree["S-H"])
        with pytest.raises(NotFound):
            reg.get_location(s, tree["S-H"])
    deleted = audit_entries(tenant, "location", "delete")
    assert [(d.entity_id, d.before["code"]) for d in deleted] == [(str(tree["S-H"]), "S-H")]


def test_lists_filter_by_parent_level_code_name_and_page_by_id(tenant, tree):
    with tenant.session() as s:
        assert [loc.code for loc in reg.list_locations(s, parent_id=None)] == ["N", "S"]
        assert [loc.code for loc in reg.list_locations(s, parent_id=tree["N-R-T"])] == ["N-R-T-U", "N-R-T-L"]
        assert [loc.code for loc in reg.list_locations(s, level="Village")] == ["N-R-T-U", "N-R-T-L"]
        assert [loc.code for loc in reg.list_locations(s, code="S-H")] == ["S-H"]
        assert [loc.code for loc in reg.list_locations(s, q="IVER")] == ["N-R"]
        assert [loc.code for loc in reg.list_locations(s, q="%")] == []
        first = reg.list_locations(s, limit=3)
        rest = reg.list_locations(s, after_id=first[-1].id)
        assert len(first) == 3 and len(rest) == 4 and first[-1].id < rest[0].id
        with pytest.raises(ValidationError):
            reg.list_locations(s, level="Continent")


def test_tree_nests_children_by_name_and_stops_where_it_would_grow_too_big(tenant, tree):
    with tenant.session() as s:
        roots = reg.location_tree(s)
        assert [n.location.code for n in roots] == ["N", "S"]
        town = roots[0].children[0].children[0]
        assert [n.location.name for n in town.children] == ["Lower", "Upper"]
        shallow = reg.location_tree(s, max_nodes=3)
        assert [n.location.code for n in shallow] == ["N", "S"]
        assert shallow[0].children == [] and shallow[0].hidden_children and shallow[0].child_count == 1
        sub = reg.location_tree(s, root_id=tree["N-R"])
        assert [n.location.code for n in sub] == ["N-R"] and len(sub[0].children[0].children) == 2


def test_the_location_restriction_expands_to_subtrees_in_one_query(app, tenant, tree):
    principal = Principal(kind="user", id="1", name="Officer", tenant_id=tenant.id, permissions=frozenset(),
                          location_ids=frozenset({tree["N-R-T"], tree["S-H"]}))
    with tenant.session() as s:
        stmt = scoping.restrict_to_locations(select(Location.code), principal, Location.id)
        assert "path &&" in str(stmt.compile(compile_kwargs={"literal_binds": False}))
        assert set(s.execute(stmt).scalars()) == {"N-R-T", "N-R-T-U", "N-R-T-L", "S-H"}
        assert reg.existing_location_ids(s, [tree["N"], 999999, -3]) == {tree["N"]}


def test_a_location_of_another_tenant_is_not_found(make_tenant, tenant, tree):
    other = make_tenant("blank")
    with other.session() as s:
        with pytest.raises(NotFound):
            reg.get_location(s, tree["N"])
        with pytest.raises(ValidationError) as err:
            reg.create_location(s, code="X", name="X", parent_id=tree["N"])
        assert "parent_id" in err.value.errors
