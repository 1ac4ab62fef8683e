"""Cash transfers end to end through the API: programmes with a previewable rule, enrolment equal to
the preview, statuses with reasons, set-wise payrolls with the benefit formula, maker-checker, paying
once, totals, export, offline reconciliation and mobile-money payment; another scheme sees nothing."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.transfers.models import Beneficiary, Payroll, PayrollLine

MAKER = ("transfers.programmes.manage", "transfers.enrol", "transfers.payroll.prepare", "transfers.payroll.approve",
         "registry.read")


HOUSEHOLDS = {"A1": ("LN-E", 2, 1), "A2": ("LN-E", 0, 1), "A3": ("LN-E", 4, 1), "B1": ("NE-K", 1, 1),
              "B2": ("NE-K", 0, 0)}


def build_two_districts(tenant, phone_prefix: str = "+2207000") -> tuple[dict[str, int], dict[str, int]]:
    """Two districts and their households in ``tenant``: ({location code: id}, {household: id}).

    Households (district, children under 18, other adults): A1 (LN, 2, 1), A2 (LN, 0, 1), A3 (LN, 4, 1),
    B1 (NE, 1, 1), B2 (NE, 0, 0); each head's phone is ``phone_prefix`` and three digits."""
    from schemehost.tenants.registry import services as reg
    from schemehost.tenants.registry.services.people import create_household

    ids: dict[str, int] = {}
    households = {}
    with tenant.session() as s:
        for code, parent in [("R1", None), ("LN", "R1"), ("LN-E", "LN"), ("R2", None), ("NE", "R2"), ("NE-K", "NE")]:
            ids[code] = reg.create_location(s, code=code, name=f"Place {code}", parent_id=ids.get(parent)).id
        for n, (name, (village_code, kids, adults)) in enumerate(HOUSEHOLDS.items()):
            head = {"given_name": f"Head{name}", "family_name": "Jallow", "sex": "female", "birth_date": "1980-01-01",
                    "phone": f"{phone_prefix}{n:03d}"}
            members = [{"given_name": f"Kid{name}{k}", "family_name": "Jallow", "sex": "male",
                        "birth_date": "2018-05-05", "relationship": "child"} for k in range(kids)]
            members += [{"given_name": f"Adult{name}{k}", "family_name": "Jallow", "sex": "male",
                         "birth_date": "1975-02-02", "relationship": "spouse"} for k in range(adults)]
            households[name] = create_household(s, principal=None, location_id=ids[village_code], head=head,
                                                members=members).id
    return ids, households


@pytest.fixture
def village(make_tenant):
    """A cash-transfer scheme with two districts and households (:func:`build_two_districts`):
    (tenant, {code: location id}, household ids)."""
    tenant = make_tenant("cash-transfer", prefix="ct")
    ids, households = build_two_districts(tenant)
    return tenant, ids, households


@pytest.fixture
def two_officers(app, village, client_token):
    """Tokens of two API clients with the transfers permissions: the maker and the checker."""
    tenant = village[0]
    return ({"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"},
            {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"})


def _url(tenant, path):
    return f"/t/{tenant.slug}/api/v1/transfers{path}"


RULE = {"all": [{"field": "size", "op": "gte", "value": 2}]}


def _programme(client, tenant, headers, **over):
    body = {"code": "NAFA", "name": "Household cash transfer", "target": "households", "eligibility": RULE,
            "benefit_kind": "formula", "base_amount": 100000, "per_child_amount": 25000, "max_children": 3,
            "cap_amount": 160000, "currency": "GMD", "frequency": "monthly", "status": "active", **over}
    resp = client.post(_url(tenant, "/programmes"), json=body, headers=headers)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json


def _paid_cycle(client, tenant, headers, checker, pid, start):
    """A cycle of programme ``pid`` from ``start`` whose payroll is generated, approved and paid."""
    cycle = client.post(_url(tenant, f"/programmes/{pid}/cycles"), headers=headers, json={"period_start": start}).json
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=headers).json
    assert client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=checker).status_code == 200
    assert client.post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={}).status_code == 200
    return payroll


def _enrol_and_activate(client, tenant, headers, programme_id):
    counts = client.post(_url(tenant, f"/programmes/{programme_id}/enrol"), headers=headers,
                         json={"reason": "targeting round"}).json
    ids = [b["id"] for b in client.get(_url(tenant, f"/programmes/{programme_id}/beneficiaries"), headers=headers).json]
    resp = client.post(_url(tenant, f"/programmes/{programme_id}/beneficiaries/status"), headers=headers,
                       json={"ids": ids, "status": "active", "reason": "validated at the community meeting"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return counts, ids


def test_the_preview_count_equals_the_enrolled_count_for_the_same_rule(client, village, two_officers):
    tenant, _ids, _hh = village
    maker, _checker = two_officers
    programme = _programme(client, tenant, maker)
    preview = client.post(_url(tenant, f"/programmes/{programme['id']}/preview"), json={}, headers=maker).json
    assert preview["count"] == 4 and {(b["location"], b["count"]) for b in preview["breakdown"]} == {("LN", 3), ("NE", 1)}
    edited = client.post(_url(tenant, f"/programmes/{programme['id']}/preview"), headers=maker,
                         json={"eligibility": {"all": [{"field": "size", "op": "gte", "value": 4}]}}).json
    assert edited["count"] == 2  # A3 (6) and A1 (4); the programme's own rule is unchanged
    counts = client.post(_url(tenant, f"/programmes/{programme['id']}/enrol"), headers=maker,
                         json={"reason": "targeting round"}).json
    assert counts["enrolled"] == preview["count"] == counts["eligible"]
    again = client.post(_url(tenant, f"/programmes/{programme['id']}/enrol"), headers=maker,
                        json={"reason": "targeting round"}).json
    assert again["enrolled"] == 0  # nobody twice
    listed = client.get(_url(tenant, f"/programmes/{programme['id']}/beneficiaries?status=potential"), headers=maker).json
    assert len(listed) == 4


def test_enrolling_at_once_needs_a_reason_kept_in_its_audit_entry(client, village, two_officers):
    tenant, _ids, _hh = village
    maker, _checker = two_officers
    programme = _programme(client, tenant, maker)
    url = _url(tenant, f"/programmes/{programme['id']}/enrol")
    for body in (None, {}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}):
        refused = client.post(url, headers=maker, json=body)
        assert refused.status_code == 422, (body, refused.get_data(as_text=True))
        assert refused.mimetype == "application/problem+json" and list(refused.json["errors"]) == ["reason"], body
    assert client.get(_url(tenant, f"/programmes/{programme['id']}/beneficiaries"), headers=maker).json == []
    counts = client.post(url, headers=maker, json={"reason": "  first targeting round of the year "}).json
    assert counts["enrolled"] == 4
    with tenant.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "transfers.enrolment")).scalars().all()
    assert len(entries) == 1 and entries[0].details["reason"] == "first targeting round of the year"
    assert entries[0].details["counts"] == {"eligible": 4, "enrolled": 4}


def test_programme_input_is_checked_with_field_errors(client, village, two_officers):
    tenant, _ids, _hh = village
    maker, _checker = two_officers
    resp = client.post(_url(tenant, "/programmes"), headers=maker, json={
        "code": "X", "name": "x", "target": "households", "base_amount": -1, "currency": "GMD",
        "eligibility": {"all": [{"field": "nope", "op": "eq", "value": 1}]}})
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert "base_amount" in resp.json["errors"] and any(k.startswith("eligibility") for k in resp.json["errors"])
    assert client.get(_url(tenant, "/programmes"), headers=maker).json == []
    _programme(client, tenant, maker)
    assert client.post(_url(tenant, "/programmes"), headers=maker, json={
        "code": "NAFA", "name": "again", "target": "households", "base_amount": 1, "currency": "GMD"}).status_code == 409


def test_status_changes_need_a_reason_follow_the_rules_and_are_audited(client, village, two_officers):
    tenant, _ids, _hh = village
    maker, _checker = two_officers
    programme = _programme(client, tenant, maker, max_beneficiaries=3)
    counts = client.post(_url(tenant, f"/programmes/{programme['id']}/enrol"), headers=maker,
                         json={"reason": "targeting round"}).json
    assert (counts["eligible"], counts["enrolled"], counts["room_left"]) == (4, 3, 0)
    ids = [b["id"] for b in client.get(_url(tenant, f"/programmes/{programme['id']}/beneficiaries"), headers=maker).json]
    bad = client.post(_url(tenant, f"/programmes/{programme['id']}/beneficiaries/status"), headers=maker,
                      json={"ids": ids, "status": "graduated", "reason": "left the area"})
    assert bad.status_code == 422 and set(bad.json["errors"]) == {f"ids.{i}" for i in ids}
    ok = client.post(_url(tenant, f"/programmes/{programme['id']}/beneficiaries/status"), headers=maker,
                     json={"ids": ids, "status": "active", "reason": "validated"})
    assert ok.json == {"count": 3}
    suspend = client.post(_url(tenant, f"/programmes/{programme['id']}/beneficiaries/status"), headers=maker,
                          json={"ids": ids[:1], "status": "suspended", "reason": "did not attend the check-up"})
    assert suspend.json == {"count": 1}
    with tenant.session() as s:
        entries = s.execute(select(AuditEntry.details).where(AuditEntry.action == "transfers.beneficiaries.status")
                            .order_by(AuditEntry.id)).scalars().all()
    assert [e["reason"] for e in entries] == ["validated", "did not attend the check-up"]
    assert entries[1]["beneficiaries"] == ids[:1]


def test_payroll_is_generated_set_wise_with_the_formula_and_needs_a_second_person(app, client, village, two_officers):
    tenant, ids, households = village
    maker, checker = two_officers
    programme = _programme(client, tenant, maker)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                        json={"period_start": "2026-12-01"}).json
    assert cycle["period_end"] == "2026-12-31"
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker)
    assert payroll.status_code == 201, payroll.get_data(as_text=True)
    payroll = payroll.json
    # A1: 100000 + 2 x 25000; A2: 100000; A3: 4 kids, at most 3 -> 175000, capped at 160000; B1: 125000
    assert (payroll["status"], payroll["lines"], payroll["total"]) == ("pending_approval", 4, 535000)
    with tenant.session() as s:
        amounts = sorted(s.execute(select(PayrollLine.amount)).scalars().all())
    assert amounts == [100000, 125000, 150000, 160000]
    # never two payrolls of one cycle for a beneficiary
    again = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker)
    assert again.status_code == 422 and "cycle" in again.json["errors"]
    # maker-checker: the maker cannot approve; the checker can
    refused = client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=maker)
    assert refused.status_code == 403 and refused.content_type == "application/problem+json"
    assert client.get(_url(tenant, f"/payrolls/{payroll['id']}"), headers=maker).json["status"] == "pending_approval"
    approved = client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=checker)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert approved.json["approved_by"] != approved.json["generated_by"]
    totals = client.get(_url(tenant, f"/payrolls/{payroll['id']}/totals"), headers=maker).json
    assert {(d["code"], d["lines"], d["amount"]) for d in totals["districts"]} == {("LN", 3, 410000), ("NE", 1, 125000)}


def test_a_payroll_paid_twice_at_once_is_paid_once_and_reconciled_from_the_paid_list(app, client, village,
                                                                                      two_officers):
    tenant, _ids, _hh = village
    maker, checker = two_officers
    programme = _programme(client, tenant, maker, benefit_kind="fixed", cap_amount=None)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                        json={"period_start": "2026-11-01"}).json
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker).json
    assert client.post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={}).status_code == 409
    client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=checker)

    def pay(_n):
        return app.test_client().post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={}).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sorted(pool.map(pay, range(2))) == [200, 409]
    with tenant.session() as s:
        paid = s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "transfers.payroll.paid")).scalar_one()
    assert paid == 1
    exported = client.get(_url(tenant, f"/payrolls/{payroll['id']}/export?format=csv"), headers=maker)
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert exported.status_code == 200 and len(rows) == 4 and {r["amount"] for r in rows} == {"1000.00"}
    assert all(r["phone"].startswith("+220") and r["district"] for r in rows)
    xlsx = client.get(_url(tenant, f"/payrolls/{payroll['id']}/export?format=xlsx"), headers=maker)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    # the paid list from the payment points: a bad file changes nothing, a good one reconciles
    line_ids = [int(r["line_id"]) for r in rows]
    bad = "line_id,status,reference\n" + f"{line_ids[0]},paid,R1\n{line_ids[0]},paid,R1\n999999,paid,\nabc,maybe,\n"
    resp = client.post(_url(tenant, f"/payrolls/{payroll['id']}/reconcile"), headers=maker,
                       data={"file": (io.BytesIO(bad.encode()), "paid.csv")})
    assert resp.status_code == 422 and set(resp.json["errors"]) == {"row 3", "row 5", "line 999999"}
    with tenant.session() as s:
        assert s.execute(select(func.count()).select_from(PayrollLine).where(PayrollLine.status != "pending")
                         ).scalar_one() == 0
    good = "line_id,status,reference\n" + "".join(f"{i},paid,RC{i}\n" for i in line_ids[:3]) + f"{line_ids[3]},failed,\n"
    resp = client.post(_url(tenant, f"/payrolls/{payroll['id']}/reconcile"), headers=maker,
                       data={"file": (io.BytesIO(good.encode()), "paid.csv")})
    assert resp.status_code == 200 and resp.json == {"rows": 4, "paid": 3, "failed": 1, "unchanged": 0,
                                                     "payroll_status": "reconciled"}
    # the same results applied twice apply once; a line reported otherwise the second time is refused
    again = client.post(_url(tenant, f"/payrolls/{payroll['id']}/reconcile"), headers=maker,
                        data={"file": (io.BytesIO(good.encode()), "paid.csv")})
    assert again.status_code == 200 and again.json == {"rows": 4, "paid": 0, "failed": 0, "unchanged": 4,
                                                       "payroll_status": "reconciled"}
    turned = f"line_id,status\n{line_ids[3]},Paid\n\n{line_ids[0]}, paid \n"  # no reference column
    resp = client.post(_url(tenant, f"/payrolls/{payroll['id']}/reconcile"), headers=maker,
                       data={"file": (io.BytesIO(turned.encode()), "paid.csv")})
    assert resp.status_code == 422 and resp.json["errors"] == {f"line {line_ids[3]}": ["already failed"]}
    with tenant.session() as s:
        refs = dict(s.execute(select(PayrollLine.id, PayrollLine.reference)).all())
        assert refs == {**{i: f"RC{i}" for i in line_ids[:3]}, line_ids[3]: None}
        # the lines' payroll and beneficiary are kept by triggers (no per-line foreign keys)
        with pytest.raises(IntegrityError, match="named by payroll lines"):
            with s.begin_nested():
                s.execute(delete(Beneficiary).where(Beneficiary.id == s.get(PayrollLine, line_ids[0]).beneficiary_id))
        with pytest.raises(IntegrityError, match="keeps its payroll and beneficiary"):
            with s.begin_nested():
                s.execute(update(PayrollLine).where(PayrollLine.id == line_ids[0]).values(beneficiary_id=line_ids[1]))
    totals = client.get(_url(tenant, f"/payrolls/{payroll['id']}/totals"), headers=maker).json
    assert sum(d["paid"] for d in totals["districts"]) == 300000
    assert client.post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={}).status_code == 409


def test_a_rejected_payroll_frees_the_cycle_for_a_new_one(client, village, two_officers):
    tenant, _ids, _hh = village
    maker, checker = two_officers
    programme = _programme(client, tenant, maker, budget_ceiling=400000)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                        json={"period_start": "2026-10-01"}).json
    over = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker)
    assert over.status_code == 422 and "budget_ceiling" in over.json["errors"]
    assert client.get(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker).json == []
    client.patch(_url(tenant, f"/programmes/{programme['id']}"), headers=maker, json={"budget_ceiling": None})
    first = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker).json
    rejected = client.post(_url(tenant, f"/payrolls/{first['id']}/reject"), headers=checker, json={"reason": "wrong month"})
    assert rejected.json["status"] == "rejected"
    second = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker)
    assert second.status_code == 201 and second.json["lines"] == 4
    with tenant.session() as s:  # a payroll deleted takes its lines (a trigger, not a foreign key)
        s.execute(delete(Payroll).where(Payroll.id == second.json["id"]))
        assert s.execute(select(func.count()).select_from(PayrollLine)).scalar_one() == 0
        s.rollback()


def test_another_scheme_sees_nothing(client, village, two_officers, make_tenant, client_token):
    tenant, _ids, _hh = village
    maker, _checker = two_officers
    programme = _programme(client, tenant, maker)
    other = make_tenant("cash-transfer", prefix="co")
    other_headers = {"Authorization": f"Bearer {client_token(other, scopes=MAKER)}"}
    assert client.get(_url(other, f"/programmes/{programme['id']}"), headers=other_headers).status_code == 404
    assert client.get(_url(other, "/programmes"), headers=other_headers).json == []
    assert client.post(_url(other, f"/programmes/{programme['id']}/enrol"), headers=other_headers,
                       json={"reason": "targeting round"}).status_code == 404
    assert client.get(_url(tenant, "/programmes"), headers=other_headers).status_code in (401, 403)


def test_failed_lines_are_carried_once_to_the_next_cycle_on_request(client, village, two_officers):
    tenant, _ids, _hh = village
    maker, checker = two_officers
    programme = _programme(client, tenant, maker, benefit_kind="fixed", cap_amount=None)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    first_cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                              json={"period_start": "2026-07-01"}).json
    first = client.post(_url(tenant, f"/cycles/{first_cycle['id']}/payrolls"), headers=maker).json
    client.post(_url(tenant, f"/payrolls/{first['id']}/approve"), headers=checker)
    client.post(_url(tenant, f"/payrolls/{first['id']}/pay"), headers=checker, json={})
    rows = list(csv.DictReader(io.StringIO(client.get(_url(tenant, f"/payrolls/{first['id']}/export"),
                                                      headers=maker).get_data(as_text=True))))
    paid_list = "line_id,status,reference\n" + "".join(
        f"{r['line_id']},{'failed' if n == 0 else 'paid'},\n" for n, r in enumerate(rows))
    client.post(_url(tenant, f"/payrolls/{first['id']}/reconcile"), headers=maker,
                data={"file": (io.BytesIO(paid_list.encode()), "paid.csv")})
    second_cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                               json={"period_start": "2026-08-01"}).json
    second = client.post(_url(tenant, f"/cycles/{second_cycle['id']}/payrolls"), headers=maker).json
    carried = client.post(_url(tenant, f"/payrolls/{first['id']}/carry-failed"), headers=maker,
                          json={"into_payroll_id": second["id"]})
    assert carried.status_code == 200 and carried.json == {"carried": 1, "amount": 100000}
    again = client.post(_url(tenant, f"/payrolls/{first['id']}/carry-failed"), headers=maker,
                        json={"into_payroll_id": second["id"]})
    assert again.json == {"carried": 0, "amount": 0}  # each failed line once
    assert client.get(_url(tenant, f"/payrolls/{second['id']}"), headers=maker).json["total"] == 500000
    backwards = client.post(_url(tenant, f"/payrolls/{second['id']}/carry-failed"), headers=maker,
                            json={"into_payroll_id": first["id"]})
    assert backwards.status_code == 422 and {"payroll", "into_payroll_id"} <= set(backwards.json["errors"])


def test_status_changes_and_point_assignment_take_as_many_ids_as_the_api_allows(client, village, two_officers):
    """70,000 ids (the API takes up to 100,000; a statement binds at most 65,535 parameters): the ids
    go to PostgreSQL as one array, so the answer is the service's own, not a driver error."""
    tenant, _ids, _hh = village
    maker, _checker = two_officers
    programme = _programme(client, tenant, maker)
    counts, ids = _enrol_and_activate(client, tenant, maker, programme["id"])
    unknown = list(range(10**9, 10**9 + 70_000))
    url = _url(tenant, f"/programmes/{programme['id']}/beneficiaries")
    bad = client.post(f"{url}/status", headers=maker,
                      json={"ids": ids + unknown, "status": "suspended", "reason": "audit visit"})
    assert bad.status_code == 422
    assert len(bad.json["errors"]) == 70_000 and f"ids.{unknown[0]}" in bad.json["errors"]
    with tenant.session() as s:  # all or none: nobody was suspended
        assert set(s.execute(select(Beneficiary.status).where(Beneficiary.id.in_(ids))).scalars()) == {"active"}
    point = client.post(_url(tenant, "/payment-points"), headers=maker,
                        json={"code": "PP-MANY", "name": "Agent", "kind": "agent", "location_id": _ids["LN"]})
    assert point.status_code == 201, point.json
    moved = client.post(f"{url}/payment-point", headers=maker,
                        json={"ids": ids + unknown, "payment_point_id": point.json["id"]})
    assert moved.status_code == 200 and moved.json == {"count": len(ids)}
