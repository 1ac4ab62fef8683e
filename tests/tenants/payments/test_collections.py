"""Control-number collections end to end: the API posts bills to a local gateway, the gateway's
signed callbacks bring control numbers and payments, re-sent and out-of-order callbacks apply once,
bad signatures change nothing, and the daily statement is reconciled."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.payments.models import Bill, PaymentGateway, PaymentNotification
from schemehost.tenants.payments.signing import verify
from tests.tenants.payments.conftest import SCOPES, bill_body, gateway_body


@pytest.fixture
def setup(pay_tenant, client_token):
    """A tenant with the gateway ``gepg`` configured through the API; (tenant, headers)."""
    headers = {"Authorization": f"Bearer {client_token(pay_tenant, scopes=SCOPES)}"}
    return pay_tenant, headers


def _put_gateway(client, tenant, headers, body, code="gepg"):
    return client.put(f"/t/{tenant.slug}/api/v1/payments/gateways/{code}", json=body, headers=headers)


def _post_bill(client, tenant, headers, **over):
    return client.post(f"/t/{tenant.slug}/api/v1/payments/bills", json=bill_body(**over), headers=headers)


def _callback(client, tenant, body, code="gepg"):
    return client.post(f"/t/{tenant.slug}/payments/callbacks/{code}", data=body,
                       headers={"Content-Type": "application/xml"})


@pytest.fixture
def gateway(client, setup, peer, key_pairs):
    tenant, headers = setup
    resp = _put_gateway(client, tenant, headers, gateway_body(peer, key_pairs))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return tenant, headers


def _bill(tenant, bill_id):
    with tenant.session() as s:
        bill = s.get(Bill, bill_id)
        s.expunge(bill)
        return bill


def test_gateway_keys_are_write_only_and_encrypted_at_rest(client, gateway, key_pairs):
    tenant, headers = gateway
    out = client.get(f"/t/{tenant.slug}/api/v1/payments/gateways/gepg", headers=headers).json
    assert out["has_private_key"] and out["has_gateway_public_key"] and not out["has_hmac_secret"]
    assert "secrets" not in out and "PRIVATE KEY" not in str(out)
    assert out["public_key"].strip() == key_pairs[0][1].strip()  # ours, to give to the gateway
    assert out["callback_url"].endswith(f"/t/{tenant.slug}/payments/callbacks/gepg")
    with tenant.session() as s:
        stored = s.execute(select(PaymentGateway.secret).where(PaymentGateway.code == "gepg")).scalar_one()
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "payments.gateway.saved")).scalar_one()
    assert "PRIVATE KEY" not in stored and "PUBLIC KEY" not in stored and stored.startswith("gAAAA")
    assert entry.after["has_private_key"] is True and "PRIVATE" not in str(entry.after)


def test_gateway_settings_are_checked_and_a_refusal_changes_nothing(client, setup, peer, key_pairs):
    tenant, headers = setup
    body = gateway_body(peer, key_pairs, base_url="ftp://gateway", secrets={"gateway_public_key": "not a key"})
    resp = _put_gateway(client, tenant, headers, body)
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert set(resp.json["errors"]) == {"base_url", "secrets.gateway_public_key"}
    resp = _put_gateway(client, tenant, headers, gateway_body(peer, key_pairs, signature="hmac-sha256"))
    assert resp.status_code == 422 and "secrets.hmac_secret" in resp.json["errors"]
    assert client.get(f"/t/{tenant.slug}/api/v1/payments/gateways", headers=headers).json == []


def test_a_bill_is_posted_signed_and_paid_through_control_number_and_payment_callbacks(client, gateway, peer,
                                                                                         key_pairs):
    tenant, headers = gateway
    resp = _post_bill(client, tenant, headers)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    bill = resp.json
    assert bill["status"] == "submitted" and bill["reference"].startswith("CT")
    (sent,) = peer.bills()
    assert peer.received[0]["signature_ok"] and peer.received[0]["headers"]["Gepg-Code"] == "SP100"
    assert sent.findtext("BillTrxInf/BillId") == bill["reference"]
    assert sent.findtext("BillTrxInf/BillAmt") == "15000.00" and sent.findtext("BillTrxInf/Ccy") == "TZS"
    assert sent.findtext("BillTrxInf/BillPayOpt") == "3"
    assert sent.findtext("BillTrxInf/BillItems/BillItem/BillItemAmt") == "15000.00"

    ack = _callback(client, tenant, peer.control_number(bill["reference"], "991234567890"))
    assert ack.status_code == 200 and b"<TrxStsCode>7101</TrxStsCode>" in ack.data
    content = ack.data.split(b"<gepgSignature>")[0].removeprefix(b"<Gepg>")
    signature = ack.data.split(b"<gepgSignature>")[1].split(b"</gepgSignature>")[0].decode()
    assert verify(peer.keys, content, signature)  # the acknowledgement is signed with our key
    issued = client.get(f"/t/{tenant.slug}/api/v1/payments/bills/{bill['id']}", headers=headers).json
    assert issued["status"] == "issued" and issued["control_number"] == "991234567890"

    paid = _callback(client, tenant, peer.payment("TX1", bill["reference"], "991234567890", "15000.00"))
    assert paid.status_code == 200 and b"7101" in paid.data
    after = _bill(tenant, bill["id"])
    assert (after.status, after.paid_amount) == ("paid", 1500000)
    payments = client.get(f"/t/{tenant.slug}/api/v1/payments/bills/{bill['id']}/payments", headers=headers).json
    assert [(p["gateway_txn_id"], p["amount"], p["status"]) for p in payments] == [("TX1", 1500000, "applied")]
    with tenant.session() as s:
        actions = s.execute(select(AuditEntry.action, AuditEntry.actor_type)
                            .where(AuditEntry.action.like("payments.%")).order_by(AuditEntry.id)).all()
    assert [a for a, _t in actions] == ["payments.gateway.saved", "payments.bill.created", "payments.bill.issued",
                                        "payments.payment.applied"]
    assert actions[-1][1] == "gateway"


def test_a_notification_delivered_five_times_at_once_applies_once(app, client, gateway, peer):
    tenant, headers = gateway
    bill = _post_bill(client, tenant, headers).json
    body = peer.payment("TX-DUP", bill["reference"], None, "15000.00")

    def deliver(_n):
        return app.test_client().post(f"/t/{tenant.slug}/payments/callbacks/gepg", data=body,
                                      headers={"Content-Type": "application/xml"})

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(deliver, range(5)))
    assert [a.status_code for a in answers] == [200] * 5 and all(b"7101" in a.data for a in answers)
    assert _callback(client, tenant, body).status_code == 200  # and once more, later
    after = _bill(tenant, bill["id"])
    assert (after.status, after.paid_amount) == ("paid", 1500000)
    with tenant.session() as s:
        notes = s.execute(select(PaymentNotification.deliveries, PaymentNotification.status)).all()
        applied = s.execute(select(func.count()).select_from(AuditEntry)
                            .where(AuditEntry.action == "payments.payment.applied")).scalar_one()
    assert notes == [(6, "applied")] and applied == 1


def test_a_payment_that_overtakes_its_control_number_is_applied_and_the_late_number_changes_nothing(
        client, gateway, peer):
    tenant, headers = gateway
    bill = _post_bill(client, tenant, headers).json
    assert _callback(client, tenant, peer.payment("TX2", bill["reference"], "990000000002", "15000.00")).status_code == 200
    after = _bill(tenant, bill["id"])
    assert (after.status, after.control_number) == ("paid", "990000000002")
    late = _callback(client, tenant, peer.control_number(bill["reference"], "990000000002"))
    assert late.status_code == 200 and b"7101" in late.data
    assert _bill(tenant, bill["id"]).status == "paid"


def test_a_callback_with_a_bad_signature_is_refused_logged_and_changes_nothing(client, gateway, peer, caplog):
    tenant, headers = gateway
    bill = _post_bill(client, tenant, headers).json
    genuine = peer.payment("TX3", bill["reference"], None, "15000.00")
    tampered = genuine.replace(b"<PaidAmt>15000.00</PaidAmt>", b"<PaidAmt>15.00</PaidAmt>")
    with caplog.at_level(logging.WARNING, logger="schemehost.payments"):
        resp = _callback(client, tenant, tampered)
        forged = _callback(client, tenant, genuine.replace(genuine.split(b"<gepgSignature>")[1].split(b"<")[0],
                                                           b"QUJD"))
    assert resp.status_code == 400 and b"<TrxStsCode>7303</TrxStsCode>" in resp.data
    assert forged.status_code == 400 and b"7303" in forged.data
    assert "invalid signature" in caplog.text and "Asha" not in caplog.text
    with tenant.session() as s:
        assert s.execute(select(func.count()).select_from(PaymentNotification)).scalar_one() == 0
    assert _bill(tenant, bill["id"]).status == "submitted"
    # a document type declaration (entity tricks) is refused before any parsing
    evil = peer.signed('<!DOCTYPE x [<!ENTITY a "aaaa">]><gepgPmtSpInfo></gepgPmtSpInfo>')
    assert _callback(client, tenant, evil).status_code == 400


def test_a_timed_out_submission_stays_pending_and_a_resubmission_is_accepted_as_a_duplicate(client, gateway, peer):
    tenant, headers = gateway
    peer.bill_answers[:] = ["sleep", "7226"]
    resp = _post_bill(client, tenant, headers)
    assert resp.status_code == 201
    bill = resp.json
    assert bill["status"] == "pending" and bill["submit_attempts"] == 1 and "ReadTimeout" in bill["last_error"]
    again = client.post(f"/t/{tenant.slug}/api/v1/payments/bills/{bill['id']}/submit", headers=headers)
    assert again.status_code == 200 and again.json["status"] == "submitted" and again.json["gateway_status"] == "7226"
    assert [b.findtext("BillTrxInf/BillId") for b in peer.bills()] == [bill["reference"]] * 2
    assert client.post(f"/t/{tenant.slug}/api/v1/payments/bills/{bill['id']}/submit",
                       headers=headers).status_code == 409


def test_a_refused_bill_is_rejected_with_the_gateways_code(client, gateway, peer):
    tenant, headers = gateway
    peer.bill_answers[:] = ["7213"]
    bill = _post_bill(client, tenant, headers).json
    assert (bill["status"], bill["gateway_status"]) == ("rejected", "7213")


def test_partial_payments_leave_the_bill_open_until_it_is_paid(client, gateway, peer):
    tenant, headers = gateway
    bill = _post_bill(client, tenant, headers, payment_option="partial").json
    assert peer.bills()[0].findtext("BillTrxInf/BillPayOpt") == "2"
    _callback(client, tenant, peer.payment("P1", bill["reference"], None, "5000.00"))
    first = _bill(tenant, bill["id"])
    assert (first.status, first.paid_amount) == ("partially_paid", 500000)
    _callback(client, tenant, peer.payment("P2", bill["reference"], None, "10000.00"))
    assert (_bill(tenant, bill["id"]).status, _bill(tenant, bill["id"]).paid_amount) == ("paid", 1500000)


def test_payments_to_unknown_or_closed_bills_are_kept_and_flagged(client, gateway, peer):
    tenant, headers = gateway
    bill = _post_bill(client, tenant, headers).json
    cancel = client.post(f"/t/{tenant.slug}/api/v1/payments/bills/{bill['id']}/cancel", json={"reason": "duplicate"},
                         headers=headers)
    assert cancel.status_code == 200 and cancel.json["status"] == "cancelled"
    _callback(client, tenant, peer.payment("U1", "NOSUCHBILL", "000", "100.00"))
    _callback(client, tenant, peer.payment("C1", bill["reference"], None, "15000.00"))
    notes = client.get(f"/t/{tenant.slug}/api/v1/payments/notifications", headers=headers).json
    assert {(n["gateway_txn_id"], n["status"]) for n in notes} == {("U1", "unmatched"), ("C1", "refused")}
    assert _bill(tenant, bill["id"]).paid_amount == 0


def test_bad_bill_input_is_refused_with_field_errors_and_creates_nothing(client, gateway, peer):
    tenant, headers = gateway
    resp = _post_bill(client, tenant, headers, currency="ZZZ", items=[{"amount": 10}], payable_kind="nothing")
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert {"currency", "payable_kind"} <= set(resp.json["errors"])
    resp = _post_bill(client, tenant, headers, items=[{"amount": 10}])
    assert resp.status_code == 422 and "items" in resp.json["errors"]
    missing = client.post(f"/t/{tenant.slug}/api/v1/payments/bills", json={"gateway": "gepg"}, headers=headers)
    assert missing.status_code == 422 and "payer_name" in missing.json["errors"]
    assert client.get(f"/t/{tenant.slug}/api/v1/payments/bills", headers=headers).json == [] and peer.bills() == []


def test_callbacks_are_received_while_the_scheme_is_suspended(app, client, gateway, peer):
    from schemehost.platform.extensions import db
    from schemehost.provisioning.lifecycle import suspend_tenant

    tenant, headers = gateway
    bill = _post_bill(client, tenant, headers).json
    with app.app_context():
        suspend_tenant(db.session, tenant.slug, actor="tests", reason="unpaid")
        db.session.commit()
    assert client.get(f"/t/{tenant.slug}/api/v1/payments/bills", headers=headers).status_code == 423
    resp = _callback(client, tenant, peer.payment("S1", bill["reference"], None, "15000.00"))
    assert resp.status_code == 200 and b"7101" in resp.data
    assert _bill(tenant, bill["id"]).status == "paid"


def test_the_daily_statement_flags_missing_unmatched_and_differing_payments(client, gateway, peer):
    tenant, headers = gateway
    bills = [_post_bill(client, tenant, headers).json for _ in range(3)]
    _callback(client, tenant, peer.payment("M1", bills[0]["reference"], None, "15000.00"))  # matched
    _callback(client, tenant, peer.payment("D1", bills[1]["reference"], None, "15000.00"))  # amount differs
    _callback(client, tenant, peer.payment("N1", None, "404", "50.00"))  # unmatched, not in statement
    day = date(2026, 12, 2)
    resp = client.post(f"/t/{tenant.slug}/api/v1/payments/reconciliations", json={"gateway": "gepg",
                                                                                  "day": day.isoformat()},
                       headers=headers)
    assert resp.status_code == 202 and resp.json["status"] == "requested"
    rec_id = resp.json["id"]
    (asked,) = [r["content"] for r in peer.received if r["tag"] == "gepgSpReconcReq"]
    assert asked.findtext("TnxDt") == "2026-12-02" and asked.findtext("SpReconcReqId") == str(rec_id)
    statement = peer.statement(str(rec_id), [("M1", bills[0]["reference"], "15000.00"),
                                             ("D1", bills[1]["reference"], "14000.00"),
                                             ("L1", bills[2]["reference"], "15000.00")])  # L1: its callback was lost
    assert _callback(client, tenant, statement).status_code == 200
    rec = client.get(f"/t/{tenant.slug}/api/v1/payments/reconciliations/{rec_id}", headers=headers).json
    assert rec["status"] == "done"
    counts = rec["counts"]
    assert (counts["matched"], counts["missing"], counts["amount_mismatch"], counts["not_in_statement"],
            counts["unmatched"]) == (1, 1, 1, 1, 1)
    assert {(f["txn"], f["flag"]) for f in rec["flagged"]} == {
        ("L1", "missing"), ("D1", "amount_mismatch"), ("N1", "not_in_statement"), ("N1", "unmatched")}
    assert _bill(tenant, bills[2]["id"]).status == "paid"  # the lost payment was recovered from the statement
    assert _callback(client, tenant, statement).status_code == 200  # re-sent statement: the same report
    again = client.get(f"/t/{tenant.slug}/api/v1/payments/reconciliations/{rec_id}", headers=headers).json
    assert again["counts"]["missing"] == 0 and again["counts"]["matched"] == 2
    assert _bill(tenant, bills[2]["id"]).paid_amount == 1500000
    future = client.post(f"/t/{tenant.slug}/api/v1/payments/reconciliations",
                         json={"gateway": "gepg", "day": (date.today() + timedelta(days=2)).isoformat()},
                         headers=headers)
    assert future.status_code == 422 and "day" in future.json["errors"]
