"""Operator accounts, passwords (argon2), console sign-in and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone

from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from schemehost.platform.audit import record_operator
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.operators.models import Operator, OperatorToken
# one hasher (one set of argon2 parameters) for operators and tenant users
from schemehost.platform.passwords import dummy_hash as _dummy_hash
from schemehost.platform.passwords import hasher as _hasher

OPERATOR_ROLES = ("platform_admin", "partner_staff", "support")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "sho_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # how exactly a token's last use is recorded


def password_problem(password: str) -> str | None:
    """Why ``password`` is too weak, or None when it is acceptable."""
    if len(password) < 12:
        return _("A password has at least 12 characters.")
    if len(set(password)) < 5:
        return _("A password needs more variety than a few repeated characters.")
    return None


def email_problem(email: str) -> str | None:
    """Why ``email`` (normalised) cannot name an operator, or None."""
    if not EMAIL_RE.match(email) or len(email) > 254:
        return _("Enter a valid e-mail address, e.g. ops@example.org.")
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


def normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()


def create_operator(session: Session, email: str, *, password: str, role: str = "platform_admin",
                    partner: str | None = None) -> Operator:
    """A new active operator; field errors for a bad e-mail, weak password, unknown role or partner.
    Partner staff need ``partner`` (a partner slug); the other roles have none."""
    from schemehost.platform.operators.roles import partner_id_for, partner_problem

    email = normalize_email(email)
    errors: dict[str, list[str]] = {}
    if email_problem(email):
        errors["email"] = [email_problem(email)]
    problem = password_problem(password or "")
    if problem:
        errors["password"] = [problem]
    if role not in OPERATOR_ROLES:
        errors["role"] = [_("Role must be one of: %(roles)s.", roles=", ".join(OPERATOR_ROLES))]
    elif partner_problem(role, partner):
        errors["partner"] = [partner_problem(role, partner)]
    if errors:
        raise ValidationError(_("The operator cannot be created."), errors=errors)
    partner_id = partner_id_for(session, role, partner)
    if session.execute(select(Operator.id).where(Operator.email == email)).first():
        raise Conflict(_("An operator with e-mail %(email)s already exists.", email=email),
                       errors={"email": [_("This e-mail address is already taken.")]})
    operator = Operator(email=email, password_hash=hash_password(password), role=role, partner_id=partner_id)
    session.add(operator)
    session.flush()
    record_operator(session, "operator.create", target_type="operator", target_id=operator.id,
                    details={"email": email, "role": role})
    return operator


def get_operator(session: Session, email: str) -> Operator:
    """The operator with ``email`` (any case), or NotFound."""
    email = normalize_email(email)
    operator = session.execute(select(Operator).where(Operator.email == email)).scalar_one_or_none()
    if operator is None:
        raise NotFound(_("No operator with e-mail %(email)s.", email=email))
    return operator


def list_operators(session: Session) -> list[Operator]:
    return list(session.execute(select(Operator).order_by(Operator.email)).scalars())


def operator_dict(op: Operator) -> dict:
    return {"id": op.id, "email": op.email, "role": op.role, "is_active": op.is_active,
            "locale": op.locale, "created_at": op.created_at.isoformat() if op.created_at else None}


def authenticate(session: Session, email: str, password: str) -> Operator | None:
    """The active operator whose e-mail and password match, else None (same cost either way)."""
    operator = session.execute(
        select(Operator).where(Operator.email == normalize_email(email))
    ).scalar_one_or_none()
    if operator is None:
        try:
            _hasher.verify(_dummy_hash(), password or "")
        except (VerificationError, InvalidHashError):
            pass
        return None
    if not check_password(operator, password or ""):
        return None
    return operator if operator.is_active else None


def sign_out_everywhere(session: Session, operator: Operator) -> None:
    """Invalidate every console session of ``operator`` by bumping its session version."""
    session.execute(update(Operator).where(Operator.id == operator.id)
                    .values(session_version=Operator.session_version + 1))
    session.refresh(operator, ["session_version"])


def set_password(session: Session, operator: Operator, password: str) -> None:
    """Replace the password (policy-checked) and sign the operator out everywhere."""
    problem = password_problem(password or "")
    if problem:
        raise ValidationError(_("The password cannot be changed."), errors={"password": [problem]})
    operator.password_hash = hash_password(password)
    session.flush()
    sign_out_everywhere(session, operator)
    record_operator(session, "operator.password", target_type="operator", target_id=operator.id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, operator: Operator, name: str = "cli") -> str:
    """A new API token for ``operator``; the clear value is returned once and never stored."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError(_("The token cannot be created."),
                              errors={"name": [_("A token name has 1 to 100 characters.")]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = OperatorToken(operator_id=operator.id, name=name, token_hash=_digest(token))
    session.add(row)
    session.flush()
    record_operator(session, "operator.token_issue", target_type="operator", target_id=operator.id,
                    details={"token_id": row.id, "name": name})
    return token


def operator_for_token(session: Session, token: str) -> Operator | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(Operator, OperatorToken.id, OperatorToken.last_used_at)
        .join(OperatorToken, OperatorToken.operator_id == Operator.id)
        .where(OperatorToken.token_hash == _digest(token), OperatorToken.revoked_at.is_(None),
               Operator.is_active.is_(True))
    ).first()
    if row is None:
        return None
    now = datetime.now(timezone.utc)
    # at most one write a minute per token: a write per request would lock the token's
    # row for the whole request and serialise every request made with it
    if row[2] is None or now - row[2] > LAST_USED_RESOLUTION:
        session.execute(update(OperatorToken).where(OperatorToken.id == row[1]).values(last_used_at=now))
    return row[0]
