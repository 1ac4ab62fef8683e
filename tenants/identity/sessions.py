"""Console sessions bound to their tenant, and the sign-in that starts them.

Each tenant gets its own session cookie (decision 0073): ``sh_t<tenant id>``
with path ``/t/<slug>/`` (``/`` when the tenant is served on its own host),
signed with a salt that contains the tenant id, so a cookie of tenant A does
not load in tenant B even when renamed and re-pathed. The operator console
keeps ``sh_console`` on ``/console``; every other path (APIs, health, static
files, bearer-token paths below a tenant) has no session cookie at all. No
cookie ever names a Domain.

The session holds Flask-Login's id ``t:<tenant id>:<user id>:<session
version>``: a user is loaded only in their own tenant, while active, and
while the version matches (bumping it signs the user out everywhere). A
session ends after ``TENANT_SESSION_HOURS`` (the console's after
``CONSOLE_SESSION_HOURS``) or ``SESSION_IDLE_MINUTES`` without a request
(decision 0074).
"""

from __future__ import annotations

import posixpath
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_user, logout_user
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.console.security import is_csrf_exempt
from schemehost.platform.errors import Forbidden
from schemehost.platform.operators.sessions import register_user_loader
from schemehost.platform.tenancy import SLUG_RE, open_tenant_session, server_engine, tenant_session
from schemehost.tenants.core.models import Setting, User
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal, register_resolver, user_grants

TENANT_PATH = re.compile(r"^/t/([^/]+)(/.*)?$")
CONSOLE_PATH = re.compile(r"^/console(/|$)")
CONSOLE_COOKIE = "sh_console"
#: The idle clock in the cookie is moved on at most once a minute (fewer Set-Cookie headers).
SEEN_RESOLUTION_S = 60
#: Tenant paths (below ``/t/<slug>``) that answer without a signed-in principal; more with
#: :func:`allow_anonymous`. The API and OAuth answer 401 themselves instead of redirecting.
ANONYMOUS_PATHS: list[str] = ["api", "fhir", "oauth", "login", "logout", "payments/callbacks", "webhooks",
                              "static"]
PENDING_KEY = "mfa_pending"


# ---- cookies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CookieScope:
    """Which session cookie a request uses: its name, path, signing salt and lifetime."""

    name: str
    path: str
    salt: str
    lifetime: timedelta
    tenant_id: int | None = None  # None: the operator console


class ScopedSession(SecureCookieSession):
    """A cookie session that knows its scope (None: a request without a session cookie)."""

    scope: CookieScope | None = None
    #: True when the request came with a signed-in session that had expired
    expired_sign_in: bool = False


def _now() -> int:
    return int(time.time())


class ScopedSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with cookie name, path and signing key chosen by request path."""

    session_class = ScopedSession

    def scope_for(self, app: Flask, request) -> CookieScope | None:
        path = request.path
        if CONSOLE_PATH.match(path):
            return CookieScope(CONSOLE_COOKIE, "/console", "schemehost.session.console",
                               app.permanent_session_lifetime)
        match = TENANT_PATH.match(path)
        if not match or not SLUG_RE.match(match.group(1)) or is_csrf_exempt(path):
            return None  # bearer-token paths never read or write a cookie session (decision 0031)
        tenant = app.extensions["schemehost.tenant_refs"].get(match.group(1))
        if tenant is None:
            return None
        cookie_path = "/" if request.environ.get("schemehost.routed_by") == "host" else f"/t/{tenant.slug}/"
        return CookieScope(f"sh_t{tenant.id}", cookie_path, f"schemehost.session.t{tenant.id}",
                           timedelta(hours=int(app.config["TENANT_SESSION_HOURS"])), tenant.id)

    def signer(self, app: Flask, scope: CookieScope) -> URLSafeTimedSerializer:
        keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or []), app.secret_key]
        return URLSafeTimedSerializer(keys, salt=scope.salt, serializer=self.serializer,
                                      signer_kwargs={"key_derivation": self.key_derivation,
                                                     "digest_method": self.digest_method})

    def open_session(self, app: Flask, request) -> ScopedSession:
        scope = self.scope_for(app, request)
        fresh = self.session_class()
        fresh.scope = scope
        if scope is None:
            return fresh
        value = request.cookies.get(scope.name)
        if not value:
            return fresh
        try:
            data = self.signer(app, scope).loads(value, max_age=int(scope.lifetime.total_seconds()))
        except BadSignature:
            fresh.modified = True  # replace the unusable cookie
            return fresh
        now = _now()
        created, seen = data.get("_created"), data.get("_seen", data.get("_created"))
        idle = int(app.config["SESSION_IDLE_MINUTES"]) * 60
        if (not isinstance(created, int) or not isinstance(seen, int)
                or now - created > scope.lifetime.total_seconds() or now - seen > idle):
            fresh.modified = True  # the browser's cookie is deleted (or replaced)
            fresh.expired_sign_in = "_user_id" in data
            return fresh
        loaded = self.session_class(data)
        loaded.scope = scope
        return loaded

    def save_session(self, app: Flask, session: ScopedSession, response) -> None:
        scope = getattr(session, "scope", None)
        if scope is None:
            return
        options = {"path": scope.path, "secure": bool(app.config.get("SESSION_COOKIE_SECURE")),
                   "httponly": True, "samesite": "Lax"}  # never a domain: host-only cookies
        if session.accessed:
            response.vary.add("Cookie")
        if not session:
            if session.modified:
                response.delete_cookie(scope.name, **options)
                response.vary.add("Cookie")
            return
        now = _now()
        if not isinstance(session.get("_created"), int):
            session["_created"] = now
        if now - int(session.get("_seen") or 0) >= SEEN_RESOLUTION_S:
            session["_seen"] = now
        if not session.modified:
            return
        expires = None
        if session.permanent:
            expires = datetime.fromtimestamp(session["_created"], timezone.utc) + scope.lifetime
        response.set_cookie(scope.name, self.signer(app, scope).dumps(dict(session)), expires=expires, **options)
        response.vary.add("Cookie")


# ---- signed-in tenant users ------------------------------------------------------------------------


class TenantUser(UserMixin):
    """A signed-in tenant user as Flask-Login sees it (detached from the database session)."""

    def __init__(self, user: User, tenant_id: int) -> None:
        self.id = user.id
        self.tenant_id = tenant_id
        self.email = user.email
        self.name = user.name
        self.locale = user.locale
        self.session_version = user.session_version

    def get_id(self) -> str:
        return f"t:{self.tenant_id}:{self.id}:{self.session_version}"


def load_tenant_user(rest: str) -> TenantUser | None:
    """The user of ``<tenant id>:<user id>:<version>`` when that is this request's tenant, the user
    is active and the version is current; else None (nobody signed in)."""
    parts = rest.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    tenant_id, user_id, version = map(int, parts)
    tenant, scope = g.get("tenant"), getattr(session, "scope", None)
    if tenant is None or tenant.id != tenant_id or scope is None or scope.tenant_id != tenant_id:
        return None
    user = tenant_session().get(User, user_id)
    if user is None or not user.is_active or user.session_version != version:
        return None
    return TenantUser(user, tenant_id)


def _user_principal() -> Principal | None:
    """The principal of a signed-in tenant user (principal resolver, order 20)."""
    tenant = g.get("tenant")
    if tenant is None or getattr(session, "scope", None) is None:
        return None
    user = current_user._get_current_object()
    if not isinstance(user, TenantUser):
        if "_user_id" in session:  # version bumped, deactivated or foreign: forget the sign-in
            logout_user()
        return None
    if user.tenant_id != tenant.id:
        return None
    permissions, locations = user_grants(tenant_session(), user.id)
    return Principal(kind="user", id=str(user.id), name=user.name, tenant_id=tenant.id,
                     permissions=permissions, location_ids=locations)


# ---- services ---------------------------------------------------------------------------------------


def mfa_required(db_session: Session) -> bool:
    """Whether the tenant's ``security`` setting requires a second factor of every user."""
    setting = db_session.get(Setting, "security")
    return isinstance(setting and setting.value, dict) and setting.value.get("mfa_required") is True


def start_sign_in(user: User, *, next_url: str, remember: bool = False) -> str:
    """After a correct password: sign ``user`` in, or, when a second factor is enrolled or required,
    keep the sign-in pending in the session (``session["mfa_pending"]``). Returns where to go next."""
    enrolled = user.totp_enabled_at is not None
    if not enrolled and not mfa_required(tenant_session()):
        complete_sign_in(user, remember=remember)
        return next_url
    session.clear()  # nothing from before the sign-in survives it
    session[PENDING_KEY] = {"user": user.id, "version": user.session_version, "next": next_url,
                            "remember": bool(remember), "at": _now()}
    return url_for("tenant_mfa.verify" if enrolled else "tenant_mfa.enrol")


def complete_sign_in(user: User, *, remember: bool = False, method: str = "password") -> None:
    """Sign ``user`` (a user of this request's tenant) in: a new session (everything in the old one,
    ``mfa_pending`` included, is dropped), ``last_sign_in_at``, and an audit entry ``sign_in``.

    ``remember`` keeps the cookie across browser restarts (still ending after
    ``TENANT_SESSION_HOURS``); ``method`` is recorded ("password", "totp", "recovery_code", "sso")."""
    tenant = g.tenant
    db_session = tenant_session()
    current = db_session.get(User, user.id)
    if current is None or not current.is_active:
        raise Forbidden(_("This account is deactivated."))
    session.clear()
    login_user(TenantUser(current, tenant.id))
    session.permanent = bool(remember)
    current.last_sign_in_at = datetime.now(timezone.utc)
    db_session.flush()
    audit.record(db_session, "sign_in", "user", current.id, details={"method": method},
                 actor=("user", str(current.id), current.name))


def record_failed_sign_in(email: str, *, method: str = "password") -> None:
    """Audit a failed sign-in (``sign_in_failed``, with the user's id when the e-mail is known).

    Written and committed in a session of its own, because the failed request itself rolls back."""
    tenant = g.tenant
    failures = open_tenant_session(server_engine(tenant.server_dsn), tenant.schema_name, tenant.role_name,
                                   statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"])
    try:
        user_id = failures.execute(
            select(User.id).where(User.email == (email or "").strip().lower())).scalar_one_or_none()
        audit.record(failures, "sign_in_failed", "user", user_id, details={"method": method},
                     actor=("anonymous", None, None))
        failures.commit()
    finally:
        failures.close()


def sign_out(*, record: bool = True) -> None:
    """End this browser's session (audited as ``sign_out`` when a user was signed in and ``record``)."""
    user = current_user._get_current_object()
    if record and isinstance(user, TenantUser) and g.get("tenant") is not None and user.tenant_id == g.tenant.id:
        audit.record(tenant_session(), "sign_out", "user", user.id, actor=("user", str(user.id), user.name))
    logout_user()
    session.clear()


def end_all_sessions(db_session: Session, user_id: int) -> int:
    """Sign the user out of every browser (bumps ``session_version``); returns the new version."""
    user = db_session.get(User, user_id, with_for_update=True)
    if user is None:
        raise Forbidden(_("There is no such user in this scheme."))
    before = user.session_version
    user.session_version = before + 1
    db_session.flush()
    audit.record(db_session, "sign_out_everywhere", "user", user.id, before={"session_version": before},
                 after={"session_version": user.session_version})
    return user.session_version


def safe_next(target: str | None) -> str:
    """``target`` when it is a page of this tenant, else the tenant's home (no open redirect)."""
    home = url_for("tenant_console.home")
    prefix = f"/t/{g.tenant.slug}/"
    if not target or target.startswith("//") or any(c in target for c in "\\\r\n\t\0"):
        return home
    parts = urlsplit(target)
    path = unquote(parts.path)  # browsers resolve %2e%2e like ..
    if parts.scheme or parts.netloc or not path.startswith(prefix):
        return home
    if not (posixpath.normpath(path) + "/").startswith(prefix):
        return home
    return target


# ---- the console guard ------------------------------------------------------------------------------


def allow_anonymous(*prefixes: str) -> None:
    """Let tenant pages below ``/t/<slug>/<prefix>`` answer without a signed-in principal
    (invitation and password-reset pages, the second sign-in step, ...)."""
    for prefix in prefixes:
        prefix = prefix.strip("/")
        if prefix and prefix not in ANONYMOUS_PATHS:
            ANONYMOUS_PATHS.append(prefix)


def anonymous(view):
    """Decorator: this tenant page answers without a signed-in principal."""
    view.__anonymous__ = True
    return view


def _anonymous_request(rest: str) -> bool:
    path = rest.strip("/")
    if any(path == p or path.startswith(p + "/") for p in ANONYMOUS_PATHS):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "__anonymous__", False))


def init_app(app: Flask) -> None:
    from schemehost.tenants.identity import session_views

    app.session_interface = ScopedSessionInterface()
    register_user_loader("t", load_tenant_user)
    register_resolver(_user_principal, order=20)
    session_views.init_app(app)

    @app.before_request
    def _require_principal():
        # after principal resolution (identity PARTS order): console pages of a tenant need a principal
        tenant = g.get("tenant")
        if tenant is None or g.get("principal") is not None:
            return None
        match = TENANT_PATH.match(request.path)
        if not match or _anonymous_request(match.group(2) or "/"):
            return None
        if getattr(session, "expired_sign_in", False):
            flash(_("Your session has expired. Sign in again."), "info")
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("tenant_auth.login", next=target))
