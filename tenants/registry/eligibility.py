"""Eligibility filters: one declarative filter over the registry, shared by vouchers, cash transfers
and reports (decisions 0115–0117).

A filter is JSON: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` and conditions
``{"field": ..., "op": ..., "value": ...}``. It selects **individuals** or **households**
(``target``). Fields are the registry's own (sex, age at a reference date, birth date, status,
relationship, national id / phone present, location subtree, household size, ...), the tenant's
extra fields (``extra.<name>``, typed by the JSON Schema in the ``registry`` setting's
``extra_fields``), the household of an individual (``household.<field>``) and the head of a
household (``head.<field>``, or ``household.head.<field>`` from an individual). ``members`` counts
a household's active members that match a nested individual filter (``where``).

:func:`validate_filter` checks a filter against the tenant's fields and answers problems keyed by
the JSON path inside the filter (``all[2].value``: "expected a number"); :func:`compile_filter`
turns it into ONE SQLAlchemy Core SELECT of matching ids (no filtering in Python), which other
modules use set-wise (``INSERT ... SELECT``); :func:`preview` counts the matches and breaks them
down by a location level, honouring the principal's location restriction.

Rules worth knowing: every condition on a missing value is false (a person without a household
has no household size), except ``ne`` and ``not_in``, which are exactly ``not eq`` / ``not in``;
erased individuals (pseudonymised on request) never match; ``size`` and ``members`` count a
household's *active* members.
"""

from __future__ import annotations

import json
import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (ColumnElement, Integer, Numeric, Select, and_, case, cast, false, func, literal, not_, or_,
                        select, true)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.tenants.core.services import tenant_zone
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import Household, Individual, PersonStatus, Relationship, Sex
from schemehost.tenants.registry.services._common import level_names
from schemehost.tenants.registry.services.locations import level_name, resolve_level
from schemehost.tenants.registry.validation import registry_settings

TARGETS = ("individuals", "households")
#: limits that keep one filter a reasonable query
MAX_DEPTH = 8
MAX_CONDITIONS = 100
MAX_LIST = 1000
MAX_MEMBER_COUNTS = 5
MAX_TEXT = 200
MAX_AGE = 150

EQ_OPS = ("eq", "ne", "in", "not_in")
ORDER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")
#: operators allowed per field type
OPS: dict[str, tuple[str, ...]] = {
    "enum": EQ_OPS,
    "integer": ORDER_OPS + ("in", "not_in"),
    "number": ORDER_OPS,
    "date": ORDER_OPS,
    "boolean": ("eq",),
    "string": EQ_OPS + ("contains", "starts_with"),
    "location": ("within", "not_within"),
    "array": ("has", "has_any", "has_all"),
}
LIST_OPS = {"in", "not_in", "within", "not_within", "has_any", "has_all"}
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Problems = dict[str, list[str]]


# ---- fields ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    """A filterable field: its type, label, choices (enums) and whether it may be missing."""

    name: str
    type: str
    label: Any
    choices: tuple = ()
    nullable: bool = False
    item_type: str | None = None  # arrays: the type of their items
    extra: bool = False

    @property
    def ops(self) -> tuple[str, ...]:
        return OPS[self.type] + (("is_set",) if self.nullable else ())


INDIVIDUAL_FIELDS = {f.name: f for f in [
    FieldDef("sex", "enum", _l("Sex"), tuple(s.value for s in Sex)),
    FieldDef("age", "integer", _l("Age (years)")),
    FieldDef("age_months", "integer", _l("Age (months)")),
    FieldDef("birth_date", "date", _l("Date of birth")),
    FieldDef("birth_date_estimated", "boolean", _l("Date of birth estimated")),
    FieldDef("status", "enum", _l("Status"), tuple(s.value for s in PersonStatus if s != PersonStatus.erased)),
    FieldDef("relationship", "enum", _l("Relationship to the head"), tuple(r.value for r in Relationship),
             nullable=True),
    FieldDef("has_national_id", "boolean", _l("Has a national id")),
    FieldDef("has_phone", "boolean", _l("Has a phone number")),
    FieldDef("has_household", "boolean", _l("Belongs to a household")),
    FieldDef("location", "location", _l("Location")),
    FieldDef("registered_on", "date", _l("Registered on")),
]}
HOUSEHOLD_FIELDS = {f.name: f for f in [
    FieldDef("size", "integer", _l("Household size (active members)")),
    FieldDef("members", "integer", _l("Active members matching a condition")),
    FieldDef("status", "enum", _l("Household status"), ("active", "inactive")),
    FieldDef("has_head", "boolean", _l("Has a head")),
    FieldDef("location", "location", _l("Location")),
    FieldDef("registered_on", "date", _l("Registered on")),
]}
#: which prefixes lead where: individual -> household -> head (an individual), household -> head
PREFIXES = {"individual": {"household": "household"}, "household": {"head": "individual"}}


def schema_type(prop: Any) -> tuple[str | None, tuple, str | None]:
    """(field type, enum choices, item type) of one JSON Schema property; None when unfilterable."""
    if not isinstance(prop, dict):
        return None, (), None
    kind = prop.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    enum = prop.get("enum")
    choices = tuple(v for v in enum if v is not None) if isinstance(enum, list) else ()
    if kind is None and choices:
        if all(isinstance(v, str) for v in choices):
            kind = "string"
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in choices):
            kind = "number"
    if kind == "string":
        if choices:
            return "enum", choices, None
        return ("date" if prop.get("format") == "date" else "string"), (), None
    if kind in ("integer", "number", "boolean"):
        return kind, (), None
    if kind == "array":
        item_type, item_choices, _ = schema_type(prop.get("items") or {})
        if item_type in ("string", "enum", "integer", "number"):
            return "array", item_choices, item_type
    return None, (), None


def extra_fields(session: Session) -> dict[str, dict[str, FieldDef | None]]:
    """The tenant's extra fields by kind (``individual``, ``household``) and name, typed from the JSON
    Schemas in the ``registry`` setting (``extra_fields``); None for a property that cannot be filtered."""
    schemas = registry_settings(session).get("extra_fields")
    out: dict[str, dict[str, FieldDef | None]] = {"individual": {}, "household": {}}
    for kind in out:
        schema = schemas.get(kind) if isinstance(schemas, dict) else None
        props = schema.get("properties") if isinstance(schema, dict) else None
        for name, prop in (props or {}).items() if isinstance(props, dict) else ():
            ftype, choices, item_type = schema_type(prop)
            label = prop.get("title") if isinstance(prop, dict) and isinstance(prop.get("title"), str) else name
            out[kind][name] = (FieldDef(f"extra.{name}", ftype, label, choices, nullable=True, item_type=item_type,
                                        extra=True) if ftype else None)
    return out


def _base_fields(kind: str) -> dict[str, FieldDef]:
    return INDIVIDUAL_FIELDS if kind == "individual" else HOUSEHOLD_FIELDS


def _kind_of(target: str) -> str:
    return "individual" if target == "individuals" else "household"


def available_fields(session: Session, *, target: str) -> list[dict[str, Any]]:
    """Every field a filter on ``target`` may use, with its type, label, operators and choices
    (for the API and the console's help)."""
    _check_target(target)
    extras = extra_fields(session)
    out: list[dict[str, Any]] = []

    def walk(kind: str, prefix: str, chain: tuple[str, ...]) -> None:
        fields = _base_fields(kind)
        for fdef in list(fields.values()) + [f for f in extras[kind].values() if f is not None]:
            out.append({"field": prefix + fdef.name, "type": fdef.type, "label": str(fdef.label),
                        "ops": list(fdef.ops), "choices": list(fdef.choices)}
                       | ({"item_type": fdef.item_type} if fdef.item_type else {}))
        for word, next_kind in PREFIXES[kind].items():
            if word not in chain:
                walk(next_kind, f"{prefix}{word}.", chain + (word,))

    walk(_kind_of(target), "", ())
    return out


# ---- parsing and validation ---------------------------------------------------------------------


@dataclass
class Leaf:
    path: str
    chain: tuple[str, ...]  # ("household", "head"), ...
    kind: str  # the kind the field belongs to: "individual" or "household"
    fdef: FieldDef
    op: str
    value: Any
    where: Any = None  # members: a parsed individual filter


@dataclass
class Group:
    op: str  # "all" | "any" | "not"
    children: list


@dataclass
class _Parser:
    extras: dict[str, dict[str, FieldDef | None]]
    problems: Problems = field(default_factory=dict)
    codes: dict[str, list[str]] = field(default_factory=dict)  # location code -> paths naming it
    conditions: int = 0
    member_counts: int = 0

    def add(self, path: str, message: str) -> None:
        self.problems.setdefault(path or "filter", []).append(message)

    def node(self, spec: Any, path: str, kind: str, chains: bool, depth: int = 1):
        if depth > MAX_DEPTH:
            self.add(path, _("Nested too deep (at most %(n)d levels).", n=MAX_DEPTH))
            return None
        if not isinstance(spec, dict):
            self.add(path, _("expected an object: all, any, not, or a condition (field, op, value)"))
            return None
        groups = [k for k in ("all", "any", "not") if k in spec]
        is_leaf = "field" in spec or "op" in spec
        if len(groups) + is_leaf != 1:
            self.add(path, _("expected exactly one of all, any, not, or a condition (field, op, value)"))
            return None
        if groups:
            key = groups[0]
            for other in spec:
                if other != key:
                    self.add(_join(path, other), _("unknown key"))
            sub = spec[key]
            if key == "not":
                child = self.node(sub, _join(path, "not"), kind, chains, depth + 1)
                return Group("not", [child]) if child is not None else None
            if not isinstance(sub, list):
                self.add(_join(path, key), _("expected a list of conditions"))
                return None
            children = [self.node(item, f"{_join(path, key)}[{i}]", kind, chains, depth + 1)
                        for i, item in enumerate(sub)]
            return Group(key, children) if all(c is not None for c in children) else None
        return self.leaf(spec, path, kind, chains, depth)

    def leaf(self, spec: dict, path: str, kind: str, chains: bool, depth: int):
        self.conditions += 1
        if self.conditions == MAX_CONDITIONS + 1:
            self.add(path, _("Too many conditions (at most %(n)d).", n=MAX_CONDITIONS))
        allowed = {"field", "op", "value", "where"}
        for key in spec:
            if key not in allowed:
                self.add(_join(path, key), _("unknown key"))
        name = spec.get("field")
        if not isinstance(name, str) or not name:
            self.add(_join(path, "field"), _("expected a field name"))
            return None
        resolved = self.resolve(name, kind, chains)
        if resolved is None:
            self.add(_join(path, "field"), _("unknown field '%(name)s'", name=name[:MAX_TEXT]))
            return None
        chain, fkind, fdef = resolved
        op = spec.get("op")
        if not isinstance(op, str) or op not in fdef.ops:
            self.add(_join(path, "op"), _("expected one of: %(ops)s", ops=", ".join(fdef.ops)))
            return None
        where = None
        if "where" in spec:
            if fdef.name != "members":
                self.add(_join(path, "where"), _("only 'members' takes a 'where'"))
                return None
            where = self.node(spec["where"], _join(path, "where"), "individual", False, depth + 1)
            if where is None:
                return None
        if fdef.name == "members":
            self.member_counts += 1
            if self.member_counts == MAX_MEMBER_COUNTS + 1:
                self.add(path, _("At most %(n)d member counts in one filter.", n=MAX_MEMBER_COUNTS))
        if "value" not in spec:
            self.add(_join(path, "value"), _("a value is needed"))
            return None
        value = self.value(spec["value"], _join(path, "value"), fdef, op)
        if value is _BAD:
            return None
        return Leaf(path, chain, fkind, fdef, op, value, where)

    def resolve(self, name: str, kind: str, chains: bool):
        chain: tuple[str, ...] = ()
        rest = name
        while chains:
            word, dot, tail = rest.partition(".")
            if dot and word in PREFIXES[kind] and word not in chain:
                chain += (word,)
                kind = PREFIXES[kind][word]
                rest = tail
            else:
                break
        if rest.startswith("extra."):
            fdef = self.extras[kind].get(rest[len("extra."):])
            return (chain, kind, fdef) if fdef is not None else None
        fdef = _base_fields(kind).get(rest)
        return (chain, kind, fdef) if fdef is not None else None

    def value(self, raw: Any, path: str, fdef: FieldDef, op: str):
        if op == "is_set":
            return raw if isinstance(raw, bool) else self.bad(path, _("expected true or false"))
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                return self.bad(path, _("expected a list of two values [from, to]"))
            lo, hi = (self.scalar(v, f"{path}[{i}]", fdef) for i, v in enumerate(raw))
            if lo is _BAD or hi is _BAD:
                return _BAD
            if lo > hi:
                return self.bad(path, _("the first value must not be after the second"))
            return (lo, hi)
        if op in LIST_OPS:
            if not isinstance(raw, list) or not raw:
                return self.bad(path, _("expected a non-empty list"))
            if len(raw) > MAX_LIST:
                return self.bad(path, _("at most %(n)d values", n=MAX_LIST))
            values = [self.scalar(v, f"{path}[{i}]", fdef, item=op in ("has_any", "has_all"))
                      for i, v in enumerate(raw)]
            return _BAD if any(v is _BAD for v in values) else values
        if op in ("contains", "starts_with") and (not isinstance(raw, str) or not raw.strip()):
            return self.bad(path, _("expected some text"))
        return self.scalar(raw, path, fdef, item=op == "has")

    def scalar(self, raw: Any, path: str, fdef: FieldDef, *, item: bool = False):
        ftype = fdef.item_type if item else fdef.type
        choices = fdef.choices
        if ftype == "location":
            if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TEXT:
                return self.bad(path, _("expected a location code"))
            self.codes.setdefault(raw.strip(), []).append(path)
            return raw.strip()
        if ftype == "enum" or (ftype == "string" and choices):
            if raw not in choices or not isinstance(raw, str):
                return self.bad(path, _("expected one of: %(values)s", values=", ".join(map(str, choices))))
            return raw
        if ftype == "integer":
            if isinstance(raw, bool) or not isinstance(raw, int):
                return self.bad(path, _("expected a whole number"))
            if fdef.name in ("age", "age_months") and not 0 <= raw <= MAX_AGE * (12 if fdef.name == "age_months" else 1):
                return self.bad(path, _("expected an age between 0 and %(n)d", n=MAX_AGE))
            if abs(raw) > 10**15:
                return self.bad(path, _("expected a smaller number"))
            return raw
        if ftype == "number":
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw != raw or abs(raw) > 10**15:
                return self.bad(path, _("expected a number"))
            if choices and raw not in choices:
                return self.bad(path, _("expected one of: %(values)s", values=", ".join(map(str, choices))))
            return raw
        if ftype == "date":
            try:
                if not isinstance(raw, str) or not DATE_RE.match(raw):
                    raise ValueError
                return date.fromisoformat(raw)
            except ValueError:
                return self.bad(path, _("expected a date (YYYY-MM-DD)"))
        if ftype == "boolean":
            return raw if isinstance(raw, bool) else self.bad(path, _("expected true or false"))
        if ftype == "string":
            if not isinstance(raw, str) or len(raw) > MAX_TEXT:
                return self.bad(path, _("expected a text of at most %(n)d characters", n=MAX_TEXT))
            return raw
        return self.bad(path, _("this field cannot be filtered"))

    def bad(self, path: str, message: str):
        self.add(path, message)
        return _BAD


_BAD = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValidationError(_("Unknown target."), errors={"target": [_("expected one of: %(values)s",
                                                                            values=", ".join(TARGETS))]})


def _parse(session: Session, spec: Any, target: str):
    _check_target(target)
    parser = _Parser(extra_fields(session))
    tree = parser.node(spec, "", _kind_of(target), True)
    if parser.codes:
        known = set(session.execute(select(Location.code).where(Location.code.in_(sorted(parser.codes)))).scalars())
        for code, paths in parser.codes.items():
            if code not in known:
                for p in paths:
                    parser.add(p, _("no location with code '%(code)s'", code=code[:MAX_TEXT]))
    return tree, parser.problems


def validate_filter(session: Session, spec: Any, *, target: str) -> Problems:
    """Problems of a filter against the tenant's fields, keyed by JSON path inside the filter
    (``all[2].value``; ``filter`` for the filter itself); empty when the filter is valid."""
    return _parse(session, spec, target)[1]


def parse_json(text: str) -> tuple[Any, Problems]:
    """A filter typed as JSON text (the console's textarea): the value, or a problem saying where
    the JSON breaks."""
    try:
        return json.loads(text), {}
    except RecursionError:
        return None, {"filter": [_("Nested too deep (at most %(n)d levels).", n=MAX_DEPTH)]}
    except ValueError as err:
        line, col = getattr(err, "lineno", 0), getattr(err, "colno", 0)
        return None, {"filter": [_("not valid JSON (line %(line)d, column %(col)d)", line=line, col=col)]}


def raise_problems(problems: Problems) -> None:
    """422 (ValidationError) carrying the problems, when there are any."""
    if problems:
        raise ValidationError(_("The filter is not valid."), errors=problems)


# ---- compiling ----------------------------------------------------------------------------------


def _years_before(day: date, years: int) -> date:
    year = day.year - years
    return day.replace(year=year, day=min(day.day, monthrange(year, day.month)[1]))


def _months_before(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


class _Compiler:
    """Builds the FROM (the target table with the joins that conditions need) and the WHERE."""

    def __init__(self, target_kind: str, on_date: date, *, first_alias: int = 0) -> None:
        self.on_date = on_date
        self.n = first_alias  # aliases are numbered, so nested counts never reuse a name
        table = Individual.__table__ if target_kind == "individual" else Household.__table__
        self.base = table.alias(self._name("t"))
        self.kind = target_kind
        self.from_ = self.base
        self.aliases: dict[tuple[str, ...], Any] = {(): self.base}
        self.locations: dict[tuple[str, ...], Any] = {}
        self.counts: dict[tuple, Any] = {}
        self.cond: ColumnElement[bool] = true()  # the WHERE, once compiled

    def _name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def alias(self, chain: tuple[str, ...]):
        """The table of the record a chain of prefixes leads to, LEFT JOINed once."""
        if chain in self.aliases:
            return self.aliases[chain]
        parent = self.alias(chain[:-1])
        if chain[-1] == "household":
            alias = Household.__table__.alias(self._name("h"))
            self.from_ = self.from_.outerjoin(alias, alias.c.id == parent.c.household_id)
        else:  # head
            alias = Individual.__table__.alias(self._name("hd"))
            self.from_ = self.from_.outerjoin(alias, alias.c.id == parent.c.head_id)
        self.aliases[chain] = alias
        return alias

    def location(self, chain: tuple[str, ...]):
        """The location row of the record at ``chain`` (inner join for the target itself)."""
        if chain not in self.locations:
            record = self.alias(chain)
            loc = Location.__table__.alias(self._name("loc"))
            on = loc.c.id == record.c.location_id
            self.from_ = self.from_.join(loc, on) if not chain else self.from_.outerjoin(loc, on)
            self.locations[chain] = loc
        return self.locations[chain]

    def member_count(self, chain: tuple[str, ...], where, key: str):
        """Active members per household matching ``where``, LEFT JOINed on the household at ``chain``
        (an individual's household is joined through ``household_id`` without reading households)."""
        if (chain, key) not in self.counts:
            if chain and chain[-1] == "household":
                id_col = self.alias(chain[:-1]).c.household_id
            else:
                id_col = self.alias(chain).c.id
            sub = _Compiler("individual", self.on_date, first_alias=self.n)
            cond = sub.expr(where) if where is not None else true()
            member = sub.base
            agg = (select(member.c.household_id.label("household_id"), func.count().label("n"))
                   .select_from(sub.from_).where(member.c.status == PersonStatus.active.value,
                                                 member.c.household_id.is_not(None), cond)
                   .group_by(member.c.household_id).subquery(f"m{sub.n + 1}"))
            self.n = sub.n + 2
            self.from_ = self.from_.outerjoin(agg, agg.c.household_id == id_col)
            self.counts[(chain, key)] = (agg, id_col)
        return self.counts[(chain, key)]

    def where(self, tree) -> ColumnElement[bool]:
        cond = self.expr(tree) if tree is not None else true()
        if self.kind == "individual":
            cond = and_(self.base.c.status != PersonStatus.erased.value, cond)
        return cond

    def expr(self, node, negated: bool = False) -> ColumnElement[bool]:
        """``negated``: the node lies under an odd number of ``not`` (NULL must then become false)."""
        if isinstance(node, Group):
            if node.op == "not":
                return not_(self.expr(node.children[0], not negated))
            parts = [self.expr(c, negated) for c in node.children]
            if not parts:
                return true() if node.op == "all" else false()
            return and_(*parts) if node.op == "all" else or_(*parts)
        return self.leaf(node, negated)

    def leaf(self, leaf: Leaf, negated: bool = False) -> ColumnElement[bool]:
        op = leaf.op
        if op == "is_set":
            return self.is_set(leaf)
        positive = {"ne": "eq", "not_in": "in", "not_within": "within"}.get(op, op)
        cond, nullable = self.positive(leaf, positive)
        if positive != op:
            # ne / not_in / not_within are exactly the negation of eq / in / within (missing values included)
            return not_(func.coalesce(cond, false()) if nullable else cond)
        # where NULL and false filter alike (no negation above), the bare condition lets the planner turn
        # LEFT JOINs into inner joins and push conditions down; under a negation NULL must be false
        return func.coalesce(cond, false()) if nullable and negated else cond

    def is_set(self, leaf: Leaf) -> ColumnElement[bool]:
        record = self.alias(leaf.chain)
        if leaf.fdef.extra:
            present = func.coalesce(func.jsonb_typeof(record.c.extra[leaf.fdef.name[len("extra."):]]) != "null",
                                    false())
        else:
            present = record.c[leaf.fdef.name].is_not(None)
        cond = present if leaf.value else not_(present)
        return and_(record.c.id.is_not(None), cond) if leaf.chain else cond

    def positive(self, leaf: Leaf, op: str) -> tuple[ColumnElement[bool], bool]:
        """The condition for a non-negated operator, and whether it may be NULL."""
        name, value = leaf.fdef.name, leaf.value
        if name in ("size", "members"):
            agg, household_id = self.member_count(leaf.chain, leaf.where,
                                                  json.dumps(_canonical(leaf.where), sort_keys=True, default=str))
            if _holds_for_zero(op, value):
                cond, nullable = _compare(func.coalesce(agg.c.n, 0), op, value), False
            else:  # households without matching members (no row in the count) simply do not match
                cond, nullable = _compare(agg.c.n, op, value), True
            # no household, no size: an individual outside any household has none
            return (and_(household_id.is_not(None), cond) if leaf.chain else cond), nullable
        record = self.alias(leaf.chain)
        cond, nullable = self.value_condition(record, leaf, op)
        if leaf.chain:  # a LEFT JOINed record (household, head) may be missing: then nothing holds
            return and_(record.c.id.is_not(None), cond), True
        return cond, nullable

    def value_condition(self, record, leaf: Leaf, op: str) -> tuple[ColumnElement[bool], bool]:
        name, value = leaf.fdef.name, leaf.value
        if leaf.fdef.extra:
            return _extra(record.c.extra, name[len("extra."):], leaf.fdef, op, value), True
        if name in ("age", "age_months"):
            return self.age(record.c.birth_date, op, value, months=name == "age_months"), False
        if name == "location":
            loc = self.location(leaf.chain)
            roots = Location.__table__.alias(self._name("root"))
            ids = (select(func.array_agg(roots.c.id)).where(roots.c.code.in_(value))
                   .correlate(None).scalar_subquery())
            return loc.c.path.overlap(cast(ids, ARRAY(Integer))), True  # no roots: NULL
        if name in ("has_national_id", "has_phone", "has_household", "has_head"):
            column = record.c[{"has_national_id": "national_id", "has_phone": "phone",
                               "has_household": "household_id", "has_head": "head_id"}[name]]
            return (column.is_not(None) if value else column.is_(None)), False
        if name == "registered_on":
            return _compare(func.date(func.timezone("UTC", record.c.created_at)), op, value), False
        # plain columns: sex, birth_date, birth_date_estimated, status, relationship
        return _compare(record.c[name], op, value), leaf.fdef.nullable

    def age(self, birth_date, op: str, value, *, months: bool) -> ColumnElement[bool]:
        """Age at the reference date as a range of birth dates (index-friendly, no per-row arithmetic)."""
        before = _months_before if months else _years_before

        def at_least(n: int):  # age >= n  <=>  born on or before the day n years ago
            return birth_date <= before(self.on_date, n)

        def below(n: int):  # age < n
            return birth_date > before(self.on_date, n)

        if op == "between":
            return and_(at_least(value[0]), below(value[1] + 1))
        if op == "in":
            return or_(*[and_(at_least(v), below(v + 1)) for v in value])
        return {"eq": lambda: and_(at_least(value), below(value + 1)),
                "gte": lambda: at_least(value), "gt": lambda: at_least(value + 1),
                "lt": lambda: below(value), "lte": lambda: below(value + 1)}[op]()


def _canonical(node) -> Any:
    if node is None:
        return None
    if isinstance(node, Group):
        return [node.op, [_canonical(c) for c in node.children]]
    return [node.chain, node.fdef.name, node.op, node.value]


def _holds_for_zero(op: str, value) -> bool:
    return {"eq": lambda: value == 0, "lt": lambda: 0 < value, "lte": lambda: 0 <= value, "gt": lambda: 0 > value,
            "gte": lambda: 0 >= value, "between": lambda: value[0] <= 0 <= value[1],
            "in": lambda: 0 in value}[op]()


def _compare(column, op: str, value) -> ColumnElement[bool]:
    if op == "eq":
        return column == value
    if op == "lt":
        return column < value
    if op == "lte":
        return column <= value
    if op == "gt":
        return column > value
    if op == "gte":
        return column >= value
    if op == "between":
        return column.between(value[0], value[1])
    if op == "in":
        return column.in_(value)
    raise AssertionError(op)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _extra(column, key: str, fdef: FieldDef, op: str, value) -> ColumnElement[bool]:
    """A condition on one extra field (JSONB); values of the wrong JSON type count as missing."""
    node = column[key]  # extra -> :key (a bound parameter, never SQL text)
    jtype = func.jsonb_typeof(node)
    if fdef.type == "array":
        def has(v):
            return node.contains(cast(literal(json.dumps([v])), JSONB))
        if op == "has":
            return has(value)
        parts = [has(v) for v in value]
        return or_(*parts) if op == "has_any" else and_(*parts)
    if fdef.type == "boolean":
        return node == cast(literal(json.dumps(value)), JSONB)
    if fdef.type in ("integer", "number"):
        number = case((jtype == "number", cast(column[key].astext, Numeric)))
        return _compare(number, op, value)
    text = case((jtype == "string", column[key].astext))
    if fdef.type == "date":
        # ISO dates compare as text; other strings are no date
        text = case((column[key].astext.regexp_match(r"^\d{4}-\d{2}-\d{2}$"), text))
        value = [v.isoformat() for v in value] if isinstance(value, (list, tuple)) else value.isoformat()
        if op == "between":
            value = tuple(value)
    if op == "contains":
        return text.ilike("%" + _like_escape(value) + "%", escape="\\")
    if op == "starts_with":
        return text.ilike(_like_escape(value) + "%", escape="\\")
    return _compare(text, op, value)


def tenant_today(session: Session) -> date:
    """Today in the tenant's time zone (settings row ``timezone``; UTC without one)."""
    return datetime.now(ZoneInfo(tenant_zone(session))).date()


def _compiled(session: Session, spec: Any, target: str, on_date: date | None) -> _Compiler:
    tree, problems = _parse(session, spec, target)
    raise_problems(problems)
    compiler = _Compiler(_kind_of(target), on_date or tenant_today(session))
    compiler.cond = compiler.where(tree)
    return compiler


def compile_filter(session: Session, spec: Any, *, target: str, on_date: date | None = None,
                   principal: Principal | None = None) -> Select:
    """ONE SELECT of the ids (column ``id``) of the ``target`` rows ("individuals" or "households")
    that match ``spec`` on ``on_date`` (ages are counted on that day; default: today in the tenant's
    time zone). 422 (ValidationError with path-keyed errors) for an invalid filter. With a
    ``principal``, only rows within its location restriction."""
    compiler = _compiled(session, spec, target, on_date)
    stmt = select(compiler.base.c.id.label("id")).select_from(compiler.from_).where(compiler.cond)
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, compiler.base.c.location_id)
    return stmt


#: for the rest of the transaction: JIT compilation costs more than it saves on these one-pass counts,
#: and the member counts' hash aggregates over ~250,000 households must not spill to disk
COUNTING_SETTINGS = {"jit": "off", "work_mem": "64MB"}


def use_counting_settings(session: Session) -> None:
    """Tune the current transaction for running compiled filters over the whole registry (``SET LOCAL``
    of :data:`COUNTING_SETTINGS`, one round trip); callers running :func:`compile_filter`'s query
    set-wise over a big registry should call it too."""
    session.execute(select(*[func.set_config(k, v, True) for k, v in COUNTING_SETTINGS.items()]))


def preview(session: Session, spec: Any, *, target: str, principal: Principal, by_level: int | str | None = None,
            on_date: date | None = None) -> dict[str, Any]:
    """How many ``target`` rows match and how they spread over the locations of one level
    (``by_level``: index or name; default the second level, e.g. districts), counting only what the
    principal may see. ``{"count", "breakdown": [{"location", "name", "count"}], "level", ...}``;
    rows whose location lies above that level are in one entry with ``location`` None."""
    if principal is None:
        raise RuntimeError("preview needs the principal the counts are for")
    names = level_names(session)
    level = resolve_level(session, by_level, field="by_level") if by_level not in (None, "") else min(1, len(names) - 1)
    compiler = _compiled(session, spec, target, on_date)
    use_counting_settings(session)
    loc = compiler.location(())
    ancestor = loc.c.path[level + 1]
    inner = (select(ancestor.label("location_id"), func.count().label("n")).select_from(compiler.from_)
             .where(compiler.cond).group_by(ancestor))
    inner = restrict_to_locations(inner, principal, compiler.base.c.location_id).subquery("counts")
    place = Location.__table__.alias("place")
    rows = session.execute(select(inner.c.location_id, inner.c.n, place.c.code, place.c.name)
                           .outerjoin(place, place.c.id == inner.c.location_id)
                           .order_by(inner.c.n.desc(), place.c.name, place.c.code)).all()
    return {
        "target": target,
        "on_date": compiler.on_date.isoformat(),
        "level": level,
        "level_name": level_name(names, level),
        "count": sum(r.n for r in rows),
        "breakdown": [{"location": r.code, "name": r.name, "count": r.n} for r in rows],
    }


__all__ = ["TARGETS", "OPS", "FieldDef", "available_fields", "extra_fields", "validate_filter", "compile_filter",
           "preview", "parse_json", "raise_problems", "tenant_today",
           "use_counting_settings", "COUNTING_SETTINGS"]
