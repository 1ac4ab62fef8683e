"""A gateway's settings as the adapters need them, independent of where the settings are stored.

A scheme's gateway (``payments_gateways`` in the tenant schema) and a partner's gateway for invoices
(``control.billing_gateways``, decision 0506) hold the same columns: ``code``, ``base_url``, ``sp_code``,
``timeout_s``, ``signature``, ``options`` and ``secret`` — key-ring ciphertext of a JSON object with
``hmac_secret``, ``private_key`` (ours) and ``gateway_public_key``. These functions read and check such a
row whichever session it came from, so both call one implementation of keys, signing and transport.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import serialization
from flask_babel import gettext as _

from schemehost.platform.secrets import key_ring
from schemehost.tenants.payments import signing
from schemehost.tenants.payments.adapters import GatewayConfig
from schemehost.tenants.payments.models import SignatureAlgorithm

SECRET_FIELDS = ("hmac_secret", "private_key", "gateway_public_key")


class GatewayRow(Protocol):
    code: str
    base_url: str
    sp_code: str
    timeout_s: int
    signature: str
    options: dict[str, Any] | None
    secret: str | None


def decrypt_keys(gw: GatewayRow) -> dict[str, str]:
    """The gateway's keys in clear (kept in memory for one operation only)."""
    if not gw.secret:
        return {}
    try:
        return json.loads(key_ring().decrypt(gw.secret.encode()))
    except InvalidToken:
        from schemehost.platform.secrets.services import SecretKeyError

        raise SecretKeyError(_("The keys of gateway '%(code)s' cannot be decrypted with the configured keys.",
                               code=gw.code)) from None


def encrypt_keys(keys: dict[str, str]) -> str | None:
    """Key-ring ciphertext of ``keys`` (None when there are none)."""
    return key_ring().encrypt(json.dumps(keys).encode()).decode() if keys else None


def gateway_config(gw: GatewayRow) -> GatewayConfig:
    """What the adapter needs, keys decrypted."""
    keys = decrypt_keys(gw)
    return GatewayConfig(code=gw.code, base_url=gw.base_url, sp_code=gw.sp_code, timeout_s=gw.timeout_s,
                         keys=signing.Keys(algorithm=gw.signature, **{k: keys.get(k) for k in SECRET_FIELDS}),
                         options=dict(gw.options or {}))


def public_key_of(keys: dict[str, str]) -> str | None:
    """Our public key (PEM) from our private key, to give to the gateway."""
    if not keys.get("private_key"):
        return None
    private = serialization.load_pem_private_key(keys["private_key"].encode(), password=None)
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def merge_keys(keys: dict[str, str], secrets: dict[str, str | None] | None, signature: str | None,
               errors: dict[str, list[str]]) -> dict[str, str]:
    """``keys`` with ``secrets`` applied (a value replaces a key, an empty one removes it), each key
    checked; when ``errors`` is still empty, the keys ``signature`` needs must be set. Problems are
    added to ``errors`` by field (``secrets.<key>``)."""
    keys = dict(keys)
    for key, value in (secrets or {}).items():
        if key not in SECRET_FIELDS:
            errors[f"secrets.{key}"] = [_("unknown key")]
        elif value:
            check = {"private_key": signing.check_private_key, "gateway_public_key": signing.check_public_key}.get(key)
            problem = check(value) if check else None
            if problem:
                errors[f"secrets.{key}"] = [_("Not usable: %(reason)s.", reason=problem)]
            keys[key] = value
        else:
            keys.pop(key, None)
    if not errors:
        needed = ("hmac_secret",) if signature == SignatureAlgorithm.hmac_sha256 else ("private_key", "gateway_public_key")
        for key in needed:
            if not keys.get(key):
                errors[f"secrets.{key}"] = [_("Needed by the signature algorithm %(alg)s.", alg=signature)]
    return keys
