"""Who is acting inside a tenant, and what they may do.

A request to ``/t/<slug>/...`` gets at most one :class:`Principal` in
``g.principal``. The parts that know how to recognise one (console session,
OAuth bearer token, operator support session) register a *resolver*; the
first that returns a principal wins. Every tenant API route then needs one
(401 otherwise), and a view states the permission it needs with
:func:`permission_required` (or calls :func:`require`), which answers 403.

The permission a view needs is recorded on the view function
(``__permission__``) so that the permission matrix test can enumerate them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Callable

from flask import Flask, g, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.errors import Forbidden, Unauthorized
from schemehost.platform.permissions import ALL
from schemehost.tenants.identity.models import Role, UserLocation, UserRole

#: Tenant API paths; everything under them needs a principal.
TENANT_API = re.compile(r"^/t/[^/]+/api(/|$)")

Resolver = Callable[[], "Principal | None"]
_resolvers: list[tuple[int, Resolver]] = []


@dataclass(frozen=True)
class Principal:
    """A tenant user, an OAuth client of the tenant, or an operator in a support session."""

    kind: str  # "user" | "client" | "support"
    id: str  # user id, OAuth client_id, or operator e-mail
    name: str
    tenant_id: int
    permissions: frozenset[str]
    #: location ids the principal is restricted to (with their subtrees); empty = no restriction
    location_ids: frozenset[int] = field(default_factory=frozenset)

    def can(self, permission: str) -> bool:
        return ALL in self.permissions or permission in self.permissions

    @property
    def audit_actor(self) -> tuple[str, str, str]:
        """(actor_type, actor_id, actor_name) for audit entries."""
        return self.kind, self.id, self.name


def register_resolver(resolver: Resolver, *, order: int = 50) -> None:
    """Add a way to recognise the principal of a tenant request (lower ``order`` runs first)."""
    if all(r is not resolver for _o, r in _resolvers):
        _resolvers.append((order, resolver))
        _resolvers.sort(key=lambda item: item[0])


def current_principal() -> Principal | None:
    return g.get("principal")


def require(permission: str) -> Principal:
    """The current principal if it holds ``permission``; 401 without one, 403 without the permission."""
    principal = current_principal()
    if principal is None:
        raise Unauthorized(_("Sign in or send an access token for this scheme."),
                           headers={"WWW-Authenticate": 'Bearer realm="schemehost"'})
    if not principal.can(permission):
        raise Forbidden(_("This needs the permission '%(permission)s'.", permission=permission),
                        errors={"permission": [permission]}, missing_permission=permission)
    return principal


def permission_required(permission: str):
    """Decorator for views and MethodView methods: needs ``permission`` (see :func:`require`)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            require(permission)
            return view(*args, **kwargs)

        wrapper.__permission__ = permission
        return wrapper

    return decorator


def user_grants(session: Session, user_id: int) -> tuple[frozenset[str], frozenset[int]]:
    """The permissions (union over the user's roles) and location restriction of a tenant user."""
    perms: set[str] = set()
    for role_perms in session.execute(
        select(Role.permissions).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
    ).scalars():
        perms.update(role_perms)
    locations = session.execute(select(UserLocation.location_id).where(UserLocation.user_id == user_id)).scalars()
    return frozenset(perms), frozenset(locations)


def init_app(app: Flask) -> None:
    @app.before_request
    def _resolve_principal():
        if g.get("tenant") is None:
            return None
        g.principal = None
        for _order, resolver in _resolvers:
            principal = resolver()
            if principal is not None:
                if principal.tenant_id != g.tenant.id:  # a resolver bug must never leak a tenant
                    raise Forbidden(_("This credential belongs to another scheme."))
                g.principal = principal
                break
        if g.principal is None and TENANT_API.match(request.path):
            raise Unauthorized(_("Sign in or send an access token for this scheme."),
                               headers={"WWW-Authenticate": 'Bearer realm="schemehost"'})
        return None
