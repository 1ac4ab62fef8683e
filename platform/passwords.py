"""Password hashing shared by operators and tenant users: one argon2 hasher, one set of parameters.

When the parameters change (a new ``argon2-cffi`` default or a deliberate
upgrade), :func:`verify_password` reports that the stored hash needs
replacing, and the caller stores the new hash it returns.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: ``SCHEMEHOST_PASSWORD_HASH_COST``: ``standard`` (the default) or ``minimal``, for test suites only
#: (decision 0095): the same argon2id, at 1 MiB and one pass, so that a suite signing in a thousand
#: times does not spend minutes hashing. Hashes made at either cost verify at the other, and the
#: standard cost rehashes a minimal hash at the next sign-in.
COST = os.environ.get("SCHEMEHOST_PASSWORD_HASH_COST", "standard").strip().lower()
if COST not in ("standard", "minimal"):
    raise RuntimeError(f"SCHEMEHOST_PASSWORD_HASH_COST must be 'standard' or 'minimal', not {COST!r}")

#: The one hasher; its parameters are argon2-cffi's RFC 9106 "low memory" defaults.
hasher = PasswordHasher() if COST == "standard" else PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def hash_password(password: str) -> str:
    return hasher.hash(password)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when an account is unknown, so that a wrong e-mail costs as much time
    as a wrong password and sign-in does not reveal which accounts exist. Made on first use,
    not at import, so that CLI start-up does not pay for an argon2 hash."""
    return hasher.hash(secrets.token_urlsafe(16))


def verify_password(password_hash: str | None, password: str) -> tuple[bool, str | None]:
    """``(matches, new_hash)``: ``new_hash`` is set when the password matches but the stored hash
    was made with other parameters and should be replaced. A missing hash costs a dummy check."""
    if not password_hash:
        burn_time(password)
        return False, None
    try:
        hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False, None
    if hasher.check_needs_rehash(password_hash):
        return True, hasher.hash(password)
    return True, None


def burn_time(password: str) -> None:
    """Spend the time of one verification (for unknown accounts)."""
    try:
        hasher.verify(dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        pass
