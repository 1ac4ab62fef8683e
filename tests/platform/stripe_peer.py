"""A local HTTP server answering as Stripe's API does for the calls billing makes (pytest-httpserver),
and signing of webhook payloads with a test secret."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import parse_qs

from werkzeug import Request, Response

WEBHOOK_SECRET = "whsec_test_billing_0123456789"
_ids = itertools.count(1)


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send for ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(type_: str, obj: dict, *, account: str | None = None, created: int | None = None,
          event_id: str | None = None) -> bytes:
    body = {"id": event_id or f"evt_{next(_ids)}", "object": "event", "type": type_, "api_version": "2024-06-20",
            "created": created or int(time.time()), "data": {"object": obj}, "livemode": False}
    if account:
        body["account"] = account
    return json.dumps(body).encode()


class FakeStripe:
    """Accounts, account links and PaymentIntents, with Stripe's idempotency rules: a reused key replays
    the first answer; reused with other parameters it is an ``idempotency_error`` (400)."""

    def __init__(self, httpserver):
        self.server = httpserver
        self.requests: list[dict] = []
        self.keys: dict[str, tuple[dict, dict]] = {}
        self.intents: dict[str, dict] = {}
        self.accounts: dict[str, dict] = {}
        self.checkouts: dict[str, dict] = {}
        httpserver.expect_request("/v1/accounts", method="POST").respond_with_handler(self._account)
        httpserver.expect_request("/v1/account_links", method="POST").respond_with_handler(self._link)
        httpserver.expect_request("/v1/payment_intents", method="POST").respond_with_handler(self._intent)
        httpserver.expect_request("/v1/checkout/sessions", method="POST").respond_with_handler(self._checkout)
        httpserver.expect_request(__import__("re").compile(r"^/v1/payment_intents/[^/]+$"), method="GET"
                                  ).respond_with_handler(self._get_intent)
        httpserver.expect_request(__import__("re").compile(r"^/v1/accounts/[^/]+$"), method="GET"
                                  ).respond_with_handler(self._get_account)

    @property
    def url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def _params(self, request: Request) -> dict:
        return {k: v[0] if len(v) == 1 else v for k, v in parse_qs(request.get_data(as_text=True)).items()}

    def _idempotent(self, request: Request, make) -> Response:
        params = self._params(request)
        key = request.headers.get("Idempotency-Key")
        self.requests.append({"path": request.path, "params": params, "key": key,
                              "account": request.headers.get("Stripe-Account")})
        if key and key in self.keys:
            first_params, answer = self.keys[key]
            if first_params != params:
                return _json({"error": {"type": "idempotency_error", "message": "Keys for idempotent requests "
                                        "can only be used with the same parameters they were first used with."}}, 400)
            return _json(answer)
        answer = make(params, request)
        if key:
            self.keys[key] = (params, answer)
        return _json(answer)

    def _account(self, request):
        def make(params, _r):
            acct = {"id": f"acct_{next(_ids):08d}", "object": "account", "charges_enabled": False,
                    "country": params.get("country"), "type": params.get("type")}
            self.accounts[acct["id"]] = acct
            return acct
        return self._idempotent(request, make)

    def _link(self, request):
        return self._idempotent(request, lambda p, _r: {
            "object": "account_link", "created": int(time.time()), "expires_at": int(time.time()) + 300,
            "url": f"https://connect.stripe.test/setup/e/{p['account']}/{next(_ids)}"})

    def _intent(self, request):
        def make(params, r):
            pi = {"id": f"pi_{next(_ids):08d}", "object": "payment_intent", "amount": int(params["amount"]),
                  "currency": params["currency"], "status": "requires_payment_method",
                  "application_fee_amount": int(params.get("application_fee_amount", 0)),
                  "client_secret": f"pi_secret_{next(_ids)}", "created": int(time.time()),
                  "metadata": {k[9:-1]: v for k, v in params.items() if k.startswith("metadata[")},
                  "on_behalf_of": r.headers.get("Stripe-Account")}
            self.intents[pi["id"]] = pi
            return pi
        return self._idempotent(request, make)

    def _checkout(self, request):
        """A Checkout Session and the PaymentIntent behind it (amount from the line, fee and metadata from
        ``payment_intent_data``)."""
        def make(params, r):
            pi = {"id": f"pi_{next(_ids):08d}", "object": "payment_intent",
                  "amount": int(params["line_items[0][price_data][unit_amount]"]),
                  "currency": params["line_items[0][price_data][currency]"], "status": "requires_payment_method",
                  "application_fee_amount": int(params.get("payment_intent_data[application_fee_amount]", 0)),
                  "created": int(time.time()), "on_behalf_of": r.headers.get("Stripe-Account"),
                  "metadata": {k[30:-1]: v for k, v in params.items()
                               if k.startswith("payment_intent_data[metadata][")}}
            self.intents[pi["id"]] = pi
            cs = {"id": f"cs_test_{next(_ids):08d}", "object": "checkout.session", "mode": params["mode"],
                  "payment_intent": pi["id"], "payment_status": "unpaid", "status": "open",
                  "client_reference_id": params.get("client_reference_id"),
                  "success_url": params["success_url"], "cancel_url": params["cancel_url"]}
            cs["url"] = f"https://checkout.stripe.com/c/pay/{cs['id']}"
            self.checkouts[cs["id"]] = cs
            return cs
        return self._idempotent(request, make)

    def complete_checkout(self, checkout_id: str) -> dict:
        """The customer paid on the Checkout page: the session as Stripe would now send it."""
        cs = self.checkouts[checkout_id]
        self.succeed(cs["payment_intent"])
        cs.update(payment_status="paid", status="complete")
        return dict(cs)

    def _get_intent(self, request):
        pi = self.intents.get(request.path.rsplit("/", 1)[1])
        return _json(pi) if pi else _json({"error": {"type": "invalid_request_error"}}, 404)

    def _get_account(self, request):
        acct = self.accounts.get(request.path.rsplit("/", 1)[1])
        return _json(acct) if acct else _json({"error": {"type": "invalid_request_error"}}, 404)

    def succeed(self, intent_id: str) -> dict:
        """The customer paid: the PaymentIntent as Stripe would now return it."""
        pi = self.intents[intent_id]
        pi.update(status="succeeded", amount_received=pi["amount"])
        return dict(pi)


def _json(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json",
                    headers={"Request-Id": f"req_{next(_ids)}"})
