"""Gateway adapters: one per kind of gateway, each speaking its gateway's protocol over HTTP.

The services never build or parse a gateway's messages: they call an adapter. A collections adapter
(control-number gateways) posts bills, asks for a day's statement and reads the gateway's signed
callbacks; a disbursement adapter (mobile money) sends one payment per request and reads its signed
result callbacks. ``adapter_for(kind)`` answers the adapter of a gateway's kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from schemehost.tenants.payments.signing import Keys


class GatewayUnavailable(Exception):
    """The gateway could not be reached or answered with a transient failure (timeout, 5xx): the
    operation may be tried again later."""


class GatewayRefused(Exception):
    """The gateway answered, and refused (its status code in ``code``)."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code


class BadMessage(Exception):
    """A callback that is not a well-formed message of this gateway, or whose signature is wrong
    (``signature`` True), or that is outside its time window."""

    def __init__(self, reason: str, *, signature: bool = False):
        super().__init__(reason)
        self.reason, self.signature = reason, signature


@dataclass(frozen=True)
class GatewayConfig:
    """What an adapter needs of a gateway row: where, who we are, and the keys (in clear)."""

    code: str
    base_url: str
    sp_code: str
    timeout_s: float
    keys: Keys
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Callback:
    """A verified callback: its kind, the fields it carries, the signed bytes (kept as evidence) and
    the acknowledgement to answer with (given the outcome's status code)."""

    kind: str  # "control_number" | "payment" | "statement" | "disbursement_result"
    fields: dict[str, Any]
    signed: bytes


class CollectionAdapter(Protocol):
    def submit_bill(self, gw: GatewayConfig, bill: dict[str, Any]) -> str:
        """Post a bill; the gateway's status code when it accepted it (or already had it)."""

    def request_statement(self, gw: GatewayConfig, request_id: str, day: date) -> str:
        """Ask for the statement of ``day``; it comes back by callback, tagged with ``request_id``."""

    def read_callback(self, gw: GatewayConfig, body: bytes, headers: dict[str, str]) -> Callback:
        """Parse and verify a callback (``BadMessage`` when it is not acceptable)."""

    def refusal_code(self, *, signature: bool) -> str:
        """The status code answered to a callback refused for its signature or its form."""

    def acknowledge(self, gw: GatewayConfig, callback_kind: str | None, code: str) -> tuple[bytes, str]:
        """The signed acknowledgement body and its content type."""


class DisbursementAdapter(Protocol):
    def send(self, gw: GatewayConfig, payment: dict[str, Any]) -> dict[str, Any]:
        """Send one payment with its idempotency key; ``{"status", "provider_txn_id", "code"}``."""

    def read_callback(self, gw: GatewayConfig, body: bytes, headers: dict[str, str]) -> Callback:
        ...

    def refusal_code(self, *, signature: bool) -> str:
        ...

    def acknowledge(self, gw: GatewayConfig, callback_kind: str | None, code: str) -> tuple[bytes, str]:
        ...


def adapter_for(kind: str):
    """The adapter of a gateway kind (``control_number`` or ``mobile_money``)."""
    from schemehost.tenants.payments.adapters.control_number import ControlNumberAdapter
    from schemehost.tenants.payments.adapters.mobile_money import MobileMoneyAdapter

    return {"control_number": ControlNumberAdapter(), "mobile_money": MobileMoneyAdapter()}[kind]
