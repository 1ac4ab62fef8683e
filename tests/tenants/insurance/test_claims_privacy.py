"""Claims' part in the registry's personal-data rules: a person's claims and lines in their subject-access
export (and nobody else's), erasure clearing only the reviewer's note while amounts and reasons stay, and
the retention hold on insurees whose claims are still in progress."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from schemehost.tenants.insurance.claims.models import InsuranceClaim
from schemehost.tenants.insurance.claims.privacy import claimants
from schemehost.tenants.registry import privacy
from schemehost.tenants.registry.people import Individual

from .claims_world import TODAY, api, world  # noqa: F401  (fixtures)

PERSONAL = ("registry.read", "registry.write", "registry.personal_data")


def _reviewed(api, world, code: str, insuree: str, days_ago: int, note: str) -> dict:
    made = api.post(world.base, json=world.body(code, insuree=insuree,
                                                date_from=(TODAY - timedelta(days=days_ago)).isoformat()))
    assert made.status_code == 201, made.json
    assert api.post(f"{world.base}/check", json={"ids": [made.json["id"]]}).status_code == 200
    claim = api.get(f"{world.base}/{made.json['id']}").json
    done = api.post(f"{world.base}/{claim['id']}/review", json={
        "version": claim["version"], "note": note,
        "lines": [{"line_no": 2, "decision": "adjust", "quantity": 6, "reason": "not_provided"}]})
    assert done.status_code == 200, done.json
    return done.json


def test_subject_access_lists_the_persons_claims_with_their_lines(api, world, client, client_token):
    mine = _reviewed(api, world, "P-1", world.numbers[0], 5, "Asked the family about the fever")
    theirs = _reviewed(api, world, "P-2", world.numbers[1], 6, "Another person's note")
    token = client_token(world.tenant, scopes=PERSONAL)
    resp = client.get(f"/t/{world.slug}/api/v1/individuals/{mine['individual_id']}/subject-access",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    claims = resp.json["modules"]["claims"]["claims"]
    assert [c["code"] for c in claims] == ["P-1"]  # not the other person's P-2
    [claim] = claims
    assert (claim["facility"], claim["status"], claim["claimed"], claim["approved"]) == (
        "HC1", "processed", 5_000 + 10 * 200, 5_000 + 6 * 200)
    assert claim["review_note"] == "Asked the family about the fever"
    assert [(l["line_no"], l["code"], l["status"], l["approved_quantity"]) for l in claim["lines"]] == [
        (1, "CONS", "approved", 1), (2, "PARA", "adjusted", 6)]
    assert theirs["individual_id"] != mine["individual_id"]


def test_erasure_clears_the_reviewers_note_and_keeps_what_was_claimed_and_approved(api, world):
    claim = _reviewed(api, world, "P-3", world.numbers[2], 7, "Mother says the child was seen twice")
    with world.tenant.session() as s:
        privacy.erase_individual(s, claim["individual_id"], reason="request")
    with world.tenant.session() as s:
        kept = s.get(InsuranceClaim, claim["id"])
        assert kept.review_note is None
        assert (kept.status, kept.claimed, kept.approved, kept.icd_code) == (
            "processed", claim["claimed"], claim["approved"], "B54")
        assert s.get(Individual, claim["individual_id"]).status == "erased"


def test_retention_holds_insurees_whose_claims_are_in_progress_only(api, world):
    claim = _reviewed(api, world, "P-4", world.numbers[1], 8, "Retention")
    person = claim["individual_id"]
    with world.tenant.session() as s:
        s.execute(update(InsuranceClaim).where(InsuranceClaim.individual_id == person)
                  .values(status="processed"))
        assert person in set(s.execute(claimants(s)).scalars())  # processed, not paid yet: held
        s.execute(update(InsuranceClaim).where(InsuranceClaim.individual_id == person)
                  .values(status="valuated", statement_id=None))
        assert person in set(s.execute(claimants(s)).scalars())  # valuated, in no statement yet: held
        s.execute(update(InsuranceClaim).where(InsuranceClaim.individual_id == person)
                  .values(status="rejected"))
        assert person not in set(s.execute(claimants(s)).scalars())  # settled: the claims hold nothing
        s.rollback()
