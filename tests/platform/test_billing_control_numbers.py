"""Invoices paid to a control number of the partner's gateway (a local gateway, pytest-httpserver, signing
like the real one): the gateway's settings (keys write-only, encrypted), a bill for what is outstanding, the
control number on the tenant's billing page, payments recorded once through billing's payment service,
forged callbacks refused, a suspended tenant resumed, partial payments, other partners out of reach."""

from __future__ import annotations

import sys
import uuid
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schemehost.platform.billing import dunning
from schemehost.platform.billing import services as billing
from schemehost.platform.billing.models import (BillingGateway, ControlBill, GatewayNotification, Invoice, Payment)
from schemehost.platform.extensions import db
from schemehost.platform.tenants.models import Tenant, TenantEvent
from tests.tenants.payments.conftest import Peer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import new_partner, plan, tenant_row  # noqa: E402

HTML = {"Accept": "text/html"}
# due 30 days after issue (2026-03-03): clear of the dates the dunning tests run the whole database at
DUNNING = {"due_days": 30, "reminder_days": 3, "read_only_after_days": 5, "suspend_after_days": 10, "prices": [],
           "currency": "TZS", "fixed_fee": 3000000}


@pytest.fixture
def peer(httpserver, key_pairs):
    (_ours_private, ours_public), (gw_private, _gw_public) = key_pairs
    p = Peer(server=httpserver, ours_public=ours_public, gateway_private=gw_private)
    httpserver.expect_request("/bills", method="POST").respond_with_handler(p._handle)
    return p


@pytest.fixture(scope="session")
def key_pairs():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def pair():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode(),
                key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo).decode())

    return pair(), pair()


def gateway_body(peer, key_pairs, **over):
    (ours_private, _), (_, gw_public) = key_pairs
    body = {"name": "Government e-payment gateway", "base_url": peer.url, "sp_code": "SP200",
            "signature": "rsa-sha256", "timeout_s": 2, "options": {"timezone": "Africa/Dar_es_Salaam"},
            "secrets": {"private_key": ours_private, "gateway_public_key": gw_public}}
    body.update(over)
    return body


def _invoice(app, partner_slug=None, tenant_slug=None, **plan_kw):
    """An issued TZS 30,000.00 invoice of a (new) partner to a (new) control-plane tenant row."""
    with app.app_context():
        from schemehost.platform.partners.models import Partner

        partner = (db.session.execute(select(Partner).where(Partner.slug == partner_slug)).scalar_one()
                   if partner_slug else new_partner(country="TZ"))
        tenant = (db.session.execute(select(Tenant).where(Tenant.slug == tenant_slug)).scalar_one()
                  if tenant_slug else tenant_row(partner))
        billing.subscribe(db.session, tenant, plan(partner, code=f"p{uuid.uuid4().hex[:6]}", **{**DUNNING, **plan_kw}),
                          start=date(2026, 1, 1), actor="test")
        [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant.id])
        db.session.commit()
        return {"id": invoice.id, "partner": partner.slug, "tenant": tenant.slug, "total": invoice.total}


def _setup(app, api, peer, key_pairs, **plan_kw):
    inv = _invoice(app, **plan_kw)
    resp = api.put(f"/api/v1/billing/partners/{inv['partner']}/gateway", json=gateway_body(peer, key_pairs))
    assert resp.status_code == 200, resp.json
    return inv


def _issue(api, client, peer, inv, number="995500000001"):
    bill = api.post(f"/api/v1/billing/invoices/{inv['id']}/control-number")
    assert bill.status_code == 200, bill.json
    ack = client.post(f"/billing/gateways/{inv['partner']}/callbacks",
                      data=peer.control_number(bill.json["reference"], number), content_type="application/xml")
    assert ack.status_code == 200 and b"<TrxStsCode>7101</TrxStsCode>" in ack.data
    return bill.json


def _pay(client, peer, inv, bill, txn, amount, number="995500000001"):
    return client.post(f"/billing/gateways/{inv['partner']}/callbacks",
                       data=peer.payment(txn, bill["reference"], number, amount), content_type="application/xml")


def _state(app, invoice_id):
    with app.app_context():
        inv = db.session.get(Invoice, invoice_id)
        payments = db.session.execute(select(Payment.method, Payment.amount).where(Payment.invoice_id == invoice_id)
                                      .order_by(Payment.id)).all()
        notes = db.session.execute(select(func.count(), func.coalesce(func.sum(GatewayNotification.deliveries), 0))
                                   .join(ControlBill, ControlBill.id == GatewayNotification.bill_id)
                                   .where(ControlBill.invoice_id == invoice_id)).one()
        return inv.status, inv.amount_paid, [tuple(p) for p in payments], tuple(notes)


def test_gateway_keys_are_write_only_encrypted_and_checked(app, api, peer, key_pairs):
    inv = _setup(app, api, peer, key_pairs)
    got = api.get(f"/api/v1/billing/partners/{inv['partner']}/gateway").json
    assert got["has_private_key"] and got["has_gateway_public_key"] and not got["has_hmac_secret"]
    assert "secrets" not in got and "PRIVATE KEY" not in str(got) and got["public_key"].startswith("-----BEGIN PUBLIC")
    assert got["callback_url"].endswith(f"/billing/gateways/{inv['partner']}/callbacks")
    with app.app_context():
        stored = db.session.execute(select(BillingGateway.secret)).scalars().all()
        assert stored and all("PRIVATE KEY" not in (s or "") for s in stored)
    bad = api.put(f"/api/v1/billing/partners/{inv['partner']}/gateway",
                  json=gateway_body(peer, key_pairs, signature="hmac-sha256", base_url="ftp://x",
                                    secrets={"private_key": "not a key"}))
    assert bad.status_code == 422 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert {"base_url", "secrets.private_key"} <= set(bad.json["errors"])
    assert api.get(f"/api/v1/billing/partners/{inv['partner']}/gateway").json["signature"] == "rsa-sha256"


def test_control_number_paid_in_full_settles_the_invoice_and_shows_on_the_gateway(app, api, client, peer, key_pairs):
    inv = _setup(app, api, peer, key_pairs)
    bill = _issue(api, client, peer, inv)
    (sent,) = peer.bills()
    assert peer.received[0]["signature_ok"]
    assert sent.findtext("BillTrxInf/BillId") == bill["reference"] and sent.findtext("BillTrxInf/BillPayOpt") == "2"
    assert sent.findtext("BillTrxInf/BillAmt") == "30000.00" and sent.findtext("BillTrxInf/Ccy") == "TZS"
    got = api.get(f"/api/v1/billing/invoices/{inv['id']}/control-number").json
    assert (got["status"], got["control_number"], got["amount"]) == ("issued", "995500000001", inv["total"])
    # asking again answers the same bill: nothing posted twice
    assert api.post(f"/api/v1/billing/invoices/{inv['id']}/control-number").json["id"] == bill["id"]
    assert len(peer.bills()) == 1

    resp = _pay(client, peer, inv, bill, "TXF1", "30000.00")
    assert resp.status_code == 200 and b"7101" in resp.data
    assert _state(app, inv["id"]) == ("paid", inv["total"], [("control_number", inv["total"])], (1, 1))
    assert api.get(f"/api/v1/billing/invoices/{inv['id']}/control-number").json["status"] == "closed"
    payments = api.get(f"/api/v1/billing/invoices/{inv['id']}/payments").json
    assert payments[0]["recorded_by"] == f"gateway:{inv['partner']}"


def test_a_notification_delivered_again_is_applied_once(app, api, client, peer, key_pairs):
    inv = _setup(app, api, peer, key_pairs)
    bill = _issue(api, client, peer, inv)
    for _ in range(3):
        assert _pay(client, peer, inv, bill, "TXD1", "10000.00").status_code == 200
    assert _state(app, inv["id"]) == ("issued", 1000000, [("control_number", 1000000)], (1, 3))


def test_one_notification_delivered_five_times_at_once_is_applied_once(app, api, client, peer, key_pairs):
    from concurrent.futures import ThreadPoolExecutor

    inv = _setup(app, api, peer, key_pairs)
    bill = _issue(api, client, peer, inv)
    body = peer.payment("TXC1", bill["reference"], None, "30000.00")

    def deliver(_n):
        return app.test_client().post(f"/billing/gateways/{inv['partner']}/callbacks", data=body,
                                      content_type="application/xml")

    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(deliver, range(5)))
    assert [a.status_code for a in answers] == [200] * 5 and all(b"7101" in a.data for a in answers)
    assert _state(app, inv["id"]) == ("paid", inv["total"], [("control_number", inv["total"])], (1, 5))


def test_a_forged_signature_is_refused_and_changes_nothing(app, api, client, peer, key_pairs):
    inv = _setup(app, api, peer, key_pairs)
    bill = _issue(api, client, peer, inv)
    genuine = peer.payment("TXX1", bill["reference"], "995500000001", "30000.00")
    forged = genuine.replace(b"30000.00", b"30000.01", 1)
    resp = client.post(f"/billing/gateways/{inv['partner']}/callbacks", data=forged, content_type="application/xml")
    assert resp.status_code == 400 and b"<TrxStsCode>7303</TrxStsCode>" in resp.data
    other_key = Peer(server=peer.server, ours_public=peer.ours_public, gateway_private=key_pairs[0][0])
    resp = client.post(f"/billing/gateways/{inv['partner']}/callbacks",
                       data=other_key.payment("TXX2", bill["reference"], "995500000001", "30000.00"),
                       content_type="application/xml")
    assert resp.status_code == 400
    assert _state(app, inv["id"]) == ("issued", 0, [], (0, 0))
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(GatewayNotification)
                                  .where(GatewayNotification.gateway_txn_id.in_(["TXX1", "TXX2"]))).scalar() == 0


def test_a_partial_payment_leaves_the_invoice_open_and_the_rest_settles_it(app, api, client, peer, key_pairs):
    inv = _setup(app, api, peer, key_pairs)
    bill = _issue(api, client, peer, inv)
    assert _pay(client, peer, inv, bill, "TXP1", "12000.00").status_code == 200
    assert _state(app, inv["id"])[:2] == ("issued", 1200000)
    got = api.get(f"/api/v1/billing/invoices/{inv['id']}/control-number").json
    assert (got["status"], got["paid_amount"]) == ("issued", 1200000)
    assert api.get(f"/api/v1/billing/invoices/{inv['id']}").json["outstanding"] == 1800000
    # more than what is left is not recorded: kept as refused for the operator
    assert _pay(client, peer, inv, bill, "TXP2", "25000.00").status_code == 200
    assert _state(app, inv["id"])[:2] == ("issued", 1200000)
    assert _pay(client, peer, inv, bill, "TXP3", "18000.00").status_code == 200
    assert _state(app, inv["id"]) == ("paid", 3000000, [("control_number", 1200000), ("control_number", 1800000)],
                                      (3, 3))
    with app.app_context():
        refused = db.session.execute(select(GatewayNotification.status, GatewayNotification.reason)
                                     .where(GatewayNotification.gateway_txn_id == "TXP2")).one()
        assert tuple(refused) == ("refused", "more than outstanding")


def test_a_payment_resumes_a_tenant_suspended_by_dunning(app, api, client, peer, key_pairs):
    inv = _setup(app, api, peer, key_pairs)
    bill = _issue(api, client, peer, inv)
    with app.app_context():
        # what the dunning pass does to this tenant 17 days after the due date (the pass itself would move
        # every overdue tenant of the shared test database)
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == inv["tenant"])).scalar_one()
        overdue = dunning._overdue(db.session, tenant_id=tenant.id)
        assert dunning._required_status(overdue, date(2026, 3, 20)) == "suspended"
        dunning._move(db.session, tenant, "suspended", "billing_suspended", actor="billing", data={})
        db.session.commit()
        assert db.session.execute(select(Tenant.status).where(Tenant.slug == inv["tenant"])).scalar() == "suspended"
    assert _pay(client, peer, inv, bill, "TXS1", "30000.00").status_code == 200
    with app.app_context():
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == inv["tenant"])).scalar_one()
        kinds = db.session.execute(select(TenantEvent.kind).where(TenantEvent.tenant_id == tenant.id)
                                   .order_by(TenantEvent.id)).scalars().all()
    assert tenant.status == "active" and kinds[-1] == "billing_resumed"
    assert _state(app, inv["id"])[0] == "paid"


def test_another_partners_invoice_is_out_of_reach(app, api, client, peer, key_pairs):
    from tests.platform.test_billing_api import _staff

    mine = _setup(app, api, peer, key_pairs)
    theirs = _setup(app, api, peer, key_pairs)
    their_bill = _issue(api, client, peer, theirs, number="995500000099")
    staff = _staff(app, mine["partner"])
    for method, path in (("post", f"/api/v1/billing/invoices/{theirs['id']}/control-number"),
                         ("get", f"/api/v1/billing/invoices/{theirs['id']}/control-number"),
                         ("get", f"/api/v1/billing/partners/{theirs['partner']}/gateway"),
                         ("put", f"/api/v1/billing/partners/{theirs['partner']}/gateway")):
        kw = {"json": gateway_body(peer, key_pairs)} if method == "put" else {}
        assert getattr(client, method)(path, headers=staff, **kw).status_code == 404
    assert client.post(f"/api/v1/billing/invoices/{mine['id']}/control-number", headers=staff).status_code == 200
    # a notification through my partner's callback address naming their bill pays nothing of theirs
    resp = client.post(f"/billing/gateways/{mine['partner']}/callbacks",
                       data=peer.payment("TXO1", their_bill["reference"], "995500000099", "30000.00"),
                       content_type="application/xml")
    assert resp.status_code == 200
    assert _state(app, theirs["id"]) == ("issued", 0, [], (0, 0))
    with app.app_context():
        note = db.session.execute(select(GatewayNotification).where(GatewayNotification.gateway_txn_id == "TXO1")
                                  ).scalar_one()
        assert (note.status, note.bill_id, note.payment_id) == ("unmatched", None, None)


def test_the_tenants_billing_page_shows_the_control_number_and_amount(app, api, client, peer, key_pairs,
                                                                       make_tenant, tenant_user):
    from tests.tenants.test_sessions import sign_in as tenant_sign_in

    handle = make_tenant("blank")
    with app.app_context():
        partner = db.session.execute(select(Tenant).where(Tenant.slug == handle.slug)).scalar_one().partner.slug
    inv = _invoice(app, partner_slug=partner, tenant_slug=handle.slug)
    assert api.put(f"/api/v1/billing/partners/{partner}/gateway", json=gateway_body(peer, key_pairs)).status_code == 200
    bill = _issue(api, client, peer, inv, number="995500000042")
    assert _pay(client, peer, inv, bill, "TXT1", "5000.00", number="995500000042").status_code == 200
    _uid, email, password = tenant_user(handle)
    assert tenant_sign_in(client, handle, email, password).status_code == 302
    html = client.get(f"/t/{handle.slug}/billing/", headers=HTML).get_data(as_text=True)
    assert 'id="control-numbers"' in html and "995500000042" in html
    assert "25,000.00" in html.split('id="control-numbers"')[1].split("</div>")[0]


def test_the_operator_console_gets_a_control_number_for_an_invoice(app, api, client, peer, key_pairs):
    from _console_support import csrf_from, make_operator, sign_in

    inv = _invoice(app)
    page_path = f"/console/billing/invoices/{inv['id']}"
    sign_in(client, make_operator(app))
    assert 'id="control-number"' not in client.get(page_path, headers=HTML).get_data(as_text=True)  # no gateway yet
    assert api.put(f"/api/v1/billing/partners/{inv['partner']}/gateway",
                   json=gateway_body(peer, key_pairs)).status_code == 200
    page = client.get(page_path, headers=HTML).get_data(as_text=True)
    assert 'id="control-number-form"' in page
    resp = client.post(f"{page_path}/control-number", data={"csrf_token": csrf_from(page)}, headers=HTML)
    assert resp.status_code == 302 and len(peer.bills()) == 1
    reference = peer.bills()[0].findtext("BillTrxInf/BillId")
    assert client.post(f"/billing/gateways/{inv['partner']}/callbacks", data=peer.control_number(reference, "995500000077"),
                       content_type="application/xml").status_code == 200
    page = client.get(page_path, headers=HTML).get_data(as_text=True)
    assert "995500000077" in page and 'id="control-number-form"' not in page  # an open bill: no second one
