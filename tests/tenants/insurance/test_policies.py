"""Policies and contributions: enrolment, value, activation by full payment (waiting period), partial
payment and forced activation, overpayment, duplicate receipts, suspension, renewal and reminders,
coverage dates, audit, isolation, and two contributions completing a policy at once."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text

from schemehost.platform.errors import Conflict
from schemehost.platform.extensions import db
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.models import Contribution, Policy

from .conftest import ALL_INSURANCE, build_scheme, product_body
from .test_products_api import Api

TODAY = date.today()


@pytest.fixture
def setup(client, client_token, scheme):
    api = Api(client, client_token(scheme.tenant, scopes=ALL_INSURANCE))
    pid = api.post(f"/t/{scheme.slug}/api/v1/insurance/products", json=product_body(
        registration_fee=10_000, renewal_reminder_days=60, renewal_grace_days=30)).json["id"]
    return api, scheme, pid


def _enrol(api, scheme, pid, births=("1980-01-01", "1982-05-05", "2015-01-01"), enrol_date=None):
    household, members, numbers = scheme.household(*births)
    resp = api.post(f"/t/{scheme.slug}/api/v1/insurance/policies",
                    json={"household_id": household, "product_id": pid,
                          "enrol_date": (enrol_date or TODAY - timedelta(days=10)).isoformat()})
    assert resp.status_code == 201, resp.json
    return resp.json, members, numbers


def _pay(api, scheme, policy_id, amount, receipt, paid_on=None, **kw):
    return api.post(f"/t/{scheme.slug}/api/v1/insurance/policies/{policy_id}/contributions",
                    json={"amount": amount, "paid_on": (paid_on or TODAY - timedelta(days=5)).isoformat(),
                          "method": "mobile", "receipt_no": receipt, "payer": "Head of household", **kw})


def test_enrolment_makes_an_idle_policy_valued_from_the_household(setup):
    api, scheme, pid = setup
    policy, members, _ = _enrol(api, scheme, pid)
    enrolled = TODAY - timedelta(days=10)
    assert (policy["status"], policy["stage"], policy["adults"], policy["children"]) == ("idle", "new", 2, 1)
    assert policy["value"] == 3_000_000 + 3 * 10_000  # lump sum + registration fee per member
    assert policy["breakdown"]["registration"] == 30_000
    assert policy["start_date"] == enrolled.isoformat() and policy["effective_date"] is None
    assert sorted(policy["members"]) == sorted(members)
    # the same household cannot be insured twice by the product for the period
    again = api.post(f"/t/{scheme.slug}/api/v1/insurance/policies",
                     json={"household_id": policy["household_id"], "product_code": "CHF"})
    assert again.status_code == 409
    with scheme.tenant.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.entity_type == "insurance_policy")).scalar_one()
        assert entry.action == "create" and entry.after["value"] == policy["value"]


def test_bad_enrolments_are_refused(setup):
    api, scheme, pid = setup
    base = f"/t/{scheme.slug}/api/v1/insurance/policies"
    household, _m, _n = scheme.household("1980-01-01")
    assert api.post(base, json={"household_id": 987654, "product_id": pid}).status_code == 404
    assert api.post(base, json={"household_id": household, "product_id": 987654}).status_code == 404
    both = api.post(base, json={"household_id": household, "product_id": pid, "product_code": "CHF"})
    assert both.status_code == 422 and "product_id" in both.json["errors"]
    early = api.post(base, json={"household_id": household, "product_id": pid, "enrol_date": "2019-06-01"})
    assert early.status_code == 422 and "product_id" in early.json["errors"]
    small = api.post(f"/t/{scheme.slug}/api/v1/insurance/products",
                     json=product_body(code="SMALL", threshold=1, max_members=1)).json["id"]
    big, _m, _n = scheme.household("1980-01-01", "1981-01-01")
    too_big = api.post(base, json={"household_id": big, "product_id": small})
    assert too_big.status_code == 422 and "household_id" in too_big.json["errors"]
    with scheme.tenant.session() as s:
        assert s.execute(select(func.count()).select_from(Policy)).scalar() == 0


def test_full_payment_activates_after_the_waiting_period_and_overpayment_is_recorded(setup):
    api, scheme, pid = setup
    policy, _members, _ = _enrol(api, scheme, pid)
    pay_url = f"/t/{scheme.slug}/api/v1/insurance/policies/{policy['id']}"
    first = _pay(api, scheme, policy["id"], 1_000_000, "R-1")
    assert first.status_code == 201 and first.json["overpayment"] == 0
    assert api.get(pay_url).json["status"] == "idle"
    paid_on = TODAY - timedelta(days=5)
    second = _pay(api, scheme, policy["id"], 2_100_000, "R-2", paid_on=paid_on)
    assert second.status_code == 201
    assert second.json["overpayment"] == 2_100_000 - (policy["value"] - 1_000_000)
    now = api.get(pay_url).json
    effective = paid_on + timedelta(days=30)  # the product's waiting period
    assert now["effective_date"] == effective.isoformat()
    assert now["status"] == "ready" and now["stored_status"] == "ready"  # coverage starts in the future
    assert now["paid"] == 3_100_000 and not now["activation_forced"]
    assert [c["receipt_no"] for c in api.get(f"{pay_url}/contributions").json] == ["R-1", "R-2"]
    # a third payment is all overpayment, and activates nothing again
    third = _pay(api, scheme, policy["id"], 500, "R-3")
    assert third.json["overpayment"] == 500
    with scheme.tenant.session() as s:
        actions = [e.action for e in s.execute(select(AuditEntry).where(
            AuditEntry.entity_type == "insurance_policy").order_by(AuditEntry.id)).scalars()]
        assert actions == ["create", "contribution", "contribution", "activate", "contribution"]
        audited = s.execute(select(AuditEntry).where(AuditEntry.entity_type == "insurance_contribution")).scalars()
        assert all("payer" not in (e.after or {}) for e in audited)  # the payer's name stays out of the log
        assert ins.status_on(s.get(Policy, policy["id"]), effective) == "active"


def test_a_duplicate_receipt_is_409_and_nothing_is_saved(setup):
    api, scheme, pid = setup
    policy, _m, _ = _enrol(api, scheme, pid)
    other, _m2, _ = _enrol(api, scheme, pid)
    assert _pay(api, scheme, policy["id"], 1_000, "DUP-1").status_code == 201
    resp = _pay(api, scheme, other["id"], 3_030_000, "DUP-1")
    assert resp.status_code == 409 and "receipt_no" in resp.json["errors"]
    after = api.get(f"/t/{scheme.slug}/api/v1/insurance/policies/{other['id']}").json
    assert (after["paid"], after["status"]) == (0, "idle")
    bad = _pay(api, scheme, other["id"], 0, "", method="cheque", paid_on=TODAY + timedelta(days=2))
    assert bad.status_code == 422
    assert {"amount", "receipt_no", "method", "paid_on"} <= set(bad.json["errors"])
    with scheme.tenant.session() as s:
        assert s.execute(select(func.count()).select_from(Contribution)).scalar() == 1


def test_partial_payment_stays_idle_unless_activation_is_enforced_with_permission(setup, client, client_token):
    api, scheme, pid = setup
    policy, _m, _ = _enrol(api, scheme, pid)
    officer = Api(client, client_token(scheme.tenant, scopes=("insurance.policies.manage",)))
    refused = _pay(officer, scheme, policy["id"], 1_000_000, "P-1", activate=True)
    assert refused.status_code == 403
    assert _pay(officer, scheme, policy["id"], 1_000_000, "P-1").status_code == 201
    url = f"/t/{scheme.slug}/api/v1/insurance/policies/{policy['id']}"
    assert api.get(url).json["status"] == "idle"
    assert officer.post(f"{url}/activate", json={}).status_code == 403
    forced = api.post(f"{url}/activate", json={"on": (TODAY - timedelta(days=40)).isoformat()})
    assert forced.status_code == 200, forced.json
    assert forced.json["activation_forced"] and forced.json["status"] == "active"
    assert api.post(f"{url}/activate", json={}).status_code == 409  # only an idle policy


def test_suspend_resume_renew_reminders_and_coverage_dates(setup):
    api, scheme, pid = setup
    start = TODAY - timedelta(days=340)  # expires within the product's 60 reminder days
    policy, members, _ = _enrol(api, scheme, pid, enrol_date=start)
    url = f"/t/{scheme.slug}/api/v1/insurance/policies/{policy['id']}"
    assert _pay(api, scheme, policy["id"], policy["value"], "S-1", paid_on=start).status_code == 201
    assert api.get(url).json["status"] == "active"
    assert api.post(f"{url}/resume", json={}).status_code == 409
    assert api.post(f"{url}/suspend", json={"reason": "card lost"}).json["status"] == "suspended"
    assert _pay(api, scheme, policy["id"], 10, "S-2").status_code == 409  # a suspended policy takes nothing
    assert api.post(f"{url}/resume", json={}).json["status"] == "active"
    due = api.get(f"/t/{scheme.slug}/api/v1/insurance/renewals").json
    assert [d["policy_id"] for d in due] == [policy["id"]]
    renewal = api.post(f"{url}/renew", json={})
    assert renewal.status_code == 201, renewal.json
    expiry = date.fromisoformat(policy["expiry_date"])
    assert renewal.json["stage"] == "renewal" and renewal.json["previous_id"] == policy["id"]
    assert renewal.json["start_date"] == (expiry + timedelta(days=1)).isoformat()
    assert renewal.json["value"] == 3_000_000  # no registration fee on renewal
    assert api.post(f"{url}/renew", json={}).status_code == 409
    assert api.get(f"/t/{scheme.slug}/api/v1/insurance/renewals").json == []
    dates = api.get(f"/t/{scheme.slug}/api/v1/insurance/insurees/{members[0]}/coverage").json
    assert [(d["policy_id"], d["status"]) for d in dates] == [(renewal.json["id"], "idle"), (policy["id"], "active")]
    assert dates[1]["effective_date"] == (start + timedelta(days=30)).isoformat()


def test_statuses_follow_the_dates_when_refreshed(setup):
    api, scheme, pid = setup
    policy, _m, _ = _enrol(api, scheme, pid)
    _pay(api, scheme, policy["id"], policy["value"], "D-1")
    with scheme.tenant.session() as s:
        effective = s.get(Policy, policy["id"]).effective_date
        assert ins.refresh_statuses(s, effective - timedelta(days=1)) == {"active": 0, "expired": 0}
        assert ins.refresh_statuses(s, effective) == {"active": 1, "expired": 0}
        expiry = s.get(Policy, policy["id"]).expiry_date
        assert ins.refresh_statuses(s, expiry + timedelta(days=1)) == {"active": 0, "expired": 1}
        assert s.get(Policy, policy["id"]).status == "expired"


def test_policies_need_permissions_and_stay_in_their_tenant(setup, client, client_token, make_tenant):
    api, scheme, pid = setup
    policy, members, _ = _enrol(api, scheme, pid)
    reader = Api(client, client_token(scheme.tenant, scopes=("insurance.read",)))
    assert reader.get(f"/t/{scheme.slug}/api/v1/insurance/policies/{policy['id']}").status_code == 200
    assert _pay(reader, scheme, policy["id"], 10, "X-1").status_code == 403
    nobody = Api(client, client_token(scheme.tenant, scopes=("registry.read",)))
    assert nobody.get(f"/t/{scheme.slug}/api/v1/insurance/policies").status_code == 403
    other = build_scheme(make_tenant("health-insurance"))
    other_api = Api(client, client_token(other.tenant, scopes=ALL_INSURANCE))
    base = f"/t/{other.slug}/api/v1/insurance"
    assert other_api.get(f"{base}/policies/{policy['id']}").status_code == 404
    assert other_api.get(f"{base}/policies").json == []
    assert _pay(other_api, other, policy["id"], 10, "X-2").status_code == 404
    assert other_api.get(f"{base}/insurees/{members[0]}/coverage").status_code == 404
    assert other_api.post(f"{base}/policies", json={"household_id": policy["household_id"],
                                                    "product_id": pid}).status_code == 404


def test_two_contributions_completing_a_policy_at_once_activate_it_once(setup, app):
    api, scheme, pid = setup
    policy, _m, _ = _enrol(api, scheme, pid)
    value = policy["value"]
    paid_on = TODAY - timedelta(days=1)
    results: dict[str, object] = {}

    def pay(receipt: str) -> None:
        try:
            with scheme.tenant.session() as s:
                s.execute(text("SELECT set_config('application_name', 'insurance-second', true)"))
                c = ins.record_contribution(s, policy["id"], amount=value, paid_on=paid_on, method="cash",
                                            receipt_no=receipt, principal=None)
                results[receipt] = c.overpayment
        except Exception as exc:  # reported below
            results[receipt] = exc

    with scheme.tenant.session() as first:
        ins.record_contribution(first, policy["id"], amount=value, paid_on=paid_on, method="cash",
                                receipt_no="C-1", principal=None)
        second = threading.Thread(target=pay, args=("C-2",))
        second.start()
        # wait until the second contribution is blocked on the policy row held by the first
        with app.app_context():
            for _ in range(600):
                waiting = db.session.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'insurance-second' "
                    "AND wait_event_type = 'Lock'")).scalar()
                db.session.rollback()
                if waiting:
                    break
                threading.Event().wait(0.05)
            assert waiting, "the second contribution never waited for the first"
    second.join(30)
    assert results["C-2"] == value  # all of it beyond the value
    with scheme.tenant.session() as s:
        row = s.get(Policy, policy["id"])
        assert row.status in ("ready", "active") and row.paid == 2 * value
        activations = s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity_type == "insurance_policy", AuditEntry.action == "activate")).scalar()
        assert activations == 1


def test_a_receipt_taken_at_the_same_time_is_409(setup):
    api, scheme, pid = setup
    policy, _m, _ = _enrol(api, scheme, pid)
    with scheme.tenant.session() as s:
        ins.record_contribution(s, policy["id"], amount=5, paid_on=TODAY, method="bank", receipt_no="SAME",
                                principal=None)
        with pytest.raises(Conflict):
            ins.record_contribution(s, policy["id"], amount=5, paid_on=TODAY, method="bank", receipt_no="SAME",
                                    principal=None)
