"""FastDumpSchema gives marshmallow's own output (rows from PostgreSQL, ORM objects, fallbacks)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields, post_dump, pre_dump
from sqlalchemy import create_engine, text

from schemehost.platform.serialize import FastDumpSchema


class Methods:
    def both(self, obj):
        return f"{obj.key}={obj.n}"


def twins(declared: dict, **kwargs):
    """The same fields on a plain marshmallow Schema and on a FastDumpSchema."""
    slow = type("Slow", (Methods, Schema), dict(declared))(**kwargs)
    fast = type("Fast", (Methods, FastDumpSchema), dict(declared))(**kwargs)
    return slow, fast


def fields_of_every_kind():
    return {
        "key": fields.String(),
        "value": fields.Raw(),
        "updated_at": fields.DateTime(),
        "n": fields.Integer(),
        "flag": fields.Boolean(),
        "label": fields.String(data_key="name", attribute="key", dump_only=True),
        "absent": fields.String(),  # not in the row: left out
        "fallback": fields.String(dump_default="none"),  # not in the row: its default
        "n_text": fields.Integer(as_string=True),  # marshmallow serialises it (not in the plan)
        "stamp": fields.DateTime(format="%Y/%m/%d"),  # a custom format: marshmallow too
        "pair": fields.Method("both"),  # no attribute: marshmallow too
        "aware": fields.AwareDateTime(),  # a subclass: marshmallow too
    }


@pytest.fixture(scope="module")
def rows(database_url):
    """Rows of a real query: text, jsonb of every JSON type, timestamptz, integers, booleans, NULLs."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            yield conn.execute(text("""
                SELECT * FROM (VALUES
                  ('a', '{"x": [1, 2.5, null, "é"]}'::jsonb, '2026-01-02 03:04:05.123456+00'::timestamptz, 1, true,
                   '2026-01-02 03:04:05+01'::timestamptz, '2026-01-02 00:00:00+00'::timestamptz),
                  ('b', '"text"'::jsonb, NULL, NULL, NULL, NULL, NULL),
                  ('c', 'null'::jsonb, '1999-12-31 23:59:59+00'::timestamptz, -7, false,
                   '2000-01-01 00:00:00+00'::timestamptz, '2000-01-01 00:00:00+00'::timestamptz),
                  (NULL, '12345678901234567890'::jsonb, '2026-06-01 12:00:00+00'::timestamptz, 0, false,
                   '2026-06-01 12:00:00+00'::timestamptz, '2026-06-01 12:00:00+00'::timestamptz)
                ) AS r(key, value, updated_at, n, flag, aware, stamp)
            """)).all()
    finally:
        engine.dispose()


def test_rows_from_postgresql_dump_as_marshmallow_does(rows):
    slow, fast = twins(fields_of_every_kind())
    assert fast.dump(rows, many=True) == slow.dump(rows, many=True)
    assert [fast.dump(r) for r in rows] == [slow.dump(r) for r in rows]
    # the same keys in the same order (JSON objects keep their order)
    assert [list(d) for d in fast.dump(rows, many=True)] == [list(d) for d in slow.dump(rows, many=True)]


def test_many_schema_lists_generators_and_empty_results(rows):
    slow, fast = twins({"key": fields.String(), "n": fields.Integer()}, many=True)
    assert fast.dump(iter(rows)) == slow.dump(list(rows))
    assert fast.dump(tuple(rows)) == slow.dump(rows)
    assert fast.dump([]) == slow.dump([]) == []


def test_only_exclude_and_load_only_are_obeyed(rows):
    declared = {"key": fields.String(), "value": fields.Raw(), "secret": fields.String(load_only=True),
                "n": fields.Integer()}
    for kwargs in ({"only": ("key", "n")}, {"exclude": ("value",)}, {}):
        slow, fast = twins(declared, **kwargs)
        assert fast.dump(rows, many=True) == slow.dump(rows, many=True), kwargs
        assert all("secret" not in d for d in fast.dump(rows, many=True))


def test_plain_objects_and_bytes_and_callable_defaults():
    declared = {"key": fields.String(), "when": fields.DateTime(), "count": fields.Integer(dump_default=lambda: 3),
                "ok": fields.Boolean(truthy={"yes"}, falsy={"no"}), "day": fields.Date(), "ratio": fields.Float(),
                "at": fields.Time(), "money": fields.Decimal(places=2)}
    objs = [SimpleNamespace(key=b"caf\xc3\xa9", when=dt.datetime(2026, 1, 1, 9, 30), ok="yes", day=dt.date(2026, 2, 3),
                            ratio=1, at=dt.time(8, 5), money="1.234"),
            SimpleNamespace(key=12, when=None, count="41", ok="no", day=None, ratio="2.5", at=None, money=None),
            SimpleNamespace(key=None, count=2.9, ok=[], ratio=None)]
    slow, fast = twins(declared)
    assert fast.dump(objs, many=True) == slow.dump(objs, many=True)
    assert fast.dump(objs, many=True)[0] == {"key": "café", "when": "2026-01-01T09:30:00", "count": 3, "ok": "yes",
                                             "day": "2026-02-03", "ratio": 1.0, "at": "08:05:00",
                                             "money": slow.dump(objs[0])["money"]}


def test_mappings_and_hooked_schemas_take_marshmallows_path(rows):
    declared = {"key": fields.String(), "items": fields.String()}
    slow, fast = twins(declared)
    # read by key first, then by attribute (marshmallow's quirk: a dict without "items" gives its method)
    dicts = [{"key": "a", "items": "x"}, {"key": "b"}]
    assert fast.dump(dicts, many=True) == slow.dump(dicts, many=True)
    assert fast.dump(dicts[0]) == {"key": "a", "items": "x"}

    class Hooked(FastDumpSchema):
        key = fields.String()

        @pre_dump(pass_collection=False)
        def upper(self, obj, **kwargs):
            return {"key": (obj.key or "").upper()}

        @post_dump
        def mark(self, data, **kwargs):
            return {**data, "hooked": True}

    assert Hooked().dump(rows, many=True)[0] == {"key": "A", "hooked": True}

    class OwnAccessor(FastDumpSchema):
        key = fields.String()

        def get_attribute(self, obj, attr, default):
            return "always"

    assert OwnAccessor().dump(rows[0]) == {"key": "always"}


def test_a_bad_value_fails_as_in_marshmallow():
    slow, fast = twins({"n": fields.Integer()})
    bad = SimpleNamespace(n="not a number")
    with pytest.raises(ValueError):
        slow.dump(bad)
    with pytest.raises(ValueError):
        fast.dump(bad)
