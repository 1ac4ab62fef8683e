"""Vouchers API: programmes with budget, issuance (one, bulk job), lookup, redemption with refusals
as problem+json with a reason, idempotent retries, cancellation and reissue, permissions, and
another tenant's codes unknown."""

from __future__ import annotations

import pytest

from schemehost.tenants.vouchers import codes

from .conftest import ELIGIBILITY, SERVICES, build_world

PROBLEM = "application/problem+json"
ALL = ("vouchers.programmes.manage", "vouchers.issue", "vouchers.redeem", "registry.read")


@pytest.fixture
def api_world(world, client, client_token):
    return world, {"Authorization": f"Bearer {client_token(world.tenant, scopes=ALL)}"}


def test_programme_create_read_update_and_validation(api_world, client):
    world, auth = api_world
    base = f"/t/{world.tenant.slug}/api/v1/vouchers"
    resp = client.post(f"{base}/programmes", headers=auth, json={
        "code": "TRANS-ONLY", "name": "Transport", "validity_days": 30, "budget_ceiling": 50000,
        "services": [{"code": "T", "name": "Transport", "tariff": 5000, "count": 2}], "facilities": ["CSI-A"]})
    assert resp.status_code == 201, resp.json
    body = resp.json
    assert body["package_value"] == 10000 and body["currency"] == "XAF" and body["facilities"] == ["CSI-A"]
    assert body["budget"] == {"currency": "XAF", "ceiling": 50000, "issued": 0, "issued_count": 0, "live_count": 0,
                              "redeemed": 0, "committed": 0, "available": 50000}
    resp = client.patch(resp.headers["Location"], headers=auth, json={"name": "Transport only", "status": "closed"})
    assert resp.status_code == 200 and resp.json["status"] == "closed"
    bad = client.post(f"{base}/programmes", headers=auth, json={
        "code": "BAD", "name": "x", "validity_days": 10,
        "services": [{"code": "A", "name": "A", "tariff": "lots", "count": 1}]})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM and "services[0].tariff" in bad.json["errors"]
    listed = client.get(f"{base}/programmes", headers=auth).json
    assert {p["code"] for p in listed} == {"CS-MERE", "TRANS-ONLY"}


def test_issue_lookup_redeem_refuse_and_retry(api_world, client):
    world, auth = api_world
    base = f"/t/{world.tenant.slug}/api/v1/vouchers"
    resp = client.post(f"{base}/programmes/{world.programme_id}/vouchers", headers=auth,
                       json={"individual_id": world.people["amina"]})
    assert resp.status_code == 201, resp.json
    code = resp.json["code"]
    not_eligible = client.post(f"{base}/programmes/{world.programme_id}/vouchers", headers=auth,
                               json={"individual_id": world.people["emil"]})
    assert not_eligible.status_code == 422 and not_eligible.json["reason"] == "not_eligible"
    view = client.get(f"{base}/{codes.grouped(code).replace(' ', '-')}", headers=auth).json
    assert view["beneficiary"]["given_name"] == "amina"
    assert [(s["code"], s["remaining"]) for s in view["services"]] == [("CPN", 2), ("ACC", 1), ("TRANS", 1)]

    def redeem(service, facility="CSI-A", key=None, voucher=code):
        headers = {**auth, **({"Idempotency-Key": key} if key else {})}
        return client.post(f"{base}/{voucher}/redemptions", headers=headers,
                           json={"service": service, "facility_id": world.facilities[facility]})

    typo = code[:3] + code[4] + code[3] + code[5:] if code[3] != code[4] else code[:-1] + str((int(code[-1]) + 1) % 10)
    for resp, status, reason in [(redeem("CPN", voucher=typo), 422, "invalid_code"),
                                 (redeem("CPN", voucher=codes.new_code()), 404, "unknown"),
                                 (redeem("CPN", facility="CSI-C"), 409, "wrong_facility"),
                                 (redeem("ACC"), 409, "wrong_order")]:
        assert (resp.status_code, resp.mimetype, resp.json["reason"]) == (status, PROBLEM, reason)
    first = redeem("TRANS", key="k-1")
    assert first.status_code == 201 and first.json["amount"] == 5000 and first.json["occurrence"] == 1
    again = redeem("TRANS", key="k-1")
    assert again.status_code == 201 and again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    twice = redeem("TRANS", key="k-2")
    assert twice.status_code == 409 and twice.json["reason"] == "already_redeemed"
    bad = client.post(f"{base}/{code}/redemptions", headers=auth, json={"service": 3})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM and {"service", "facility_id"} <= set(bad.json["errors"])
    # a lost card: reissued under a new code, the old one refused as cancelled
    new = client.post(f"{base}/{code}/cancellation", headers=auth, json={"reason": "lost", "reissue": True})
    assert new.status_code == 200 and new.json["code"] != code
    assert [s["remaining"] for s in new.json["services"]] == [2, 1, 0]
    assert redeem("CPN", voucher=code).json["reason"] == "cancelled"
    assert redeem("CPN", voucher=new.json["code"]).status_code == 201


def test_bulk_issuance_job_inline(api_world, client, app, monkeypatch):
    world, auth = api_world
    monkeypatch.setitem(app.config, "VOUCHERS_JOBS_INLINE", True)
    resp = client.post(f"/t/{world.tenant.slug}/api/v1/vouchers/programmes/{world.programme_id}/bulk-issuance",
                       headers=auth)
    assert resp.status_code == 202, resp.json
    assert resp.json["status"] == "succeeded" and resp.json["result"]["issued"] == 4
    budget = client.get(f"/t/{world.tenant.slug}/api/v1/vouchers/programmes/{world.programme_id}", headers=auth).json["budget"]
    assert budget["issued_count"] == 4 and budget["committed"] == 4 * 30000


def test_permissions_and_other_tenants(world, client, client_token, make_tenant):
    base = f"/t/{world.tenant.slug}/api/v1/vouchers"
    assert client.get(f"{base}/programmes").status_code == 401
    reader = {"Authorization": f"Bearer {client_token(world.tenant, scopes=('registry.read',))}"}
    resp = client.get(f"{base}/programmes", headers=reader)
    assert resp.status_code == 403 and resp.mimetype == PROBLEM
    redeemer = {"Authorization": f"Bearer {client_token(world.tenant, scopes=('vouchers.redeem',))}"}
    assert client.get(f"{base}/programmes", headers=redeemer).status_code == 200
    assert client.post(f"{base}/programmes/{world.programme_id}/vouchers", headers=redeemer,
                       json={"individual_id": world.people["amina"]}).status_code == 403
    assert client.post(f"{base}/programmes", headers=redeemer, json={}).status_code == 403
    issuer = {"Authorization": f"Bearer {client_token(world.tenant, scopes=('vouchers.issue',))}"}
    code = client.post(f"{base}/programmes/{world.programme_id}/vouchers", headers=issuer,
                       json={"individual_id": world.people["amina"]}).json["code"]
    assert client.post(f"{base}/{code}/redemptions", headers=issuer,
                       json={"service": "CPN", "facility_id": world.facilities["CSI-A"]}).status_code == 403
    # the code and the programme id are unknown to another tenant, even with every permission there
    other = build_world(make_tenant("maternal-voucher", prefix="vy"))
    theirs = {"Authorization": f"Bearer {client_token(other.tenant, scopes=ALL)}"}
    resp = client.get(f"/t/{other.tenant.slug}/api/v1/vouchers/{code}", headers=theirs)
    assert resp.status_code == 404 and resp.json["reason"] == "unknown"
    assert client.get(f"{base}/{code}", headers=theirs).status_code == 401  # their token is not valid here


def test_reimbursement_api(api_world, client, client_token):
    world, auth = api_world
    base = f"/t/{world.tenant.slug}/api/v1/vouchers"
    code = client.post(f"{base}/programmes/{world.programme_id}/vouchers", headers=auth,
                       json={"individual_id": world.people["amina"]}).json["code"]
    for service in ("CPN", "TRANS"):
        assert client.post(f"{base}/{code}/redemptions", headers=auth,
                           json={"service": service, "facility_id": world.facilities["CSI-A"]}).status_code == 201
    payer = {"Authorization": f"Bearer {client_token(world.tenant, scopes=('vouchers.reimburse',))}"}
    assert client.post(f"{base}/claims", headers=auth, json={}).status_code == 403  # needs vouchers.reimburse
    bad = client.post(f"{base}/claims", headers=payer, json={"period_start": "2026-12-31", "period_end": "2026-01-01"})
    assert bad.status_code == 422 and "period_end" in bad.json["errors"]
    made = client.post(f"{base}/claims", headers=payer, json={"period_start": "2000-01-01", "period_end": "2100-01-01",
                                                              "facility": "CSI-A", "sample_percent": 100})
    assert made.status_code == 201 and len(made.json) == 1
    claim = made.json[0]
    assert (claim["claimed"], claim["redemptions"], claim["verification"]["flagged"]) == (7500, 2, 2)
    url = f"{base}/claims/{claim['id']}"
    assert client.post(url + "/approval", headers=payer).json["reason"] == "unverified"
    lines = client.get(url, headers=payer).json["lines"]
    for line, outcome in zip(lines, ("confirmed", "rejected")):
        assert client.post(url + "/verifications", headers=payer,
                           json={"redemption_id": line["redemption_id"], "outcome": outcome}).status_code == 200
    approved = client.post(url + "/approval", headers=payer).json
    assert approved["status"] == "approved" and approved["approved_amount"] == sum(
        x["amount"] for x in lines[:1])
    paid = client.post(url + "/payment", headers=payer, json={"reference": "MOMO-77"}).json
    assert paid["status"] == "paid" and paid["payment_reference"] == "MOMO-77"
    statement = client.get(f"{base}/claims", headers=payer, query_string={"facility": "CSI-A"}).json
    assert [c["id"] for c in statement] == [claim["id"]]


def test_reports_csv_reminders_and_their_permissions(api_world, client, client_token):
    world, auth = api_world
    base = f"/t/{world.tenant.slug}/api/v1/vouchers/programmes/{world.programme_id}"
    code = client.post(f"{base}/vouchers", headers=auth, json={"individual_id": world.people["amina"]}).json["code"]
    client.post(f"/t/{world.tenant.slug}/api/v1/vouchers/{code}/redemptions", headers=auth,
                json={"service": "CPN", "facility_id": world.facilities["CSI-A"]})
    rows = client.get(f"{base}/reports/services", headers=auth).json
    assert rows[0] == {"service": "CPN", "name": "Antenatal visit", "entitled": 2, "redeemed": 1, "amount": 2500,
                       "currency": "XAF"}
    csv_resp = client.get(f"{base}/reports/areas", headers=auth, query_string={"format": "csv", "level": "3"})
    assert csv_resp.mimetype == "text/csv" and csv_resp.get_data(as_text=True).splitlines()[1].startswith("V1,")
    assert client.get(f"{base}/reports/nope", headers=auth).status_code == 422
    reminders = client.get(f"{base}/reminders", headers=auth, query_string={"idle_days": 0}).json
    assert [(r["voucher_code"], r["used"]) for r in reminders] == [(code, 1)]
    cashier = {"Authorization": f"Bearer {client_token(world.tenant, scopes=('vouchers.redeem',))}"}
    assert client.get(f"{base}/reports/services", headers=cashier).status_code == 403
    assert client.get(f"{base}/reminders", headers=cashier).status_code == 403
    reader = {"Authorization": f"Bearer {client_token(world.tenant, scopes=('reports.read',))}"}
    assert client.get(f"{base}/reports/timing", headers=reader).status_code == 200
