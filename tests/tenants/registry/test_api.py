"""The registry API with real OAuth client tokens: problem+json field errors, permissions, tenants."""

from __future__ import annotations

import pytest

from .conftest import audit_entries

PROBLEM = "application/problem+json"
BOTH = ("registry.read", "registry.locations.manage")


class Caller:
    """The test client with one bearer token, on one tenant's API."""

    def __init__(self, client, slug, token):
        self.client, self.base, self.headers = client, f"/t/{slug}/api/v1", {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        def call(path, **kw):
            return getattr(self.client, method)(self.base + path, headers=self.headers, **kw)

        return call


@pytest.fixture
def manager(client, client_token, tenant):
    return Caller(client, tenant.slug, client_token(tenant, scopes=BOTH))


def _tree(api) -> dict[str, int]:
    ids: dict[str, int] = {}
    for code, parent in [("N", None), ("N-R", "N"), ("N-R-T", "N-R"), ("N-R-T-U", "N-R-T"), ("S", None),
                         ("S-H", "S"), ("S-H-M", "S-H")]:
        resp = api.post("/locations", json={"code": code, "name": f"Place {code}", "parent_id": ids.get(parent)})
        assert resp.status_code == 201, resp.get_json()
        ids[code] = resp.json["id"]
    return ids


def test_locations_are_created_read_listed_moved_and_deleted(manager, tenant):
    ids = _tree(manager)
    resp = manager.get(f"/locations/{ids['N-R-T-U']}")
    assert resp.status_code == 200
    assert {k: resp.json[k] for k in ("code", "level", "level_name", "parent_id", "path")} == {
        "code": "N-R-T-U", "level": 3, "level_name": "Village", "parent_id": ids["N-R-T"],
        "path": [ids["N"], ids["N-R"], ids["N-R-T"], ids["N-R-T-U"]]}
    created = manager.post("/locations", json={"code": "N-R-T-L", "name": "Lower", "parent_id": ids["N-R-T"],
                                               "level": "Village", "families": 12})
    assert created.status_code == 201 and created.headers["Location"].endswith(f"/locations/{created.json['id']}")
    assert created.json["families"] == 12

    assert [x["code"] for x in manager.get("/locations?top=true").json] == ["N", "S"]
    assert [x["code"] for x in manager.get(f"/locations?parent_id={ids['N-R-T']}").json] == ["N-R-T-U", "N-R-T-L"]
    assert [x["code"] for x in manager.get("/locations?level=village").json] == ["N-R-T-U", "N-R-T-L"]
    assert [x["code"] for x in manager.get(f"/locations?within={ids['S']}").json] == ["S", "S-H", "S-H-M"]
    first = manager.get("/locations?limit=5")
    assert len(first.json) == 5 and 'rel="next"' in first.headers["Link"]
    nxt = first.headers["Link"].split(">")[0].lstrip("<")
    assert [x["code"] for x in manager.client.get(nxt, headers=manager.headers).json] == ["S-H", "S-H-M", "N-R-T-L"]
    levels = manager.get("/location-levels").json
    assert [(lv["name"], lv["facilities"]) for lv in levels] == [
        ("Region", False), ("District", False), ("Municipality", True), ("Village", True)]

    moved = manager.patch(f"/locations/{ids['N-R-T']}", json={"parent_id": ids["S-H"], "name": "Town",
                                                              "male_population": 10})
    assert moved.status_code == 200, moved.get_json()
    assert moved.json["path"] == [ids["S"], ids["S-H"], ids["N-R-T"]] and moved.json["name"] == "Town"
    assert manager.get(f"/locations/{ids['N-R-T-U']}").json["path"][:2] == [ids["S"], ids["S-H"]]

    assert manager.delete(f"/locations/{ids['N-R']}").status_code == 204
    assert manager.get(f"/locations/{ids['N-R']}").status_code == 404
    assert [e.action for e in audit_entries(tenant, "location")][-2:] == ["move", "delete"]


def test_bad_location_input_is_problem_json_with_field_errors(manager):
    ids = _tree(manager)

    dup = manager.post("/locations", json={"code": "N", "name": "Again"})
    assert dup.status_code == 409 and dup.mimetype == PROBLEM
    assert dup.json["errors"] == {"code": ["This code is already taken."]}

    cycle = manager.patch(f"/locations/{ids['S-H']}", json={"parent_id": ids["S-H-M"]})
    assert cycle.status_code == 422 and cycle.mimetype == PROBLEM
    assert "under itself or one of the locations below it" in cycle.json["errors"]["parent_id"][0]

    wrong = manager.post("/locations", json={"code": "X", "name": "X", "parent_id": ids["N"], "level": 3})
    assert wrong.status_code == 422 and list(wrong.json["errors"]) == ["level"]
    mismatch = manager.patch(f"/locations/{ids['N-R-T-U']}", json={"parent_id": ids["S-H"]})
    assert mismatch.status_code == 422 and "goes below a Municipality" in mismatch.json["errors"]["parent_id"][0]

    shape = manager.post("/locations", json={"code": 5, "parent_id": "one", "families": -1})
    assert shape.status_code == 422 and shape.mimetype == PROBLEM
    assert set(shape.json["errors"]) == {"code", "name", "parent_id"}
    values = manager.post("/locations", json={"code": "has space", "name": "X", "families": -1})
    assert set(values.json["errors"]) == {"code", "families"}
    assert manager.patch(f"/locations/{ids['N']}", json={}).status_code == 422

    in_use = manager.delete(f"/locations/{ids['S']}")
    assert in_use.status_code == 409 and in_use.json["usage"]["children"] == 1 and "id" in in_use.json["errors"]
    assert manager.get("/locations/999999").status_code == 404
    assert manager.get("/locations?level=Continent").status_code == 422


def test_a_location_id_of_another_tenant_is_not_found(client, client_token, make_tenant, manager):
    ids = _tree(manager)
    other = make_tenant("blank")
    there = Caller(client, other.slug, client_token(other, scopes=BOTH))
    assert there.get(f"/locations/{ids['N']}").status_code == 404
    assert there.patch(f"/locations/{ids['N']}", json={"name": "Mine"}).status_code == 404
    assert there.delete(f"/locations/{ids['S-H-M']}").status_code == 404
    refused = there.post("/locations", json={"code": "X", "name": "X", "parent_id": ids["N"]})
    assert refused.status_code == 422 and "parent_id" in refused.json["errors"]
    assert there.get("/locations").json == []
    # and a token of the first tenant does not open the second one's API
    stolen = Caller(client, other.slug, manager.headers["Authorization"].split()[1])
    assert stolen.get("/locations").status_code in (401, 403)


def test_reading_and_changing_need_their_permissions(client, client_token, tenant, manager):
    ids = _tree(manager)
    reader = Caller(client, tenant.slug, client_token(tenant, scopes=("registry.read",)))
    nobody = Caller(client, tenant.slug, client_token(tenant, scopes=("settings.manage",)))
    assert reader.get("/locations").status_code == 200
    assert reader.get("/facilities").status_code == 200
    for call in (lambda a: a.post("/locations", json={"code": "Z", "name": "Z"}),
                 lambda a: a.patch(f"/locations/{ids['N']}", json={"name": "Z"}),
                 lambda a: a.delete(f"/locations/{ids['S-H-M']}"),
                 lambda a: a.post("/catalogue", json={"kind": "item", "code": "Z", "name": "Z", "type": "medicine"})):
        denied = call(reader)
        assert denied.status_code == 403 and denied.json["errors"] == {"permission": ["registry.locations.manage"]}
    denied = nobody.get("/locations")
    assert denied.status_code == 403 and denied.json["errors"] == {"permission": ["registry.read"]}
    assert client.get(f"/t/{tenant.slug}/api/v1/locations").status_code == 401


def test_facilities_catalogue_price_lists_and_prices(manager, tenant):
    ids = _tree(manager)
    body = {"code": "HC", "name": "Health centre", "level": "health_centre", "care_type": "out_patient",
            "location_id": ids["N-R-T-U"], "contract_start": "2026-01-01", "contract_end": "2026-12-31"}
    hc = manager.post("/facilities", json=body)
    assert hc.status_code == 201 and hc.json["status"] == "active" and hc.json["contract_end"] == "2026-12-31"

    assert manager.post("/facilities", json=body).json["errors"] == {"code": ["This code is already taken."]}
    bad = manager.post("/facilities", json=body | {"code": "HC2", "contract_end": "2025-12-31",
                                                   "location_id": ids["N"], "level": "clinic"})
    assert bad.status_code == 422 and set(bad.json["errors"]) == {"contract_end", "location_id", "level"}
    assert manager.post("/facilities", json=body | {"code": "HC3", "contract_end": "31/12"}).json["errors"] == {
        "contract_end": ["Not a valid date."]}
    changed = manager.patch(f"/facilities/{hc.json['id']}", json={"status": "inactive"})
    assert changed.status_code == 200 and changed.json["status"] == "inactive"
    assert [f["code"] for f in manager.get(f"/facilities?within={ids['N']}").json] == ["HC"]
    assert manager.get(f"/facilities?within={ids['S']}").json == []

    item = manager.post("/catalogue", json={"kind": "service", "code": "ANC", "name": "Antenatal visit",
                                            "type": "consultation", "unit_price": 2000, "patient_sex": "female"})
    assert item.status_code == 201 and (item.json["unit_price"], item.json["currency"]) == (2000, "USD")
    wrong = manager.post("/catalogue", json={"kind": "service", "code": "X", "name": "X", "type": "medicine",
                                             "valid_from": "2026-02-01", "valid_to": "2026-01-01"})
    assert set(wrong.json["errors"]) == {"type", "valid_to"}
    assert manager.post("/catalogue", json={"kind": "item", "code": "X", "name": "X", "type": "medicine",
                                            "unit_price": 1.5}).status_code == 422
    assert manager.patch(f"/catalogue/{item.json['id']}", json={"unit_price": 2200}).json["unit_price"] == 2200

    shared = manager.post("/price-lists", json={"code": "NAT", "name": "National", "valid_from": "2026-01-01"})
    own = manager.post("/price-lists", json={"code": "OWN", "name": "Own", "valid_from": "2026-06-01",
                                             "facility_id": hc.json["id"]})
    assert shared.status_code == 201 and own.status_code == 201 and own.json["currency"] == "USD"
    assert manager.put(f"/price-lists/{shared.json['id']}/lines/ANC", json={"price": 2500}).json["price"] == 2500
    assert manager.put(f"/price-lists/{own.json['id']}/lines/ANC", json={"price": 3000}).status_code == 200
    assert manager.put(f"/price-lists/{own.json['id']}/lines/NOPE", json={"price": 1}).json["errors"] == {
        "entry": ["unknown catalogue entry"]}
    assert manager.put(f"/price-lists/{own.json['id']}/lines/ANC", json={"price": "3"}).status_code == 422
    assert [ln["price"] for ln in manager.get(f"/price-lists/{own.json['id']}/lines").json] == [3000]
    assert [p["code"] for p in manager.get("/price-lists?shared=true").json] == ["NAT"]
    bad_period = manager.patch(f"/price-lists/{own.json['id']}", json={"valid_to": "2026-01-01"})
    assert bad_period.status_code == 422 and list(bad_period.json["errors"]) == ["valid_to"]

    def price(day, **extra):
        query = {"facility_id": hc.json["id"], "entry": "ANC", "date": day} | extra
        return manager.get("/prices", query_string=query)

    assert (price("2026-07-01").json["amount"], price("2026-07-01").json["source"]) == (3000, "facility")
    assert (price("2026-03-01").json["amount"], price("2026-03-01").json["source"]) == (2500, "shared")
    missing = price("2025-01-01")
    assert missing.status_code == 404 and missing.json["errors"] == {"entry": ["no price on that date"]}
    assert price("2025-01-01", use_default="true").json == {
        "amount": 2200, "currency": "USD", "entry_id": item.json["id"], "price_list_id": None,
        "price_list_code": None, "source": "catalogue"}

    assert manager.delete(f"/price-lists/{own.json['id']}/lines/ANC").status_code == 204
    assert manager.delete(f"/price-lists/{own.json['id']}").status_code == 204
    assert manager.get(f"/price-lists/{own.json['id']}").status_code == 404
    kinds = {e.entity_type for e in audit_entries(tenant)}
    assert {"location", "health_facility", "catalogue_entry", "price_list"} <= kinds
    actor = audit_entries(tenant, "health_facility")[0]
    assert actor.actor_type == "client"
