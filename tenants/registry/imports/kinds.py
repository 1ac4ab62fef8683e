"""What each kind of import reads: its columns (name, type, required, limits), their order in the
template files and the accepted header spellings.

A file's header names its columns; names are compared trimmed and case-insensitively, and an
import may carry a mapping ``{"file column": "field"}`` for files from other systems. The same
column names are written by the exports, so an exported file imports again unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import cached_property

from flask_babel import gettext as _

from schemehost.tenants.registry.imports.models import ImportKind
from schemehost.tenants.registry.models import CareType, FacilityLevel, FacilityStatus
from schemehost.tenants.registry.people import PersonStatus, Relationship, Sex


@dataclass(frozen=True)
class Column:
    name: str
    #: text, code, date, bool, int, enum (phones and national ids are ``text`` checked in Python)
    type: str = "text"
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    example: str = ""
    #: values accepted for an enum besides the choices themselves (lower case) -> choice
    synonyms: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KindSpec:
    kind: str
    columns: tuple[Column, ...]
    #: the column(s) that identify a row again on re-import
    key: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


CODE = 50
SEXES = {"f": "female", "m": "male", "o": "other", "femme": "female", "homme": "male", "feminin": "female",
         "masculin": "male", "féminin": "female"}
POPULATION = tuple(Column(n, "int") for n in ("male_population", "female_population", "other_population",
                                              "families"))

KINDS: dict[str, KindSpec] = {
    ImportKind.locations: KindSpec("locations", (
        Column("code", "code", True, CODE, example="N-R-T-U"),
        Column("name", "text", True, 200, example="Upper village"),
        Column("parent", "code", False, CODE, example="N-R-T"),
        Column("level", "text", False, 100, example="Village"),
        *POPULATION,
    ), key=("code",)),
    ImportKind.facilities: KindSpec("facilities", (
        Column("code", "code", True, CODE, example="HC-001"),
        Column("name", "text", True, 200, example="Upper health centre"),
        Column("level", "enum", True, choices=tuple(FacilityLevel), example="health_centre"),
        Column("care_type", "enum", True, choices=tuple(CareType), example="both"),
        Column("location", "code", True, CODE, example="N-R-T-U"),
        Column("contract_start", "date", example="2026-01-01"),
        Column("contract_end", "date", example="2026-12-31"),
        Column("status", "enum", choices=tuple(FacilityStatus), example="active"),
    ), key=("code",)),
    ImportKind.households: KindSpec("households", (
        Column("external_id", "text", True, 100, example="HH-000123"),
        Column("village", "code", True, CODE, example="N-R-T-U"),
        Column("address", "text", False, 500, example="Near the market"),
        Column("status", "enum", choices=(PersonStatus.active, PersonStatus.inactive), example="active"),
    ), key=("external_id",)),
    ImportKind.individuals: KindSpec("individuals", (
        Column("external_id", "text", True, 100, example="P-000456"),
        Column("household_external_id", "text", False, 100, example="HH-000123"),
        Column("relationship", "enum", choices=tuple(Relationship), example="head"),
        Column("given_name", "text", True, 100, example="Amina"),
        Column("family_name", "text", True, 100, example="Njoya"),
        Column("other_names", "text", False, 100),
        Column("sex", "enum", True, choices=tuple(Sex), example="female", synonyms=SEXES),
        Column("birth_date", "date", True, example="1990-05-17"),
        Column("birth_date_estimated", "bool", example="false"),
        Column("national_id", "text", False, 50),
        Column("phone", "text", False, 30, example="+237699123456"),
        Column("village", "code", True, CODE, example="N-R-T-U"),
        Column("scheme_number", "text", False, 50),
        Column("status", "enum", choices=(PersonStatus.active, PersonStatus.inactive, PersonStatus.deceased),
               example="active"),
    ), key=("external_id",)),
    ImportKind.prices: KindSpec("prices", (
        Column("price_list", "code", True, CODE, example="PL-2026"),
        Column("entry", "code", True, CODE, example="CONS-GEN"),
        Column("price", "int", True, example="1500"),
    ), key=("price_list", "entry")),
}


#: the kinds whose records carry tenant-defined extra fields, and the schema each reads
EXTRA_KINDS = {"individuals": "individual", "households": "household"}


@dataclass(frozen=True)
class ExtraColumn:
    """A tenant-defined extra field as an import/export column ``extra.<name>``."""

    name: str
    #: the property's JSON Schema (as in the ``registry`` setting's ``extra_fields``)
    schema: dict
    required: bool = False

    @property
    def column(self) -> str:
        return f"extra.{self.name}"

    @cached_property
    def type(self) -> str | None:
        """The value's type as the eligibility filters read it (``integer``, ``number``, ``boolean``,
        ``string``, ``enum``, ``date``, ``array``) or None (objects, mixed types: JSON text)."""
        from schemehost.tenants.registry.eligibility import schema_type

        return schema_type(self.schema)[0]

    @cached_property
    def item_type(self) -> str | None:
        from schemehost.tenants.registry.eligibility import schema_type

        return schema_type(self.schema)[2]

    @property
    def example(self) -> str:
        for key in ("examples", "enum"):
            values = self.schema.get(key)
            if isinstance(values, list) and values and values[0] is not None:
                return extra_text(values[0])
        return ""


def extra_columns(session, kind: str) -> list[ExtraColumn]:
    """The extra-field columns of ``kind`` for the session's tenant: one per property of its JSON
    Schema, by name (settings are stored as JSONB, which keeps no key order); none for kinds
    without extra fields, or without a schema."""
    from schemehost.tenants.registry.validation import extra_schema

    if kind not in EXTRA_KINDS:
        return []
    schema = extra_schema(session, EXTRA_KINDS[kind]) or {}
    props = schema.get("properties")
    required = schema.get("required") if isinstance(schema.get("required"), list) else []
    if not isinstance(props, dict):
        return []
    return [ExtraColumn(str(name), prop if isinstance(prop, dict) else {}, name in required)
            for name, prop in sorted(props.items())]


def extra_text(value) -> str:
    """An extra field's value as a cell: strings as they are, anything else as JSON (``true``,
    ``12.5``, ``["a", "b"]``): what PostgreSQL's ``extra ->> 'name'`` gives, which the exports
    write. :func:`extra_value` reads it back."""
    import json

    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_INT = re.compile(r"^-?[0-9]{1,18}$")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def extra_value(text: str, col: ExtraColumn):
    """A cell of ``col`` as the JSON value stored in ``extra``, typed by the schema (numbers as JSON
    numbers, booleans as booleans, dates as ISO text, ``a|b`` or a JSON array for arrays, JSON for
    objects). A cell that does not fit the type stays text: the schema check then reports it."""
    import json

    kind = col.type
    if kind in ("integer", "number"):
        return _number(text, kind)
    if kind == "boolean":
        low = text.lower()
        return True if low in TRUE_WORDS else False if low in FALSE_WORDS else text
    if kind == "array":
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                return text
        items = [t.strip() for t in text.split("|")]
        if col.item_type in ("integer", "number"):
            return [_number(t, col.item_type) for t in items]
        return items
    if kind is None and text[:1] in ("{", "[", '"') or kind is None and text in ("true", "false", "null"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    if kind is None and _NUMBER.match(text):
        return _number(text, "number")
    return text


def _number(text: str, kind: str):
    if _INT.match(text):
        return int(text)
    if kind == "number" and _NUMBER.match(text):
        value = float(text)
        return int(value) if value.is_integer() and "e" not in text.lower() and "." not in text else value
    return text


TRUE_WORDS = ("true", "yes", "y", "t", "1", "oui", "o", "vrai")
FALSE_WORDS = ("false", "no", "n", "f", "0", "non", "faux")


def spec_for(kind: str) -> KindSpec:
    from schemehost.platform.errors import ValidationError

    spec = KINDS.get(kind)
    if spec is None:
        message = _("Unknown kind '%(kind)s'; one of: %(kinds)s.", kind=kind, kinds=", ".join(KINDS))
        raise ValidationError(message, errors={"kind": [message]})
    return spec


def template_csv(kind: str, extras: list[ExtraColumn] | tuple = ()) -> bytes:
    """The template file of ``kind`` as CSV (UTF-8, header and one example row), with the
    tenant's extra-field columns (:func:`extra_columns`) after the fixed ones."""
    spec = spec_for(kind)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(spec.names + [x.column for x in extras])
    writer.writerow([c.example for c in spec.columns] + [x.example for x in extras])
    return buf.getvalue().encode("utf-8")


def template_xlsx(kind: str, extras: list[ExtraColumn] | tuple = ()) -> bytes:
    """The template file of ``kind`` as XLSX: header, one example row, and a second sheet
    describing each column (the tenant's extra-field columns last)."""
    import xlsxwriter

    spec = spec_for(kind)
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(kind)
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})
    for i, col in enumerate(spec.columns):
        sheet.write_string(0, i, col.name, bold)
        sheet.set_column(i, i, max(14, len(col.name) + 2), text)
        if col.example:
            sheet.write_string(1, i, col.example)
    for i, extra in enumerate(extras, start=len(spec.columns)):
        sheet.write_string(0, i, extra.column, bold)
        sheet.set_column(i, i, max(14, len(extra.column) + 2), text)
        if extra.example:
            sheet.write_string(1, i, extra.example)
    about = book.add_worksheet(_("Columns"))
    for i, head in enumerate((_("Column"), _("Required"), _("Kind of value"))):
        about.write_string(0, i, head, bold)
    for r, col in enumerate(spec.columns, start=1):
        about.write_string(r, 0, col.name)
        about.write_string(r, 1, _("yes") if col.required else _("no"))
        about.write_string(r, 2, describe(col))
    for r, extra in enumerate(extras, start=len(spec.columns) + 1):
        about.write_string(r, 0, extra.column)
        about.write_string(r, 1, _("yes") if extra.required else _("no"))
        about.write_string(r, 2, describe_extra(extra))
    about.set_column(0, 2, 30)
    book.close()
    return out.getvalue()


def describe(col: Column) -> str:
    """What a column holds, in words (template's second sheet, console help)."""
    if col.type == "date":
        return _("a date, YYYY-MM-DD")
    if col.type == "bool":
        return _("true or false")
    if col.type == "int":
        return _("a whole number")
    if col.type == "enum":
        return _("one of: %(values)s", values=", ".join(col.choices))
    if col.type == "code":
        return _("a code")
    if col.name == "phone":
        return _("a phone number (international, or national for the scheme's country)")
    if col.name == "national_id":
        return _("the national identifier")
    return _("text, at most %(n)s characters", n=col.max_length) if col.max_length else _("text")


def describe_extra(extra: ExtraColumn) -> str:
    """What an extra-field column holds, in words (its title first when the schema has one)."""
    kind = extra.type
    if kind == "enum":
        what = _("one of: %(values)s", values=", ".join(str(v) for v in extra.schema.get("enum") or ()))
    elif kind == "date":
        what = _("a date, YYYY-MM-DD")
    elif kind == "boolean":
        what = _("true or false")
    elif kind == "integer":
        what = _("a whole number")
    elif kind == "number":
        what = _("a number")
    elif kind == "array":
        what = _("values separated by |, or a JSON array")
    elif kind == "string":
        what = _("text")
    else:
        what = _("a JSON value")
    title = extra.schema.get("title")
    return f"{title}: {what}" if isinstance(title, str) and title else what
