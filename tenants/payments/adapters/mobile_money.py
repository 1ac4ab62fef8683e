"""The mobile-money disbursement adapter: one JSON request per payment, sent with its idempotency key
(the provider answers a repeated key with the first result, never paying twice), and a signed result
callback per payment.

Requests and callbacks carry ``X-Timestamp`` (Unix seconds) and ``X-Signature``: the base64 signature
(HMAC-SHA256 or RSA, per gateway settings) of ``"<timestamp>." + raw body``. A callback whose
timestamp is more than ``options.tolerance_s`` (default 300) seconds away is refused, so a captured
callback cannot be replayed later.

Answers: 200/201/202 with ``{"status": "accepted"|"succeeded"|"failed", "transaction_id", "code"}``;
another 4xx is a final refusal; a timeout, a lost connection, 429 or 5xx is transient (send again).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import requests

from schemehost.tenants.payments.adapters import (BadMessage, Callback, GatewayConfig, GatewayRefused,
                                                  GatewayUnavailable)
from schemehost.tenants.payments.signing import sign, verify

CONTENT_TYPE = "application/json"
STATUSES = {"accepted", "succeeded", "failed"}
MAX_BODY = 64 * 1024


def signed_headers(gw: GatewayConfig, body: bytes, now: int | None = None) -> dict[str, str]:
    stamp = str(int(now if now is not None else time.time()))
    return {"X-Timestamp": stamp, "X-Signature": sign(gw.keys, stamp.encode() + b"." + body)}


class MobileMoneyAdapter:
    kind = "mobile_money"

    def send(self, gw: GatewayConfig, payment: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"reference": payment["idempotency_key"], "msisdn": payment["recipient_phone"],
                           "name": payment.get("recipient_name"), "amount": payment["amount"],
                           "currency": payment["currency"], "payer": gw.sp_code}, separators=(",", ":")).encode()
        headers = {"Content-Type": CONTENT_TYPE, "Idempotency-Key": payment["idempotency_key"],
                   **signed_headers(gw, body)}
        try:
            resp = requests.post(gw.base_url.rstrip("/") + "/disbursements", data=body, headers=headers,
                                 timeout=gw.timeout_s)
        except requests.RequestException as err:
            raise GatewayUnavailable(type(err).__name__) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise GatewayUnavailable(f"HTTP {resp.status_code}")
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        if resp.status_code >= 400:
            raise GatewayRefused(str(answer.get("code") or f"HTTP {resp.status_code}")[:40])
        status = answer.get("status")
        if status not in STATUSES:
            raise GatewayUnavailable("unexpected answer")
        return {"status": status, "provider_txn_id": (str(answer["transaction_id"])[:60]
                                                      if answer.get("transaction_id") else None),
                "code": str(answer.get("code") or "")[:40] or None}

    def read_callback(self, gw: GatewayConfig, body: bytes, headers: dict[str, str]) -> Callback:
        if len(body) > MAX_BODY:
            raise BadMessage("message too large")
        stamp, signature = headers.get("X-Timestamp", ""), headers.get("X-Signature", "")
        if not re.fullmatch(r"\d{1,12}", stamp) or not signature:
            raise BadMessage("unsigned message", signature=True)
        if not verify(gw.keys, stamp.encode() + b"." + body, signature):
            raise BadMessage("invalid signature", signature=True)
        tolerance = int(gw.options.get("tolerance_s") or 300)
        if abs(time.time() - int(stamp)) > tolerance:
            raise BadMessage("outside the time window", signature=True)
        try:
            data = json.loads(body)
        except ValueError:
            raise BadMessage("malformed JSON") from None
        if not isinstance(data, dict) or data.get("status") not in ("succeeded", "failed") \
                or not isinstance(data.get("reference"), str):
            raise BadMessage("not a disbursement result")
        return Callback(kind="disbursement_result", signed=body, fields={
            "reference": data["reference"][:80], "status": data["status"],
            "provider_txn_id": str(data.get("transaction_id") or "")[:60] or None,
            "code": str(data.get("code") or "")[:40] or None})

    def refusal_code(self, *, signature: bool) -> str:
        return "invalid-signature" if signature else "bad-message"

    def acknowledge(self, gw: GatewayConfig, callback_kind: str | None, code: str) -> tuple[bytes, str]:
        return json.dumps({"code": code}).encode(), CONTENT_TYPE
