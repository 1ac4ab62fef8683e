"""Claims API: entry with every bad field reported at once and nothing half-saved, claim numbers unique
per facility, changes while entered (version), facility staff limited to their area, listing with
filters and keyset pages, CSV batches (per-row report, all or nothing, idempotent re-upload), and the
ICD-10 list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from schemehost.platform.errors import NotFound, ValidationError
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.insurance.claims import services as svc
from schemehost.tenants.insurance.claims.models import ClaimLine, InsuranceClaim
from schemehost.tenants.registry import services as reg

from .claims_world import TODAY, VISIT, api, world  # noqa: F401  (fixtures)
from .test_products_api import Api


def _counts(world) -> tuple[int, int]:
    with world.tenant.session() as s:
        return (s.execute(select(func.count()).select_from(InsuranceClaim)).scalar_one(),
                s.execute(select(func.count()).select_from(ClaimLine)).scalar_one())


def test_a_claim_is_entered_with_its_lines_and_read_back(api, world):
    body = world.body("E-1")
    body["lines"].append({"service": "CONS", "quantity": 1})  # no price: the price list's
    resp = api.post(world.base, json=body)
    assert resp.status_code == 201, resp.json
    claim = resp.json
    assert resp.headers["Location"].endswith(f"/claims/{claim['id']}")
    assert (claim["status"], claim["version"], claim["currency"]) == ("entered", 1, "TZS")
    assert claim["claimed"] == 5_000 + 10 * 200 + 5_000
    assert [(l["line_no"], l["code"], l["quantity"], l["price"], l["status"]) for l in claim["lines"]] == [
        (1, "CONS", 1, 5_000, "entered"), (2, "PARA", 10, 200, "entered"), (3, "CONS", 1, 5_000, "entered")]
    assert claim["facility"]["code"] == "HC1" and claim["insuree"]["scheme_number"] == world.numbers[0]
    assert (claim["icd_code"], claim["icd_codes"]) == ("B54", ["R50"])
    assert claim["review_status"] == "not_selected" and claim["policy_id"] is None
    got = api.get(f"{world.base}/{claim['id']}")
    assert got.status_code == 200 and got.json["lines"] == claim["lines"]
    with world.tenant.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "claims.create",
                                                   AuditEntry.entity_id == str(claim["id"]))).scalar_one()
        assert entry.after["claimed"] == claim["claimed"] and entry.after["lines"] == 3


def test_every_bad_field_is_reported_at_once_and_nothing_is_saved(api, world):
    before = _counts(world)
    bad = world.body("E-BAD", facility="NOPE", insuree="NOBODY", visit_type="walk_in",
                     date_from=(TODAY + timedelta(days=2)).isoformat(), date_to=(TODAY - timedelta(days=9)).isoformat(),
                     icd_code="Z99", icd_codes=["B54", "nonsense"], incident_id=987654,
                     lines=[{"service": "CONS", "quantity": 0, "price": 5_000},
                            {"item": "NOPE", "quantity": 1, "price": -5},
                            {"item": "CONS", "quantity": 1, "price": 1}])  # CONS is a service
    resp = api.post(world.base, json=bad)
    assert resp.status_code == 422
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    errors = resp.json["errors"]
    assert {"facility", "insuree", "visit_type", "date_from", "date_to", "icd_code", "icd_codes",
            "incident_id", "lines.0.quantity", "lines.1.item", "lines.1.price", "lines.2.item"} <= set(errors), errors
    assert "Z99 is not in the ICD-10 list." in errors["icd_code"]
    empty = api.post(world.base, json=world.body("E-EMPTY", lines=[]))
    assert empty.status_code == 422 and "lines" in empty.json["errors"]
    assert _counts(world) == before


def test_a_claim_number_is_unique_per_facility(api, world):
    assert api.post(world.base, json=world.body("DUP-1")).status_code == 201
    before = _counts(world)
    again = api.post(world.base, json=world.body("DUP-1", insuree=world.numbers[1]))
    assert again.status_code == 409 and "code" in again.json["errors"]
    assert _counts(world) == before
    assert api.post(world.base, json=world.body("DUP-1", facility=world.other_facility)).status_code == 201


def test_an_entered_claim_changes_with_its_version(api, world):
    claim = api.post(world.base, json=world.body("ED-1")).json
    url = f"{world.base}/{claim['id']}"
    changed = api.put(url, json={**world.body("ED-1", lines=[{"service": "CONS", "quantity": 2, "price": 4_000}]),
                                 "version": 1})
    assert changed.status_code == 200, changed.json
    assert (changed.json["version"], changed.json["claimed"], len(changed.json["lines"])) == (2, 8_000, 1)
    stale = api.put(url, json={**world.body("ED-1"), "version": 1})
    assert stale.status_code == 409 and stale.json["current_version"] == 2 and "version" in stale.json["errors"]
    bad = api.put(url, json={**world.body("ED-1", lines=[{"service": "CONS", "quantity": -1}]), "version": 2})
    assert bad.status_code == 422 and "lines.0.quantity" in bad.json["errors"]
    assert api.get(url).json["claimed"] == 8_000


def test_listing_filters_and_pages(api, world):
    for n in range(3):
        assert api.post(world.base, json=world.body(f"L-{n}", facility=world.other_facility)).status_code == 201
    first = api.get(world.base, query_string={"facility": world.other_facility, "status": "entered", "limit": 2})
    assert first.status_code == 200 and len(first.json) == 2 and "rel=\"next\"" in first.headers["Link"]
    rest = api.get(world.base, query_string={"facility": world.other_facility, "status": "entered", "limit": 2,
                                             "after_id": first.json[-1]["id"]})
    codes = [c["code"] for c in first.json + rest.json]
    assert {"L-0", "L-1", "L-2"} <= set(codes) and len(codes) == len(set(codes))
    none = api.get(world.base, query_string={"date_to": (VISIT - timedelta(days=1)).isoformat()})
    assert none.status_code == 200 and none.json == []
    assert api.get(world.base, query_string={"status": "lost"}).status_code == 422


def test_reading_and_entering_need_claims_permissions(client, client_token, world):
    reader = Api(client, client_token(world.tenant, scopes=("insurance.read",)))
    assert reader.get(world.base).status_code == 200
    refused = reader.post(world.base, json=world.body("P-1"))
    assert refused.status_code == 403
    assert reader.get(f"{world.base}/999999999").status_code == 404


def test_facility_staff_restricted_to_an_area_only_reach_its_facilities(world):
    with world.tenant.session() as s:
        village = reg.get_location_by_code(s, "R-D-W-V").id
        clerk = Principal(kind="user", id="7", name="Clerk", tenant_id=0, permissions=frozenset({"claims.submit"}),
                          location_ids=frozenset({village}))
        with pytest.raises(ValidationError) as err:
            svc.create_claim(s, world.body("AREA-1", facility=world.other_facility), principal=clerk)
        assert "facility" in err.value.errors
        mine = svc.create_claim(s, world.body("AREA-1"), principal=clerk)
        assert mine.entered_by == "Clerk"
        elsewhere = svc.create_claim(s, world.body("AREA-2", facility=world.other_facility), principal=None)
        with pytest.raises(NotFound):
            svc.get_claim(s, elsewhere.id, principal=clerk)
        seen = {c.facility_id for c in svc.list_claims(s, principal=clerk, limit=1000)}
        assert seen == {mine.facility_id}


CSV_HEADER = "claim_code,facility,insuree,visit_type,date_from,date_to,icd_code,icd_codes,item,quantity,price\n"


def _csv(world, rows: list[str]) -> bytes:
    return (CSV_HEADER + "\n".join(rows) + "\n").encode()


def test_a_csv_batch_is_all_or_nothing_and_uploading_it_again_saves_nothing_twice(api, world):
    day = VISIT.isoformat()
    n0, n1 = world.numbers[0], world.numbers[1]
    good = _csv(world, [f"B-1,HC1,{n0},out_patient,{day},,B54,R50 R51,CONS,1,50.00",
                        f"B-1,HC1,{n0},out_patient,{day},,B54,R50 R51,PARA,10,",
                        f"B-2,HC2,{n1},emergency,{day},{day},S52,,CONS,1,50"])
    resp = api.post(f"{world.base}/batch", data=good, content_type="text/csv")
    assert resp.status_code == 200, resp.json
    assert (resp.json["rows"], resp.json["created"], resp.json["skipped"]) == (3, 2, 0)
    claim = api.get(f"{world.base}/{resp.json['claim_ids'][0]}").json
    assert claim["claimed"] == 5_000 + 10 * 200 and claim["icd_codes"] == ["R50", "R51"]
    before = _counts(world)
    again = api.post(f"{world.base}/batch", data={"file": (__import__("io").BytesIO(good), "claims.csv")},
                     content_type="multipart/form-data")
    assert again.status_code == 200 and (again.json["created"], again.json["skipped"]) == (0, 2)
    assert _counts(world) == before

    bad = _csv(world, [f"B-3,HC1,{n0},out_patient,{day},,B54,,CONS,1,50",
                       f"B-3,HC1,{n1},out_patient,{day},,B54,,PARA,two,",
                       f"B-4,HC1,NOBODY,out_patient,{day},,B54,,NOPE,1,5",
                       f"B-5,HC1,{n0},out_patient,{day},,B54,,CONS,1,50"])
    refused = api.post(f"{world.base}/batch", data=bad, content_type="text/csv")
    assert refused.status_code == 422
    problems = {(p["row"], p["column"]) for p in refused.json["problems"]}
    assert {(3, "insuree"), (3, "quantity"), (4, "insuree"), (4, "item")} <= problems, refused.json["problems"]
    assert all(row != 5 for row, _col in problems)
    assert next(p for p in refused.json["problems"] if p["row"] == 3 and p["column"] == "quantity")["value"] == "two"
    assert "row.4.item" in refused.json["errors"]
    assert _counts(world) == before
    partial = api.post(f"{world.base}/batch", data=bad, content_type="text/csv", query_string={"partial": "true"})
    assert partial.status_code == 200 and partial.json["created"] == 1 and len(partial.json["problems"]) >= 4
    assert api.get(world.base, query_string={"code": "B-5"}).json[0]["lines"][0]["price"] == 5_000

    header = api.post(f"{world.base}/batch", data=b"claim_code,facility\nX,HC1\n", content_type="text/csv")
    assert header.status_code == 422 and {(1, "insuree"), (1, "item")} <= {
        (p["row"], p["column"]) for p in header.json["problems"]}
    with world.tenant.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "claims.import")
                               .order_by(AuditEntry.id)).scalars().all()
        assert [e.details["counts"]["created"] for e in entries] == [2, 0, 1]
        assert all(len(e.details["input"]["sha256"]) == 64 for e in entries)


def test_icd10_codes_and_reason_codes_are_listed(api, world):
    found = api.get(f"{world.base}/icd10", query_string={"q": "B5"})
    assert found.status_code == 200 and {"code": "B54", "title": "Unspecified malaria"} in found.json
    assert any(c["code"] == "O80" for c in api.get(f"{world.base}/icd10", query_string={"q": "delivery"}).json)
    reasons = {r["code"]: r["kind"] for r in api.get(f"{world.base}/reasons").json}
    assert reasons["not_insured"] == "automatic" and reasons["not_justified"] == "review"


def test_claims_in_subject_access_erasure_and_retention(client, client_token, api, world):
    from schemehost.tenants.insurance.claims.privacy import claimants
    from schemehost.tenants.registry import privacy

    claim = api.post(world.base, json=world.body("PRIV-1", insuree=world.numbers[2])).json
    with world.tenant.session() as s:
        s.execute(InsuranceClaim.__table__.update().where(InsuranceClaim.__table__.c.id == claim["id"])
                  .values(review_note="Called the mother"))
    token = client_token(world.tenant, scopes=("registry.read", "registry.write", "registry.personal_data"))
    resp = client.get(f"/t/{world.slug}/api/v1/individuals/{world.members[2]}/subject-access",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    [mine] = resp.json["modules"]["claims"]["claims"]
    assert (mine["code"], mine["facility"], mine["icd_code"], mine["review_note"]) == (
        "PRIV-1", "HC1", "B54", "Called the mother")
    assert [(l["code"], l["quantity"]) for l in mine["lines"]] == [("CONS", 1), ("PARA", 10)]
    with world.tenant.session() as s:
        assert world.members[2] in set(s.execute(claimants(s)).scalars())  # an entered claim is in progress
        privacy.erase_individual(s, world.members[2], principal=None)
    with world.tenant.session() as s:
        kept = s.get(InsuranceClaim, claim["id"])
        assert kept.review_note is None and (kept.icd_code, kept.claimed) == ("B54", claim["claimed"])
