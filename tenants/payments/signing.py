"""Signing and verifying gateway messages: RSA (PKCS#1 v1.5 with SHA-256 or SHA-1) with
``cryptography``, or HMAC-SHA256; always over the exact bytes that were received or sent.

Signatures travel base64-encoded. Verification never raises for a wrong signature: it answers
False, and the caller refuses the message (comparisons are constant-time).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from schemehost.tenants.payments.models import SignatureAlgorithm


@dataclass(frozen=True)
class Keys:
    """A gateway's keys in clear (decrypted for the duration of one operation, never logged)."""

    algorithm: str
    hmac_secret: str | None = None
    private_key: str | None = None  # ours, PEM: signs what we send
    gateway_public_key: str | None = None  # the gateway's, PEM: verifies what it sends

    def __repr__(self) -> str:  # never print key material
        return f"Keys(algorithm={self.algorithm!r})"


def _hash(algorithm: str):
    return hashes.SHA1() if algorithm == SignatureAlgorithm.rsa_sha1 else hashes.SHA256()


def sign(keys: Keys, data: bytes) -> str:
    """The base64 signature of ``data`` with our key (or the shared HMAC secret)."""
    if keys.algorithm == SignatureAlgorithm.hmac_sha256:
        if not keys.hmac_secret:
            raise ValueError("no HMAC secret configured")
        return base64.b64encode(hmac.new(keys.hmac_secret.encode(), data, hashlib.sha256).digest()).decode()
    if not keys.private_key:
        raise ValueError("no private key configured")
    key = serialization.load_pem_private_key(keys.private_key.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), _hash(keys.algorithm))).decode()


def verify(keys: Keys, data: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is the gateway's signature of ``data``."""
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if keys.algorithm == SignatureAlgorithm.hmac_sha256:
        if not keys.hmac_secret:
            return False
        expected = hmac.new(keys.hmac_secret.encode(), data, hashlib.sha256).digest()
        return hmac.compare_digest(expected, raw)
    if not keys.gateway_public_key:
        return False
    key = serialization.load_pem_public_key(keys.gateway_public_key.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(raw, data, padding.PKCS1v15(), _hash(keys.algorithm))
    except InvalidSignature:
        return False
    return True


def check_private_key(pem: str) -> str | None:
    """Why ``pem`` is not a usable RSA private key (unencrypted PEM), or None."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return "not an unencrypted PEM private key"
    return None if isinstance(key, rsa.RSAPrivateKey) else "not an RSA key"


def check_public_key(pem: str) -> str | None:
    """Why ``pem`` is not a usable RSA public key (PEM), or None."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        return "not a PEM public key"
    return None if isinstance(key, rsa.RSAPublicKey) else "not an RSA key"
