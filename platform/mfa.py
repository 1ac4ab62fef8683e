"""Second factor (TOTP, RFC 6238) shared by operators and tenant users.

One mechanism serves both kinds of account: a :class:`Factor` says where an
account keeps its recovery codes (``operator_recovery_codes`` in the control
plane, ``recovery_codes`` in the tenant schema); the account itself carries
``totp_secret`` (encrypted with the installation's key ring) and
``totp_enabled_at``.

* Codes are 6 digits, accepted one 30-second step either side of now.
* A code that was accepted once is refused for the rest of its validity
  (replay protection). The used steps are kept in the rate limiter's storage
  (Redis when ``REDIS_URL`` is set, shared by every worker; process memory
  otherwise, where each worker has its own — see decision 0088).
* 10 recovery codes of 80 random bits (``xxxx-xxxx-xxxx-xxxx``), stored as
  SHA-256 and each usable once (decision 0089).

Sign-in keeps a short-lived *pending* state in the session between the
password and the second factor (:func:`read_pending`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import pyotp
import segno
from cryptography.fernet import InvalidToken
from flask import current_app, session as http_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from schemehost.platform.db import utcnow
from schemehost.platform.errors import Conflict
from schemehost.platform.operators.models import OperatorRecoveryCode
from schemehost.platform.secrets.services import SecretKeyError, key_ring

#: Issuer shown in authenticator apps for operator accounts (tenant users see their scheme's name).
OPERATOR_ISSUER = "schemehost"
DIGITS = 6
INTERVAL = 30
VALID_WINDOW = 1
RECOVERY_CODE_COUNT = 10
#: Crockford's base32 alphabet (no i, l, o, u): 5 bits a character, nothing to misread.
RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
RECOVERY_GROUPS, RECOVERY_GROUP_LEN = 4, 4
#: Seconds between a correct password and the second factor (``MFA_PENDING_SECONDS``).
PENDING_SECONDS = 300

_CODE_RE = re.compile(r"^[0-9]{%d}$" % DIGITS)
_SPACES = re.compile(r"\s+")
_CROCKFORD = str.maketrans({"o": "0", "i": "1", "l": "1"})

Method = Literal["totp", "recovery_code"]


# ---- secrets and enrolment ---------------------------------------------------------------


def new_secret() -> str:
    """A new random TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(32)


def encrypt_secret(secret: str) -> str:
    """``secret`` encrypted with the newest key of the installation's key ring (text to store)."""
    return key_ring().encrypt(secret.encode()).decode()


def decrypt_secret(stored: str) -> str:
    """The clear secret of a stored value; SecretKeyError when no configured key opens it."""
    try:
        return key_ring().decrypt(stored.encode()).decode()
    except InvalidToken:
        raise SecretKeyError(_("A second-factor secret cannot be decrypted with the configured keys: "
                               "keep old keys in SCHEMEHOST_SECRET_KEYS after the new one.")) from None


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(name=account, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """``uri`` as a QR code in an inline SVG ``data:`` URI (for ``<img src>``; no script, no request)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def grouped(secret: str) -> str:
    """The secret in groups of four for typing by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


# ---- codes -------------------------------------------------------------------------------


def normalize_code(code: str | None) -> str | None:
    """The 6 digits of a typed code (spaces removed), or None when it is not 6 digits."""
    code = _SPACES.sub("", code or "")
    return code if _CODE_RE.match(code) else None


def matching_step(secret: str, code: str | None, *, at: float | None = None) -> int | None:
    """The time step (``unix time // 30``) whose code is ``code``, looking one step either side of
    ``at`` (default now); None when none matches or ``code`` is not 6 digits."""
    code = normalize_code(code)
    if code is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now_step = int(time.time() if at is None else at) // INTERVAL
    found = None
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        # compare every candidate: the time taken does not tell which step matched
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


class _LocalUses:
    """Fallback used-step store when the rate limiter has no storage (one process)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def incr(self, key: str, expiry: int) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if t > now}
            if self._seen.get(key, 0) > now:
                return 2
            self._seen[key] = now + expiry
            return 1


_local_uses = _LocalUses()


def _first_use(key: str) -> bool:
    """True the first time ``key`` is seen within a code's lifetime; atomic in Redis."""
    from schemehost.platform.ratelimit import limiter

    ttl = INTERVAL * (2 * VALID_WINDOW + 2)
    try:
        store = limiter.storage
    except AssertionError:  # flask-limiter has no storage yet (not initialised in this process)
        store = _local_uses
    return store.incr(f"mfa-used:{key}", ttl) == 1


def verify_totp(secret: str, code: str | None, *, replay_key: str | None = None, at: float | None = None) -> bool:
    """True when ``code`` is a current code of ``secret``. With ``replay_key`` (one per account),
    a code accepted once is refused for the rest of its validity."""
    step = matching_step(secret, code, at=at)
    if step is None:
        return False
    # keyed by the code too: a new secret enrolled within the same step is not a replay
    return replay_key is None or _first_use(f"{replay_key}:{step}:{normalize_code(code)}")


# ---- recovery codes ------------------------------------------------------------------------


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` new random recovery codes like ``7kq2-m9xd-4hpw-r3ta`` (80 bits each)."""
    codes = []
    for _i in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _c in range(RECOVERY_GROUPS * RECOVERY_GROUP_LEN))
        codes.append("-".join(raw[i:i + RECOVERY_GROUP_LEN] for i in range(0, len(raw), RECOVERY_GROUP_LEN)))
    return codes


def normalize_recovery_code(code: str | None) -> str | None:
    """The 16 characters of a typed recovery code (case, spaces and hyphens ignored; o/i/l read as
    0/1/1), or None when it cannot be one."""
    raw = re.sub(r"[\s-]+", "", (code or "").lower()).translate(_CROCKFORD)
    length = RECOVERY_GROUPS * RECOVERY_GROUP_LEN
    if len(raw) != length or any(c not in RECOVERY_ALPHABET for c in raw):
        return None
    return raw


def hash_recovery_code(owner_id: int, code: str) -> str:
    """SHA-256 of a normalised code salted with its owner's id (a hit proves the owner too)."""
    return hashlib.sha256(f"{owner_id}:{code}".encode()).hexdigest()


# ---- accounts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Factor:
    """Where one kind of account keeps its second factor.

    ``code_model`` is the recovery-code table (``id``, ``<owner_column>``, ``code_hash``,
    ``used_at``); ``scope`` names the accounts' namespace in replay keys (account ids repeat
    across tenant schemas, so a tenant's scope holds its id).
    """

    code_model: Any
    owner_column: str
    scope: str

    def replay_key(self, account: Any) -> str:
        return f"{self.scope}:{account.id}"

    def _owner(self):
        return getattr(self.code_model, self.owner_column)


#: Operators of the control plane.
OPERATORS = Factor(OperatorRecoveryCode, "operator_id", "op")


def is_enabled(account: Any) -> bool:
    return account.totp_enabled_at is not None and bool(account.totp_secret)


def _store_recovery_codes(session: Session, factor: Factor, account: Any) -> list[str]:
    codes = new_recovery_codes()
    session.execute(delete(factor.code_model).where(factor._owner() == account.id))
    session.add_all([factor.code_model(**{factor.owner_column: account.id,
                                          "code_hash": hash_recovery_code(account.id, normalize_recovery_code(c))})
                     for c in codes])
    session.flush()
    return codes


def confirm_enrolment(session: Session, factor: Factor, account: Any, secret: str, code: str | None) -> list[str] | None:
    """Turn the second factor on with ``secret`` once ``code`` proves the app holds it.

    Returns the new recovery codes (to be shown once), or None when ``code`` is wrong.
    Replaces any earlier secret and recovery codes.
    """
    if not verify_totp(secret, code, replay_key=factor.replay_key(account)):
        return None
    account.totp_secret = encrypt_secret(secret)
    account.totp_enabled_at = utcnow()
    session.flush()
    return _store_recovery_codes(session, factor, account)


def verify_second_factor(session: Session, factor: Factor, account: Any, code: str | None) -> Method | None:
    """Check a sign-in code: ``"totp"`` for a current authenticator code (each usable once),
    ``"recovery_code"`` for an unused recovery code (now used up), None otherwise."""
    if not is_enabled(account):
        return None
    if normalize_code(code) is not None:
        secret = decrypt_secret(account.totp_secret)
        return "totp" if verify_totp(secret, code, replay_key=factor.replay_key(account)) else None
    return "recovery_code" if use_recovery_code(session, factor, account, code) else None


def use_recovery_code(session: Session, factor: Factor, account: Any, code: str | None) -> bool:
    """Use up one of the account's recovery codes; False when it is not one of its unused codes.
    One conditional UPDATE: two requests racing with the same code cannot both succeed."""
    raw = normalize_recovery_code(code)
    if raw is None:
        return False
    model = factor.code_model
    used = session.execute(
        update(model)
        .where(factor._owner() == account.id, model.code_hash == hash_recovery_code(account.id, raw),
               model.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(model.id)
    ).first()
    return used is not None


def recovery_codes_left(session: Session, factor: Factor, account: Any) -> int:
    model = factor.code_model
    return session.execute(
        select(func.count()).select_from(model).where(factor._owner() == account.id, model.used_at.is_(None))
    ).scalar_one()


def regenerate_recovery_codes(session: Session, factor: Factor, account: Any) -> list[str]:
    """New recovery codes for an account with the second factor on; the old ones stop working."""
    if not is_enabled(account):
        raise Conflict(_("Turn on the second factor before making recovery codes."))
    return _store_recovery_codes(session, factor, account)


def disable(session: Session, factor: Factor, account: Any) -> bool:
    """Forget the account's secret and recovery codes; False when it had no second factor."""
    had = account.totp_secret is not None or account.totp_enabled_at is not None
    account.totp_secret = None
    account.totp_enabled_at = None
    session.execute(delete(factor.code_model).where(factor._owner() == account.id))
    session.flush()
    return had


def reset(session: Session, factor: Factor, account: Any) -> bool:
    """Recovery by an administrator: forget the account's second factor (it enrols again at its
    next sign-in) and sign it out everywhere (session version bumped). False when it had none."""
    had = disable(session, factor, account)
    session.execute(update(type(account)).where(type(account).id == account.id)
                    .values(session_version=type(account).session_version + 1))
    session.refresh(account, ["session_version"])
    return had


# ---- pending sign-in ------------------------------------------------------------------------------


def attempt_refused(response) -> bool:
    """``deduct_when`` of the code forms' rate limits: only refused attempts count (a successful
    enrolment answers 200 with the recovery codes, a successful code a redirect)."""
    return response.status_code >= 400


def pending_seconds() -> int:
    """How long a pending sign-in waits for its second factor (``SCHEMEHOST_MFA_PENDING_SECONDS``)."""
    return int(current_app.config.get("MFA_PENDING_SECONDS", PENDING_SECONDS))


def read_pending(key: str) -> dict | None:
    """The session's pending sign-in under ``key`` when it is younger than ``MFA_PENDING_SECONDS``,
    else None (an expired one is removed). A state without a time is stamped now, so it expires
    that long after its first use."""
    pending = http_session.get(key)
    if not isinstance(pending, dict):
        return None
    now = int(time.time())
    at = pending.get("at")
    if not isinstance(at, (int, float)):
        pending = {**pending, "at": now}
        http_session[key] = pending
    elif now - at > pending_seconds() or at > now + 60:
        http_session.pop(key, None)
        return None
    return pending


def enrolment_secret(container: str, field: str = "secret") -> str:
    """The candidate secret being enrolled, kept encrypted in the session dict ``container``
    (made on first use, so reloading the page shows the same QR code)."""
    state = http_session.get(container)
    state = dict(state) if isinstance(state, dict) else {}
    stored = state.get(field)
    if isinstance(stored, str):
        try:
            return decrypt_secret(stored)
        except SecretKeyError:
            pass
    secret = new_secret()
    state[field] = encrypt_secret(secret)
    http_session[container] = state
    return secret


# ---- forms ------------------------------------------------------------------------------------------


class CodeForm(FlaskForm):
    """A second-factor code: 6 digits from the app, or a recovery code."""

    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code.")), Length(max=40)],
                       description=_l("The 6 digits your authenticator app shows, or one of your recovery codes."),
                       render_kw={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false",
                                  "autocapitalize": "off"})


class EnrolForm(FlaskForm):
    """Confirm enrolment with a code from the app."""

    code = StringField(_l("Code from the app"), validators=[DataRequired(_l("Enter the code.")), Length(max=40)],
                       description=_l("The 6 digits your authenticator app shows for this account."),
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True})


class ProofForm(FlaskForm):
    """Prove it is the account's owner before changing the second factor: password or code."""

    password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField(_l("Or a code from your authenticator app"), validators=[Optional(), Length(max=40)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
