"""The insurance module's personal data: its section of a subject-access export, erasure clearing the
contribution payer's name while the policy's amounts stay, and the retention hold on members of a policy
that has not expired."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from schemehost.tenants.insurance.models import Contribution, Policy
from schemehost.tenants.registry import privacy
from schemehost.tenants.registry.people import Individual

from .test_policies import _enrol, _pay, setup  # noqa: F401  (fixture)

PERSONAL = ("registry.read", "registry.write", "registry.personal_data")


def test_subject_access_lists_the_persons_policies_and_contributions(setup, client, client_token):
    api, scheme, pid = setup
    policy, members, _ = _enrol(api, scheme, pid)
    assert _pay(api, scheme, policy["id"], 1_000_000, "R-PRIV-1").status_code == 201
    token = client_token(scheme.tenant, scopes=PERSONAL)
    resp = client.get(f"/t/{scheme.slug}/api/v1/individuals/{members[1]}/subject-access",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.json
    section = resp.json["modules"]["insurance"]
    [held] = section["policies"]
    assert held["id"] == policy["id"] and held["status"] == "idle" and held["paid"] == 1_000_000
    # the other members by id only
    assert sorted(held["member_ids"]) == sorted(members)
    assert [(c["amount"], c["receipt_no"], c["payer"]) for c in held["contributions"]] == [
        (1_000_000, "R-PRIV-1", "Head of household")]
    # another person with no policy has an empty section
    other_household, others, _ = scheme.household("1990-01-01")
    resp = client.get(f"/t/{scheme.slug}/api/v1/individuals/{others[0]}/subject-access",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.json["modules"]["insurance"] == {"policies": [], "work_incidents": []}


def test_erasure_clears_the_payer_and_keeps_amounts_and_totals(setup):
    api, scheme, pid = setup
    policy, members, _ = _enrol(api, scheme, pid)
    assert _pay(api, scheme, policy["id"], 700_000, "R-PRIV-2").status_code == 201
    assert _pay(api, scheme, policy["id"], 300_000, "R-PRIV-3", payer=None).status_code == 201
    with scheme.tenant.session() as s:
        privacy.erase_individual(s, members[0], reason="request")
    with scheme.tenant.session() as s:
        rows = s.query(Contribution).filter_by(policy_id=policy["id"]).order_by(Contribution.id).all()
        assert [(c.amount, c.receipt_no, c.payer) for c in rows] == [(700_000, "R-PRIV-2", None),
                                                                    (300_000, "R-PRIV-3", None)]
        kept = s.get(Policy, policy["id"])
        assert (kept.paid, kept.value, kept.status) == (1_000_000, policy["value"], "idle")
        assert sorted(ins_members(s, policy["id"])) == sorted(members)


def ins_members(s, policy_id):
    from schemehost.tenants.insurance import services as ins

    return ins.policy_members(s, policy_id)


def test_retention_keeps_members_of_a_policy_that_has_not_expired(setup):
    api, scheme, pid = setup
    policy, members, _ = _enrol(api, scheme, pid)
    _, loners, _ = scheme.household("1950-01-01")
    old = datetime.now(timezone.utc) - timedelta(days=3 * 366)
    with scheme.tenant.session() as s:
        privacy.set_retention(s, inactive_years=2)
        s.execute(update(Individual).where(Individual.id.in_([members[0], loners[0]]))
                  .values(status="inactive", updated_at=old))
    with scheme.tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 1
        assert s.get(Individual, members[0]).status == "inactive"  # held: an idle policy
        assert s.get(Individual, loners[0]).status == "erased"
    with scheme.tenant.session() as s:
        s.execute(update(Policy).where(Policy.id == policy["id"]).values(status="expired"))
        s.execute(update(Individual).where(Individual.id == members[0]).values(updated_at=old))
    with scheme.tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 1
        assert s.get(Individual, members[0]).status == "erased"


def test_erasure_handler_takes_more_ids_than_a_statement_has_parameters(setup):
    """70,000 ids (more than the 65,535 parameters a statement may have), nearly all unknown, clear
    exactly what the one real id alone clears: the payer on that person's household policy, not on
    another household's."""
    from schemehost.tenants.insurance.privacy import erase_payers

    api, scheme, pid = setup
    policy, members, _ = _enrol(api, scheme, pid)
    other, _others, _ = _enrol(api, scheme, pid)
    assert _pay(api, scheme, policy["id"], 700_000, "R-MANY-1").status_code == 201
    assert _pay(api, scheme, other["id"], 700_000, "R-MANY-2").status_code == 201
    missing = list(range(10**12, 10**12 + 70_000))
    with scheme.tenant.session() as s:
        erase_payers(s, missing)
        erase_payers(s, missing + [members[0]])
    with scheme.tenant.session() as s:
        payers = dict(s.execute(select(Contribution.receipt_no, Contribution.payer)
                                .where(Contribution.receipt_no.in_(["R-MANY-1", "R-MANY-2"]))).all())
    assert payers == {"R-MANY-1": None, "R-MANY-2": "Head of household"}
