"""A marshmallow schema whose ``dump`` of flat rows follows a plan built once (hot list endpoints).

marshmallow serialises every value of every row through several layers (``Field.serialize`` →
``Field.get_value`` → the schema's accessor → ``utils.get_value`` → ``Field._serialize``); for a list
endpoint of 20 rows that is most of the view's own CPU (docs/decisions/0092). :class:`FastDumpSchema`
builds, once per schema instance, one step per dump field — the attribute to read, the output key
and the conversion of its field class — and applies them to SQLAlchemy ``Row`` objects and plain
objects. Its output is marshmallow's own (``tests/platform/test_fast_dump.py`` compares the two
field by field); everything else about the schema is unchanged, so flask-smorest documents it and
validates input with it as before.

The plan covers fields whose serialisation is marshmallow's own for ``Raw``/``Boolean`` (the value
as it is), ``String``, ``Integer``/``Float`` (not ``as_string``) and ``DateTime``/``Date``/``Time``;
any other field is serialised by marshmallow itself inside the plan.
Schemas with ``pre_dump``/``post_dump`` hooks or their own ``get_attribute``, and objects that
marshmallow would read by key (dicts and other mappings), take marshmallow's path unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP
from marshmallow.utils import ensure_text_type
from sqlalchemy.engine import Row

def _raw(value):
    return value


def _string(value):
    return None if value is None else ensure_text_type(value)


def _number(num_type: type) -> Callable[[Any], Any]:
    def convert(value):
        return None if value is None else num_type(value)

    return convert


def _temporal(field: fields.Field) -> Callable[[Any], Any]:
    fmt = field.format or field.DEFAULT_FORMAT
    func = field.SERIALIZATION_FUNCS.get(fmt)

    def convert(value):
        if value is None:
            return None
        return func(value) if func else value.strftime(fmt)

    return convert


_Temporal = getattr(fields, "_TemporalField", fields.DateTime)  # the base of DateTime, Date and Time


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    """What marshmallow's ``field._serialize`` does to a value, when the field class uses one of the
    implementations below unchanged (checked by identity, so a subclass that overrides anything, or a
    marshmallow release that changes them, falls back to marshmallow)."""
    kind = type(field)
    if kind.serialize is not fields.Field.serialize or kind.get_value is not fields.Field.get_value:
        return None
    impl = kind._serialize
    if impl is fields.Field._serialize:  # Raw, Boolean, ...: the value as it is
        return _raw
    if impl is fields.String._serialize:
        return _string
    if (impl is fields.Number._serialize and kind._format_num is fields.Number._format_num
            and not field.as_string and kind.num_type in (int, float)):
        return _number(kind.num_type)
    if impl is _Temporal._serialize and isinstance(field, _Temporal):
        return _temporal(field)
    return None


def _reads_by_attribute(obj: Any) -> bool:
    """Whether marshmallow's accessor reads ``obj`` with ``getattr`` (a ``Row`` refuses string keys
    with ``TypeError``, so marshmallow falls back to ``getattr`` for it too)."""
    return isinstance(obj, Row) or not hasattr(obj, "__getitem__")


class FastDumpSchema(Schema):
    """A ``Schema`` whose ``dump`` of rows and plain objects runs a precomputed plan (same output)."""

    _plan_cache: list | None | bool = False  # False: not built yet; None: marshmallow's path only

    def _dump_plan(self) -> list | None:
        plan = self._plan_cache
        if plan is False:
            plan = self._plan_cache = self._build_plan()
        return plan

    def _build_plan(self) -> list | None:
        if (self._hooks[PRE_DUMP] or self._hooks[POST_DUMP]
                or type(self).get_attribute is not Schema.get_attribute):
            return None
        plan = []
        for attr_name, field in self.dump_fields.items():
            key = field.data_key if field.data_key is not None else attr_name
            source = field.attribute if field.attribute is not None else attr_name
            convert = _converter(field) if field._CHECK_ATTRIBUTE and "." not in source else None
            if convert is None:
                plan.append((key, None, field, attr_name))  # marshmallow serialises this one
            else:
                default = field.dump_default
                plan.append((key, source, convert, default))
        return plan

    def _dump_one(self, obj: Any, plan: list) -> dict:
        ret = self.dict_class()
        for key, source, convert, extra in plan:
            if source is None:  # (key, None, field, attr_name)
                value = convert.serialize(extra, obj, accessor=self.get_attribute)
                if value is missing:
                    continue
                ret[key] = value
                continue
            value = getattr(obj, source, missing)
            if value is missing:
                value = extra() if callable(extra) else extra
                if value is missing:
                    continue
            ret[key] = convert(value)
        return ret

    def dump(self, obj: Any, *, many: bool | None = None):
        many = self.many if many is None else bool(many)
        plan = self._dump_plan()
        if plan is None or obj is None:
            return super().dump(obj, many=many)
        if not many:
            return self._dump_one(obj, plan) if _reads_by_attribute(obj) else super().dump(obj, many=False)
        items = obj if isinstance(obj, (list, tuple)) else list(obj)
        if not all(map(_reads_by_attribute, items)):
            return super().dump(items, many=True)
        return [self._dump_one(item, plan) for item in items]
