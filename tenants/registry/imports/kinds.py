"""What each kind of import reads: its columns (name, type, required, limits), their order in the
template files and the accepted header spellings.

A file's header names its columns; names are compared trimmed and case-insensitively, and an
import may carry a mapping ``{"file column": "field"}`` for files from other systems. The same
column names are written by the exports, so an exported file imports again unchanged.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

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


def spec_for(kind: str) -> KindSpec:
    from schemehost.platform.errors import ValidationError

    spec = KINDS.get(kind)
    if spec is None:
        message = _("Unknown kind '%(kind)s'; one of: %(kinds)s.", kind=kind, kinds=", ".join(KINDS))
        raise ValidationError(message, errors={"kind": [message]})
    return spec


def template_csv(kind: str) -> bytes:
    """The template file of ``kind`` as CSV (UTF-8, header and one example row)."""
    spec = spec_for(kind)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(spec.names)
    writer.writerow([c.example for c in spec.columns])
    return buf.getvalue().encode("utf-8")


def template_xlsx(kind: str) -> bytes:
    """The template file of ``kind`` as XLSX: header, one example row, and a second sheet
    describing each column."""
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
    about = book.add_worksheet(_("Columns"))
    for i, head in enumerate((_("Column"), _("Required"), _("Kind of value"))):
        about.write_string(0, i, head, bold)
    for r, col in enumerate(spec.columns, start=1):
        about.write_string(r, 0, col.name)
        about.write_string(r, 1, _("yes") if col.required else _("no"))
        about.write_string(r, 2, describe(col))
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
