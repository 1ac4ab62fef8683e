"""Payments across tenants (nothing of one scheme is visible to or changeable from another), HMAC
gateways, the daily run, and the console page."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import select

from schemehost.tenants.payments.models import Bill, PaymentNotification, Reconciliation
from tests.tenants.payments.conftest import SCOPES, Peer, bill_body, gateway_body
from tests.tenants.test_audit import sign_in_tenant_user


def _headers(client_token, tenant):
    return {"Authorization": f"Bearer {client_token(tenant, scopes=SCOPES)}"}


def _gateway(client, tenant, headers, body, code="gepg"):
    resp = client.put(f"/t/{tenant.slug}/api/v1/payments/gateways/{code}", json=body, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_a_scheme_sees_and_changes_nothing_of_another(client, make_tenant, client_token, peer, key_pairs):
    a, b = make_tenant("cash-transfer", prefix="pa"), make_tenant("cash-transfer", prefix="pb")
    ha, hb = _headers(client_token, a), _headers(client_token, b)
    _gateway(client, a, ha, gateway_body(peer, key_pairs))
    bill = client.post(f"/t/{a.slug}/api/v1/payments/bills", json=bill_body(), headers=ha).json
    # b's token on a's paths is refused; a's ids are unknown in b
    assert client.get(f"/t/{a.slug}/api/v1/payments/bills/{bill['id']}", headers=hb).status_code in (401, 403)
    assert client.get(f"/t/{b.slug}/api/v1/payments/bills/{bill['id']}", headers=hb).status_code == 404
    assert client.get(f"/t/{b.slug}/api/v1/payments/gateways", headers=hb).json == []
    # a callback for a's bill sent to b (no such gateway there) is 404; b's own gateway "gepg" with
    # other keys refuses a message signed for a
    body = peer.payment("X1", bill["reference"], None, "15000.00")
    assert client.post(f"/t/{b.slug}/payments/callbacks/gepg", data=body).status_code == 404
    other = Peer(server=peer.server, ours_public=peer.ours_public, gateway_private=peer.gateway_private)
    _gateway(client, b, hb, gateway_body(other, key_pairs, signature="hmac-sha256",
                                         secrets={"hmac_secret": "b-secret-0123456789"}))
    assert client.post(f"/t/{b.slug}/payments/callbacks/gepg", data=body).status_code == 400
    for tenant in (a, b):
        with tenant.session() as s:
            assert s.execute(select(PaymentNotification)).first() is None
    with a.session() as s:
        assert s.get(Bill, bill["id"]).status == "submitted"


def test_an_hmac_gateway_signs_and_verifies_with_the_shared_secret(client, pay_tenant, client_token, peer, key_pairs):
    headers = _headers(client_token, pay_tenant)
    peer.algorithm, peer.hmac_secret = "hmac-sha256", "shared-secret-0123456789"
    _gateway(client, pay_tenant, headers, gateway_body(peer, key_pairs, signature="hmac-sha256",
                                                       secrets={"hmac_secret": peer.hmac_secret}))
    bill = client.post(f"/t/{pay_tenant.slug}/api/v1/payments/bills", json=bill_body(), headers=headers).json
    assert bill["status"] == "submitted" and peer.received[0]["signature_ok"]
    ok = client.post(f"/t/{pay_tenant.slug}/payments/callbacks/gepg",
                     data=peer.payment("H1", bill["reference"], None, "15000.00"))
    assert ok.status_code == 200
    peer.hmac_secret = "wrong-secret"
    bad = client.post(f"/t/{pay_tenant.slug}/payments/callbacks/gepg",
                      data=peer.payment("H2", bill["reference"], None, "15000.00"))
    assert bad.status_code == 400
    with pay_tenant.session() as s:
        assert s.execute(select(PaymentNotification.gateway_txn_id)).scalars().all() == ["H1"]


def test_the_daily_run_expires_old_bills_and_asks_for_yesterdays_statement(app, client, pay_tenant, client_token,
                                                                           peer, key_pairs):
    from schemehost.tenants.payments.tasks import daily_run

    headers = _headers(client_token, pay_tenant)
    _gateway(client, pay_tenant, headers, gateway_body(peer, key_pairs))
    bill = client.post(f"/t/{pay_tenant.slug}/api/v1/payments/bills", json=bill_body(), headers=headers).json
    later = datetime(2099, 1, 2, 12, 0, tzinfo=timezone.utc)  # past the bill's expiry
    with pay_tenant.session() as s:
        result = daily_run(s, now=later)
    assert result == {"expired": 1, "statements": {"gepg": "requested"}}
    (asked,) = [r["content"] for r in peer.received if r["tag"] == "gepgSpReconcReq"]
    assert asked.findtext("TnxDt") == "2099-01-01"
    with pay_tenant.session() as s:
        assert s.get(Bill, bill["id"]).status == "expired"
        assert s.execute(select(Reconciliation.day)).scalar_one().isoformat() == "2099-01-01"


def test_the_console_page_lists_bills_gateways_and_reconciliations(app, client, pay_tenant, client_token, peer,
                                                                    key_pairs, tenant_user):
    headers = _headers(client_token, pay_tenant)
    _gateway(client, pay_tenant, headers, gateway_body(peer, key_pairs))
    bill = client.post(f"/t/{pay_tenant.slug}/api/v1/payments/bills", json=bill_body(), headers=headers).json
    client.post(f"/t/{pay_tenant.slug}/payments/callbacks/gepg", data=peer.control_number(bill["reference"], "99555"))
    browser = app.test_client()
    _uid, email, password = tenant_user(pay_tenant, roles=("tenant_admin",))
    sign_in_tenant_user(browser, pay_tenant, email, password)
    page = browser.get(f"/t/{pay_tenant.slug}/payments/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert bill["reference"] in html and "99555" in html and "Control number issued" in html
    assert re.search(r'data-code="gepg"', html) and "PRIVATE KEY" not in html
    assert browser.get(f"/t/{pay_tenant.slug}/payments/?status=paid").get_data(as_text=True).count("data-status=") == 0
    anonymous = app.test_client().get(f"/t/{pay_tenant.slug}/payments/")
    assert anonymous.status_code in (302, 401)
