"""Single sign-on with the tenant's own OpenID Connect provider (Authlib client).

A tenant has at most one provider (``sso_provider``, row id 1): its issuer,
client id, client secret (encrypted with the installation's key ring), the
claim that carries role names and how they map to the tenant's roles, and
whether unknown people get an account on their first sign-in.

Sign-in is the authorization code flow with PKCE, ``state`` and ``nonce``:
:func:`begin_sign_in` builds the provider's URL and the values the browser
session keeps; :func:`finish_sign_in` checks them, exchanges the code, checks
the ID token (signature against the provider's JWKS, issuer, audience,
nonce, expiry) and returns the tenant user it belongs to (decision 0085).
The provider's client is built per request from the tenant's row, never
registered app-wide.

Views live in :mod:`schemehost.tenants.identity.sso_views`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from cryptography.fernet import InvalidToken
from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import AppError, NotFound, ValidationError
from schemehost.platform.secrets.services import key_ring
from schemehost.tenants.core.models import User
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import Role, SsoProvider, UserRole

PROVIDER_ID = 1
DISCOVERY_PATH = "/.well-known/openid-configuration"
SCOPE = "openid email profile"
#: ID token signatures we accept: asymmetric only (an HMAC "signature" would be keyed with the client secret)
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
HTTP_TIMEOUT_S = 5
MAX_DOCUMENT_BYTES = 256 * 1024
#: how long a started sign-in may take at the provider
PENDING_TTL_S = 600
#: clock skew allowed on the ID token's time claims
LEEWAY_S = 60
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
MAX_ROLE_MAP = 200


class SsoFailed(AppError):
    """A single sign-on attempt was refused; ``reason`` is a stable code kept in the audit log."""

    status = 403
    type = "sso-failed"
    title = _l("Single sign-on failed")

    def __init__(self, detail: str, *, reason: str, user_id: int | None = None, claim: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.user_id = user_id  # the account concerned, when known
        self.claim = claim  # the ID token claim that failed its check, if any


# ---- configuration ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderSettings:
    """What an administrator sees of the provider (never the client secret)."""

    issuer: str
    client_id: str
    client_secret_set: bool
    role_claim: str | None
    role_map: dict[str, str]
    auto_create: bool
    enabled: bool
    updated_at: Any


def get_provider(session: Session) -> SsoProvider | None:
    """The tenant's provider row, or None when single sign-on was never configured."""
    return session.get(SsoProvider, PROVIDER_ID)


def provider_settings(session: Session) -> ProviderSettings:
    """The provider's settings without the secret; NotFound when none is configured."""
    provider = get_provider(session)
    if provider is None:
        raise NotFound(_("Single sign-on is not configured for this scheme."))
    return _settings_of(provider)


def _settings_of(provider: SsoProvider) -> ProviderSettings:
    return ProviderSettings(issuer=provider.issuer, client_id=provider.client_id,
                            client_secret_set=bool(provider.client_secret), role_claim=provider.role_claim,
                            role_map=dict(provider.role_map or {}), auto_create=provider.auto_create,
                            enabled=provider.enabled, updated_at=provider.updated_at)


def _audit_view(provider: SsoProvider) -> dict[str, Any]:
    return {"issuer": provider.issuer, "client_id": provider.client_id, "role_claim": provider.role_claim,
            "role_map": dict(provider.role_map or {}), "auto_create": provider.auto_create,
            "enabled": provider.enabled}


def sso_enabled(session: Session) -> bool:
    """True when the tenant's sign-in page should offer "Sign in with <provider>"."""
    return bool(session.execute(
        select(SsoProvider.id).where(SsoProvider.id == PROVIDER_ID, SsoProvider.enabled.is_(True))
    ).first())


def provider_name(session: Session) -> str | None:
    """A short label for the provider (its issuer's host), or None when single sign-on is off."""
    provider = get_provider(session)
    if provider is None or not provider.enabled:
        return None
    return urlsplit(provider.issuer).hostname or provider.issuer


def configure_provider(session: Session, *, issuer: Any, client_id: Any, client_secret: Any = None,
                       role_claim: Any = None, role_map: Any = None, auto_create: Any = False,
                       enabled: Any = True) -> ProviderSettings:
    """Create or replace the tenant's provider after checking every field; an enabled provider's
    discovery document must answer and name the same issuer. ``client_secret`` may be left out
    to keep the stored one. Audited ("create"/"update", without the secret)."""
    provider = get_provider(session)
    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    issuer = issuer.strip() if isinstance(issuer, str) else issuer
    if not isinstance(issuer, str) or not issuer:
        err("issuer", _("Enter the provider's issuer URL, e.g. https://login.example.org/realms/scheme."))
    elif len(issuer) > 500:
        err("issuer", _("The issuer URL has at most 500 characters."))
    else:
        problem = _url_problem(issuer)
        if problem:
            err("issuer", problem)
    client_id = client_id.strip() if isinstance(client_id, str) else client_id
    if not isinstance(client_id, str) or not client_id:
        err("client_id", _("Enter the client id the provider gave this scheme."))
    elif len(client_id) > 255:
        err("client_id", _("The client id has at most 255 characters."))
    if client_secret is not None and (not isinstance(client_secret, str) or len(client_secret) > 2000):
        err("client_secret", _("The client secret is text of at most 2000 characters."))
    elif not client_secret and (provider is None or not provider.client_secret):
        err("client_secret", _("Enter the client secret the provider gave this scheme."))
    if role_claim is not None and not isinstance(role_claim, str):
        err("role_claim", _("The role claim is the name of a claim, e.g. roles or groups."))
        role_claim = None
    role_claim = (role_claim or "").strip() or None
    if role_claim is not None and (len(role_claim) > 100 or not all(c.isalnum() or c in "_-.:/" for c in role_claim)):
        err("role_claim", _("A claim name has at most 100 letters, digits, '_', '-', '.', ':' or '/'."))
    role_map = {} if role_map is None else role_map
    if not isinstance(role_map, dict):
        err("role_map", _("The role map pairs claim values with role codes."))
        role_map = {}
    else:
        known = set(session.execute(select(Role.code)).scalars())
        if len(role_map) > MAX_ROLE_MAP:
            err("role_map", _("At most %(n)s claim values can be mapped.", n=MAX_ROLE_MAP))
        for value, code in role_map.items():
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                err("role_map", _("A claim value is text of 1 to 200 characters."))
            elif not isinstance(code, str) or code not in known:
                err("role_map", _("'%(value)s' maps to '%(code)s', which is not a role of this scheme.",
                                  value=value, code=code))
        if role_map and role_claim is None:
            err("role_claim", _("Name the claim whose values the role map reads."))
        elif role_claim is not None and not role_map:
            err("role_map", _("Map at least one value of the claim '%(claim)s' to a role.", claim=role_claim))
    for name, value in (("auto_create", auto_create), ("enabled", enabled)):
        if not isinstance(value, bool):
            err(name, _("Answer true or false."))
    if not errors and enabled:
        try:
            fetch_metadata(issuer)
        except SsoFailed as failure:
            err("issuer", failure.detail)
    if errors:
        raise ValidationError(_("The single sign-on settings cannot be saved."), errors=errors)

    before = _audit_view(provider) if provider is not None else None
    if provider is None:
        provider = SsoProvider(id=PROVIDER_ID)
        session.add(provider)
    provider.issuer = issuer
    provider.client_id = client_id
    if client_secret:
        provider.client_secret = key_ring().encrypt(client_secret.encode()).decode()
    provider.role_claim = role_claim
    provider.role_map = {k: v for k, v in role_map.items()}
    provider.auto_create = auto_create
    provider.enabled = enabled
    session.flush()
    audit.record(session, "create" if before is None else "update", "sso_provider", PROVIDER_ID,
                 before=before, after=_audit_view(provider),
                 details={"client_secret_changed": bool(client_secret)})
    session.refresh(provider)
    return _settings_of(provider)


def remove_provider(session: Session) -> None:
    """Turn single sign-on off for good (the row and its secret are deleted); audited."""
    provider = get_provider(session)
    if provider is None:
        raise NotFound(_("Single sign-on is not configured for this scheme."))
    before = _audit_view(provider)
    session.delete(provider)
    session.flush()
    audit.record(session, "delete", "sso_provider", PROVIDER_ID, before=before)


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a provider address: https only (plain http to this machine in testing)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return _("This is not a URL.")
    if parts.scheme not in ("https", "http") or not host:
        return _("The address must start with https://.")
    if parts.query or parts.fragment or parts.username or parts.password:
        return _("The address must not hold a query, a fragment or credentials.")
    if parts.scheme == "http":
        allowed = current_app.config.get("SSO_ALLOW_HTTP_LOCALHOST", current_app.testing)
        if not (allowed and _is_local(host)):
            return _("The address must start with https:// (plain http is refused).")
    return None


def _is_local(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _client_secret(provider: SsoProvider) -> str:
    try:
        return key_ring().decrypt(provider.client_secret.encode()).decode()
    except InvalidToken:
        raise SsoFailed(_("The provider's client secret cannot be decrypted with this installation's keys; "
                          "an administrator must enter it again."), reason="secret_undecryptable") from None


# ---- talking to the provider -------------------------------------------------------------------------


def _get_json(url: str) -> dict[str, Any]:
    """A JSON object from ``url`` (no redirects, bounded size and time); SsoFailed otherwise."""
    try:
        with requests.get(url, timeout=HTTP_TIMEOUT_S, allow_redirects=False, stream=True,
                          headers={"Accept": "application/json"}) as resp:
            body = resp.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
            status = resp.status_code
    except requests.RequestException:
        raise SsoFailed(_("The provider at %(url)s does not answer.", url=url), reason="provider_unreachable") from None
    if status != 200:
        raise SsoFailed(_("The provider answered %(status)s for %(url)s.", status=status, url=url),
                        reason="provider_error")
    if len(body) > MAX_DOCUMENT_BYTES:
        raise SsoFailed(_("The provider's answer at %(url)s is too large.", url=url), reason="provider_error")
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SsoFailed(_("The provider's answer at %(url)s is not a JSON object.", url=url),
                        reason="provider_error")
    return data


def fetch_metadata(issuer: str) -> dict[str, Any]:
    """The provider's discovery document, checked: it names ``issuer`` exactly, offers the code flow
    and has usable endpoints. SsoFailed (with a message for the administrator) otherwise."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    metadata = _get_json(url)
    if metadata.get("issuer") != issuer:
        raise SsoFailed(_("The provider's discovery document names the issuer '%(found)s', not '%(issuer)s'; "
                          "enter exactly the issuer it names.", found=str(metadata.get("issuer"))[:500],
                          issuer=issuer), reason="wrong_issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = metadata.get(key)
        if not isinstance(value, str) or _url_problem(value):
            raise SsoFailed(_("The provider's discovery document has no usable %(key)s.", key=key),
                            reason="provider_error")
    if "code" not in (metadata.get("response_types_supported") or ["code"]):
        raise SsoFailed(_("The provider does not offer the authorization code flow."), reason="provider_error")
    if not _algorithms(metadata):
        raise SsoFailed(_("The provider signs ID tokens only with algorithms schemehost refuses "
                          "(it needs RS256, PS256, ES256 or EdDSA)."), reason="provider_error")
    return metadata


def _algorithms(metadata: dict[str, Any]) -> list[str]:
    offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    return [alg for alg in ID_TOKEN_ALGORITHMS if alg in offered]


def _scope(provider: SsoProvider, metadata: dict[str, Any]) -> str:
    """The scopes asked for: openid, email and profile, plus a scope named like the role claim when
    the provider offers one (e.g. "roles", "groups"), since many release that claim only then."""
    scopes = SCOPE.split()
    if provider.role_claim and provider.role_claim in (metadata.get("scopes_supported") or []):
        scopes.append(provider.role_claim)
    return " ".join(scopes)


def _auth_method(metadata: dict[str, Any]) -> str:
    offered = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return "client_secret_basic" if "client_secret_basic" in offered else "client_secret_post"


def validate_id_token(id_token: str, *, issuer: str, client_id: str, nonce: str, jwks: dict[str, Any],
                      algorithms: list[str] | tuple[str, ...] = ID_TOKEN_ALGORITHMS,
                      access_token: str | None = None, now: int | None = None) -> dict[str, Any]:
    """The claims of ``id_token`` once its signature (one of ``jwks``, an allowed algorithm), issuer,
    audience, nonce, expiry and ``at_hash`` are checked; SsoFailed otherwise."""
    try:
        keys = KeySet.import_key_set(jwks)
        token = jwt.decode(id_token, keys, algorithms=list(algorithms))
    except (JoseError, ValueError, TypeError, KeyError):
        raise SsoFailed(_("The provider's ID token is not validly signed."), reason="invalid_id_token") from None
    if token.claims.get("iss") != issuer:
        raise SsoFailed(_("The ID token was issued by another provider than the one this scheme trusts."),
                        reason="wrong_issuer")
    claims = CodeIDToken(
        token.claims, token.header,
        {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id},
         "nonce": {"essential": True}, "sub": {"essential": True}},
        {"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    try:
        claims.validate(now=now, leeway=LEEWAY_S)
    except (JoseError, ValueError, TypeError, KeyError) as error:
        claim = str(getattr(error, "claim", None) or getattr(error, "error", ""))[:40]
        raise SsoFailed(_("The provider's ID token is not valid for this scheme (%(claim)s).", claim=claim),
                        reason="invalid_id_token", claim=claim) from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SsoFailed(_("The provider's ID token has no subject."), reason="invalid_id_token")
    return dict(claims)


# ---- signing in --------------------------------------------------------------------------------------


def begin_sign_in(session: Session, *, redirect_uri: str) -> tuple[str, dict[str, Any]]:
    """The provider's authorization URL and the values the browser session must keep until the
    callback (state, nonce, PKCE verifier, issuer, start time)."""
    provider = get_provider(session)
    if provider is None or not provider.enabled:
        raise NotFound(_("Single sign-on is not configured for this scheme."))
    metadata = fetch_metadata(provider.issuer)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(24)
    client = OAuth2Session(provider.client_id, scope=_scope(provider, metadata), redirect_uri=redirect_uri,
                           code_challenge_method="S256")
    url, state = client.create_authorization_url(metadata["authorization_endpoint"],
                                                 state=secrets.token_urlsafe(24), code_verifier=verifier,
                                                 nonce=nonce)
    pending = {"state": state, "nonce": nonce, "code_verifier": verifier, "issuer": provider.issuer,
               "redirect_uri": redirect_uri, "started": int(time.time())}
    return url, pending


def finish_sign_in(session: Session, *, pending: dict[str, Any] | None, params: dict[str, str],
                   redirect_uri: str) -> User:
    """The tenant user a provider's callback signs in, after every check; SsoFailed otherwise.

    ``pending`` is what :func:`begin_sign_in` returned (kept by the browser session), ``params``
    the callback's query parameters. Links or creates the user and applies the role claim.
    """
    if not pending or not isinstance(pending, dict):
        raise SsoFailed(_("This sign-in was not started here, or has already been used; start again."),
                        reason="state_mismatch")
    state = params.get("state") or ""
    if not hmac.compare_digest(str(pending.get("state", "")).encode(), state.encode()):
        raise SsoFailed(_("This sign-in was not started here, or has already been used; start again."),
                        reason="state_mismatch")
    if time.time() - float(pending.get("started", 0)) > PENDING_TTL_S:
        raise SsoFailed(_("The sign-in took too long; start again."), reason="expired")
    if pending.get("redirect_uri") != redirect_uri:
        raise SsoFailed(_("This sign-in was not started here, or has already been used; start again."),
                        reason="state_mismatch")
    if params.get("error"):
        raise SsoFailed(_("The identity provider refused the sign-in (%(error)s).",
                          error=str(params["error"])[:100]), reason="provider_refused")
    provider = get_provider(session)
    if provider is None or not provider.enabled:
        raise SsoFailed(_("Single sign-on is not configured for this scheme."), reason="not_configured")
    if pending.get("issuer") != provider.issuer:
        raise SsoFailed(_("The scheme's identity provider changed during the sign-in; start again."),
                        reason="wrong_issuer")
    if "iss" in params and params["iss"] != provider.issuer:  # RFC 9207: the answer names its issuer
        raise SsoFailed(_("The answer came from another provider than the one this scheme trusts."),
                        reason="wrong_issuer")
    code = params.get("code")
    if not code:
        raise SsoFailed(_("The provider's answer holds no authorization code."), reason="provider_error")

    metadata = fetch_metadata(provider.issuer)
    client = OAuth2Session(provider.client_id, _client_secret(provider), redirect_uri=redirect_uri, token_endpoint_auth_method=_auth_method(metadata))
    try:
        token = client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=pending.get("code_verifier"),
                                   grant_type="authorization_code", timeout=HTTP_TIMEOUT_S)
    except (AuthlibBaseError, requests.RequestException, ValueError):
        raise SsoFailed(_("The provider refused to exchange the authorization code."),
                        reason="token_exchange_failed") from None
    finally:
        client.close()
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailed(_("The provider sent no ID token."), reason="invalid_id_token")
    claims = validate_id_token(id_token, issuer=provider.issuer, client_id=provider.client_id,
                               nonce=str(pending.get("nonce", "")), jwks=_get_json(metadata["jwks_uri"]),
                               algorithms=_algorithms(metadata), access_token=token.get("access_token"))
    user = map_user(session, provider, claims)
    if provider.role_claim:
        apply_role_claim(session, provider, user, claims)
    return user


def subject_of(issuer: str, sub: str) -> str:
    """The value kept in ``users.sso_subject`` for a provider identity."""
    return f"{issuer} {sub}"


def _verified_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(email, str) and "@" in email and len(email) <= 254 and verified in (True, "true"):
        return email.strip().lower()
    return None


def map_user(session: Session, provider: SsoProvider, claims: dict[str, Any]) -> User:
    """The user of these (validated) claims: by linked subject, else an active user with the verified
    e-mail (then linked), else a new user when the provider allows it; SsoFailed otherwise."""
    subject = subject_of(provider.issuer, claims["sub"])
    user = session.execute(select(User).where(User.sso_subject == subject)).scalar_one_or_none()
    if user is not None:
        if not user.is_active:
            raise SsoFailed(_("Your account in this scheme is deactivated; ask an administrator."),
                            reason="inactive_account", user_id=user.id)
        return user
    email = _verified_email(claims)
    if email is not None:
        user = session.execute(select(User).where(func.lower(User.email) == email)).scalar_one_or_none()
    if user is not None:
        if not user.is_active:
            raise SsoFailed(_("Your account in this scheme is deactivated; ask an administrator."),
                            reason="inactive_account", user_id=user.id)
        if user.sso_subject is not None:
            raise SsoFailed(_("Your account in this scheme is already linked to another identity at the "
                              "provider; ask an administrator."), reason="subject_conflict", user_id=user.id)
        user.sso_subject = subject
        session.flush()
        audit.record(session, "sso_link", "user", user.id, before={"sso_subject": None},
                     after={"sso_subject": subject}, actor=("user", str(user.id), user.name))
        return user
    if not provider.auto_create:
        raise SsoFailed(_("You have no account in this scheme. Ask an administrator for an invitation."),
                        reason="no_account")
    if email is None:
        raise SsoFailed(_("The provider did not send a verified e-mail address, which a new account needs."),
                        reason="email_not_verified")
    name = claims.get("name") if isinstance(claims.get("name"), str) and claims.get("name").strip() else email
    user = User(email=email, name=name.strip()[:200], password_hash=None, is_active=True, sso_subject=subject)
    session.add(user)
    session.flush()
    audit.record(session, "create", "user", user.id, after={"email": email, "name": user.name, "sso_subject": subject},
                 details={"source": "sso"}, actor=("user", str(user.id), user.name))
    return user


def _claim_values(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def apply_role_claim(session: Session, provider: SsoProvider, user: User, claims: dict[str, Any]) -> bool:
    """Make the user's roles those the role claim maps to (the provider decides; a missing claim means
    no role). Audited as "role_change" when they change; True then."""
    mapping = provider.role_map or {}
    wanted = {mapping[v] for v in _claim_values(claims.get(provider.role_claim)) if v in mapping}
    roles = dict(session.execute(select(Role.code, Role.id).where(Role.code.in_(wanted))).all()) if wanted else {}
    current = set(session.execute(
        select(Role.code).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user.id)
    ).scalars())
    if set(roles) == current:
        return False
    session.execute(delete(UserRole).where(UserRole.user_id == user.id))
    session.add_all([UserRole(user_id=user.id, role_id=role_id) for role_id in roles.values()])
    session.flush()
    details = {"source": "sso", "claim": provider.role_claim}
    if provider.role_claim not in claims:
        details["claim_missing"] = True  # tells an administrator why everything was taken away
    audit.record(session, "role_change", "user", user.id, before={"roles": sorted(current)},
                 after={"roles": sorted(roles)}, details=details,
                 actor=("user", str(user.id), user.name))
    return True


def record_failure(session: Session, failure: SsoFailed) -> None:
    """Audit a refused single sign-on attempt (the reason code, never tokens or claims)."""
    details = {"method": "sso", "reason": failure.reason}
    if failure.claim:
        details["claim"] = failure.claim
    audit.record(session, "sign_in_failed", "user", failure.user_id, details=details,
                 actor=("anonymous", None, None))


def init_app(app: Flask) -> None:
    from schemehost.tenants.identity import sso_views

    sso_views.init_app(app)
