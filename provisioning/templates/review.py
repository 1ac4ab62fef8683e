"""Bringing an existing tenant up to a newer version of its template.

A newer template version changes only new tenants until an operator reviews
it for an existing tenant and applies it. Only *additions* are applied (new
modules, roles, permissions of a role, deeper location levels, settings keys);
a changed or removed default is shown for review and never written, and a
value the tenant admin changed is never overwritten.

The tenant's ``template`` setting holds the values its template gave it
(``baseline``): comparing the newer template with that baseline tells what the
newer version changed, and comparing the tenant's value with it tells whether
the tenant admin changed that value. The tenant's ``template`` setting is the
record of what was applied; the control row's ``template_version`` follows it.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemehost.provisioning.templates import Template

class _Missing:
    """No value at all (unlike None, which a setting may hold)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Kind(StrEnum):
    module_added = "module_added"
    role_added = "role_added"
    permission_added = "permission_added"
    location_level_added = "location_level_added"
    setting_added = "setting_added"
    default_changed = "default_changed"
    removed = "removed"


@dataclass(frozen=True)
class Change:
    """One difference between the newer template and the tenant.

    ``key`` is the settings row, ``path`` the keys inside its value; ``value``
    is what the template now says, ``current`` what the tenant has.
    """

    kind: str
    key: str
    value: Any
    path: tuple[str, ...] = ()
    current: Any = None
    applicable: bool = False
    note: str = ""

    @property
    def where(self) -> str:
        return ".".join((self.key, *self.path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = list(self.path)
        data["where"] = self.where
        return data


@dataclass
class _Diff:
    current: dict[str, Any]
    baseline: dict[str, Any] | None
    changes: list[Change] = field(default_factory=list)

    def base(self, key: str) -> Any:
        return MISSING if self.baseline is None else self.baseline.get(key, MISSING)

    def add(self, kind: str, key: str, value: Any, *, path=(), current=None, applicable=False, note="") -> None:
        self.changes.append(Change(kind, key, value, tuple(path), current, applicable, str(note)))


def recorded_template(current_settings: dict[str, Any]) -> dict[str, Any]:
    """The tenant's ``template`` setting: name, version and baseline (empty when absent)."""
    recorded = current_settings.get("template")
    return recorded if isinstance(recorded, dict) else {}


def is_up_to_date(current_settings: dict[str, Any], template: Template) -> bool:
    """Whether the tenant already records this version (or a later one) of ``template``."""
    recorded = recorded_template(current_settings)
    version = recorded.get("version")
    return recorded.get("name") == template.name and isinstance(version, int) and version >= template.version


def template_changes(current_settings: dict[str, Any], template: Template) -> list[Change]:
    """What ``template`` adds to or changes for a tenant with ``current_settings``.

    Empty when the tenant is up to date with it. ``applicable`` marks the
    additions that ``apply_changes`` writes; the others are for review only.
    """
    if is_up_to_date(current_settings, template):
        return []
    recorded = recorded_template(current_settings)
    same = recorded.get("name") == template.name
    baseline = recorded.get("baseline") if same and isinstance(recorded.get("baseline"), dict) else None
    diff = _Diff(current_settings, baseline)
    new = template.defaults()
    for key, value in new.items():
        if key == "modules":
            _modules(diff, value)
        elif key == "roles":
            _roles(diff, value)
        elif key == "location_levels":
            _levels(diff, value)
        else:
            _walk(diff, key, (), value, current_settings.get(key, MISSING), diff.base(key))
    for key in (baseline or {}):
        if key not in new:
            diff.add(Kind.removed, key, None, current=current_settings.get(key),
                     note=_("the template no longer sets it; the tenant keeps its value"))
    return diff.changes


def _modules(diff: _Diff, modules: list[str]) -> None:
    current = list(diff.current.get("modules") or [])
    base = diff.base("modules")
    for module in modules:
        if module in current:
            continue
        if base is not MISSING and module in base:
            continue  # the tenant turned it off; not a change of the newer version
        diff.add(Kind.module_added, "modules", module, applicable=True)
    for module in (base if base is not MISSING else []):
        if module not in modules:
            diff.add(Kind.removed, "modules", module,
                     note=_("the template no longer enables it; the tenant keeps it"))


def _roles(diff: _Diff, roles: list[dict[str, Any]]) -> None:
    current = {r.get("code"): r for r in diff.current.get("roles") or [] if isinstance(r, dict)}
    base_list = diff.base("roles")
    base = {r["code"]: r for r in base_list} if base_list is not MISSING else {}
    for role in roles:
        code = role["code"]
        mine, theirs = current.get(code), base.get(code)
        if mine is None:
            if theirs is None:
                diff.add(Kind.role_added, "roles", copy.deepcopy(role), path=(code,), applicable=True)
            continue  # a role the tenant admin removed stays removed
        had = set(mine.get("permissions") or [])
        given = set(theirs["permissions"]) if theirs else set()
        for perm in role["permissions"]:
            if perm not in had and perm not in given:
                diff.add(Kind.permission_added, "roles", perm, path=(code, "permissions"), applicable=True)
        if theirs and role["name"] != theirs["name"]:
            diff.add(Kind.default_changed, "roles", role["name"], path=(code, "name"), current=mine.get("name"),
                     note=_("a renamed role is not renamed in existing tenants"))
    for code, role in base.items():
        if code not in {r["code"] for r in roles}:
            diff.add(Kind.removed, "roles", None, path=(code,), current=current.get(code),
                     note=_("the template no longer has this role; the tenant keeps it"))


def _levels(diff: _Diff, levels: list[str]) -> None:
    current = list(diff.current.get("location_levels") or [])
    base = diff.base("location_levels")
    ref = current if base is MISSING else base
    if levels == ref or (base is not MISSING and levels == current):
        return
    if levels[: len(ref)] == ref and len(current) == len(ref):
        for level in levels[len(ref):]:
            diff.add(Kind.location_level_added, "location_levels", level, applicable=True)
        return
    diff.add(Kind.default_changed, "location_levels", levels, current=current,
             note=_("levels renamed, reordered or inserted above existing ones are not applied to existing locations"))


def _walk(diff: _Diff, key: str, path: tuple[str, ...], new: Any, mine: Any, base: Any) -> None:
    if mine is MISSING:
        if base is MISSING:
            diff.add(Kind.setting_added, key, copy.deepcopy(new), path=path, applicable=True)
        return  # the tenant removed a value the template gave it
    if isinstance(new, dict) and isinstance(mine, dict):
        base_dict = base if isinstance(base, dict) else {}
        for sub, value in new.items():
            _walk(diff, key, (*path, sub), value, mine.get(sub, MISSING), base_dict.get(sub, MISSING))
        for sub in base_dict:
            if sub not in new:
                diff.add(Kind.removed, key, None, path=(*path, sub), current=mine.get(sub),
                         note=_("the template no longer sets it; the tenant keeps its value"))
        return
    if new == mine or (base is not MISSING and new == base):
        return  # unchanged by the template, or a value only the tenant changed
    if base is MISSING:
        note = _("the tenant's value differs; it is kept")
    elif mine == base:
        note = _("the tenant has the previous default; change it in the tenant's settings if wanted")
    else:
        note = _("the tenant admin changed it; it is kept")
    diff.add(Kind.default_changed, key, copy.deepcopy(new), path=path, current=copy.deepcopy(mine), note=note)


def applied_settings(current_settings: dict[str, Any], template: Template,
                     changes: list[Change]) -> dict[str, Any]:
    """The settings rows that change when the applicable ``changes`` are applied.

    The ``template`` row always moves to the template's version and baseline.
    """
    out: dict[str, Any] = {}

    def row(key: str, empty: Any = None) -> Any:
        if key not in out:
            value = current_settings.get(key)
            out[key] = copy.deepcopy(value) if value is not None else empty
        return out[key]

    for c in changes:
        if not c.applicable:
            continue
        if c.kind == Kind.module_added:
            row("modules", []).append(c.value)
        elif c.kind == Kind.location_level_added:
            row("location_levels", []).append(c.value)
        elif c.kind == Kind.role_added:
            row("roles", []).append(copy.deepcopy(c.value))
        elif c.kind == Kind.permission_added:
            role = next(r for r in row("roles") if r.get("code") == c.path[0])
            role.setdefault("permissions", []).append(c.value)
        elif c.kind == Kind.setting_added:
            if not c.path:
                out[c.key] = copy.deepcopy(c.value)
                continue
            target = row(c.key)
            for part in c.path[:-1]:
                target = target[part]
            target[c.path[-1]] = copy.deepcopy(c.value)
    out["template"] = {"name": template.name, "version": template.version, "baseline": template.defaults()}
    return out


def read_settings(tsession: Session) -> dict[str, Any]:
    """All settings rows of the tenant (run in its tenant session)."""
    from schemehost.tenants.core.models import Setting

    return {s.key: s.value for s in tsession.execute(select(Setting)).scalars()}


def apply_changes(tsession: Session, template: Template) -> tuple[int | None, list[Change]]:
    """Apply the additions of ``template`` to the tenant of ``tsession``; flushes, never commits.

    Returns the template version the tenant recorded before and every change
    found (``applicable`` ones were written). The settings rows are locked
    while read, so two concurrent applies cannot both add the same thing.
    """
    from schemehost.tenants.core.models import Setting

    rows = {s.key: s for s in tsession.execute(select(Setting).with_for_update()).scalars()}
    current = {k: s.value for k, s in rows.items()}
    before = recorded_template(current).get("version")
    if is_up_to_date(current, template):
        return before, []
    changes = template_changes(current, template)
    for key, value in applied_settings(current, template, changes).items():
        if key in rows:
            rows[key].value = value
            rows[key].updated_at = func.now()
        else:
            tsession.add(Setting(key=key, value=value))
    tsession.flush()
    return before, changes
