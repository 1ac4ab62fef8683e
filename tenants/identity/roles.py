"""Tenant roles and their assignment: custom roles, built-in roles, user roles and locations.

A role is a named set of permission names (``platform.permissions``). The
built-in roles come from the tenant's template (seeded at creation); tenant
admins add custom roles. A role may only hold permissions of modules the
tenant enables (settings row ``modules``), and only ``tenant_admin`` holds
``"*"``. The tenant always keeps at least one active user with
``tenant_admin``. Every change is in the audit log. A user's new roles apply
from their next request: the principal is built per request from the tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.permissions import ALL, BUILTIN_ROLES, PERMISSIONS, Permission, permission_problem
from schemehost.tenants.core.models import Setting, User
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import Role, UserLocation, UserRole

ADMIN_ROLE = "tenant_admin"
#: lowercase letter first, then lowercase letters, digits and underscores (2 to 60 characters)
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")
NAME_MAX = 200


@dataclass(frozen=True)
class RoleView:
    """A role as shown to users and the API, with how many users hold it."""

    code: str
    name: str
    builtin: bool
    permissions: list[str]
    users: int


# ---- reading -----------------------------------------------------------------------------


def tenant_modules(session: Session) -> list[str]:
    """The modules this tenant enables (settings row ``modules``)."""
    value = session.execute(select(Setting.value).where(Setting.key == "modules")).scalar_one_or_none()
    return [m for m in value if isinstance(m, str)] if isinstance(value, list) else []


def available_permissions(session: Session) -> list[Permission]:
    """The permissions a role of this tenant may hold: the core ones and those of enabled modules."""
    modules = tenant_modules(session)
    return [p for p in PERMISSIONS.values() if permission_problem(p.name, modules) is None]


def list_roles(session: Session) -> list[RoleView]:
    """Every role of the tenant, built-in first, with its number of users."""
    counts = (select(UserRole.role_id, func.count().label("n")).group_by(UserRole.role_id).subquery())
    rows = session.execute(
        select(Role, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.role_id == Role.id)
        .order_by(Role.builtin.desc(), Role.code)
    ).all()
    return [_view(role, n) for role, n in rows]


def get_role(session: Session, code: str) -> RoleView:
    role = _role(session, code)
    n = session.execute(select(func.count()).where(UserRole.role_id == role.id)).scalar_one()
    return _view(role, n)


def user_role_codes(session: Session, user_id: int) -> list[str]:
    """The codes of the roles ``user_id`` holds (404 for an unknown user)."""
    _user(session, user_id)
    return _codes_of(session, user_id)


def user_location_ids(session: Session, user_id: int) -> list[int]:
    """The locations ``user_id`` is restricted to (empty: no restriction; 404 for an unknown user)."""
    _user(session, user_id)
    return _locations_of(session, user_id)


@dataclass(frozen=True)
class UserAssignment:
    """A user as the role assignment page shows them."""

    id: int
    name: str
    email: str
    is_active: bool
    roles: list[str]
    locations: list[int]


def get_user_assignment(session: Session, user_id: int) -> UserAssignment:
    """A user with the codes of their roles and their locations (404 for an unknown user)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No user %(id)s.", id=user_id), errors={"user": [_("unknown user")]})
    return UserAssignment(id=user.id, name=user.name, email=user.email, is_active=user.is_active,
                          roles=_codes_of(session, user_id), locations=_locations_of(session, user_id))


def role_dict(role: RoleView) -> dict:
    return {"code": role.code, "name": role.name, "builtin": role.builtin,
            "permissions": list(role.permissions), "users": role.users}


# ---- changing roles ------------------------------------------------------------------------


def create_role(session: Session, code: str, name: str, permissions: list[str]) -> RoleView:
    """A new custom role; 422 with field errors for a bad code, name or permission, 409 for a taken code."""
    errors: dict[str, object] = {}
    code = (code or "").strip() if isinstance(code, str) else ""
    if not CODE_RE.match(code):
        errors["code"] = [_("A code has 2 to 60 characters: a lowercase letter, then lowercase letters, "
                            "digits and underscores, e.g. district_supervisor.")]
    elif code in BUILTIN_ROLES:
        errors["code"] = [_("'%(code)s' is the code of a built-in role; choose another.", code=code)]
    name_problem = _name_problem(name)
    if name_problem:
        errors["name"] = [name_problem]
    perms, perm_errors = _check_permissions(session, permissions, code=code)
    if perm_errors:
        errors["permissions"] = perm_errors
    if errors:
        raise ValidationError(_("The role cannot be created."), errors=errors)
    if session.execute(select(Role.id).where(Role.code == code)).first():
        raise _taken(code)
    role = Role(code=code, name=name.strip(), builtin=False, permissions=perms)
    session.add(role)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # a concurrent request created the same code first
        raise _taken(code) from None
    audit.record(session, "create", "role", code, after=_snapshot(role))
    return _view(role, 0)


def update_role(session: Session, code: str, *, name: str | None = None,
                permissions: list[str] | None = None) -> RoleView:
    """Rename a role and/or replace its permissions (``tenant_admin`` always keeps ``"*"``)."""
    role = _role(session, code, for_update=True)
    errors: dict[str, object] = {}
    if name is not None:
        problem = _name_problem(name)
        if problem:
            errors["name"] = [problem]
    perms = None
    if permissions is not None:
        if role.code == ADMIN_ROLE:
            if list(permissions) != [ALL]:
                errors["permissions"] = [_("The tenant administrator role always holds every permission.")]
        else:
            perms, perm_errors = _check_permissions(session, permissions, code=role.code)
            if perm_errors:
                errors["permissions"] = perm_errors
    if errors:
        raise ValidationError(_("The role cannot be changed."), errors=errors)
    before = _snapshot(role)
    if name is not None:
        role.name = name.strip()
    if perms is not None:
        role.permissions = perms
    after = _snapshot(role)
    if after != before:
        session.flush()
        audit.record(session, "update", "role", role.code, before=before, after=after)
    n = session.execute(select(func.count()).where(UserRole.role_id == role.id)).scalar_one()
    return _view(role, n)


def delete_role(session: Session, code: str) -> None:
    """Delete a custom role that nobody holds (409 for a built-in or assigned role)."""
    role = _role(session, code, for_update=True)
    if role.builtin:
        raise Conflict(_("Built-in roles cannot be deleted; rename them or change their permissions."),
                       errors={"code": [_("built-in role")]})
    holders = session.execute(select(func.count()).where(UserRole.role_id == role.id)).scalar_one()
    if holders:
        raise Conflict(_("This role is held by %(num)s users; take it away from them first.", num=holders),
                       errors={"code": [_("assigned to %(num)s users", num=holders)]}, users=holders)
    before = _snapshot(role)
    session.delete(role)
    session.flush()
    audit.record(session, "delete", "role", code, before=before)


# ---- assigning -------------------------------------------------------------------------------


def set_user_roles(session: Session, user_id: int, role_codes: list[str]) -> list[str]:
    """Give ``user_id`` exactly these roles; the tenant must keep an active tenant administrator (409)."""
    if not isinstance(role_codes, (list, tuple)) or not all(isinstance(c, str) for c in role_codes):
        raise ValidationError(_("The roles cannot be assigned."),
                              errors={"roles": [_("Send a list of role codes.")]})
    lock_administrators(session)  # before the user's row: the same order as deactivation (no deadlock)
    _user(session, user_id, for_update=True)
    wanted = list(dict.fromkeys(c.strip() for c in role_codes))
    known = dict(session.execute(select(Role.code, Role.id).where(Role.code.in_(wanted))).all())
    unknown = {i: [_("unknown role '%(code)s'", code=c)] for i, c in enumerate(wanted) if c not in known}
    if unknown:
        raise ValidationError(_("The roles cannot be assigned."), errors={"roles": unknown})
    before = _codes_of(session, user_id)
    after = sorted(wanted)
    if before == after:
        return after
    with session.begin_nested():  # a refused change leaves the caller's transaction as it was
        session.execute(delete(UserRole).where(UserRole.user_id == user_id))
        if wanted:
            session.execute(insert(UserRole), [{"user_id": user_id, "role_id": known[c]} for c in wanted])
        if ADMIN_ROLE in before and ADMIN_ROLE not in after:
            ensure_admin_remains(session)
    audit.record(session, "role_change", "user", user_id, before={"roles": before}, after={"roles": after})
    return after


def set_user_locations(session: Session, user_id: int, location_ids: list[int]) -> list[int]:
    """Restrict ``user_id`` to these locations and their subtrees (an empty list lifts the restriction)."""
    if not isinstance(location_ids, (list, tuple)):
        raise ValidationError(_("The locations cannot be set."),
                              errors={"locations": [_("Send a list of location ids.")]})
    bad = {i: [_("not a location id")] for i, v in enumerate(location_ids)
           if isinstance(v, bool) or not isinstance(v, int) or not 0 < v < 2**31}
    if bad:
        raise ValidationError(_("The locations cannot be set."), errors={"locations": bad})
    _user(session, user_id, for_update=True)
    before = _locations_of(session, user_id)
    after = sorted(set(location_ids))
    if before == after:
        return after
    session.execute(delete(UserLocation).where(UserLocation.user_id == user_id))
    if after:
        session.execute(insert(UserLocation), [{"user_id": user_id, "location_id": i} for i in after])
    session.flush()
    audit.record(session, "location_change", "user", user_id, before={"locations": before},
                 after={"locations": after})
    return after


def lock_administrators(session: Session) -> None:
    """Serialise the changes that could remove the last administrator (lock the ``tenant_admin`` row).

    Once the lock is held, later statements see every committed demotion, so two administrators
    demoting each other at the same time cannot both succeed. Take it before locking any user row."""
    session.execute(select(Role.id).where(Role.code == ADMIN_ROLE).with_for_update())


def ensure_admin_remains(session: Session) -> None:
    """409 unless at least one active user holds ``tenant_admin``. Call it after a change that takes the
    role from an active holder (a role change, deactivating an administrator), inside the transaction
    (ideally a savepoint) that made the change, having called :func:`lock_administrators` before locking
    the user's row; a tenant that never had an administrator is not refused other changes."""
    lock_administrators(session)
    admins = session.execute(
        select(func.count()).select_from(UserRole)
        .join(Role, Role.id == UserRole.role_id).join(User, User.id == UserRole.user_id)
        .where(Role.code == ADMIN_ROLE, User.is_active.is_(True))
    ).scalar_one()
    if not admins:
        raise Conflict(_("The scheme must keep at least one active tenant administrator."),
                       errors={"roles": [_("the last active tenant administrator cannot lose this role")]})


# ---- helpers ---------------------------------------------------------------------------------------


def _view(role: Role, users: int) -> RoleView:
    return RoleView(code=role.code, name=role.name, builtin=role.builtin, permissions=list(role.permissions),
                    users=int(users))


def _snapshot(role: Role) -> dict:
    return {"code": role.code, "name": role.name, "permissions": list(role.permissions)}


def _role(session: Session, code: str, *, for_update: bool = False) -> Role:
    stmt = select(Role).where(Role.code == code)
    if for_update:
        stmt = stmt.with_for_update()
    role = session.execute(stmt).scalar_one_or_none()
    if role is None:
        raise NotFound(_("No role '%(code)s'.", code=code), errors={"code": [_("unknown role")]})
    return role


def _user(session: Session, user_id: int, *, for_update: bool = False) -> None:
    stmt = select(User.id).where(User.id == user_id)
    if for_update:
        stmt = stmt.with_for_update()
    if session.execute(stmt).first() is None:
        raise NotFound(_("No user %(id)s.", id=user_id), errors={"user": [_("unknown user")]})


def _codes_of(session: Session, user_id: int) -> list[str]:
    return sorted(session.execute(
        select(Role.code).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
    ).scalars())


def _locations_of(session: Session, user_id: int) -> list[int]:
    return list(session.execute(
        select(UserLocation.location_id).where(UserLocation.user_id == user_id).order_by(UserLocation.location_id)
    ).scalars())


def _name_problem(name) -> str | None:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        return _("A role name has 1 to %(max)s characters.", max=NAME_MAX)
    return None


def _check_permissions(session: Session, permissions, *, code: str) -> tuple[list[str], object]:
    """The permissions without duplicates, and the problems (by index) of a custom or built-in role."""
    if not isinstance(permissions, (list, tuple)):
        return [], [_("Send a list of permission names.")]
    modules = tenant_modules(session)
    problems: dict[int, list[str]] = {}
    for i, name in enumerate(permissions):
        if not isinstance(name, str):
            problems[i] = [_("a permission name is text")]
        elif name == ALL:
            problems[i] = [_("only the tenant administrator role holds every permission ('*')")]
        else:
            problem = permission_problem(name, modules)
            if problem:
                problems[i] = [problem]
    if problems:
        return [], problems
    return list(dict.fromkeys(permissions)), None


def _taken(code: str) -> Conflict:
    return Conflict(_("A role with code '%(code)s' already exists.", code=code),
                    errors={"code": [_("This code is already taken.")]})


def init_app(app: Flask) -> None:
    """Register the roles API and console pages."""
    from schemehost.tenants.identity import roles_api, roles_views

    roles_api.init_app(app)
    roles_views.init_app(app)
