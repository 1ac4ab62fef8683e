"""Claims review: the checks' reasons on claims that cannot be paid, line decisions (approve, adjust,
reject with a reason) and their bad inputs, a claim rejected when no line is left, two reviewers of the
same claim (one wins, the other 409) through the API and through two database sessions, selection for
review and feedback by the tenant's rules, processing without review, valuation, usage seen by
eligibility, and the audit of every transition."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta

from sqlalchemy import select, text, update

from schemehost.platform.errors import Conflict
from schemehost.platform.extensions import db
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance.claims import review
from schemehost.tenants.insurance.claims.models import InsuranceClaim

from .claims_world import TODAY, api, world  # noqa: F401  (fixtures)


_DAYS = itertools.count(3)


def _checked(api, world, code, **over) -> dict:
    """A claim entered and run through the automatic checks, each on its own day (the checks reject
    a claim of the same insuree, facility, day and items as a duplicate)."""
    over.setdefault("date_from", (TODAY - timedelta(days=next(_DAYS))).isoformat())
    made = api.post(world.base, json=world.body(code, **over))
    assert made.status_code == 201, made.json
    run = api.post(f"{world.base}/check", json={"ids": [made.json["id"]]})
    assert run.status_code == 200, run.json
    return api.get(f"{world.base}/{made.json['id']}").json


def test_claims_that_cannot_be_paid_carry_a_clear_reason(api, world):
    uninsured = _checked(api, world, "R-1", insuree=world.uninsured)
    assert (uninsured["status"], uninsured["rejection_reason"]) == ("rejected", "not_insured")
    assert {l["rejection_reason"] for l in uninsured["lines"]} == {"not_insured"}
    not_covered = _checked(api, world, "R-2", lines=[{"service": "XRAY", "quantity": 1, "price": 100},
                                                     {"service": "CONS", "quantity": 1, "price": 5_000}])
    assert not_covered["status"] == "checked" and not_covered["policy_id"] is not None
    assert [(l["status"], l["rejection_reason"]) for l in not_covered["lines"]] == [
        ("rejected", "item_not_covered"), ("passed", None)]
    over = _checked(api, world, "R-3", insuree=world.numbers[2],
                    lines=[{"service": "CONS", "quantity": 5, "price": 5_000}])
    assert (over["status"], over["lines"][0]["rejection_reason"]) == ("rejected", "limit_count")
    dear = _checked(api, world, "R-4", insuree=world.numbers[2],
                    lines=[{"item": "PARA", "quantity": 1, "price": 900}])
    assert dear["lines"][0]["rejection_reason"] == "price_above_list"
    # a checked claim can no longer be changed by the facility
    edit = api.put(f"{world.base}/{not_covered['id']}", json={**world.body("R-2"), "version": not_covered["version"]})
    assert edit.status_code == 409 and edit.json["claim_status"] == "checked"


def test_a_reviewer_approves_adjusts_and_rejects_lines(api, world):
    claim = _checked(api, world, "V-1", lines=[{"service": "CONS", "quantity": 1, "price": 5_000},
                                               {"item": "PARA", "quantity": 10, "price": 200},
                                               {"item": "PARA", "quantity": 4, "price": 200},
                                               {"service": "XRAY", "quantity": 1, "price": 100}])
    url = f"{world.base}/{claim['id']}/review"
    bad = api.post(url, json={"version": claim["version"], "lines": [
        {"line_no": 2, "decision": "adjust", "quantity": 11},
        {"line_no": 3, "decision": "reject"},
        {"line_no": 4, "decision": "approve"},
        {"line_no": 9, "decision": "approve"},
        {"line_no": 1, "decision": "maybe"}]})
    assert bad.status_code == 422
    assert {"lines.0.quantity", "lines.1.reason", "lines.2.line_no", "lines.3.line_no", "lines.4.decision"} <= set(
        bad.json["errors"]), bad.json["errors"]
    assert api.get(f"{world.base}/{claim['id']}").json["status"] == "checked"
    done = api.post(url, json={"version": claim["version"], "note": "Paracetamol: 6 given", "lines": [
        {"line_no": 2, "decision": "adjust", "quantity": 6, "reason": "not_provided"},
        {"line_no": 3, "decision": "reject", "reason": "not_justified"}]})
    assert done.status_code == 200, done.json
    body = done.json
    assert (body["status"], body["approved"], body["version"]) == ("processed", 5_000 + 6 * 200, claim["version"] + 1)
    assert [(l["status"], l["approved_quantity"], l["rejection_reason"]) for l in body["lines"]] == [
        ("approved", 1, None), ("adjusted", 6, "not_provided"), ("rejected", None, "not_justified"),
        ("rejected", None, "item_not_covered")]
    assert body["processed_by"] and body["review_note"] == "Paracetamol: 6 given"
    again = api.post(url, json={"version": body["version"], "lines": []})
    assert again.status_code == 409 and again.json["claim_status"] == "processed"
    # what the insuree used now counts against the consultation limit (4 per period)
    left = api.get(f"/t/{world.slug}/api/v1/eligibility",
                   query_string={"insuree": world.numbers[0], "service": "CONS", "date": claim["date_from"]})
    assert left.json["limits"]["count"]["used"] >= 1
    with world.tenant.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "claims.review",
                                                   AuditEntry.entity_id == str(claim["id"]))).scalar_one()
        assert (entry.before["status"], entry.after["status"]) == ("checked", "processed")
        assert entry.details["lines"]["2"] == {"status": "adjusted", "quantity": 6, "price": 200,
                                               "reason": "not_provided"}


def test_a_claim_without_any_line_left_is_rejected(api, world):
    claim = _checked(api, world, "V-2", insuree=world.numbers[1])
    done = api.post(f"{world.base}/{claim['id']}/review", json={"version": claim["version"], "lines": [
        {"line_no": 1, "decision": "reject", "reason": "not_provided"},
        {"line_no": 2, "decision": "reject", "reason": "other"}]})
    assert done.status_code == 200
    assert (done.json["status"], done.json["rejection_reason"], done.json["approved"]) == (
        "rejected", "not_provided", None)


def test_two_reviewers_of_one_claim_one_wins_the_other_gets_409(app, client_token, world, api):
    claim = _checked(api, world, "C-1", insuree=world.numbers[1])
    tokens = [client_token(world.tenant, scopes=("claims.review",)) for _ in range(2)]
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def reviewer(i: int) -> None:
        client = app.test_client()
        decision = "approve" if i == 0 else "reject"
        barrier.wait()
        answers[i] = client.post(f"{world.base}/{claim['id']}/review",
                                 headers={"Authorization": f"Bearer {tokens[i]}"},
                                 json={"version": claim["version"],
                                       "lines": [{"line_no": 1, "decision": decision, "reason": "other"}]})

    threads = [threading.Thread(target=reviewer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409], [a.json for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.headers["Content-Type"].startswith("application/problem+json")
    winner = next(a for a in answers if a.status_code == 200)
    final = api.get(f"{world.base}/{claim['id']}").json
    assert final["status"] == winner.json["status"] and final["version"] == claim["version"] + 1


def _waiting_on_a_lock(app) -> bool:
    with app.app_context(), db.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                      " AND wait_event_type = 'Lock'")).scalar_one())


def test_a_reviewer_waiting_for_another_reviewers_transaction_gets_a_conflict(app, api, world):
    """The second reviewer read the claim before the first committed: its UPDATE waits for the first's
    row lock, then finds the version changed."""
    claim = _checked(api, world, "C-2", insuree=world.numbers[1])
    outcome: dict = {}

    def second() -> None:
        try:
            with world.tenant.session() as s:
                review.review_claim(s, claim["id"], version=claim["version"], lines=[], principal=None)
            outcome["result"] = "saved"
        except Conflict as err:
            outcome["result"] = err.errors

    with world.tenant.session() as first:
        review.review_claim(first, claim["id"], version=claim["version"], principal=None,
                            lines=[{"line_no": 2, "decision": "reject", "reason": "other"}])
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 30
        while not _waiting_on_a_lock(app) and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
    thread.join()
    assert outcome["result"] == {"version": ["not the claim's current version"]}
    with world.tenant.session() as s:
        row = s.get(InsuranceClaim, claim["id"])
        assert (row.status, row.version) == ("processed", claim["version"] + 1)


def test_selection_for_review_and_feedback_then_processing_and_valuation(api, world):
    rules = api.put(f"{world.base}/selection", json={
        "review": {"percent": 0, "above": 10_000, "items": []},
        "feedback": {"percent": 100, "above": None, "items": []}})
    assert rules.status_code == 200, rules.json
    bad = api.put(f"{world.base}/selection", json={"review": {"percent": 150, "items": ["NOPE"]}})
    assert bad.status_code == 422 and {"review.percent", "review.items"} <= set(bad.json["errors"])
    big = _checked(api, world, "S-1", insuree=world.numbers[1],
                   lines=[{"item": "PARA", "quantity": 60, "price": 200}])
    small = _checked(api, world, "S-2", insuree=world.numbers[1],
                     lines=[{"item": "PARA", "quantity": 5, "price": 200}])
    assert (big["review_status"], big["feedback_status"]) == ("selected", "selected")
    assert (small["review_status"], small["feedback_status"]) == ("not_selected", "selected")
    queue = api.get(f"{world.base}/review-queue", query_string={"selected": "true"})
    assert [c["id"] for c in queue.json if c["id"] in (big["id"], small["id"])] == [big["id"]]
    processed = api.post(f"{world.base}/process", json={"ids": [big["id"], small["id"]]})
    assert processed.json == {"processed": 1}
    small_now = api.get(f"{world.base}/{small['id']}").json
    assert (small_now["status"], small_now["approved"]) == ("processed", 1_000)
    assert api.get(f"{world.base}/{big['id']}").json["status"] == "checked"  # waits for its reviewer
    reviewed = api.post(f"{world.base}/{big['id']}/review", json={"version": big["version"], "lines": []})
    assert reviewed.json["review_status"] == "reviewed"
    valuated = api.post(f"{world.base}/valuate", json={"ids": [big["id"], small["id"]]})
    assert valuated.status_code == 200 and valuated.json["valuated"] == 2
    final = api.get(f"{world.base}/{small['id']}").json
    assert final["status"] == "valuated" and final["valuated"] == 900  # 10 % co-payment
    api.put(f"{world.base}/selection", json={"review": {"percent": 0}, "feedback": {"percent": 0}})


def test_checking_every_entered_claim_is_a_job(app, api, world, monkeypatch):
    made = api.post(world.base, json=world.body("J-1", insuree=world.numbers[1],
                                                date_from=(TODAY - timedelta(days=40)).isoformat()))
    assert made.status_code == 201
    monkeypatch.setitem(app.config, "CLAIMS_JOBS_INLINE", True)
    run = api.post(f"{world.base}/check", json={})
    assert run.status_code == 202, run.json
    assert run.json["status"] == "succeeded" and run.json["result"]["checked"] >= 1
    assert api.get(f"{world.base}/{made.json['id']}").json["status"] == "checked"


def test_selection_and_processing_take_any_number_of_ids(api, world):
    """The ids go to PostgreSQL as one array: 70,000 of them (more than the 65,535 parameters a
    statement may have) select, process and erase notes exactly as a handful would."""
    from schemehost.tenants.insurance.claims.privacy import erase_notes

    big = _checked(api, world, "N-1", insuree=world.numbers[1],
                   lines=[{"item": "PARA", "quantity": 60, "price": 200}])
    small = _checked(api, world, "N-2", insuree=world.numbers[1],
                     lines=[{"item": "PARA", "quantity": 5, "price": 200}])
    refused = _checked(api, world, "N-3", insuree=world.uninsured)
    assert (big["review_status"], small["review_status"], refused["status"]) == (
        "not_selected", "not_selected", "rejected")
    missing = list(range(10**12, 10**12 + 70_000))
    with world.tenant.session() as s:
        review.set_selection_rules(s, {"review": {"percent": 0, "above": 10_000, "items": []},
                                       "feedback": {"percent": 0, "above": None, "items": []}})
        try:
            assert review.select_for_review(s, missing + [big["id"], small["id"], refused["id"]]) == {
                "review": 1, "feedback": 0}
            assert review.select_for_review(s, missing) == {"review": 0, "feedback": 0}
        finally:
            review.set_selection_rules(s, {"review": {"percent": 0}, "feedback": {"percent": 0}})
        assert review.process_claims(s, missing + [big["id"], small["id"]], principal=None) == {"processed": 1}
        s.execute(update(InsuranceClaim).where(InsuranceClaim.id == refused["id"]).values(review_note="call back"))
        erase_notes(s, missing + [refused["individual_id"]])
    assert api.get(f"{world.base}/{big['id']}").json["review_status"] == "selected"
    assert api.get(f"{world.base}/{small['id']}").json["status"] == "processed"
    with world.tenant.session() as s:
        assert s.get(InsuranceClaim, refused["id"]).review_note is None
