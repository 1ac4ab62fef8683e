"""Normalisers and checks for people's data, shared by the people services, imports, eligibility
filters and personal-data tools. The functions taking values only are pure (no database, no app
context needed: messages go through Flask-Babel, which falls back to English outside a request).

Names (``normalize_name`` / ``NAME_SEARCH_SQL``)
    ``individuals.name_search`` is "given family other", made comparable: Unicode NFKD, then
    PostgreSQL's ``unaccent`` rules (copied in :mod:`._unaccent`), then combining marks
    U+0300–U+036F removed, then lower-cased character by character, then runs of ASCII white space
    (space, tab, CR, LF, FF, VT) collapsed to one space and the ends trimmed, then cut at 302
    characters. ``NAME_SEARCH_SQL`` is the same computation in SQL (``normalize(..., NFKD)``,
    ``shared.unaccent``, ``regexp_replace``, ``lower``), so a set-wise import writes exactly what
    the Python services write; tests compare both on tricky names and on every unaccent rule.
    Lower-casing in SQL follows the database's ``LC_CTYPE`` (C.UTF-8 and the other UTF-8 locales
    lower every script; a bare ``C`` locale would lower ASCII only).

Identifiers
    ``normalize_phone`` gives E.164 (``phonenumbers``, the tenant's country for national numbers);
    ``normalize_national_id`` gives the compact form checked by ``python-stdnum`` where the
    tenant's country has a personal-identifier rule (:data:`NATIONAL_ID_MODULES`), else the value
    stripped. Both raise ``ValueError`` with a message meant for the person who typed the value.

Scheme numbers
    A pattern such as ``{seq:08d}`` or ``CM-{year}-{seq:06d}``: literal text (letters, digits,
    ``-``, ``/``, ``_``, ``.``), exactly one ``{seq}`` or ``{seq:0Nd}``, optionally ``{year}``.
    ``next_scheme_numbers`` draws from the tenant's sequence ``scheme_number_seq``;
    ``scheme_number_sql`` renders the same pattern as an SQL expression for set-wise imports.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from functools import lru_cache
from typing import Any

import phonenumbers
from flask_babel import gettext as _
from sqlalchemy import Sequence, func, select
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER
from schemehost.tenants.registry._unaccent import RULES as _UNACCENT

# ---------------------------------------------------------------------------------------------- names

#: the length of ``individuals.name_search``
NAME_SEARCH_LENGTH = 302
_COMBINING = re.compile("[\u0300-\u036f]")
_SPACES = re.compile("[ \t\n\r\f\v]+")


def normalize_name(given: str | None, family: str | None, other: str | None = None) -> str:
    """The searchable form of a person's name: "given family other", accent-free, lower case,
    single spaces (see the module's docstring; equal to :data:`NAME_SEARCH_SQL`)."""
    joined = " ".join(part for part in (given, family, other) if part is not None)
    value = unicodedata.normalize("NFKD", joined).translate(_UNACCENT)
    value = _COMBINING.sub("", value)
    value = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in value)
    return _SPACES.sub(" ", value).strip(" ")[:NAME_SEARCH_LENGTH]


def normalize_query(value: str | None) -> str:
    """A search text normalised like names (one string instead of the three parts)."""
    return normalize_name(value or "", None)


def name_search_sql(given: str = "given_name", family: str = "family_name", other: str = "other_names") -> str:
    """:data:`NAME_SEARCH_SQL` over other column expressions (e.g. a staging table's ``s.first_name``).

    A name written in ASCII only (most registries' names) skips NFKD, ``unaccent`` and the
    combining marks, which leave ASCII as it is: a third of the cost of a million names."""
    joined = f"concat_ws(' ', {given}, {family}, {other})"
    spaces = "'[ \\t\\n\\r\\f\\v]+', ' ', 'g'"
    full = (f"regexp_replace(shared.unaccent(normalize({joined}, NFKD)), '[\\u0300-\\u036f]', '', 'g')")
    return (f"left(btrim(regexp_replace(lower(CASE WHEN octet_length({joined}) = length({joined}) "
            f"THEN {joined} ELSE {full} END), {spaces}), ' '), {NAME_SEARCH_LENGTH})")


#: SQL expression over ``given_name``, ``family_name``, ``other_names`` equal to :func:`normalize_name`
NAME_SEARCH_SQL = name_search_sql()

# ---------------------------------------------------------------------------------------------- phones

PHONE_LENGTH = 20


def normalize_phone(value: str, country: str | None) -> str:
    """``value`` in E.164 (``+237699123456``); national numbers are read for ``country`` (ISO alpha-2).

    Raises ValueError with a message for the person who typed it."""
    raw = (value or "").strip()
    if not raw:
        raise ValueError(_("A phone number is needed."))
    region = country.upper() if country else None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        if region is None and not raw.startswith(("+", "00")):
            raise ValueError(_("Give the number in international format, starting with + and the country code."))
        raise ValueError(_("This is not a phone number.")) from None
    if not phonenumbers.is_valid_number(number):
        if region and phonenumbers.region_code_for_number(number) not in (region, None):
            raise ValueError(_("This is not a valid phone number."))
        raise ValueError(_("This is not a valid phone number for %(country)s.",
                           country=phonenumbers.region_code_for_number(number) or region or "?"))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) > PHONE_LENGTH:
        raise ValueError(_("This is not a valid phone number."))
    return e164

# --------------------------------------------------------------------------------------- national ids


NATIONAL_ID_LENGTH = 50

#: country (ISO alpha-2, lower case) -> the python-stdnum module of its personal identifier
NATIONAL_ID_MODULES: dict[str, str] = {
    "ar": "dni", "at": "vnr", "be": "nn", "bg": "egn", "br": "cpf", "ca": "sin", "ch": "ssn", "cl": "run",
    "cn": "ric", "cr": "cpf", "cz": "rc", "de": "idnr", "dk": "cpr", "do": "cedula", "ec": "ci", "ee": "ik",
    "es": "dni", "fi": "hetu", "fr": "nir", "gr": "amka", "hr": "oib", "id": "nik", "ie": "pps", "il": "idnr",
    "in": "aadhaar", "is": "kennitala", "it": "codicefiscale", "jp": "in_", "kr": "rrn", "lt": "asmens",
    "mu": "nid", "mx": "curp", "my": "nric", "nl": "bsn", "no": "fodselsnummer", "pe": "cui", "pk": "cnic",
    "pl": "pesel", "pt": "cc", "ro": "cnp", "se": "personnummer", "si": "emso", "sk": "rc", "th": "pin",
    "tr": "tckimlik", "ua": "rntrc", "us": "ssn", "za": "idnr",
}


@lru_cache(maxsize=None)
def national_id_module(country: str | None):
    """The python-stdnum module validating ``country``'s personal identifier, or None (no rule)."""
    if not country:
        return None
    name = NATIONAL_ID_MODULES.get(country.lower())
    if name is None:
        return None
    from stdnum.util import get_cc_module

    try:
        return get_cc_module(country.lower(), name)
    except ImportError:  # pragma: no cover - a python-stdnum without the module
        return None


def normalize_national_id(value: str, country: str | None) -> str:
    """``value`` in the compact form of ``country``'s identifier, checked (format, length, check
    digits) where a rule exists; otherwise the value stripped. Raises ValueError with a message."""
    raw = (value or "").strip()
    if not raw:
        raise ValueError(_("A national identifier is needed."))
    module = national_id_module(country)
    if module is not None:
        from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, \
            ValidationError as StdnumError

        try:
            raw = module.validate(raw)
        except InvalidChecksum:
            raise ValueError(_("The check digits do not match: a digit may be mistyped.")) from None
        except InvalidLength:
            raise ValueError(_("The identifier has the wrong length.")) from None
        except (InvalidFormat, InvalidComponent):
            raise ValueError(_("The identifier is not in the expected format.")) from None
        except StdnumError:
            raise ValueError(_("This is not a valid national identifier.")) from None
    if len(raw) > NATIONAL_ID_LENGTH:
        raise ValueError(_("At most %(n)d characters.", n=NATIONAL_ID_LENGTH))
    return raw

# -------------------------------------------------------------------------------------- extra fields


def validate_extra(kind: str, data: Any, schema: dict | None) -> list[tuple[str, str]]:
    """Problems of a household's or individual's extra fields against the tenant's JSON Schema.

    ``kind`` is "individual" or "household". Returns ``(path, message)`` pairs, ``path`` being the
    field name for the error dict: ``"extra"`` for the whole object, ``"extra.<prop>"`` (and
    ``"extra.<prop>.<index>"`` deeper). No schema: any JSON object is accepted."""
    if not isinstance(data, dict):
        return [("extra", _("An object of named fields."))]
    if not schema:
        return []
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return [("extra", _("The scheme's %(kind)s extra-field schema is invalid; ask an administrator.",
                            kind=kind))]
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    problems: list[tuple[str, str]] = []
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = ".".join(["extra", *(str(p) for p in error.absolute_path)])
        problems.extend(_explain(error, path))
    return problems


def _explain(error, path: str) -> list[tuple[str, str]]:
    return [(p, schema_message(keyword, expected, fallback)) for p, keyword, expected, fallback in schema_problems(error, path)]


def schema_problems(error, path: str = "extra") -> list[tuple[str, str, Any, str]]:
    """One jsonschema error as ``(path, keyword, expected, fallback message)`` rows: ``required`` and
    ``additionalProperties`` give one row per field concerned. :func:`schema_message` words a row
    (kept apart so that a stored report can be worded again in the reader's language)."""
    v, expected = error.validator, error.validator_value
    if v == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        return [(f"{path}.{name}", "required", None, "") for name in expected if name not in present]
    if v == "additionalProperties" and isinstance(error.instance, dict):
        known = set((error.schema.get("properties") or {}))
        return [(f"{path}.{name}", "additionalProperties", None, "") for name in error.instance if name not in known]
    if v in ("type", "enum", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength",
             "maxLength", "pattern", "format"):
        return [(path, v, expected, "")]
    return [(path, str(v), None, error.message)]


def schema_message(keyword: str, expected: Any, fallback: str = "") -> str:
    """The message of one extra-field problem (see :func:`schema_problems`) in the current language."""
    if keyword == "required":
        return _("This field is required.")
    if keyword == "additionalProperties":
        return _("Unknown field.")
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return _("Expected: %(types)s.", types=", ".join(str(k) for k in kinds))
    if keyword == "enum":
        return _("One of: %(values)s.", values=", ".join(str(x) for x in expected or ()))
    if keyword in ("minimum", "exclusiveMinimum"):
        return _("At least %(n)s.", n=expected)
    if keyword in ("maximum", "exclusiveMaximum"):
        return _("At most %(n)s.", n=expected)
    if keyword == "minLength":
        return _("At least %(n)s characters.", n=expected)
    if keyword == "maxLength":
        return _("At most %(n)s characters.", n=expected)
    if keyword == "pattern":
        return _("Not in the expected format.")
    if keyword == "format":
        return _("Not a valid %(format)s.", format=expected)
    return fallback or keyword


def extra_validator(schema: dict | None):
    """A jsonschema validator of the tenant's extra fields (with format checks), or None without a
    schema or with an invalid one (callers then report :func:`validate_extra`'s problem)."""
    if not schema:
        return None
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return None
    return Draft202012Validator(schema, format_checker=FormatChecker())

# ------------------------------------------------------------------------------------- scheme numbers


DEFAULT_SCHEME_PATTERN = "{seq:08d}"
_SCHEME_SEQ = Sequence("scheme_number_seq", schema=TENANT_PLACEHOLDER)
SCHEME_NUMBER_LENGTH = 50
_PATTERN_TOKEN = re.compile(r"\{seq\}|\{seq:0([1-9]|1[0-9]|20)d\}|\{year\}|[A-Za-z0-9/_.-]+")


def check_scheme_pattern(pattern: Any) -> str | None:
    """None when ``pattern`` is a usable scheme-number pattern, else the reason."""
    if not isinstance(pattern, str) or not pattern:
        return _("A pattern such as {seq:08d} or CM-{year}-{seq:06d}.")
    pos, seqs = 0, 0
    while pos < len(pattern):
        m = _PATTERN_TOKEN.match(pattern, pos)
        if not m:
            return _("Only letters, digits, '-', '/', '_', '.', {seq}, {seq:0Nd} and {year} may be used.")
        seqs += m.group(0).startswith("{seq")
        pos = m.end()
    if seqs != 1:
        return _("The pattern needs exactly one {seq} or {seq:0Nd}.")
    if len(pattern.format(seq=10**19, year=9999)) > SCHEME_NUMBER_LENGTH:
        return _("Numbers made from this pattern would be too long.")
    return None


def format_scheme_number(pattern: str, seq: int, year: int | None = None) -> str:
    return pattern.format(seq=seq, year=year if year is not None else date.today().year)


def next_scheme_numbers(session: Session, n: int, pattern: str | None = None) -> list[str]:
    """``n`` new scheme numbers from the tenant's sequence, formatted with ``pattern`` (default: the
    tenant's ``registry.scheme_number_pattern``), in increasing sequence order."""
    if n <= 0:
        return []
    pattern = pattern or scheme_pattern(session)
    if check_scheme_pattern(pattern):
        raise ValueError(check_scheme_pattern(pattern))
    seqs = session.execute(select(_SCHEME_SEQ.next_value()).select_from(func.generate_series(1, n))).scalars().all()
    year = date.today().year
    return [format_scheme_number(pattern, s, year) for s in sorted(seqs)]


def scheme_number_sql(pattern: str, seq: str) -> str:
    """``pattern`` as an SQL expression over ``seq`` (for INSERT ... SELECT); the same numbers as
    :func:`format_scheme_number` (the year is the database's current year). ``seq`` is a value
    already drawn from ``scheme_number_seq`` (a column, a literal), never a ``nextval()`` call: a
    padded pattern uses it twice, and each call would draw a new number."""
    problem = check_scheme_pattern(pattern)
    if problem:
        raise ValueError(problem)
    parts = []
    for m in _PATTERN_TOKEN.finditer(pattern):
        token = m.group(0)
        if token == "{seq}":
            parts.append(f"({seq})::text")
        elif token.startswith("{seq:"):
            width = int(m.group(1))
            parts.append(f"lpad(({seq})::text, greatest({width}, length(({seq})::text)), '0')")
        elif token == "{year}":
            parts.append("extract(year FROM current_date)::int::text")
        else:
            parts.append("'" + token + "'")  # letters, digits, - / _ . only: nothing to escape
    return "(" + " || ".join(parts) + ")"

# ------------------------------------------------------------------------------------ tenant settings


def registry_settings(session: Session) -> dict[str, Any]:
    """The tenant's ``registry`` setting (a dict; empty when missing or malformed)."""
    from schemehost.tenants.core.models import Setting

    value = session.execute(select(Setting.value).where(Setting.key == "registry")).scalar_one_or_none()
    return value if isinstance(value, dict) else {}


def tenant_country(session: Session) -> str | None:
    """The tenant's country (setting ``country``, ISO alpha-2, upper case) or None."""
    from schemehost.tenants.core.models import Setting

    value = session.execute(select(Setting.value).where(Setting.key == "country")).scalar_one_or_none()
    return value.upper() if isinstance(value, str) and len(value) == 2 and value.isalpha() else None


def extra_schema(session: Session, kind: str) -> dict | None:
    """The tenant's JSON Schema for ``kind``'s ("individual"/"household") extra fields, or None."""
    schemas = registry_settings(session).get("extra_fields")
    schema = schemas.get(kind) if isinstance(schemas, dict) else None
    return schema if isinstance(schema, dict) and schema else None


def scheme_pattern(session: Session) -> str:
    """The tenant's scheme-number pattern (``registry.scheme_number_pattern``), default ``{seq:08d}``."""
    pattern = registry_settings(session).get("scheme_number_pattern")
    return pattern if isinstance(pattern, str) and check_scheme_pattern(pattern) is None else DEFAULT_SCHEME_PATTERN
