"""Employment-injury insurance through the API: the employer registry, an employer's policy with its
workers (value from wages, full payment activates, workers added and removed, eligibility via the
employer), work incidents (recorded for a worker, accepted or rejected once), bad input changing
nothing, location restriction, audit without personal data, and one worker added twice at once."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from schemehost.platform.errors import NotFound
from schemehost.platform.extensions import db
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.models import PolicyMember
from schemehost.tenants.insurance.value import add_months

from .conftest import ALL_INSURANCE, build_scheme
from .test_products_api import Api

TODAY = date.today()
START = TODAY - timedelta(days=40)
SCOPES = (*ALL_INSURANCE, "insurance.employers.manage", "claims.review")


@pytest.fixture(scope="module")
def scheme(make_module_tenant):
    return build_scheme(make_module_tenant("employment-injury"))


@pytest.fixture
def api(client, client_token, scheme):
    return Api(client, client_token(scheme.tenant, scopes=SCOPES))


def _url(scheme, path: str) -> str:
    return f"/t/{scheme.slug}/api/v1{path}"


def _product(api, scheme, code: str, **over) -> int:
    body = {"code": code, "name": "Employment injury", "valid_from": "2020-01-01", "insurance_period_months": 12,
            "holder": "employer", "wage_rate_percent": "1.4", "requires_incident": True,
            "coverage": [{"service": "CONS"}, {"item": "PARA"}], **over}
    resp = api.post(_url(scheme, "/insurance/products"), json=body)
    assert resp.status_code == 201, resp.json
    return resp.json["id"]


def _employer(api, scheme, code: str, **over) -> dict:
    resp = api.post(_url(scheme, "/insurance/employers"), json={
        "code": code, "name": f"Employer {code}", "location_id": scheme.village_id, "sector": "construction",
        "registration_no": f"REG-{code}", "contact_name": "Sita Sharma", "contact_email": "HR@Example.org", **over})
    assert resp.status_code == 201, resp.json
    return resp.json


def _worker(scheme) -> tuple[int, str]:
    _household, ids, numbers = scheme.household("1985-04-01")
    return ids[0], numbers[0]


def _covered(api, scheme, number: str, day: date) -> dict:
    resp = api.get(_url(scheme, f"/eligibility?insuree={number}&service=CONS&date={day.isoformat()}"))
    assert resp.status_code == 200, resp.json
    return resp.json


def test_employers_are_registered_changed_listed_and_audited_without_their_contact(api, scheme):
    made = _employer(api, scheme, "EMP-A")
    assert (made["status"], made["contact_email"], made["registration_no"]) == ("active", "hr@example.org", "REG-EMP-A")
    base = _url(scheme, "/insurance/employers")
    assert api.post(base, json={"code": "EMP-A", "name": "Again", "location_id": scheme.village_id}).status_code == 409
    taken = api.post(base, json={"code": "EMP-A2", "name": "Same number", "location_id": scheme.village_id,
                                 "registration_no": "REG-EMP-A"})
    assert taken.status_code == 409 and "registration_no" in taken.json["errors"]
    bad = api.post(base, json={"code": "bad code!", "name": " ", "location_id": 987654, "contact_email": "nope",
                               "status": "closed"})
    assert bad.status_code == 422 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert set(bad.json["errors"]) == {"code", "name", "location_id", "contact_email", "status"}
    changed = api.patch(f"{base}/{made['id']}", json={"sector": "manufacturing", "contact_phone": "+9779841234567"})
    assert changed.status_code == 200 and changed.json["sector"] == "manufacturing"
    assert [e["code"] for e in api.get(f"{base}?q=emp-a").json] == ["EMP-A"]
    assert api.get(f"{base}/987654").status_code == 404
    with scheme.tenant.session() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.entity_type == "employer",
                                                     AuditEntry.entity_id == str(made["id"]))
                            .order_by(AuditEntry.id)).scalars().all()
        assert [e.action for e in entries] == ["create", "update"]
        assert "Sita" not in str([e.after for e in entries]) and entries[0].after["has_contact_name"] is True
        assert entries[1].details == {"contact_changed": ["contact_phone"]}


def test_an_employer_policy_is_valued_from_wages_paid_by_the_employer_and_covers_its_workers(api, scheme):
    pid = _product(api, scheme, "EII-1")
    employer = _employer(api, scheme, "EMP-B")
    (a, a_no), (b, b_no), (c, c_no) = _worker(scheme), _worker(scheme), _worker(scheme)
    enrol = _url(scheme, f"/insurance/employers/{employer['id']}/policies")
    # a wage is needed with a rate of wages; a worker listed twice; nothing is saved
    bad = api.post(enrol, json={"product_id": pid, "enrol_date": START.isoformat(),
                                "workers": [{"individual_id": a}, {"individual_id": b, "wage": 1},
                                            {"individual_id": b, "wage": 1}, {"individual_id": 987654, "wage": 1}]})
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"workers.0.wage", "workers.2.individual_id", "workers.3.individual_id"}
    resp = api.post(enrol, json={"product_code": "EII-1", "enrol_date": START.isoformat(),
                                 "workers": [{"individual_id": a, "wage": 2_500_000},
                                             {"individual_id": b, "wage": 3_000_000}]})
    assert resp.status_code == 201, resp.json
    policy = resp.json
    assert (policy["holder"], policy["employer_id"], policy["household_id"]) == ("employer", employer["id"], None)
    assert (policy["status"], policy["value"], policy["adults"]) == ("idle", 12 * 35_000 + 12 * 42_000, 2)
    assert api.post(enrol, json={"product_id": pid, "enrol_date": START.isoformat()}).status_code == 409
    assert _covered(api, scheme, a_no, TODAY)["reason"] == "policy_not_active"
    # the employer pays: full payment activates, the workers are covered
    paid = api.post(_url(scheme, f"/insurance/policies/{policy['id']}/contributions"), json={
        "amount": policy["value"], "paid_on": START.isoformat(), "method": "bank", "receipt_no": "EMP-B-1",
        "payer": employer["name"]})
    assert paid.status_code == 201, paid.json
    assert api.get(_url(scheme, f"/insurance/policies/{policy['id']}")).json["status"] == "active"
    answer = _covered(api, scheme, a_no, TODAY)
    assert answer["covered"] and answer["policy"]["id"] == policy["id"]
    assert _covered(api, scheme, c_no, TODAY)["reason"] == "not_insured"
    # a worker joins in the third policy month: 10 months at 1.4 % of 2,000,000
    workers = _url(scheme, f"/insurance/policies/{policy['id']}/workers")
    joined = add_months(START, 2)
    added = api.post(workers, json={"individual_id": c, "wage": 2_000_000, "covered_from": joined.isoformat()})
    assert added.status_code == 201, added.json
    assert added.json["value"] == policy["value"] + 10 * 28_000 and added.json["status"] == "active"
    assert api.post(workers, json={"individual_id": c, "wage": 1}).status_code == 409
    assert _covered(api, scheme, c_no, joined - timedelta(days=1))["reason"] == "not_insured"
    assert _covered(api, scheme, c_no, joined)["covered"]
    # a worker leaves at the end of the sixth month: covered until then, the months after are not owed
    last = add_months(START, 6) - timedelta(days=1)
    left = api.post(f"{workers}/{b}/leave", json={"on": last.isoformat()})
    assert left.status_code == 200 and left.json["value"] == added.json["value"] - 6 * 42_000
    assert api.post(f"{workers}/{b}/leave", json={}).status_code == 409
    assert _covered(api, scheme, b_no, last)["covered"]
    assert _covered(api, scheme, b_no, last + timedelta(days=1))["reason"] == "not_insured"
    listed = {w["individual_id"]: w for w in api.get(workers).json}
    assert listed[b]["covered_to"] == last.isoformat() and listed[c]["covered_from"] == joined.isoformat()
    assert listed[a]["wage"] == 2_500_000 and listed[a]["covered_from"] is None
    # bad changes are refused and change nothing
    early = api.post(workers, json={"individual_id": _worker(scheme)[0], "wage": 1, "covered_from": "2001-01-01"})
    assert early.status_code == 422 and "covered_from" in early.json["errors"]
    assert api.post(f"{workers}/987654/leave", json={}).status_code == 404
    assert api.get(_url(scheme, f"/insurance/policies/{policy['id']}")).json["value"] == left.json["value"]
    with scheme.tenant.session() as s:
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.entity_type == "insurance_policy",
                                                            AuditEntry.entity_id == str(policy["id"]))
                            .order_by(AuditEntry.id)).scalars().all()
        assert actions == ["create", "contribution", "activate", "add_worker", "remove_worker"]


def test_products_and_holders_must_match(api, scheme):
    household_product = api.post(_url(scheme, "/insurance/products"), json={
        "code": "FAM-1", "name": "Family", "valid_from": "2020-01-01", "insurance_period_months": 12,
        "lump_sum": 100})
    assert household_product.status_code == 201
    employer = _employer(api, scheme, "EMP-C")
    wrong = api.post(_url(scheme, f"/insurance/employers/{employer['id']}/policies"),
                     json={"product_code": "FAM-1"})
    assert wrong.status_code == 422 and "product_id" in wrong.json["errors"]
    pid = _product(api, scheme, "EII-2", wage_rate_percent=None, premium_worker=50_000)
    household, _ids, _numbers = scheme.household("1980-01-01")
    refused = api.post(_url(scheme, "/insurance/policies"), json={"household_id": household, "product_id": pid})
    assert refused.status_code == 422
    mixed = api.post(_url(scheme, "/insurance/products"), json={
        "code": "MIX", "name": "Mixed", "valid_from": "2020-01-01", "insurance_period_months": 12,
        "holder": "employer", "premium_adult": 5, "wage_rate_percent": "150"})
    assert mixed.status_code == 422 and set(mixed.json["errors"]) == {"premium_adult", "wage_rate_percent"}
    assert api.patch(_url(scheme, f"/insurance/products/{pid}"), json={"holder": "household"}).status_code == 422


def _insured_worker(api, scheme, code: str) -> tuple[dict, int, str]:
    employer = _employer(api, scheme, code)
    worker, number = _worker(scheme)
    resp = api.post(_url(scheme, f"/insurance/employers/{employer['id']}/policies"), json={
        "product_code": "EII-3", "enrol_date": START.isoformat(), "workers": [{"individual_id": worker,
                                                                              "wage": 1_000_000}]})
    assert resp.status_code == 201, resp.json
    return employer, worker, number


def test_work_incidents_are_recorded_for_workers_and_decided_once(api, client, client_token, scheme):
    _product(api, scheme, "EII-3")
    employer, worker, _number = _insured_worker(api, scheme, "EMP-D")
    stranger, _n = _worker(scheme)
    base = _url(scheme, "/insurance/incidents")
    day = TODAY - timedelta(days=3)
    body = {"employer_id": employer["id"], "individual_id": worker, "incident_date": day.isoformat(),
            "kind": "accident", "place": "Kiln 2", "description": "Burn on the left hand"}
    bad = api.post(base, json={**body, "individual_id": stranger, "kind": "fall", "place": "",
                               "reported_on": (TODAY + timedelta(days=1)).isoformat()})
    assert bad.status_code == 422
    assert set(bad.json["errors"]) == {"individual_id", "kind", "place", "reported_on"}
    before = api.post(base, json={**body, "incident_date": (START - timedelta(days=1)).isoformat()})
    assert before.status_code == 422 and "individual_id" in before.json["errors"]  # not yet a worker then
    made = api.post(base, json=body)
    assert made.status_code == 201, made.json
    incident = made.json
    assert (incident["status"], incident["reported_on"], incident["reported_late"]) == (
        "reported", TODAY.isoformat(), False)
    # the template asks for a report within 15 days: a later one is recorded, shown as late
    late = api.post(base, json={**body, "incident_date": (TODAY - timedelta(days=25)).isoformat()})
    assert late.status_code == 201 and late.json["reported_late"] is True
    other = api.post(base, json={**body, "kind": "disease"}).json
    # deciding needs claims.review
    clerk = Api(client, client_token(scheme.tenant, scopes=("insurance.employers.manage",)))
    assert clerk.post(f"{base}/{incident['id']}/accept", json={}).status_code == 403
    assert clerk.get(f"{base}/{incident['id']}").status_code == 200
    assert api.post(f"{base}/{other['id']}/reject", json={}).status_code == 422  # a rejection needs its reason
    accepted = api.post(f"{base}/{incident['id']}/accept", json={"note": "Site visit confirmed"})
    assert accepted.status_code == 200 and accepted.json["status"] == "accepted"
    assert api.post(f"{base}/{incident['id']}/reject", json={"note": "late"}).status_code == 409
    assert api.post(f"{base}/{other['id']}/reject", json={"note": "Not work related"}).json["status"] == "rejected"
    assert [i["id"] for i in api.get(f"{base}?employer_id={employer['id']}&status=accepted").json] == [incident["id"]]
    with scheme.tenant.session() as s:
        assert ins.accepted_incident(s, incident["id"], worker, TODAY) is not None
        assert ins.accepted_incident(s, incident["id"], worker, day - timedelta(days=1)) is None
        assert ins.accepted_incident(s, other["id"], worker, TODAY) is None
        logged = s.execute(select(AuditEntry).where(AuditEntry.entity_type == "work_incident")).scalars().all()
        assert {e.action for e in logged} == {"create", "accept", "reject"}
        assert sorted(e.details["reported_late"] for e in logged if e.action == "create") == [False, False, True]
        assert "Burn" not in str([(e.after, e.before, e.details) for e in logged])


def test_a_location_restricted_user_sees_only_employers_of_their_area(api, scheme):
    employer = _employer(api, scheme, "EMP-E")
    with scheme.tenant.session() as s:
        from schemehost.tenants.identity.principal import Principal
        from schemehost.tenants.registry import services as reg

        elsewhere = reg.create_location(s, code="OTHER", name="Elsewhere").id
        outsider = Principal(kind="user", id="u-1", name="Outsider", tenant_id=0,
                             permissions=frozenset({"insurance.read"}), location_ids=frozenset({elsewhere}))
        assert ins.list_employers(s, principal=outsider) == []
        with pytest.raises(NotFound):
            ins.get_employer(s, employer["id"], principal=outsider)
        policies = ins.list_policies(s, principal=outsider, holder="employer")
        assert policies == []


def test_one_worker_added_twice_at_once_is_added_once(api, app, scheme):
    _product(api, scheme, "EII-4")
    employer = _employer(api, scheme, "EMP-F")
    policy = api.post(_url(scheme, f"/insurance/employers/{employer['id']}/policies"), json={
        "product_code": "EII-4", "enrol_date": START.isoformat()}).json
    worker, _n = _worker(scheme)
    results: list[object] = []

    def add() -> None:
        try:
            with scheme.tenant.session() as s:
                s.execute(text("SELECT set_config('application_name', 'worker-second', true)"))
                ins.add_worker(s, policy["id"], individual_id=worker, wage=1_000_000, principal=None)
                results.append("added")
        except Exception as exc:  # reported below
            results.append(exc)

    with scheme.tenant.session() as first:
        ins.add_worker(first, policy["id"], individual_id=worker, wage=1_000_000, principal=None)
        second = threading.Thread(target=add)
        second.start()
        with app.app_context():
            for _ in range(600):
                waiting = db.session.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'worker-second' "
                    "AND wait_event_type = 'Lock'")).scalar()
                db.session.rollback()
                if waiting:
                    break
                second.join(0.05)
    second.join()
    assert len(results) == 1 and getattr(results[0], "status", None) == 409
    with scheme.tenant.session() as s:
        assert s.execute(select(func.count()).select_from(PolicyMember)
                         .where(PolicyMember.policy_id == policy["id"])).scalar() == 1
        assert s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_type == "insurance_policy", AuditEntry.entity_id == str(policy["id"]),
            AuditEntry.action == "add_worker")).scalar() == 1


def test_a_workers_personal_data_subject_access_and_erasure(api, client, client_token, scheme):
    from schemehost.tenants.insurance.models import Contribution, WorkIncident
    from schemehost.tenants.registry import privacy

    _product(api, scheme, "EII-5")
    employer = _employer(api, scheme, "EMP-G")
    (a, _a_no), (b, _b_no) = _worker(scheme), _worker(scheme)
    policy = api.post(_url(scheme, f"/insurance/employers/{employer['id']}/policies"), json={
        "product_code": "EII-5", "enrol_date": START.isoformat(),
        "workers": [{"individual_id": a, "wage": 2_000_000}, {"individual_id": b, "wage": 3_000_000}]}).json
    assert api.post(_url(scheme, f"/insurance/policies/{policy['id']}/contributions"), json={
        "amount": policy["value"], "paid_on": START.isoformat(), "method": "bank", "receipt_no": "EMP-G-1",
        "payer": employer["name"]}).status_code == 201
    incident = api.post(_url(scheme, "/insurance/incidents"), json={
        "employer_id": employer["id"], "individual_id": a, "incident_date": TODAY.isoformat(), "kind": "disease",
        "place": "Dye house", "description": "Dermatitis from dyes"}).json
    token = client_token(scheme.tenant, scopes=("registry.read", "registry.write", "registry.personal_data"))
    resp = client.get(_url(scheme, f"/individuals/{a}/subject-access"), headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    section = resp.json["modules"]["insurance"]
    [held] = section["policies"]
    assert (held["holder"], held["member_ids"], held["wage"]) == ("employer", [a], 2_000_000)  # not co-workers
    assert [(i["id"], i["description"]) for i in section["work_incidents"]] == [(incident["id"], "Dermatitis from dyes")]
    with scheme.tenant.session() as s:
        privacy.erase_individual(s, a, reason="request")
    with scheme.tenant.session() as s:
        kept = s.get(WorkIncident, incident["id"])
        assert (kept.place, kept.description, kept.kind, kept.status) == ("-", "-", "disease", "reported")
        payers = s.execute(select(Contribution.payer).where(Contribution.policy_id == policy["id"])).scalars().all()
        assert payers == [employer["name"]]  # the employer's payment keeps the employer's name


def test_renewing_an_employer_policy_carries_the_workers_still_there(api, scheme):
    _product(api, scheme, "EII-6")
    employer = _employer(api, scheme, "EMP-H")
    (a, _a), (b, _b) = _worker(scheme), _worker(scheme)
    policy = api.post(_url(scheme, f"/insurance/employers/{employer['id']}/policies"), json={
        "product_code": "EII-6", "enrol_date": START.isoformat(),
        "workers": [{"individual_id": a, "wage": 2_000_000}, {"individual_id": b, "wage": 3_000_000}]}).json
    base = _url(scheme, f"/insurance/policies/{policy['id']}")
    assert api.post(f"{base}/renew", json={}).status_code == 422  # never paid
    api.post(f"{base}/contributions", json={"amount": policy["value"], "paid_on": START.isoformat(),
                                            "method": "bank", "receipt_no": "EMP-H-1"})
    assert api.post(f"{base}/workers/{b}/leave", json={"on": TODAY.isoformat()}).status_code == 200
    renewed = api.post(f"{base}/renew", json={})
    assert renewed.status_code == 201, renewed.json
    nxt = renewed.json
    assert (nxt["holder"], nxt["employer_id"], nxt["stage"], nxt["previous_id"]) == (
        "employer", employer["id"], "renewal", policy["id"])
    assert nxt["start_date"] == add_months(START, 12).isoformat() and nxt["members"] == [a]
    assert nxt["value"] == 12 * 28_000
    assert api.post(f"{base}/renew", json={}).status_code == 409
