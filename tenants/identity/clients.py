"""API clients of a tenant (OAuth 2 client credentials): create, rotate, revoke, list; access tokens.

A client's id is public and random (``shc_`` + 20 URL-safe characters). Its
secret (``shs_`` + 32 random bytes) is returned once, by :func:`create_client`
or :func:`rotate_secret`, and only its SHA-256 is kept (docs/decisions/0076).
Access tokens (``sht_`` + 32 random bytes) are issued by the token endpoint
(``tenants/identity/oauth.py``) through :func:`issue_token`, kept as their
SHA-256 only, live ``OAUTH_TOKEN_TTL_S`` seconds and carry a subset of the
client's scopes. Scopes are permission names of the catalogue
(``platform/permissions.py``) that the tenant's modules allow; ``*`` is never
given to a client. Every change and every token issue is audited, without
secrets or tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Iterable

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.permissions import ALL, permission_problem
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import OAuthClient, OAuthToken
from schemehost.tenants.identity.principal import Principal

CLIENT_ID_PREFIX = "shc_"
SECRET_PREFIX = "shs_"
TOKEN_PREFIX = "sht_"
#: stored form of a secret: "<algorithm>$<hex digest>", so that the algorithm can change later
HASH_SCHEME = "sha256$"
NAME_MAX = 200
#: expired tokens are kept this long (so that using one answers "expired", not "unknown"), then purged
EXPIRED_KEPT = timedelta(hours=1)

Actor = tuple[str, str | None, str | None]


# ---- values --------------------------------------------------------------------------------------

def new_client_id() -> str:
    return CLIENT_ID_PREFIX + secrets.token_urlsafe(15)  # 120 random bits, 20 characters


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


def new_access_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


def token_digest(value: str) -> str:
    """SHA-256 (hex) of a token or secret: what the database keeps."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hash_secret(secret: str) -> str:
    return HASH_SCHEME + token_digest(secret)


def secret_matches(stored_hash: str, secret: str) -> bool:
    """Whether ``secret`` is the one whose hash is ``stored_hash`` (constant-time comparison)."""
    return hmac.compare_digest(stored_hash.encode(), hash_secret(secret).encode())


def _now() -> datetime:
    return datetime.now(timezone.utc)


def client_summary(client: OAuthClient) -> dict:
    """What the audit log keeps of a client (never its secret)."""
    return {"name": client.name, "scopes": list(client.scopes)}


# ---- rules ---------------------------------------------------------------------------------------

def tenant_modules(session: Session) -> list[str]:
    """The modules the tenant enables (its ``modules`` setting)."""
    setting = session.get(Setting, "modules")
    value = setting.value if setting is not None else None
    return [m for m in value if isinstance(m, str)] if isinstance(value, list) else []


def parse_scopes(scopes: str | Iterable[str] | None) -> list[str]:
    """Scopes given as a space- or comma-separated string or a list; sorted, without repeats."""
    if scopes is None:
        return []
    items = re.split(r"[\s,]+", scopes) if isinstance(scopes, str) else list(scopes)
    return sorted({s.strip() for s in items if isinstance(s, str) and s.strip()})


def scope_problems(session: Session, scopes: list[str], *, grantor: Principal | None = None) -> list[str]:
    """Why ``scopes`` cannot be given to a client of this tenant (empty when they can).

    ``grantor``, when given, is who creates the client: nobody gives a client a
    permission they do not hold themselves.
    """
    if not scopes:
        return [_("Choose at least one scope (a permission the client may use).")]
    modules = tenant_modules(session)
    problems = []
    for name in scopes:
        if name == ALL:
            problems.append(_("'*' (every permission) cannot be given to an API client; "
                              "name the permissions it needs."))
            continue
        problem = permission_problem(name, modules)
        if problem is None and grantor is not None and not grantor.can(name):
            problem = _("you do not hold '%(name)s' yourself, so you cannot give it to a client", name=name)
        if problem is not None:
            problems.append(problem)
    return problems


def _checked(session: Session, name: str | None, scopes, grantor: Principal | None) -> tuple[str, list[str]]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = [_("Give the client a name, e.g. the system that will use it.")]
    elif len(name) > NAME_MAX:
        errors["name"] = [_("A name has at most %(max)s characters.", max=NAME_MAX)]
    if scopes is not None and not isinstance(scopes, (str, list, tuple, set, frozenset)):
        errors["scopes"] = [_("Scopes are a list of permission names.")]
        scope_list: list[str] = []
    else:
        scope_list = parse_scopes(scopes)
        problems = scope_problems(session, scope_list, grantor=grantor)
        if problems:
            errors["scopes"] = problems
    if errors:
        raise ValidationError(_("The API client cannot be created as given; see errors."), errors=errors)
    return name, scope_list


# ---- services ------------------------------------------------------------------------------------

def create_client(session: Session, name: str, scopes: str | Iterable[str], *, created_by: str | None,
                  grantor: Principal | None = None, actor: Actor | None = None) -> tuple[OAuthClient, str]:
    """Create an API client; returns it and its secret, which is never available again.

    ``created_by`` is kept on the client for the console; ``actor`` goes to the
    audit log (default: the request's principal).
    """
    name, scope_list = _checked(session, name, scopes, grantor)
    secret = new_secret()
    client = OAuthClient(client_id=new_client_id(), name=name, secret_hash=hash_secret(secret),
                         scopes=scope_list, created_by=(created_by or None) and created_by[:254])
    session.add(client)
    session.flush()
    audit.record(session, "create", "oauth_client", client.client_id, after=client_summary(client), actor=actor)
    return client, secret


def list_clients(session: Session, *, include_revoked: bool = True) -> list[OAuthClient]:
    """The tenant's API clients, newest first."""
    stmt = select(OAuthClient).order_by(OAuthClient.created_at.desc(), OAuthClient.id.desc())
    if not include_revoked:
        stmt = stmt.where(OAuthClient.revoked_at.is_(None))
    return list(session.execute(stmt).scalars())


def get_client(session: Session, client_id: str, *, for_update: bool = False) -> OAuthClient:
    stmt = select(OAuthClient).where(OAuthClient.client_id == client_id)
    if for_update:
        stmt = stmt.with_for_update()
    client = session.execute(stmt).scalar_one_or_none()
    if client is None:
        raise NotFound(_("No API client '%(client_id)s' in this scheme.", client_id=client_id),
                       errors={"client_id": [_("unknown API client")]})
    return client


def _refuse_revoked(client: OAuthClient) -> None:
    if client.revoked_at is not None:
        message = _("This API client has been revoked; create a new one.")
        raise Conflict(message, errors={"client_id": [message]})


def _revoke_tokens(session: Session, client: OAuthClient, now: datetime) -> int:
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.client_id == client.id, OAuthToken.revoked_at.is_(None), OAuthToken.expires_at > now)
        .values(revoked_at=now))
    return result.rowcount or 0


def rotate_secret(session: Session, client_id: str, *, actor: Actor | None = None) -> tuple[OAuthClient, str]:
    """Give the client a new secret (returned once); the old secret and the tokens issued with it
    stop working at once."""
    client = get_client(session, client_id, for_update=True)
    _refuse_revoked(client)
    secret = new_secret()
    now = _now()
    client.secret_hash = hash_secret(secret)
    client.rotated_at = now
    revoked = _revoke_tokens(session, client, now)
    session.flush()
    audit.record(session, "rotate_secret", "oauth_client", client.client_id, details={"tokens_revoked": revoked},
                 actor=actor)
    return client, secret


def revoke_client(session: Session, client_id: str, *, actor: Actor | None = None) -> OAuthClient:
    """Revoke the client for good, and every token it holds."""
    client = get_client(session, client_id, for_update=True)
    _refuse_revoked(client)
    now = _now()
    client.revoked_at = now
    revoked = _revoke_tokens(session, client, now)
    session.flush()
    audit.record(session, "revoke", "oauth_client", client.client_id, before=client_summary(client),
                 details={"tokens_revoked": revoked}, actor=actor)
    return client


def issue_token(session: Session, client: OAuthClient, scopes: Iterable[str], *, ttl_s: int,
                actor: Actor | None = None) -> tuple[str, OAuthToken]:
    """Issue an access token for ``scopes`` (which must be the client's) living ``ttl_s`` seconds.

    Returns the token (never stored) and its row. The token endpoint calls this
    after authenticating the client; the client's expired tokens older than an
    hour are purged on the way.
    """
    scope_list = sorted(set(scopes))
    extra = set(scope_list) - set(client.scopes)
    if extra or client.revoked_at is not None:
        raise ValueError("token scopes must be a subset of an active client's scopes")
    now = _now()
    token = new_access_token()
    row = OAuthToken(client_id=client.id, token_hash=token_digest(token), scopes=scope_list, issued_at=now,
                     expires_at=now + timedelta(seconds=ttl_s))
    session.add(row)
    session.execute(delete(OAuthToken).where(OAuthToken.client_id == client.id,
                                             OAuthToken.expires_at < now - EXPIRED_KEPT))
    client.last_used_at = now
    session.flush()
    audit.record(session, "token_issue", "oauth_client", client.client_id,
                 details={"token_id": row.id, "scopes": scope_list, "expires_at": row.expires_at.isoformat()},
                 actor=actor or ("client", client.client_id, client.name))
    return token, row


def revoke_token(session: Session, client: OAuthClient, token: str) -> bool:
    """Revoke one of ``client``'s tokens (RFC 7009); False when it is not one of them."""
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.token_hash == token_digest(token), OAuthToken.client_id == client.id,
               OAuthToken.revoked_at.is_(None))
        .values(revoked_at=_now()))
    if not result.rowcount:
        return False
    audit.record(session, "token_revoke", "oauth_client", client.client_id,
                 actor=("client", client.client_id, client.name))
    return True


def init_app(app: Flask) -> None:
    """Token endpoint, bearer-token principals, the clients API, console pages."""
    from schemehost.tenants.identity import clients_api, clients_views, oauth

    oauth.init_app(app)
    clients_api.init_app(app)
    clients_views.init_app(app)
