"""Demo data: a realistic registry of a given size in one tenant, generated set-wise.

:func:`generate_registry` fills a tenant schema with a location tree following the tenant's levels
(the template's demo places first, then generated regions, districts and villages), health
facilities, and households of realistic sizes (a head, often a spouse, children, sometimes a parent,
grandchild or other relative) with names from ``faker`` in a locale fitting the tenant's country,
phone numbers valid for that country (E.164) and national identifiers with valid check digits where
the country has a rule (decision 0123). Rows go in with ``COPY`` (ids drawn from the sequences first),
never row by row through the ORM; one audit entry per run.

The same ``seed`` on the same starting state gives the same people (names, dates, phones, ids).
"""

from __future__ import annotations

import logging
import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import Connection, text

from schemehost.platform.db import TENANT_PLACEHOLDER
from schemehost.platform.tenancy import quote_ident
from schemehost.tenants.identity import audit
from schemehost.tenants.registry.validation import (DEFAULT_SCHEME_PATTERN, check_scheme_pattern,
                                                    format_scheme_number, national_id_module, normalize_name,
                                                    normalize_national_id)

log = logging.getLogger("schemehost.registry.demo")

#: Faker locale per country (ISO alpha-2). Faker has no locale for several countries the scheme
#: templates serve; the nearest one in language and naming is used, and a few countries get their own
#: short name lists below (decision 0123).
LOCALES: dict[str, str] = {
    "TZ": "sw", "KE": "en_KE", "UG": "en_KE", "RW": "fr_FR", "NG": "en_NG", "GH": "tw_GH", "ZA": "zu_ZA",
    "CM": "fr_FR", "SN": "fr_FR", "CI": "fr_FR", "BF": "fr_FR", "ML": "fr_FR", "NE": "fr_FR", "TD": "fr_FR",
    "BJ": "fr_FR", "TG": "fr_FR", "CD": "fr_FR", "GM": "en_GB", "SL": "en_GB", "LR": "en_US", "ET": "am_ET",
    "NP": "ne_NP", "IN": "en_IN", "BD": "bn_BD", "PK": "en_PK", "PH": "en_PH", "TH": "th_TH", "VN": "vi_VN",
    "ID": "id_ID", "BR": "pt_BR", "MX": "es_MX", "CO": "es_CO", "FR": "fr_FR", "NL": "nl_NL", "US": "en_US",
    "GB": "en_GB",
}
#: By the tenant's language when no country is known.
LANGUAGE_LOCALES = {"fr": "fr_FR", "en": "en_US", "es": "es_ES", "pt": "pt_BR", "sw": "sw"}

#: Names faker lacks for some countries: (female given, male given, family) names.
NAMES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "CM": (["Aïcha", "Brigitte", "Christelle", "Delphine", "Estelle", "Flore", "Grâce", "Hortense", "Irène",
            "Josiane", "Laure", "Mireille", "Nadège", "Odile", "Pélagie", "Rachel", "Sandrine", "Yvette"],
           ["Alain", "Bertrand", "Blaise", "Christian", "Emmanuel", "Fabrice", "Gaston", "Hervé", "Jean-Pierre",
            "Joseph", "Martin", "Patrice", "Roger", "Samuel", "Serge", "Théodore", "Yannick", "Zacharie"],
           ["Abena", "Atangana", "Bassong", "Biya", "Eboa", "Essomba", "Fotso", "Kamga", "Kemajou", "Manga",
            "Mbarga", "Mballa", "Ndongo", "Ngo Bayiha", "Ngono", "Njoya", "Nkoulou", "Onana", "Tchakounté",
            "Tchoupo", "Wandji", "Zambo"]),
    "GM": (["Adama", "Awa", "Binta", "Fatou", "Haddy", "Isatou", "Jainaba", "Kaddy", "Mariama", "Ndey",
            "Oumie", "Sainabou"],
           ["Alieu", "Bakary", "Ebrima", "Foday", "Lamin", "Modou", "Momodou", "Musa", "Omar", "Ousman",
            "Pa", "Sulayman"],
           ["Bah", "Bojang", "Camara", "Ceesay", "Darboe", "Jallow", "Jammeh", "Jatta", "Manneh", "Njie",
            "Sanneh", "Sowe", "Touray"]),
}

#: Place names faker lacks for some countries.
PLACES: dict[str, list[str]] = {
    "CM": ["Akonolinga", "Bafia", "Bafoussam", "Bamenda", "Bangangté", "Batouri", "Bertoua", "Dschang", "Ebolowa",
           "Edéa", "Foumban", "Garoua", "Kribi", "Kumba", "Limbé", "Maroua", "Mbalmayo", "Mbouda", "Mokolo",
           "Ngaoundéré", "Nkongsamba", "Obala", "Sangmélima", "Tibati", "Yagoua", "Yokadouma"],
    "GM": ["Bakau", "Basse", "Brikama", "Brufut", "Farafenni", "Gunjur", "Janjanbureh", "Kerewan", "Kuntaur",
           "Lamin", "Mansa Konko", "Serekunda", "Soma", "Sukuta", "Tanji"],
    "TZ": ["Babati", "Bagamoyo", "Chato", "Geita", "Ifakara", "Igunga", "Kahama", "Kasulu", "Kibaha", "Kilosa",
           "Korogwe", "Mafinga", "Makambako", "Masasi", "Mpanda", "Mpwapwa", "Njombe", "Nzega", "Songea",
           "Sumbawanga", "Tunduma", "Urambo", "Vwawa"],
}

#: Household sizes (members) and how often they occur: a mean near 4.8, as in rural surveys.
SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
SIZE_WEIGHTS = (6, 9, 13, 16, 16, 13, 9, 7, 5, 3, 2, 1)

FACILITY_NAMES = {
    "fr": {"dispensary": "Dispensaire de {}", "health_centre": "Centre de santé de {}",
           "hospital": "Hôpital de district de {}"},
    "en": {"dispensary": "{} Dispensary", "health_centre": "{} Health Centre", "hospital": "{} District Hospital"},
}


@dataclass
class DemoResult:
    locations: int = 0
    facilities: int = 0
    households: int = 0
    individuals: int = 0
    country: str | None = None
    locale: str = "en_US"
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"locations": self.locations, "facilities": self.facilities, "households": self.households,
                "individuals": self.individuals}


# ---- country, locale, phones, national ids ---------------------------------------------------------


@lru_cache(maxsize=None)
def _zone_countries() -> dict[str, str]:
    """IANA time zone -> country, from the system's zone.tab (empty when it is missing)."""
    import zoneinfo

    for base in zoneinfo.TZPATH:
        path = Path(base) / "zone.tab"
        if path.exists():
            pairs = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
            return {p[2]: p[0] for p in pairs if len(p) >= 3}
    return {}


def country_for(settings: dict[str, Any]) -> str | None:
    """The tenant's country: its ``country`` setting, else the country of its time zone."""
    value = settings.get("country")
    if isinstance(value, str) and len(value) == 2 and value.isalpha():
        return value.upper()
    return _zone_countries().get(str(settings.get("timezone") or ""))


def locale_for(country: str | None, language: str | None) -> str:
    if country and country in LOCALES:
        return LOCALES[country]
    return LANGUAGE_LOCALES.get((language or "en")[:2], "en_US")


def phone_region(country: str | None, locale: str) -> str:
    """Where demo phone numbers come from: the country, else the locale's."""
    if country and phonenumbers.country_code_for_region(country):
        return country
    region = locale.split("_")[-1].upper() if "_" in locale else "US"
    return region if phonenumbers.country_code_for_region(region) else "US"


class PhoneMaker:
    """Random valid mobile numbers of one country, in E.164."""

    def __init__(self, region: str, rng: random.Random):
        self.region, self.rng = region, rng
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE) \
            or phonenumbers.example_number(region)
        self.code = example.country_code
        self.national = str(example.national_number)

    def make(self) -> str:
        digits = self.national
        for keep in (1, 2, 3, len(digits)):
            for _ in range(40):
                candidate = digits[:keep] + "".join(str(self.rng.randrange(10)) for _ in digits[keep:])
                number = phonenumbers.PhoneNumber(country_code=self.code, national_number=int(candidate))
                if phonenumbers.is_valid_number(number):
                    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return phonenumbers.format_number(phonenumbers.PhoneNumber(country_code=self.code,
                                                                   national_number=int(digits)),
                                          phonenumbers.PhoneNumberFormat.E164)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _za(rng: random.Random, birth: date, sex: str) -> str:
    from stdnum import luhn

    serial = rng.randrange(0, 5000) if sex == "female" else rng.randrange(5000, 10000)
    body = f"{birth:%y%m%d}{serial:04d}08"
    return body + luhn.calc_check_digit(body)


def _br(rng: random.Random, birth: date, sex: str) -> str:
    from stdnum.br import cpf

    body = _digits(rng, 9)
    return body + cpf._calc_check_digits(body)


def _in(rng: random.Random, birth: date, sex: str) -> str:
    from stdnum import verhoeff

    body = str(rng.randrange(2, 10)) + _digits(rng, 10)
    return body + verhoeff.calc_check_digit(body)


def _us(rng: random.Random, birth: date, sex: str) -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}{rng.randrange(1, 100):02d}{rng.randrange(1, 10000):04d}"


#: Countries whose identifier is built from its parts; others get a generic attempt (a body of
#: random digits and each possible last digit, checked by the country's python-stdnum module).
BUILDERS = {"ZA": _za, "BR": _br, "IN": _in, "US": _us}


class NationalIdMaker:
    """Valid, unique national identifiers for one country, in the compact form the registry stores;
    ``make`` returns None when the country has no rule (or none could be generated)."""

    def __init__(self, country: str | None, rng: random.Random, taken: set[str]):
        self.country, self.rng, self.taken = country, rng, taken
        self.module = national_id_module(country)
        self.length: int | None = None
        if self.module is not None and country not in BUILDERS:
            self.length = self._probe()

    @property
    def active(self) -> bool:
        return self.module is not None and (self.country in BUILDERS or self.length is not None)

    def _probe(self) -> int | None:
        for length in range(15, 5, -1):  # the longest that works: most identifiers have no short form
            for _ in range(30):
                if self._generic(length) is not None:
                    return length
        return None

    def _generic(self, length: int) -> str | None:
        body = str(self.rng.randrange(1, 10)) + _digits(self.rng, length - 2)
        for last in range(10):
            if self.module.is_valid(body + str(last)):
                return body + str(last)
        return None

    def make(self, birth: date, sex: str) -> str | None:
        if not self.active:
            return None
        for _ in range(50):
            raw = (BUILDERS[self.country](self.rng, birth, sex) if self.country in BUILDERS
                   else self._generic(self.length))
            if raw is None:
                continue
            try:
                value = normalize_national_id(raw, self.country)
            except ValueError:
                continue
            if value not in self.taken:
                self.taken.add(value)
                return value
        return None


# ---- names -----------------------------------------------------------------------------------------


class NamePools:
    """Pools of given and family names (drawn once from faker, then sampled: fast and reproducible)."""

    def __init__(self, locale: str, country: str | None, seed: int, size: int = 400):
        from faker import Faker

        fake = Faker(locale)
        fake.seed_instance(seed)
        own = NAMES.get(country or "")
        if own:
            self.female, self.male, self.family = own
        else:
            self.female = _clean({fake.first_name_female() for _ in range(size)})
            self.male = _clean({fake.first_name_male() for _ in range(size)})
            self.family = _clean({fake.last_name() for _ in range(size)})
        places = PLACES.get(country or "") or (
            _clean({fake.city() for _ in range(size)}) if locale in ("fr_FR", "ne_NP") else [])
        self.places = places or [f for f in self.family if " " not in f]
        self.street = locale.startswith("fr")


def _clean(names: set[str]) -> list[str]:
    """Sorted names without faker's annotations (parentheses) or stray format characters."""
    return sorted(n.replace("\u200d", "") for n in names if n and "(" not in n and ")" not in n)


# ---- the generator ---------------------------------------------------------------------------------


def generate_registry(conn: Connection, schema: str, *, households: int, seed: int = 0,
                      today: date | None = None, country: str | None = None,
                      actor: tuple[str, str | None, str | None] = ("system", "demo", None)) -> DemoResult:
    """Add ``households`` households (and their members) to tenant schema ``schema``, with the
    location tree and facilities they need; returns the counts. Runs in ``conn``'s transaction."""
    if households < 0:
        raise ValueError("households must be >= 0")
    # the audit entry goes through the ORM table (schema placeholder); the caller's map is restored after
    previous = conn.get_execution_options().get("schema_translate_map")
    conn.execution_options(schema_translate_map={TENANT_PLACEHOLDER: schema})
    try:
        return _generate(conn, schema, households=households, seed=seed, today=today, country=country, actor=actor)
    finally:
        conn.execution_options(schema_translate_map=previous)


def _generate(conn: Connection, schema: str, *, households: int, seed: int, today: date | None,
              country: str | None, actor: tuple[str, str | None, str | None]) -> DemoResult:
    q = quote_ident(schema)
    today = today or date.today()
    settings = dict(conn.execute(text(f"SELECT key, value FROM {q}.settings")).all())
    settings["demo"] = settings.get("demo") or _template_demo(settings)
    country = (country or country_for(settings) or "").upper() or None
    locale = locale_for(country, settings.get("locale"))
    existing = conn.execute(text(f"SELECT count(*) FROM {q}.individuals")).scalar_one()
    rng = random.Random(f"{seed}:{existing}")
    pools = NamePools(locale, country, seed)
    levels = settings.get("location_levels") or ["Region", "District", "Municipality", "Village"]
    result = DemoResult(country=country, locale=locale)

    villages = _villages(conn, q, settings, levels, households, rng, pools, result)
    _facilities(conn, q, settings, levels, rng, today, result)
    if households and villages:
        _people(conn, q, settings, households, villages, rng, pools, country, locale, today, result)
    audit.record_bulk(conn, "demo.generate", "registry", counts=result.counts(),
                      input_ref={"households": households, "seed": seed, "locale": locale, "country": country},
                      actor=actor)
    log.info("demo registry: %s", result.counts())
    return result


def _template_demo(settings: dict[str, Any]) -> dict[str, Any]:
    """The demo places and facilities of the tenant's template (tenants made without demo data)."""
    from schemehost.platform.errors import AppError
    from schemehost.provisioning.templates import load_template

    name = (settings.get("template") or {}).get("name") if isinstance(settings.get("template"), dict) else None
    if not name:
        return {}
    try:
        return load_template(name).demo or {}
    except AppError:  # a template since withdrawn: generated places only
        return {}


def _ids(conn: Connection, q: str, table: str, n: int) -> list[int]:
    if n <= 0:
        return []
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": f"{q}.{table}"}).scalar_one()
    return list(conn.execute(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"), {"s": seq, "n": n}).scalars())


def _copy(conn: Connection, q: str, table: str, columns: list[str], rows: list[tuple]) -> None:
    """COPY ``rows`` into ``table`` in the connection's transaction."""
    if not rows:
        return
    cols = ", ".join(columns)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f"COPY {q}.{table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _villages(conn, q, settings, levels, households, rng, pools, result) -> list[int]:
    """The villages (lowest level) people go to: the tenant's own when it has enough, else a tree
    made for them (the template's demo places first)."""
    last = len(levels) - 1
    have = list(conn.execute(text(f"SELECT id FROM {q}.locations WHERE level = :l ORDER BY id"), {"l": last}).scalars())
    wanted = max(4, math.ceil(households / 35))
    if len(have) >= min(wanted, 4) and have:
        return have
    codes = set(conn.execute(text(f"SELECT code FROM {q}.locations")).scalars())
    rows: list[tuple] = []
    by_code: dict[str, tuple[int, list[int]]] = {
        r.code: (r.id, list(r.path)) for r in conn.execute(text(f"SELECT id, code, path FROM {q}.locations"))}
    demo = (settings.get("demo") or {}).get("locations") or []
    index = {name.lower(): i for i, name in enumerate(levels)}
    template_places = [p for p in demo if p.get("code") not in codes and str(p.get("level", "")).lower() in index]
    ids = iter(_ids(conn, q, "locations", len(template_places)))
    for place in template_places:  # parents come first in the template
        level = index[str(place["level"]).lower()]
        parent = by_code.get(place.get("parent") or "")
        if (parent is None) != (level == 0):
            continue
        new_id = next(ids)
        path = [*(parent[1] if parent else []), new_id]
        if len(path) != level + 1:
            continue
        rows.append((new_id, place["code"], place["name"], level, parent[0] if parent else None, path))
        by_code[place["code"]] = (new_id, path)
        codes.add(place["code"])
    _copy(conn, q, "locations", ["id", "code", "name", "level", "parent_id", "path"], rows)
    result.locations += len(rows)

    # then a generated tree: 3 regions, fan-out f per level, about `wanted` villages in all
    fan = max(2, round((wanted / 3) ** (1 / max(1, last)))) if last else 1
    tops = 3 if last else wanted
    gen: list[tuple] = []
    parents: list[tuple[int, str, list[int]]] = [(0, "", [])]
    for level in range(len(levels)):
        count = tops if level == 0 else fan
        ids = iter(_ids(conn, q, "locations", count * len(parents)))
        next_parents = []
        for parent_id, parent_code, parent_path in parents:
            for i in range(1, count + 1):
                code = f"{parent_code}-{i:02d}" if parent_code else _free_code(codes, levels[0])
                while code in codes:
                    code += "X"
                codes.add(code)
                new_id = next(ids)
                path = [*parent_path, new_id]
                gen.append((new_id, code, rng.choice(pools.places), level, parent_id or None, path))
                next_parents.append((new_id, code, path))
        parents = next_parents
    _copy(conn, q, "locations", ["id", "code", "name", "level", "parent_id", "path"], gen)
    result.locations += len(gen)
    return list(conn.execute(text(f"SELECT id FROM {q}.locations WHERE level = :l ORDER BY id"), {"l": last}).scalars())


def _free_code(codes: set[str], level_name: str) -> str:
    letter = unicodedata.normalize("NFKD", level_name)[:1].upper() or "L"
    n = 1
    while any(c == f"{letter}{n:02d}" or c.startswith(f"{letter}{n:02d}-") for c in codes):
        n += 1
    return f"{letter}{n:02d}"


def _facilities(conn, q, settings, levels, rng, today, result) -> None:
    """The template's demo facilities, then a hospital per upper place, a health centre in some and
    a dispensary in some villages, where the tenant has none yet."""
    if conn.execute(text(f"SELECT count(*) FROM {q}.health_facilities")).scalar_one():
        return
    language = "fr" if str(settings.get("locale") or "").startswith("fr") else "en"
    names = FACILITY_NAMES[language]
    last = len(levels) - 1
    allowed = range(max(0, last - 1), last + 1)
    places = {r.code: r for r in conn.execute(text(f"SELECT id, code, name, level FROM {q}.locations"))}
    codes: set[str] = set()
    rows: list[tuple] = []
    start = date(today.year - 2, 1, 1)
    for f in (settings.get("demo") or {}).get("facilities") or []:
        place = places.get(f.get("location"))
        if place is None or place.level not in allowed or f.get("code") in codes:
            continue
        kind = f.get("kind") if f.get("kind") in names else "dispensary"
        rows.append((f["code"], f["name"], kind, f.get("care_type") or "out_patient", place.id, start))
        codes.add(f["code"])
    upper = [p for p in places.values() if p.level == max(0, last - 1)]
    lower = [p for p in places.values() if p.level == last]
    for i, p in enumerate(sorted(upper, key=lambda p: p.id)):
        kind, care = ("hospital", "both") if i % 3 == 0 else ("health_centre", "out_patient")
        code = f"F-{p.code}"
        if code not in codes:
            rows.append((code, names[kind].format(p.name)[:200], kind, care, p.id, start))
            codes.add(code)
    for p in sorted(lower, key=lambda p: p.id):
        if rng.random() < 0.3:
            code = f"F-{p.code}"
            if code not in codes:
                rows.append((code, names["dispensary"].format(p.name)[:200], "dispensary", "out_patient", p.id, start))
                codes.add(code)
    _copy(conn, q, "health_facilities", ["code", "name", "level", "care_type", "location_id", "contract_start"], rows)
    result.facilities = len(rows)


def _birth(rng: random.Random, today: date, age_min: int, age_max: int) -> date:
    age_days = rng.randrange(age_min * 365, age_max * 365 + 364)
    return today - timedelta(days=age_days)


def _people(conn, q, settings, households, villages, rng, pools, country, locale, today, result) -> None:
    registry = settings.get("registry") if isinstance(settings.get("registry"), dict) else {}
    pattern = registry.get("scheme_number_pattern")
    if not isinstance(pattern, str) or check_scheme_pattern(pattern):
        pattern = DEFAULT_SCHEME_PATTERN
    taken = set(conn.execute(text(f"SELECT national_id FROM {q}.individuals WHERE national_id IS NOT NULL")).scalars())
    ids_maker = NationalIdMaker(country, rng, taken)
    phones = PhoneMaker(phone_region(country, locale), rng)
    region = phone_region(country, locale)

    done_households = done_people = 0
    while done_households < households:  # in batches: memory stays flat for benchmark-sized runs
        batch = min(BATCH, households - done_households)
        made = _people_batch(conn, q, batch, villages, rng, pools, pattern, ids_maker, phones, today)
        done_households += batch
        done_people += made
    result.households, result.individuals = done_households, done_people
    result.extra = {"national_ids": ids_maker.active, "phone_region": region}


#: Households generated and copied at a time.
BATCH = 5000


def _people_batch(conn, q, households, villages, rng, pools, pattern, ids_maker, phones, today) -> int:
    sizes = rng.choices(SIZES, weights=SIZE_WEIGHTS, k=households)
    hh_ids = _ids(conn, q, "households", households)
    person_ids = iter(_ids(conn, q, "individuals", sum(sizes)))
    seq = list(conn.execute(text("SELECT nextval(CAST(:s AS regclass)) FROM generate_series(1, :n)"),
                            {"s": f"{q}.scheme_number_seq", "n": sum(sizes)}).scalars())
    numbers = iter(format_scheme_number(pattern, s, today.year) for s in sorted(seq))

    hh_rows: list[tuple] = []
    people: list[tuple] = []
    heads: list[int] = []
    for hh_id, size in zip(hh_ids, sizes):
        village = rng.choice(villages)
        address = (f"{rng.randrange(1, 200)} rue {rng.choice(pools.family)}" if pools.street
                   else f"Plot {rng.randrange(1, 400)}")
        hh_rows.append((hh_id, village, address))
        family = rng.choice(pools.family)
        for relationship, sex, birth, estimated in _household(rng, size, today):
            pid = next(person_ids)
            names = pools.female if sex == "female" else pools.male
            given = rng.choice(names)
            other = rng.choice(names) if rng.random() < 0.15 else None
            surname = family if relationship in ("head", "child", "grandchild", "sibling") or rng.random() < 0.5 \
                else rng.choice(pools.family)
            adult = (today - birth).days >= 18 * 365
            chance = {"head": 0.85, "spouse": 0.6}.get(relationship, 0.35 if adult else 0.0)
            phone = phones.make() if rng.random() < chance else None
            national_id = ids_maker.make(birth, sex) if adult and rng.random() < 0.85 else None
            people.append((pid, hh_id, relationship, given, surname, other, normalize_name(given, surname, other),
                           sex, birth, estimated, national_id, next(numbers), phone, village))
            if relationship == "head":
                heads.append(pid)
    _copy(conn, q, "households", ["id", "location_id", "address"], hh_rows)
    _copy(conn, q, "individuals", ["id", "household_id", "relationship", "given_name", "family_name", "other_names",
                                   "name_search", "sex", "birth_date", "birth_date_estimated", "national_id",
                                   "scheme_number", "phone", "location_id"], people)
    # heads last: the foreign key needs the individuals in place
    conn.execute(text(f"UPDATE {q}.households h SET head_id = v.head FROM unnest(CAST(:hh AS bigint[]), "
                      "CAST(:heads AS bigint[])) AS v(id, head) WHERE h.id = v.id"), {"hh": hh_ids, "heads": heads})
    return len(people)


def _household(rng: random.Random, size: int, today: date) -> list[tuple[str, str, date, bool]]:
    """(relationship, sex, birth date, estimated) of each member, head first."""
    head_sex = "male" if rng.random() < 0.7 else "female"
    head_age = rng.randrange(22, 75) if size > 1 else rng.randrange(18, 85)
    members = [("head", head_sex, _birth(rng, today, head_age, head_age), rng.random() < 0.1)]
    left = size - 1
    if left and rng.random() < 0.8:
        spouse_age = max(18, head_age + rng.randrange(-10, 4))
        members.append(("spouse", "female" if head_sex == "male" else "male",
                        _birth(rng, today, spouse_age, spouse_age), rng.random() < 0.1))
        left -= 1
    if left and head_age > 55 and rng.random() < 0.3:
        members.append(("grandchild", rng.choice(("female", "male")), _birth(rng, today, 0, 12), False))
        left -= 1
    if left and head_age < 45 and rng.random() < 0.15:
        members.append(("parent", rng.choice(("female", "male")), _birth(rng, today, head_age + 20,
                                                                          min(head_age + 40, 95)), True))
        left -= 1
    for _ in range(left):
        if rng.random() < 0.9:
            oldest = max(0, min(head_age - 16, 30))
            members.append(("child", rng.choice(("female", "male")), _birth(rng, today, 0, oldest), False))
        else:
            members.append((rng.choice(("other_relative", "sibling", "not_related")), rng.choice(("female", "male")),
                            _birth(rng, today, 5, 60), rng.random() < 0.3))
    return members


def generate_for_session(session, *, households: int, seed: int = 0, today: date | None = None,
                         country: str | None = None) -> DemoResult:
    """:func:`generate_registry` in a tenant session (its schema and transaction)."""
    return generate_registry(session.connection(), session.info["tenant_schema"], households=households, seed=seed,
                             today=today, country=country)


#: Households each demo scheme of ``schemehost demo`` (and ``tenants create --demo-data``) gets.
DEMO_HOUSEHOLDS = 300


def demo_households() -> int:
    """How many households a tenant created with demo data gets (config ``DEMO_HOUSEHOLDS``)."""
    from flask import current_app, has_app_context

    value = current_app.config.get("DEMO_HOUSEHOLDS") if has_app_context() else None
    return DEMO_HOUSEHOLDS if value is None else int(value)  # unset (None) in the settings: the default
