"""Stripe Connect with the real ``stripe`` client against a local server, and signed webhooks: forged or
stale → 400 and nothing changes; one event delivered 5 times → applied once; events out of order."""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schemehost.platform.billing import services as billing
from schemehost.platform.billing.models import Invoice, Payment, WebhookEvent
from schemehost.platform.extensions import db

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import new_partner, plan, tenant_row  # noqa: E402
from stripe_peer import WEBHOOK_SECRET, FakeStripe, event, sign  # noqa: E402


@pytest.fixture
def fake_stripe(app, httpserver):
    peer = FakeStripe(httpserver)
    keys = ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(STRIPE_SECRET_KEY="sk_test_billing", STRIPE_API_BASE=peer.url,
                      STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET)
    yield peer
    app.config.update(saved)


@pytest.fixture
def open_invoice(app):
    """An issued invoice of 30,000 XAF (platform fee 10 %) of a partner with a connected account."""
    with app.app_context():
        partner = new_partner()
        billing.set_platform_fee(db.session, partner, kind="percent", percent="10")
        tenant = tenant_row(partner)
        billing.subscribe(db.session, tenant, plan(partner, prices=[]), start=date(2026, 1, 1), actor="test")
        [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant.id])
        db.session.commit()
        return {"id": invoice.id, "partner": partner.slug, "tenant": tenant.slug}


def deliver(client, payload: bytes, signature: str | None = None):
    return client.post("/billing/stripe/webhook", data=payload, content_type="application/json",
                       headers={"Stripe-Signature": signature or sign(payload)})


def state(app, invoice_id):
    with app.app_context():
        inv = db.session.get(Invoice, invoice_id)
        payments = db.session.execute(select(Payment.amount, Payment.refunded).where(Payment.invoice_id == invoice_id)
                                      .order_by(Payment.id)).all()
        events = db.session.execute(select(func.count()).select_from(WebhookEvent)).scalar()
        return inv.status, inv.amount_paid, [tuple(p) for p in payments], events


def onboard(api, client, fake_stripe, partner):
    resp = api.post(f"/api/v1/billing/partners/{partner}/stripe/onboarding",
                    json={"refresh_url": "http://localhost/r", "return_url": "http://localhost/done"})
    assert resp.status_code == 200, resp.json
    [account] = fake_stripe.accounts.values() if len(fake_stripe.accounts) == 1 else [
        a for a in fake_stripe.accounts.values()][-1:]
    account["charges_enabled"] = True
    assert deliver(client, event("account.updated", {"id": account["id"], "object": "account",
                                                     "charges_enabled": True})).status_code == 200
    return account["id"], resp.json["url"]


def test_onboarding_then_a_payment_intent_on_the_partners_account_with_the_fee(app, api, client, fake_stripe,
                                                                               open_invoice):
    account, url = onboard(api, client, fake_stripe, open_invoice["partner"])
    assert account in url
    # a second onboarding link reuses the connected account
    api.post(f"/api/v1/billing/partners/{open_invoice['partner']}/stripe/onboarding",
             json={"refresh_url": "http://localhost/r", "return_url": "http://localhost/done"})
    assert len(fake_stripe.accounts) == 1
    profile = api.get(f"/api/v1/billing/partners/{open_invoice['partner']}/profile").json
    assert profile["stripe_account_id"] == account and profile["stripe_charges_enabled"] is True

    first = api.post(f"/api/v1/billing/invoices/{open_invoice['id']}/card-payment")
    assert first.status_code == 200, first.json
    again = api.post(f"/api/v1/billing/invoices/{open_invoice['id']}/card-payment")
    assert again.json["id"] == first.json["id"]  # the same key replays the same PaymentIntent
    assert len(fake_stripe.intents) == 1
    [created] = [r for r in fake_stripe.requests if r["path"] == "/v1/payment_intents"][:1]
    assert created["account"] == account
    assert created["params"]["amount"] == "30000" and created["params"]["currency"] == "xaf"
    assert created["params"]["application_fee_amount"] == "3000"
    assert created["key"] == f"invoice-{open_invoice['id']}-30000"
    assert all(r["key"] for r in fake_stripe.requests)  # every POST carries an idempotency key


def test_forged_and_stale_events_are_refused_and_change_nothing(app, client, fake_stripe, open_invoice):
    payload = event("payment_intent.succeeded", {"id": "pi_forged", "object": "payment_intent", "amount": 30000,
                                                 "amount_received": 30000,
                                                 "metadata": {"invoice_id": str(open_invoice["id"])}})
    before = state(app, open_invoice["id"])
    forged = deliver(client, payload, sign(payload, secret="whsec_someone_else"))
    assert forged.status_code == 400 and forged.mimetype == "application/problem+json"
    stale = deliver(client, payload, sign(payload, timestamp=int(time.time()) - 301))
    assert stale.status_code == 400
    assert deliver(client, payload, "t=1,v1=nothex").status_code == 400
    assert deliver(client, payload + b" ", sign(payload)).status_code == 400  # the bytes signed are the bytes sent
    assert state(app, open_invoice["id"]) == before


def test_one_event_delivered_five_times_is_applied_once(app, api, client, fake_stripe, open_invoice):
    onboard(api, client, fake_stripe, open_invoice["partner"])
    pi = api.post(f"/api/v1/billing/invoices/{open_invoice['id']}/card-payment").json
    payload = event("payment_intent.succeeded", fake_stripe.succeed(pi["id"]), account=pi["account"])
    # the same PaymentIntent reported for another connected account records nothing
    other = event("payment_intent.succeeded", fake_stripe.succeed(pi["id"]), account="acct_someone_else")
    assert deliver(client, other).json["outcome"] == "not the partner's account"
    outcomes = [deliver(client, payload).json["outcome"] for _n in range(5)]
    assert outcomes == ["payment recorded"] + ["duplicate"] * 4
    status, paid, payments, _events = state(app, open_invoice["id"])
    assert (status, paid, payments) == ("paid", 30000, [(30000, 0)])


def test_events_out_of_order(app, api, client, fake_stripe, open_invoice):
    onboard(api, client, fake_stripe, open_invoice["partner"])
    pi = api.post(f"/api/v1/billing/invoices/{open_invoice['id']}/card-payment").json
    intent = fake_stripe.succeed(pi["id"])
    account = pi["account"]
    charge = {"id": "ch_1", "object": "charge", "payment_intent": pi["id"], "amount": 30000}

    # the refund arrives first: the PaymentIntent is fetched, the payment recorded, then refunded
    deliver(client, event("charge.refunded", {**charge, "amount_refunded": 10000}, account=account))
    assert state(app, open_invoice["id"])[:3] == ("issued", 20000, [(30000, 10000)])
    # succeeded, then created, arrive late: nothing moves backwards or twice
    assert deliver(client, event("payment_intent.succeeded", intent, account=account)).json["outcome"] == \
        "already recorded"
    deliver(client, event("payment_intent.created", {**intent, "status": "requires_payment_method"}, account=account))
    # a later (larger) refund, then an older one arriving after it
    deliver(client, event("charge.refunded", {**charge, "amount_refunded": 25000}, account=account))
    assert deliver(client, event("charge.refunded", {**charge, "amount_refunded": 10000}, account=account)
                   ).json["outcome"] == "refund already applied"
    assert state(app, open_invoice["id"])[:3] == ("issued", 5000, [(30000, 25000)])
    # the rest is paid by bank transfer: paid
    with app.app_context():
        inv = db.session.get(Invoice, open_invoice["id"])
        billing.record_payment(db.session, inv, method="bank", amount=25000, reference=f"TRF-{inv.id}",
                               paid_on=date(2026, 2, 10), actor="test")
        db.session.commit()
    assert state(app, open_invoice["id"])[:2] == ("paid", 30000)


def test_checkout_page_on_the_partners_account_then_completed_session_records_the_payment_once(
        app, api, client, fake_stripe, open_invoice):
    from schemehost.platform.billing import stripe_connect

    account, _url = onboard(api, client, fake_stripe, open_invoice["partner"])
    with app.app_context():
        inv = db.session.get(Invoice, open_invoice["id"])
        assert stripe_connect.takes_cards(db.session, inv)
        url = stripe_connect.start_checkout(db.session, inv, success_url="http://localhost/ok",
                                            cancel_url="http://localhost/no")
        again = stripe_connect.start_checkout(db.session, inv, success_url="http://localhost/ok",
                                              cancel_url="http://localhost/no")
        db.session.commit()
    assert url == again and url.startswith("https://checkout.stripe.com/")  # same key: the same session
    [created] = [r for r in fake_stripe.requests if r["path"] == "/v1/checkout/sessions"][:1]
    assert created["account"] == account
    assert created["params"]["line_items[0][price_data][unit_amount]"] == "30000"
    assert created["params"]["payment_intent_data[application_fee_amount]"] == "3000"
    assert created["params"]["payment_intent_data[metadata][invoice_id]"] == str(open_invoice["id"])
    [checkout] = fake_stripe.checkouts.values()

    # an unpaid session records nothing; the paid one records the payment; its PaymentIntent's own
    # event, arriving after, finds it done
    unpaid = event("checkout.session.completed", dict(checkout), account=account)
    assert deliver(client, unpaid).json["outcome"] == "not paid"
    paid = fake_stripe.complete_checkout(checkout["id"])
    assert deliver(client, event("checkout.session.completed", paid, account=account)).json["outcome"] == \
        "payment recorded"
    intent = fake_stripe.intents[paid["payment_intent"]]
    assert deliver(client, event("payment_intent.succeeded", intent, account=account)).json["outcome"] == \
        "already recorded"
    assert state(app, open_invoice["id"])[:3] == ("paid", 30000, [(30000, 0)])
    with app.app_context():
        assert not stripe_connect.takes_cards(db.session, db.session.get(Invoice, open_invoice["id"]))


def test_tenant_admin_pays_an_invoice_by_card_from_the_billing_page_even_when_suspended(
        app, api, client, fake_stripe, make_tenant, tenant_user):
    from _console_support import csrf_from

    from tests.tenants.test_sessions import sign_in as tenant_sign_in

    mine, other = make_tenant("blank"), make_tenant("blank")
    ids = {}
    with app.app_context():
        from schemehost.platform.tenants.models import Tenant

        for handle in (mine, other):
            tenant = db.session.get(Tenant, handle.id)
            billing.subscribe(db.session, tenant, plan(tenant.partner, f"card{handle.id}", prices=[]),
                              start=date(2026, 1, 1), actor="test")
            [inv] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[handle.id])
            ids[handle.slug] = (inv.id, tenant.partner.slug)
        db.session.commit()
    my_invoice, my_partner = ids[mine.slug]
    _uid, email, password = tenant_user(mine)
    assert tenant_sign_in(client, mine, email, password).status_code == 302

    # the partner has not onboarded yet: no card button
    assert "pay-by-card" not in client.get(f"/t/{mine.slug}/billing/").get_data(as_text=True)
    account, _url = onboard(api, client, fake_stripe, my_partner)
    with app.app_context():
        from schemehost.provisioning.lifecycle import suspend_tenant

        suspend_tenant(db.session, mine.slug, actor="test", reason="unpaid")
        db.session.commit()
    page = client.get(f"/t/{mine.slug}/billing/").get_data(as_text=True)
    assert 'class="pay-by-card"' in page
    token = csrf_from(page)
    # another tenant's invoice is unknown here
    assert client.post(f"/t/{mine.slug}/billing/invoices/{ids[other.slug][0]}/card",
                       data={"csrf_token": token}).status_code == 404
    resp = client.post(f"/t/{mine.slug}/billing/invoices/{my_invoice}/card", data={"csrf_token": token})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("https://checkout.stripe.com/c/pay/")
    [checkout] = fake_stripe.checkouts.values()
    assert checkout["success_url"].endswith(f"/t/{mine.slug}/billing/?card=done")

    paid = fake_stripe.complete_checkout(checkout["id"])
    assert deliver(client, event("checkout.session.completed", paid, account=account)).json["outcome"] == \
        "payment recorded"
    with app.app_context():
        assert db.session.get(Invoice, my_invoice).status == "paid"
    back = client.get(f"/t/{mine.slug}/billing/?card=done").get_data(as_text=True)
    assert "being confirmed" in back and 'class="pay-by-card"' not in back
