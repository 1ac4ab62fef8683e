"""Tenant secrets encrypted at rest with the installation's key ring (MultiFernet)."""

from schemehost.platform.secrets.services import (
    SecretKeyError,
    delete_secret,
    generate_key,
    get_secret,
    key_ring,
    rotate_secrets,
    set_secret,
)

__all__ = ["SecretKeyError", "delete_secret", "generate_key", "get_secret", "key_ring", "rotate_secrets",
           "set_secret"]
