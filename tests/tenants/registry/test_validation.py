"""The normalisers other registry parts import: names (Python equals the SQL that imports use),
phones, national ids, extra fields, scheme-number patterns."""

from __future__ import annotations

from datetime import date

import pytest

from schemehost.tenants.registry import validation as v
from schemehost.tenants.registry._unaccent import RULES

TRICKY = [
    ("José", "Ñúñez", None), ("  ÉLODIE\t", "d'Alembert–François ", "Œuvre Straße"), ("Zoë", "Ørsted", "Łukasz"),
    ("ΟΔΥΣΣΕΑΣ", "Σ", ""), ("İsmail", "Çelik", "Ağa"), ("Nguyễn", "Thị Minh", "Khai"), ("ﬁona", "Ｏ'Ｂｒｉｅｎ", "½"),
    ("Mohammed", "محمد", None), ("Иван", "Петров", "Ёлка"), ("e\u0301mile", "A\u00a0B", "x\u2003y\n z"),
    ("", "", ""), ("Đặng", "Hoàng", "Æsir"), ("ǅemal", "Ĳssel", "ŉ"), ("Ⅻ", "①", "㎏"), ("N'Diaye", "Ndiaye", None),
    ("A" * 100, "B" * 100, "ﷺ" * 30),
    # ASCII only (the SQL's short way): case, runs of ASCII white space, punctuation, the length cut
    ("  AMINA\t", "Njoya  \r\n", "x\fy\vz"), ("Jean-Paul", "O'Neil", "A.B. 2nd"), ("Z" * 200, "Y" * 200, None),
]


def test_python_and_sql_name_normalisation_agree(app, pg):
    sql = f"SELECT {v.name_search_sql('g', 'f', 'o')} FROM (SELECT %s::text AS g, %s::text AS f, %s::text AS o) t"
    for given, family, other in TRICKY:
        assert pg.execute(sql, (given, family, other)).fetchone()[0] == v.normalize_name(given, family, other)
    assert v.normalize_name("  ÉLODIE\t", "d'Alembert–François ", "Œuvre Straße") == \
        "elodie d'alembert-francois oeuvre strasse"
    assert v.normalize_name("José", "Ñúñez") == "jose nunez"


def test_every_unaccent_rule_gives_the_same_result_in_python_and_sql(app, pg):
    chars = [chr(cp) for cp in RULES]
    rows = pg.execute(f"SELECT c, {v.name_search_sql('c', 'NULL', 'NULL')} FROM unnest(%s::text[]) AS t(c)",
                      ([f"a{c}B" for c in chars],)).fetchall()
    different = [(c, got) for c, got in rows if got != v.normalize_name(c, None)]
    assert different == []


def test_phones_become_e164_or_a_clear_error():
    assert v.normalize_phone("699 12 34 56", "CM") == "+237699123456"
    assert v.normalize_phone("+33 6 12 34 56 78", None) == "+33612345678"
    assert v.normalize_phone("0033612345678", "CM") == "+33612345678"
    for bad, country, words in [("12", "CM", "not a valid phone number"), ("abc", "CM", "not a phone number"),
                                ("0612345678", None, "international format"), ("", "FR", "needed")]:
        with pytest.raises(ValueError) as err:
            v.normalize_phone(bad, country)
        assert words in str(err.value)


def test_national_ids_are_checked_where_the_country_has_a_rule():
    assert v.normalize_national_id("85.07.30-033.28", "BE") == "85073003328"
    assert v.normalize_national_id("756.9217.0769.85", "ch") == "7569217076985"
    assert v.normalize_national_id("  CM 1234/ab ", "CM") == "CM 1234/ab"  # no rule: stripped
    assert v.normalize_national_id(" x ", None) == "x"
    for bad, words in [("85.07.30-033.29", "check digits"), ("1234", "length"), ("85.07.30-033.2X", "format")]:
        with pytest.raises(ValueError) as err:
            v.normalize_national_id(bad, "BE")
        assert words in str(err.value)
    with pytest.raises(ValueError):
        v.normalize_national_id("x" * 51, "CM")
    assert all(v.national_id_module(cc) is not None for cc in v.NATIONAL_ID_MODULES)


def test_extra_fields_are_checked_against_the_schema():
    schema = {"type": "object", "properties": {"occupation": {"enum": ["farmer", "trader"]},
                                               "children": {"type": "integer", "minimum": 0},
                                               "since": {"type": "string", "format": "date"}},
              "required": ["occupation"], "additionalProperties": False}
    assert v.validate_extra("individual", {"occupation": "farmer", "children": 2}, schema) == []
    assert v.validate_extra("individual", {"children": -1, "x": 1, "since": "yesterday"}, schema) == [
        ("extra.occupation", "This field is required."), ("extra.x", "Unknown field."),
        ("extra.children", "At least 0."), ("extra.since", "Not a valid date.")]
    assert v.validate_extra("household", [], schema) == [("extra", "An object of named fields.")]
    assert v.validate_extra("household", {"anything": 1}, None) == []
    assert v.validate_extra("household", {}, {"type": "nonsense"})[0][0] == "extra"


def test_scheme_number_patterns_in_python_and_sql(pg):
    assert v.check_scheme_pattern("{seq:08d}") is None and v.check_scheme_pattern("CM-{year}-{seq:06d}") is None
    for bad in ("", "{seq}{seq}", "ABC", "{seq:x}", "{name}{seq}", "A B{seq}", "X" * 45 + "{seq}"):
        assert v.check_scheme_pattern(bad), bad
    for pattern in ("{seq:08d}", "CM-{year}-{seq:06d}", "{seq}/A.b_c"):
        for seq in (1, 123456789):
            sql = pg.execute(f"SELECT {v.scheme_number_sql(pattern, str(seq))}").fetchone()[0]
            assert sql == v.format_scheme_number(pattern, seq, date.today().year)
