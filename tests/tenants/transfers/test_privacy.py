"""The transfers module's personal data: its section of a subject-access export (programmes and payroll
lines, the household by id), erasure pseudonymising the phone numbers copied into mobile-money payouts
while amounts and statuses stay, and the retention hold on heads of active beneficiary households."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update

from schemehost.tenants.payments.models import Disbursement
from schemehost.tenants.registry import privacy
from schemehost.tenants.registry.people import Household, Individual
from schemehost.tenants.transfers.models import Beneficiary, PayrollLine
from tests.tenants.payments.test_disbursements import SECRET, _drain, provider  # noqa: F401  (fixture)
from tests.tenants.transfers.test_transfers import (MAKER, _enrol_and_activate, _programme, _url,  # noqa: F401
                                                    village)

SCOPES = MAKER + ("payments.gateways.manage", "payments.read", "registry.personal_data")


def _paid_by_mobile_money(client, tenant, headers, provider):
    gw = client.put(f"/t/{tenant.slug}/api/v1/payments/gateways/momo", headers=headers, json={
        "name": "Mobile money", "kind": "mobile_money", "base_url": provider.server.url_for("").rstrip("/"),
        "sp_code": "SCHEME1", "signature": "hmac-sha256", "timeout_s": 1, "secrets": {"hmac_secret": SECRET}})
    assert gw.status_code == 200, gw.get_data(as_text=True)
    programme = _programme(client, tenant, headers, benefit_kind="fixed", cap_amount=None)
    _enrol_and_activate(client, tenant, headers, programme["id"])
    cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=headers,
                        json={"period_start": "2026-09-01"}).json
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=headers).json
    return programme, payroll


def test_subject_access_erasure_and_payout_copies(app, client, village, provider, client_token, pg):
    tenant, _ids, households = village
    maker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    programme, payroll = _paid_by_mobile_money(client, tenant, maker, provider)
    assert client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=checker).status_code == 200
    paid = client.post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={"via": "momo"})
    assert paid.status_code == 200, paid.json
    with tenant.session() as s:
        head = s.execute(select(Household.head_id).where(Household.id == households["A1"])).scalar_one()
        phone = s.get(Individual, head).phone
        total = s.execute(select(func.sum(Disbursement.amount))).scalar_one()
    export = client.get(f"/t/{tenant.slug}/api/v1/individuals/{head}/subject-access", headers=maker)
    assert export.status_code == 200, export.json
    [benefit] = export.json["modules"]["transfers"]["beneficiaries"]
    assert (benefit["programme"], benefit["target"], benefit["household_id"], benefit["status"]) == (
        "NAFA", "household", households["A1"], "active")
    [line] = benefit["payroll_lines"]
    assert line["payroll_id"] == payroll["id"] and line["status"] == "pending" and line["amount"] > 0
    [payout] = export.json["modules"]["payments"]["disbursements"]
    assert (payout["recipient_phone"], payout["payable_ref"], payout["amount"]) == (phone, str(line["id"]),
                                                                                    line["amount"])
    # the other households' payouts are not in the export
    assert "HeadA2" not in export.get_data(as_text=True)

    with tenant.session() as s:
        privacy.erase_individual(s, head, reason="request")
    with tenant.session() as s:
        mine = s.execute(select(Disbursement).where(Disbursement.payable_ref == str(line["id"]))).scalar_one()
        assert (mine.recipient_phone, mine.recipient_name) == ("ERASED", f"Erased #{head}")
        assert (mine.amount, mine.status, mine.idempotency_key) == (line["amount"], payout["status"],
                                                                    f"transfers-line-{line['id']}")
        others = s.execute(select(Disbursement.recipient_phone).where(Disbursement.payable_ref != str(line["id"])))
        assert all(p.startswith("+220") for (p,) in others)
        assert s.execute(select(func.sum(Disbursement.amount))).scalar_one() == total
        kept_line = s.get(PayrollLine, line["id"])
        assert (kept_line.amount, kept_line.status) == (line["amount"], "pending")
    # the erased person's export still lists the benefit and payout, with the pseudonym only
    export = client.get(f"/t/{tenant.slug}/api/v1/individuals/{head}/subject-access", headers=maker)
    assert phone not in export.get_data(as_text=True)
    assert export.json["modules"]["payments"]["disbursements"][0]["recipient_phone"] == "ERASED"
    # the sends it queued run here, against this test's gateway, not in a later test's worker run
    _drain(app, pg)


def test_retention_keeps_heads_of_active_beneficiary_households(client, village, client_token):
    tenant, _ids, households = village
    maker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    programme = _programme(client, tenant, maker)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    old = datetime.now(timezone.utc) - timedelta(days=3 * 366)
    with tenant.session() as s:
        heads = dict(s.execute(select(Household.id, Household.head_id)).all())
        beneficiary = heads[households["A1"]]
        outside = heads[households["B2"]]  # a household of one: not eligible (size < 2)
        privacy.set_retention(s, inactive_years=2)
        s.execute(update(Individual).where(Individual.id.in_([beneficiary, outside]))
                  .values(status="inactive", updated_at=old))
    with tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 1
        assert s.get(Individual, beneficiary).status == "inactive"
        assert s.get(Individual, outside).status == "erased"
    with tenant.session() as s:  # once the household graduates, the rule applies
        s.execute(update(Beneficiary).where(Beneficiary.household_id == households["A1"]).values(status="graduated"))
        s.execute(update(Individual).where(Individual.id == beneficiary).values(updated_at=old))
    with tenant.session() as s:
        assert privacy.apply_retention(s)["erased"] == 1


def test_payout_lines_of_more_people_than_a_statement_has_parameters(client, village, client_token):
    """70,000 ids (more than the 65,535 parameters a statement may have), nearly all unknown, find
    exactly the payroll lines the real ones alone find: a head's household lines."""
    from schemehost.tenants.transfers.privacy import person_payout_lines

    tenant, _ids, households = village
    maker = {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}
    programme = _programme(client, tenant, maker, benefit_kind="fixed", cap_amount=None)
    _enrol_and_activate(client, tenant, maker, programme["id"])
    cycle = client.post(_url(tenant, f"/programmes/{programme['id']}/cycles"), headers=maker,
                        json={"period_start": "2026-09-01"}).json
    assert client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker).status_code == 201
    with tenant.session() as s:
        heads = sorted(s.execute(select(Household.head_id).where(Household.id.in_(
            [households["A1"], households["A2"]]))).scalars())
        alone = sorted(s.execute(person_payout_lines(s, heads)).all())
        assert len(alone) >= 2
        many = sorted(s.execute(person_payout_lines(s, list(range(10**12, 10**12 + 70_000)) + heads)).all())
        assert many == alone
        assert s.execute(person_payout_lines(s, list(range(10**12, 10**12 + 70_000)))).all() == []
