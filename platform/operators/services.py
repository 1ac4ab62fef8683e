"""Operator accounts, passwords (argon2) and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, ValidationError
from schemehost.platform.operators.models import Operator, OperatorToken

OPERATOR_ROLES = ("platform_admin", "partner_staff", "support")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "sho_"
_hasher = PasswordHasher()


def password_problem(password: str) -> str | None:
    if len(password) < 12:
        return "A password has at least 12 characters."
    if len(set(password)) < 5:
        return "A password needs more variety than a few repeated characters."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(operator: Operator, password: str) -> bool:
    """True when ``password`` matches; upgrades the hash when argon2 parameters changed."""
    try:
        _hasher.verify(operator.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = _hasher.hash(password)
    return True


def create_operator(session: Session, email: str, *, password: str, role: str = "platform_admin") -> Operator:
    email = (email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email):
        errors["email"] = ["Enter a valid e-mail address, e.g. ops@example.org."]
    problem = password_problem(password or "")
    if problem:
        errors["password"] = [problem]
    if role not in OPERATOR_ROLES:
        errors["role"] = [f"Role must be one of: {', '.join(OPERATOR_ROLES)}."]
    if errors:
        raise ValidationError("The operator cannot be created.", errors=errors)
    if session.execute(select(Operator.id).where(Operator.email == email)).first():
        raise Conflict(f"An operator with e-mail {email} already exists.", errors={"email": ["taken"]})
    operator = Operator(email=email, password_hash=hash_password(password), role=role)
    session.add(operator)
    session.flush()
    return operator


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, operator: Operator, name: str = "cli") -> str:
    """A new API token for ``operator``; the clear value is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(OperatorToken(operator_id=operator.id, name=name, token_hash=_digest(token)))
    session.flush()
    return token


def operator_for_token(session: Session, token: str) -> Operator | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(Operator, OperatorToken.id)
        .join(OperatorToken, OperatorToken.operator_id == Operator.id)
        .where(OperatorToken.token_hash == _digest(token), OperatorToken.revoked_at.is_(None),
               Operator.is_active.is_(True))
    ).first()
    if row is None:
        return None
    session.execute(update(OperatorToken).where(OperatorToken.id == row[1])
                    .values(last_used_at=datetime.now(timezone.utc)))
    return row[0]
