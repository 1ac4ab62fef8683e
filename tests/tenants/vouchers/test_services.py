"""Voucher services against the real database: programmes, issuance (one, bulk, eligibility, budget),
redemption exactly once under 50 concurrent attempts, every refusal reason, idempotent retries,
cancellation and reissue, expiry, and a voucher code of one tenant unknown in another."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, update

from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.vouchers import codes
from schemehost.tenants.vouchers import services as vs
from schemehost.tenants.vouchers.models import Redemption, Voucher

from .conftest import build_world


def _issue(world, name):
    with world.tenant.session() as s:
        v = vs.issue_voucher(s, world.programme_id, world.people[name], principal=None, issued_by="tests")
        return v.code


def _redeem(world, code, service, facility="CSI-A", key=None):
    with world.tenant.session() as s:
        entry, replayed = vs.redeem(s, code, service_code=service, facility_id=world.facilities[facility],
                                    redeemed_by="tests", idempotency_key=key)
        return entry.id, entry.occurrence, replayed


def _reason(fn, *args, **kw):
    with pytest.raises(AppError) as info:
        fn(*args, **kw)
    return info.value.status, info.value.extra.get("reason")


def test_programme_validation_reports_every_problem(world):
    with world.tenant.session() as s:
        with pytest.raises(ValidationError) as info:
            vs.create_programme(s, {"code": "", "validity_days": 0, "facilities": ["NOPE"],
                                    "eligibility": {"field": "shoe_size", "op": "eq", "value": 1},
                                    "services": [{"code": "A", "name": "A", "tariff": -1, "count": 1},
                                                 {"code": "A", "name": "B", "tariff": 1, "count": 1,
                                                  "requires_code": "Z"},
                                                 {"code": "C", "name": "C", "tariff": 1, "count": 1,
                                                  "requires_code": "D"},
                                                 {"code": "D", "name": "D", "tariff": 1, "count": 1,
                                                  "requires_code": "C"}]})
    errors = info.value.errors
    assert {"code", "name", "validity_days", "facilities[0]", "services[0].tariff", "services[1].code",
            "services[2].requires_code", "services[3].requires_code"} <= set(errors)
    assert any(k.startswith("eligibility") for k in errors)
    with world.tenant.session() as s:
        with pytest.raises(Conflict):
            vs.create_programme(s, {"code": "CS-MERE", "name": "again", "validity_days": 10,
                                    "services": [{"code": "X", "name": "X", "tariff": 1, "count": 1}]})


def test_issue_checks_eligibility_budget_and_one_live_voucher(world):
    code = _issue(world, "amina")
    assert codes.is_valid(code) and len(code) == 16
    assert _reason(_issue, world, "amina") == (409, "already_holds")
    assert _reason(_issue, world, "clara") == (422, "not_eligible")  # not pregnant
    assert _reason(_issue, world, "emil") == (422, "not_eligible")
    with world.tenant.session() as s:
        p = vs.get_programme(s, world.programme_id)
        figures = vs.budget(s, p)
        assert figures["issued"] == figures["committed"] == 2 * 2500 + 20000 + 5000
        assert figures["redeemed"] == 0 and figures["issued_count"] == 1
        p.budget_ceiling = figures["issued"] + 100  # not enough for a second voucher
    assert _reason(_issue, world, "bintou") == (409, "budget")


def test_bulk_issuance_is_set_wise_and_skips_holders(world):
    _issue(world, "amina")
    with world.tenant.session() as s:
        result = vs.issue_bulk(s, world.programme_id, issued_by="tests")
    assert result["issued"] == 3  # bintou, dora, fatou (amina holds one; clara, emil not eligible)
    with world.tenant.session() as s:
        rows = s.execute(select(Voucher.individual_id, Voucher.code).where(
            Voucher.programme_id == world.programme_id)).all()
        assert sorted(r.individual_id for r in rows) == sorted(world.people[n] for n in ("amina", "bintou", "dora",
                                                                                         "fatou"))
        assert all(codes.is_valid(r.code) for r in rows)
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "vouchers.issue_bulk")).scalar_one() == 1
    with world.tenant.session() as s:  # a second run issues nothing new
        assert vs.issue_bulk(s, world.programme_id)["issued"] == 0


def test_bulk_issuance_reports_progress_slice_by_slice(world, monkeypatch):
    monkeypatch.setattr(vs, "BULK_SLICE", 2)
    seen = []
    with world.tenant.session() as s:
        result = vs.issue_bulk(s, world.programme_id, progress=lambda done, total=None: seen.append((done, total)))
        issued = s.execute(select(func.count()).select_from(Voucher)
                           .where(Voucher.programme_id == world.programme_id)).scalar_one()
    # four eligible people in slices of two: the count, the first slice, then the end
    assert result["issued"] == issued == 4
    assert seen == [(0, 4), (2, 4), (4, 4)]


def test_every_refusal_reason(world):
    code = _issue(world, "amina")
    wrong_digit = code[:-1] + str((int(code[-1]) + 1) % 10)
    assert _reason(_redeem, world, wrong_digit, "CPN") == (422, "invalid_code")
    assert _reason(_redeem, world, "12", "CPN") == (422, "invalid_code")
    unknown = codes.new_code()
    assert _reason(_redeem, world, unknown, "CPN") == (404, "unknown")
    assert _reason(_redeem, world, code, "CPN", facility="CSI-C") == (409, "wrong_facility")
    assert _reason(_redeem, world, code, "ACC") == (409, "wrong_order")
    assert _redeem(world, code, "CPN")[1:] == (1, False)
    assert _redeem(world, code, "ACC")[1:] == (1, False)  # after one antenatal visit
    assert _reason(_redeem, world, code, "ACC") == (409, "already_redeemed")
    assert _redeem(world, codes.grouped(code), "CPN")[1] == 2  # typed in groups
    assert _reason(_redeem, world, code, "CPN") == (409, "already_redeemed")
    with pytest.raises(ValidationError):
        _redeem(world, code, "NOPE")
    # expired: past its last day, even before the expiry job ran
    other = _issue(world, "dora")
    with world.tenant.session() as s:
        s.execute(update(Voucher).where(Voucher.code == other).values(expires_on=date.today() - timedelta(days=2)))
    assert _reason(_redeem, world, other, "CPN") == (409, "expired")
    with world.tenant.session() as s:
        assert vs.expire_vouchers(s) == 1
        assert s.execute(select(Voucher.status).where(Voucher.code == other)).scalar_one() == "expired"
    # cancelled
    third = _issue(world, "fatou")
    with world.tenant.session() as s:
        assert vs.cancel_voucher(s, third, reason="moved away") is None
    assert _reason(_redeem, world, third, "CPN") == (409, "cancelled")
    with world.tenant.session() as s:  # refusals wrote nothing to the ledger
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == 3


def test_idempotent_retry_returns_the_first_result(world):
    code = _issue(world, "amina")
    first = _redeem(world, code, "CPN", key="desk-1-req-42")
    again = _redeem(world, code, "CPN", key="desk-1-req-42")
    assert again[:2] == first[:2] and again[2] is True and first[2] is False
    with world.tenant.session() as s:
        assert s.execute(select(func.count()).select_from(Redemption)).scalar_one() == 1
    with pytest.raises(ValidationError) as info:  # the same key for another request
        _redeem(world, code, "TRANS", key="desk-1-req-42")
    assert "idempotency_key" in info.value.errors


def test_reissue_of_a_lost_voucher_keeps_its_history_and_stops_the_old_code(world):
    old = _issue(world, "amina")
    _redeem(world, old, "CPN")
    with world.tenant.session() as s:
        new = vs.cancel_voucher(s, old, reason="card lost", reissue=True).code
    assert new != old and codes.is_valid(new)
    assert _reason(_redeem, world, old, "CPN") == (409, "cancelled")
    assert _redeem(world, new, "CPN")[1] == 2  # the first visit counts under the new code
    with world.tenant.session() as s:
        view = vs.voucher_view(s, vs.find_voucher(s, new))
        assert {x["code"]: x["remaining"] for x in view["services"]} == {"CPN": 0, "ACC": 1, "TRANS": 1}
        figures = vs.budget(s, vs.get_programme(s, world.programme_id))
        assert figures["issued_count"] == 1 and figures["redeemed"] == 5000


def test_fifty_concurrent_redemptions_of_one_service_succeed_once(world):
    code = _issue(world, "amina")
    barrier = threading.Barrier(50)
    results: list[object] = []
    lock = threading.Lock()

    def attempt(i):
        barrier.wait()
        try:
            out = ("ok", _redeem(world, code, "TRANS", facility="CSI-A" if i % 2 else "CSI-B"))
        except AppError as err:
            out = ("refused", err.extra.get("reason"))
        with lock:
            results.append(out)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 50
    assert sum(1 for r in results if r[0] == "ok") == 1
    assert [r[1] for r in results if r[0] == "refused"] == ["already_redeemed"] * 49
    with world.tenant.session() as s:
        entries = s.execute(select(Redemption).join(Voucher, Voucher.id == Redemption.voucher_id)
                            .where(Voucher.code == code)).scalars().all()
        assert len(entries) == 1 and entries[0].amount == 5000
        assert s.execute(select(func.count()).select_from(AuditEntry)
                         .where(AuditEntry.action == "vouchers.redeem")).scalar_one() == 1


def test_a_voucher_code_of_one_tenant_is_unknown_in_another(world, make_tenant):
    code = _issue(world, "amina")
    other = build_world(make_tenant("maternal-voucher", prefix="vx"))
    with other.tenant.session() as s:
        with pytest.raises(NotFound) as info:
            vs.find_voucher(s, code)
    assert info.value.extra["reason"] == "unknown"


def test_reimbursement_batch_verify_approve_pay_and_statement(world):
    from decimal import Decimal

    from schemehost.tenants.vouchers import claims as cl

    for name in ("amina", "bintou", "dora"):
        code = _issue(world, name)
        _redeem(world, code, "CPN")
        _redeem(world, code, "TRANS", facility="CSI-B")
    today = date.today()
    with world.tenant.session() as s:
        with pytest.raises(ValidationError):
            cl.batch_claims(s, period_start=today, period_end=today - timedelta(days=1))
        made = cl.batch_claims(s, period_start=today - timedelta(days=1), period_end=today + timedelta(days=1),
                               sample=Decimal("0.5"), created_by="tests")
        assert sorted((c.facility_id, c.claimed, c.redemptions) for c in made) == sorted(
            [(world.facilities["CSI-A"], 3 * 2500, 3), (world.facilities["CSI-B"], 3 * 5000, 3)])
        ids = {c.facility_id: c.id for c in made}
        # nothing is claimed twice
        assert cl.batch_claims(s, period_start=today - timedelta(days=1), period_end=today + timedelta(days=1)) == []
    claim_a = ids[world.facilities["CSI-A"]]
    with world.tenant.session() as s:
        lines = cl.claim_lines(s, claim_a)
        flagged = [x["redemption_id"] for x in lines if x["verification"] == "flagged"]
        assert len(flagged) == 2  # ceil(3 × 0.5)
        with pytest.raises(Conflict) as info:
            cl.approve_claim(s, claim_a)
        assert info.value.extra["reason"] == "unverified"
    with world.tenant.session() as s:
        cl.verify_redemption(s, claim_a, flagged[0], confirmed=True)
        cl.verify_redemption(s, claim_a, flagged[1], confirmed=False)
        with pytest.raises(Conflict):
            cl.pay_claim(s, claim_a, reference="TRF-1")  # not approved yet
        claim = cl.approve_claim(s, claim_a, approved_by="tests")
        assert claim.approved_amount == 2 * 2500  # the rejected visit is not paid
        with pytest.raises(ValidationError):
            cl.pay_claim(s, claim_a, reference=" ")
        assert cl.pay_claim(s, claim_a, reference="TRF-1", paid_by="tests").status == "paid"
    with world.tenant.session() as s:
        statement = [cl.claim_dict(s, c) for c in cl.list_claims(s, facility_id=world.facilities["CSI-A"])]
        assert [(c["status"], c["approved_amount"], c["payment_reference"]) for c in statement] == [("paid", 5000, "TRF-1")]
        assert statement[0]["verification"] == {"flagged": 0, "confirmed": 1, "rejected": 1}


def test_reports_and_reminders(world):
    from schemehost.tenants.vouchers import reports as rp

    codes_ = {name: _issue(world, name) for name in ("amina", "bintou", "dora")}
    _redeem(world, codes_["amina"], "CPN")
    _redeem(world, codes_["amina"], "ACC")
    _redeem(world, codes_["bintou"], "TRANS", facility="CSI-B")
    with world.tenant.session() as s:
        services = {r["service"]: r for r in rp.by_service(s, world.programme_id)}
        assert services["CPN"] == {"service": "CPN", "name": "Antenatal visit", "entitled": 6, "redeemed": 1,
                                   "amount": 2500, "currency": "XAF"}
        assert services["ACC"]["redeemed"] == 1 and services["TRANS"]["amount"] == 5000
        facilities = rp.by_facility(s, world.programme_id)
        assert [(r["facility"], r["redemptions"], r["vouchers"], r["amount"]) for r in facilities] == [
            ("CSI-A", 2, 1, 22500), ("CSI-B", 1, 1, 5000)]
        areas = rp.by_area(s, world.programme_id, level=1)  # the district of the beneficiaries
        assert [(r["area"], r["issued"], r["used"], r["redemptions"], r["amount"]) for r in areas] == [
            ("R-D", 3, 2, 3, 27500)]
        village = {r["area"]: r["issued"] for r in rp.by_area(s, world.programme_id, level=3)}
        assert village == {"V1": 2, "V2": 1}
        timing = {r["service"]: r for r in rp.timing(s, world.programme_id)}
        assert timing["ACC"]["vouchers"] == 1 and 0 <= timing["ACC"]["median_days"] < 1
        assert timing["CPN"]["vouchers"] == 1 and timing["TRANS"]["vouchers"] == 1
        csv_text = rp.to_csv(rp.by_service(s, world.programme_id))
        assert csv_text.splitlines()[0] == "service,name,entitled,redeemed,amount,currency"
        # reminders: nobody is idle for 30 days yet; with 0 days, those with antenatal visits left
        assert rp.reminders(s, world.programme_id, idle_days=30) == []
        due = {r["given_name"]: (r["used"], r["count"]) for r in rp.reminders(s, world.programme_id, idle_days=0)}
        assert due == {"amina": (1, 2), "bintou": (0, 2), "dora": (0, 2)}
        s.execute(update(Voucher).where(Voucher.code == codes_["dora"]).values(
            issued_at=func.now() - timedelta(days=45)))
        assert [r["given_name"] for r in rp.reminders(s, world.programme_id, idle_days=30)] == ["dora"]
        assert rp.reminders(s, world.programme_id, service_code="TRANS", idle_days=0)[0]["service"] == "TRANS"
        with pytest.raises(ValidationError):
            rp.reminders(s, world.programme_id, service_code="NOPE")


def test_a_persons_vouchers_for_subject_access_and_the_retention_hold(world):
    from schemehost.tenants.vouchers.privacy import holders_of_live_vouchers, subject_vouchers

    code = _issue(world, "amina")
    _redeem(world, code, "CPN")
    with world.tenant.session() as s:
        vouchers = subject_vouchers(s, world.people["amina"])["vouchers"]
        assert [(v["code"], v["status"]) for v in vouchers] == [(code, "partially_redeemed")]
        assert [(r["service"], r["occurrence"]) for r in vouchers[0]["redemptions"]] == [("CPN", 1)]
        assert subject_vouchers(s, world.people["bintou"]) == {"vouchers": []}
        assert s.execute(holders_of_live_vouchers(s)).scalars().all() == [world.people["amina"]]
