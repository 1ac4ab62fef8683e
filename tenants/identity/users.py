"""Tenant users: invitations, passwords, password resets, deactivation and sign-in checks.

A user is invited by e-mail and has no password until they accept the
invitation. Invitation and reset links carry a random single-use token of
which only the SHA-256 is stored (``user_tokens``). Every change is audited,
never with a password hash or a token. Anything that must sign a user out of
every browser bumps ``session_version``.

Services take the tenant session first and only flush; the tenant (for links,
mail language and the password policy) is the request's ``g.tenant`` unless
passed as ``tenant=``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from schemehost.platform import mail
from schemehost.platform.errors import Conflict, Gone, NotFound, ValidationError
from schemehost.platform.tenancy import TenantRef
from schemehost.tenants.core.models import User
from schemehost.tenants.identity import audit, passwords
from schemehost.tenants.identity.models import Role, UserRole, UserToken
from schemehost.tenants.identity.principal import Principal

log = logging.getLogger("schemehost.users")

INVITE = "invite"
RESET = "reset"
INVITE_TTL = timedelta(days=7)
RESET_TTL = timedelta(hours=1)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: The fields a user's audit entries show (never the password hash, the TOTP secret or a token).
AUDITED = ("email", "name", "locale", "is_active")


class LinkInvalid(Gone):
    """An invitation or reset link that cannot be used (unknown, spent, replaced or expired)."""

    type = "link-invalid"
    title = _l("This link cannot be used")


@dataclass(frozen=True)
class UserView:
    """A user as the API and the console show them."""

    id: int
    email: str
    name: str
    locale: str | None
    is_active: bool
    status: str  # pending (invited, no password yet) | active | deactivated
    roles: list[str]
    totp_enabled: bool
    last_sign_in_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None


# ---- reading -------------------------------------------------------------------------------------


def normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()


def get_user(session: Session, user_id: int) -> UserView:
    """One user (404 when there is none with this id in this tenant)."""
    return _view(session, _user(session, user_id))


def list_users(session: Session, *, limit: int = 50, after_id: int | None = None,
               include_inactive: bool = True) -> tuple[list[UserView], int | None]:
    """Users by id, ``limit`` at a time after ``after_id`` (keyset); returns (page, next after_id or None)."""
    stmt = select(User).order_by(User.id).limit(limit + 1)
    if after_id is not None:
        stmt = stmt.where(User.id > after_id)
    if not include_inactive:
        stmt = stmt.where(User.is_active.is_(True))
    users = list(session.execute(stmt).scalars())
    more = len(users) > limit
    users = users[:limit]
    codes = _codes_by_user(session, [u.id for u in users])
    page = [_to_view(u, codes.get(u.id, [])) for u in users]
    return page, (users[-1].id if more else None)


def role_choices(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every role of the tenant, for the invitation form."""
    return [tuple(r) for r in session.execute(select(Role.code, Role.name).order_by(Role.builtin.desc(), Role.code))]


# ---- invitations ---------------------------------------------------------------------------------


def invite_user(session: Session, email: str, name: str, *, role_codes=(), invited_by: Principal | None,
                locale: str | None = None, tenant: TenantRef | None = None) -> UserView:
    """Create a user without a password and e-mail them a link (valid 7 days) to choose one.

    Re-inviting a user who has not accepted yet replaces their link (name, locale and roles are
    updated, roles added); an e-mail already used by a user who accepted → 409. Unknown role
    codes and bad fields → 422. The mail goes out last: if it cannot be sent, nothing is kept.
    """
    tenant = _tenant(tenant)
    email = normalize_email(email)
    name = (name or "").strip()
    errors: dict[str, object] = {}
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = [_("Enter a valid e-mail address, e.g. ana@example.org.")]
    if not name or len(name) > 200:
        errors["name"] = [_("Enter a name of 1 to 200 characters.")]
    problem = _locale_problem(locale)
    if problem:
        errors["locale"] = [problem]
    wanted = list(dict.fromkeys(c.strip() for c in role_codes or () if isinstance(c, str)))
    known = dict(session.execute(select(Role.code, Role.id).where(Role.code.in_(wanted))).all()) if wanted else {}
    unknown = {i: [_("unknown role '%(code)s'", code=c)] for i, c in enumerate(wanted) if c not in known}
    if unknown:
        errors["roles"] = unknown
    if errors:
        raise ValidationError(_("The invitation cannot be sent."), errors=errors)

    user = session.execute(select(User).where(User.email == email).with_for_update()).scalar_one_or_none()
    if user is not None and not _is_pending(user):
        raise Conflict(_("A user with this e-mail address already exists."),
                       errors={"email": [_("This e-mail address is already used by a user of this scheme.")]})
    if user is None:
        user = User(email=email, name=name, password_hash=None, is_active=True, locale=locale)
        session.add(user)
        session.flush()
        action, before = "invite", None
    else:
        action, before = "reinvite", _snapshot(user)
        user.name, user.is_active = name, True
        if locale is not None:
            user.locale = locale
    before_roles = _codes_by_user(session, [user.id]).get(user.id, [])
    added = [c for c in wanted if c not in before_roles]
    if added:
        session.execute(insert(UserRole), [{"user_id": user.id, "role_id": known[c]} for c in added])
    token = _new_token(session, user, INVITE, INVITE_TTL)
    session.flush()
    audit.record(session, action, "user", user.id, before=before,
                 after={**_snapshot(user), "roles": sorted(set(before_roles) | set(added))},
                 actor=invited_by.audit_actor if invited_by is not None else None)
    mail.send_template(user.email, "invite", locale=user.locale or tenant.locale, scheme=tenant.name,
                       name=user.name, inviter=invited_by.name if invited_by is not None else None,
                       link=_link("tenant_users.accept_invitation", tenant, token=token),
                       days=INVITE_TTL.days)
    return _view(session, user)


def accept_invitation(session: Session, token: str, password: str, *, tenant: TenantRef | None = None) -> UserView:
    """Set the invited user's first password (policy-checked) and spend the token.

    410 for an unknown, used or expired link; 422 with every password problem (the link stays valid).
    """
    tenant = _tenant(tenant)
    row, user = _valid_token(session, token, INVITE)
    passwords.validate_password(password, email=user.email, name=user.name, slug=tenant.slug)
    _set_password(user, password)
    row.used_at = _now()
    session.flush()
    audit.record(session, "accept_invitation", "user", user.id, actor=("user", str(user.id), user.name))
    return _view(session, user)


def check_token(session: Session, token: str, purpose: str) -> UserView:
    """The user an unspent, unexpired link belongs to (410 otherwise); spends nothing."""
    return _view(session, _valid_token(session, token, purpose, lock=False)[1])


# ---- password reset ------------------------------------------------------------------------------


def request_password_reset(session: Session, email: str, *, tenant: TenantRef | None = None) -> None:
    """E-mail a reset link (valid 1 hour) to an active user with this address; earlier reset links
    of that user stop working. Answers the same whether or not the address is known."""
    tenant = _tenant(tenant)
    user = session.execute(
        select(User).where(User.email == normalize_email(email), User.is_active.is_(True))
    ).scalar_one_or_none()
    if user is None:
        return None
    session.execute(delete(UserToken).where(UserToken.user_id == user.id, UserToken.purpose == RESET,
                                            UserToken.used_at.is_(None)))
    token = _new_token(session, user, RESET, RESET_TTL)
    session.flush()
    audit.record(session, "request_password_reset", "user", user.id, actor=("user", str(user.id), user.name))
    try:
        mail.send_template(user.email, "reset", locale=user.locale or tenant.locale, scheme=tenant.name,
                           name=user.name, link=_link("tenant_users.reset_password", tenant, token=token),
                           minutes=int(RESET_TTL.total_seconds() // 60))
    except mail.MailNotSent:
        # answering differently would tell who has an account; the failure is logged (without address)
        log.error("password reset mail not sent (user %s)", user.id)
    return None


def reset_password(session: Session, token: str, password: str, *, tenant: TenantRef | None = None) -> UserView:
    """Replace the password with a reset link: single use, signs the user out everywhere.

    410 for an unknown, used or expired link (nothing changes); 422 with every password problem.
    """
    tenant = _tenant(tenant)
    row, user = _valid_token(session, token, RESET)
    passwords.validate_password(password, email=user.email, name=user.name, slug=tenant.slug)
    _set_password(user, password)
    user.session_version += 1
    row.used_at = _now()
    session.execute(update(UserToken).where(UserToken.user_id == user.id, UserToken.purpose == RESET,
                                            UserToken.used_at.is_(None)).values(used_at=_now()))
    session.flush()
    audit.record(session, "reset_password", "user", user.id, actor=("user", str(user.id), user.name))
    return _view(session, user)


# ---- changing users ------------------------------------------------------------------------------


def update_user(session: Session, user_id: int, *, name: str | None = None, locale: str | None = None,
                is_active: bool | None = None, clear_locale: bool = False) -> UserView:
    """Change a user's name, language (``clear_locale`` → the scheme's) and/or whether they may sign in."""
    if is_active is not None:
        _lock_admins(session)  # before the user's row: the same lock order as role assignment
    user = _user(session, user_id, for_update=True)
    errors: dict[str, list[str]] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            errors["name"] = [_("Enter a name of 1 to 200 characters.")]
    problem = _locale_problem(locale)
    if problem:
        errors["locale"] = [problem]
    if errors:
        raise ValidationError(_("The user cannot be changed."), errors=errors)
    # (de)activation first: when it is refused, nothing else has changed
    if is_active is False and user.is_active:
        deactivate_user(session, user_id)
    elif is_active is True and not user.is_active:
        reactivate_user(session, user_id)
    before = _snapshot(user)
    if name is not None:
        user.name = name
    if locale is not None or clear_locale:
        user.locale = None if clear_locale else locale
    if _snapshot(user) != before:
        session.flush()
        audit.record(session, "update", "user", user.id, before=before, after=_snapshot(user))
    return _view(session, user)


def deactivate_user(session: Session, user_id: int) -> UserView:
    """Stop a user from signing in and sign them out everywhere; their unspent links stop working.

    409 when they are the last active tenant administrator (then nothing changes).
    """
    from schemehost.tenants.identity import roles

    _lock_admins(session)
    user = _user(session, user_id, for_update=True)
    if not user.is_active:
        return _view(session, user)
    before = _snapshot(user)
    try:
        with session.begin_nested():
            user.is_active = False
            session.flush()
            roles.ensure_admin_remains(session)
    except Conflict as err:
        session.refresh(user)
        raise Conflict(_("The last active tenant administrator cannot be deactivated; make another user "
                         "a tenant administrator first."),
                       errors={"is_active": [_("the last active tenant administrator")]}) from err
    user.session_version += 1
    session.execute(delete(UserToken).where(UserToken.user_id == user.id, UserToken.used_at.is_(None)))
    session.flush()
    audit.record(session, "deactivate", "user", user.id, before=before, after=_snapshot(user))
    return _view(session, user)


def reactivate_user(session: Session, user_id: int) -> UserView:
    """Let a deactivated user sign in again (with their old password, or a reset link)."""
    user = _user(session, user_id, for_update=True)
    if user.is_active:
        return _view(session, user)
    before = _snapshot(user)
    user.is_active = True
    user.session_version += 1
    session.flush()
    audit.record(session, "reactivate", "user", user.id, before=before, after=_snapshot(user))
    return _view(session, user)


# ---- signing in ----------------------------------------------------------------------------------


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user whose e-mail and password match, else None.

    Costs one argon2 verification either way (a dummy one for unknown or password-less
    users), so timing does not tell which addresses have an account, and upgrades a hash
    made with old parameters. Recording the sign-in (``last_sign_in_at``, audit entry) is
    left to ``sessions.complete_sign_in``, which runs after the second factor.
    """
    user = session.execute(select(User).where(User.email == normalize_email(email))).scalar_one_or_none()
    if user is None:
        passwords.burn_time(password or "")
        return None
    ok, new_hash = passwords.verify_password(user.password_hash, password or "")
    if not ok or not user.is_active:
        return None
    if new_hash is not None:
        user.password_hash = new_hash
        session.flush()
    return user


# ---- helpers -------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _tenant(tenant: TenantRef | None) -> TenantRef:
    tenant = tenant or (g.get("tenant") if has_request_context() else None)
    if tenant is None:
        raise RuntimeError("no tenant: pass tenant= outside a tenant request")
    return tenant


def _is_pending(user: User) -> bool:
    return user.password_hash is None and user.sso_subject is None


def _status(user: User) -> str:
    if not user.is_active:
        return "deactivated"
    return "pending" if _is_pending(user) else "active"


def _snapshot(user: User) -> dict:
    return {k: getattr(user, k) for k in AUDITED}


def _locale_problem(locale: str | None) -> str | None:
    if locale is None:
        return None
    languages = current_app.config.get("LANGUAGES", ["en", "fr"])
    if locale not in languages:
        return _("Choose one of: %(languages)s.", languages=", ".join(languages))
    return None


def _lock_admins(session: Session) -> None:
    """Serialise changes that could remove the last administrator (role assignment takes the same
    lock), so two administrators cannot deactivate each other at the same time."""
    from schemehost.tenants.identity.roles import ADMIN_ROLE

    session.execute(select(Role.id).where(Role.code == ADMIN_ROLE).with_for_update())


def _user(session: Session, user_id: int, *, for_update: bool = False) -> User:
    stmt = select(User).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    user = session.execute(stmt).scalar_one_or_none()
    if user is None:
        raise NotFound(_("No user %(id)s.", id=user_id), errors={"user": [_("unknown user")]})
    return user


def _codes_by_user(session: Session, user_ids: list[int]) -> dict[int, list[str]]:
    if not user_ids:
        return {}
    codes: dict[int, list[str]] = {}
    for uid, code in session.execute(
        select(UserRole.user_id, Role.code).join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id.in_(user_ids)).order_by(Role.code)
    ):
        codes.setdefault(uid, []).append(code)
    return codes


def _to_view(user: User, roles: list[str]) -> UserView:
    return UserView(id=user.id, email=user.email, name=user.name, locale=user.locale, is_active=user.is_active,
                    status=_status(user), roles=roles, totp_enabled=user.totp_enabled_at is not None,
                    last_sign_in_at=user.last_sign_in_at, created_at=user.created_at, updated_at=user.updated_at)


def _view(session: Session, user: User) -> UserView:
    return _to_view(user, _codes_by_user(session, [user.id]).get(user.id, []))


def _set_password(user: User, password: str) -> None:
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = _now()


def _new_token(session: Session, user: User, purpose: str, ttl: timedelta) -> str:
    """A fresh link token for ``user``; the user's earlier unspent tokens of this purpose are dropped."""
    session.execute(delete(UserToken).where(UserToken.user_id == user.id, UserToken.purpose == purpose,
                                            UserToken.used_at.is_(None)))
    token = secrets.token_urlsafe(32)
    session.add(UserToken(user_id=user.id, purpose=purpose, token_hash=_digest(token), expires_at=_now() + ttl))
    return token


def _valid_token(session: Session, token: str, purpose: str, *, lock: bool = True) -> tuple[UserToken, User]:
    """The token row (locked) and its active user, or 410 with why the link cannot be used."""
    stmt = (select(UserToken, User).join(User, User.id == UserToken.user_id)
            .where(UserToken.token_hash == _digest(token or ""), UserToken.purpose == purpose))
    if lock:
        stmt = stmt.with_for_update(of=UserToken)
    found = session.execute(stmt).first() if token and len(token) <= 200 else None
    if found is None or found[0].used_at is not None or not found[1].is_active:
        raise LinkInvalid(_("This link is not valid: it was already used or replaced by a newer one."),
                          errors={"token": [_("already used or replaced")]})
    if found[0].expires_at <= _now():
        raise LinkInvalid(_("This link has expired. Ask for a new one."), errors={"token": [_("expired")]})
    return found[0], found[1]


def _link(endpoint: str, tenant: TenantRef, **values) -> str:
    """The absolute address of a tenant page, for e-mails."""
    if has_request_context():
        url = url_for(endpoint, slug=tenant.slug, _external=True, **values)
        if request.environ.get("schemehost.routed_by") == "host":
            # the host already names the tenant: the path must not repeat /t/<slug>
            parts = urlsplit(url)
            url = urlunsplit(parts._replace(path=parts.path.removeprefix(f"/t/{tenant.slug}")))
        return url
    cfg = current_app.config
    adapter = current_app.url_map.bind(cfg.get("SERVER_NAME") or cfg["BASE_DOMAIN"],
                                       url_scheme=cfg.get("PREFERRED_URL_SCHEME", "https"))
    return adapter.build(endpoint, {"slug": tenant.slug, **values}, force_external=True)


def init_app(app: Flask) -> None:
    """Register the users API and the console and public pages."""
    from schemehost.tenants.identity import users_api, users_views

    users_api.init_app(app)
    users_views.init_app(app)

