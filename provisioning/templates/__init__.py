"""Versioned, declarative YAML templates that new tenants start from.

Each ``<name>.yaml`` beside this file is checked when loaded: its structure
against ``TEMPLATE_SCHEMA``, then the rules that span fields (a real ISO 4217
currency, an IANA time zone, unique role codes, known permissions of enabled
modules, a coherent demo location tree). Every problem is reported with the
file and the path of the field, e.g. ``roles[2].permissions[0]``. The format
is documented in ``docs/templates.md``.
"""

from __future__ import annotations

import copy
import os
import re
import zoneinfo
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from flask import current_app, has_app_context
from flask_babel import gettext as _
from flask_babel import ngettext

from schemehost.platform.errors import ValidationError
from schemehost.platform.permissions import MODULES, permission_problem
from schemehost.provisioning.templates.schema import TEMPLATE_SCHEMA

__all__ = ["TEMPLATE_SCHEMA", "Template", "available", "current_currencies", "list_templates",
           "load_path", "load_template", "parse", "template_dirs"]

NAME_RE = re.compile(TEMPLATE_SCHEMA["properties"]["name"]["pattern"])

#: Settings keys written from the template's own fields, so ``settings`` may not set them.
BASE_KEYS = ("currency", "locale", "timezone", "location_levels", "modules", "roles", "template", "demo")


@dataclass(frozen=True)
class Template:
    name: str
    version: int
    title: str
    description: str
    currency: str
    locale: str
    timezone: str
    location_levels: list[str]
    modules: list[str]
    roles: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    demo: dict[str, Any] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        """The values this template gives a new tenant, keyed by settings row."""
        base = {
            "currency": self.currency,
            "locale": self.locale,
            "timezone": self.timezone,
            "location_levels": list(self.location_levels),
            "modules": list(self.modules),
            "roles": copy.deepcopy(self.roles),
        }
        base.update(copy.deepcopy(self.settings))
        return base

    def tenant_settings(self) -> dict[str, Any]:
        """The settings rows a tenant created from this template starts with.

        ``template`` records the name, version and the values as the template
        gave them (``baseline``), so that a later version's review can tell a
        template default from a value the tenant admin changed.
        """
        values = self.defaults()
        values["template"] = {"name": self.name, "version": self.version, "baseline": self.defaults()}
        return values

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(asdict(self))


def _shipped_dir() -> Path:
    return Path(str(resources.files(__name__)))


def template_dirs() -> list[Path]:
    """Where templates are found: the operator's folders (``SCHEMEHOST_TEMPLATE_DIRS``,
    separated by ``os.pathsep``; first match wins), then the shipped ones."""
    if has_app_context():
        extra = current_app.config.get("TEMPLATE_DIRS", "")
    else:
        extra = os.environ.get("SCHEMEHOST_TEMPLATE_DIRS", "")
    return [Path(p) for p in str(extra or "").split(os.pathsep) if p] + [_shipped_dir()]


def _find(name: str) -> Path | None:
    for folder in template_dirs():
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def available() -> list[str]:
    """Names of the templates that can be used (operator folders and shipped)."""
    return sorted({p.stem for folder in template_dirs() if folder.is_dir() for p in folder.glob("*.yaml")})


@lru_cache(maxsize=1)
def current_currencies() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today (from Babel's CLDR data)."""
    from babel.core import get_global

    return frozenset(
        code
        for entries in get_global("territory_currencies").values()
        for code, _start, end, tender in entries
        if end is None and tender
    )


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top)"


def _join(base: str, key: str) -> str:
    return key if base == "(top)" else f"{base}.{key}"


def _structure_problems(data: Any) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}

    def add(where: str, message: str) -> None:
        if message not in problems.setdefault(where, []):
            problems[where].append(message)

    validator = jsonschema.Draft202012Validator(TEMPLATE_SCHEMA)
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        where = _path(err.absolute_path)
        if err.validator == "required":
            for prop in err.validator_value:
                if isinstance(err.instance, dict) and prop not in err.instance:
                    add(_join(where, prop), _("this field is required"))
        elif err.validator == "additionalProperties":
            known = set(err.schema.get("properties", {}))
            for prop in err.instance:
                if prop not in known:
                    add(_join(where, str(prop)), _("unknown field; allowed: %(fields)s", fields=", ".join(sorted(known))))
        elif err.validator == "enum":
            add(where, _("'%(value)s' is not one of: %(choices)s",
                         value=err.instance, choices=", ".join(map(str, err.validator_value))))
        elif err.validator == "type":
            hint = ""
            if isinstance(err.instance, bool) and err.validator_value == "string":
                hint = " " + _("(YAML reads an unquoted yes, no, on, off, true or false as a boolean: quote it)")
            add(where, _("must be of type %(type)s", type=err.validator_value) + hint)
        elif err.validator == "uniqueItems":
            add(where, _("holds the same entry twice"))
        elif err.validator == "propertyNames":
            add(where, _("'%(key)s' is not a valid key (lowercase letters, digits and '_')", key=err.instance))
        elif "x-hint" in err.schema:
            add(where, str(err.schema["x-hint"]))
        else:
            add(where, err.message)
    return problems


def _rule_problems(data: dict[str, Any]) -> dict[str, list[str]]:
    """Rules that span fields; run only on a structurally valid document."""
    problems: dict[str, list[str]] = {}

    def add(where: str, message: str) -> None:
        problems.setdefault(where, []).append(message)

    if data["currency"] not in current_currencies():
        add("currency", _("'%(code)s' is not a current ISO 4217 currency code", code=data["currency"]))
    if data["timezone"] not in _time_zones():
        add("timezone", _("'%(zone)s' is not an IANA time zone, e.g. 'Africa/Douala'", zone=data["timezone"]))

    modules = data["modules"]
    for i, module in enumerate(modules):
        for needed in MODULES[module]:
            if needed not in modules:
                add(f"modules[{i}]", _("module '%(module)s' needs module '%(needed)s'", module=module, needed=needed))

    seen: dict[str, int] = {}
    for i, role in enumerate(data["roles"]):
        if role["code"] in seen:
            add(f"roles[{i}].code", _("role code '%(code)s' is already used by roles[%(other)s]",
                                      code=role["code"], other=seen[role["code"]]))
        seen.setdefault(role["code"], i)
        for k, perm in enumerate(role["permissions"]):
            problem = permission_problem(perm, modules)
            if problem:
                add(f"roles[{i}].permissions[{k}]", problem)
    if "tenant_admin" not in seen:
        add("roles", _("a template needs a 'tenant_admin' role"))

    for key in data.get("settings", {}):
        if key in BASE_KEYS:
            add(f"settings.{key}", _("'%(key)s' is set by the template's own field, not in settings", key=key))

    _demo_problems(data, add)
    return problems


def _demo_problems(data: dict[str, Any], add) -> None:
    demo = data.get("demo") or {}
    levels = data["location_levels"]
    depth: dict[str, int] = {}
    for i, loc in enumerate(demo.get("locations", [])):
        where = f"demo.locations[{i}]"
        if loc["code"] in depth:
            add(f"{where}.code", _("location code '%(code)s' is used twice", code=loc["code"]))
            continue
        if loc["level"] not in levels:
            add(f"{where}.level", _("'%(level)s' is not one of the location levels: %(levels)s",
                                    level=loc["level"], levels=", ".join(levels)))
            continue
        level = levels.index(loc["level"])
        parent = loc.get("parent")
        if parent is None:
            if level != 0:
                add(f"{where}.parent", _("a location below the top level needs a parent"))
                continue
        elif parent not in depth:
            add(f"{where}.parent", _("parent '%(code)s' is not a location listed before this one", code=parent))
            continue
        elif depth[parent] != level - 1:
            add(f"{where}.level", _("a location's level is the one below its parent's (%(level)s)",
                                    level=levels[depth[parent] + 1] if depth[parent] + 1 < len(levels) else "-"))
            continue
        depth[loc["code"]] = level

    for kind in ("facilities", "organisations", "programmes"):
        codes: set[str] = set()
        for i, item in enumerate(demo.get(kind, [])):
            where = f"demo.{kind}[{i}]"
            if item["code"] in codes:
                add(f"{where}.code", _("code '%(code)s' is used twice", code=item["code"]))
            codes.add(item["code"])
            if "location" in item and item["location"] not in depth:
                add(f"{where}.location", _("'%(code)s' is not a demo location", code=item["location"]))
            if "module" in item and item["module"] not in data["modules"]:
                add(f"{where}.module", _("module '%(module)s' is not enabled by this template", module=item["module"]))


def parse(text: str, source: str, *, name: str | None = None) -> Template:
    """Validate a template document and return it; errors name ``source`` and each field path.

    ``name``, when given, is the name the document must declare (its file name).
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f"line {where.line + 1}, column {where.column + 1}" if where else "(top)"
        message = getattr(exc, "problem", None) or str(exc)
        raise ValidationError(_("Template %(source)s is not valid YAML (%(at)s: %(problem)s).",
                                source=source, at=at, problem=message),
                              errors={at: [message]}) from exc
    problems = _structure_problems(data)
    if not problems:
        problems = _rule_problems(data)
        if name is not None and data["name"] != name:
            problems.setdefault("name", []).append(
                _("declares '%(declared)s' but the file is named '%(name)s.yaml'", declared=data["name"], name=name))
    if problems:
        count = sum(len(v) for v in problems.values())
        raise ValidationError(
            ngettext("Template %(source)s is not valid (%(num)d problem): %(first)s: %(message)s",
                     "Template %(source)s is not valid (%(num)d problems): %(first)s: %(message)s",
                     count, source=source, first=next(iter(problems)), message=next(iter(problems.values()))[0]),
            errors=problems,
        )
    return Template(**data)


def load_path(path: str | Path) -> Template:
    """Load and validate a template file; its ``name`` must match the file name."""
    path = Path(path)
    if path.suffix != ".yaml":
        raise ValidationError(_("A template file ends in .yaml: %(path)s", path=path.name),
                              errors={"template": [_("a template file ends in .yaml")]})
    return parse(path.read_text(encoding="utf-8"), path.name, name=path.stem)


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime_ns: int, size: int) -> Template:
    return load_path(path)


def load_template(name: str) -> Template:
    """A template by name (validated once per file version); an unknown name lists the available ones."""
    path = _find(name) if isinstance(name, str) and NAME_RE.fullmatch(name) else None
    if path is None:
        names = available()
        raise ValidationError(
            _("Unknown template '%(name)s'. Available: %(names)s.", name=name, names=", ".join(names)),
            errors={"template": [_("choose one of: %(names)s", names=", ".join(names))]},
        )
    stat = path.stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


def list_templates() -> list[Template]:
    return [load_template(n) for n in available()]
