"""Searching people: by name (accent- and typo-tolerant), identifier, phone, location subtree, status.

Every search goes through :func:`people_query`, the one place that applies the caller's location
restriction (``restrict_to_locations``): a restricted user only ever finds people of their area.

Names: the query is normalised like ``name_search`` (:func:`~..validation.normalize_query`). A
query of one or two words (:func:`name_condition`, decision 0129) looks each word up in the
dictionary of registered name words (``name_words``) and asks the name to hold one of its
neighbours, through the GIN index on the name's words; three words or more are matched by
whole-name trigram similarity (``name_search % q``, threshold :func:`name_threshold`). Ranked by
similarity, then id. Identifiers and phones are exact (after normalisation for the tenant's
country). Pages are keyset pages: ``after`` is the opaque cursor
of the previous page's ``next``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Integer, Select, Text, and_, cast, func, literal, literal_column, or_, select, union
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from schemehost.platform.errors import ValidationError
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.registry.people import Household, Individual, NameWord, PersonStatus
from schemehost.tenants.registry.services.locations import in_subtree
from schemehost.tenants.registry.validation import (normalize_national_id, normalize_phone, normalize_query,
                                                    tenant_country)

MAX_LIMIT = 200
MIN_QUERY = 3
SCALE = 1_000_000


@dataclass
class Page:
    items: list[Any]
    #: cursor of the next page (pass as ``after``), None on the last page
    next: str | None
    #: per item, the name-match score (0–1) when searching by name
    scores: dict[int, float] | None = None


def people_query(stmt: Select, principal: Principal | None, column=Individual.location_id) -> Select:
    """``stmt`` restricted to the principal's area (None: the system, unrestricted). Every people
    list, search, export or preview passes through here."""
    return stmt if principal is None else restrict_to_locations(stmt, principal, column)


#: bounds of the whole-name similarity threshold (see :func:`name_threshold`)
MIN_THRESHOLD, MAX_THRESHOLD = 0.45, 0.7
_WORD = re.compile(r"[^\W_]+")


def trigram_count(q: str) -> int:
    """How many distinct trigrams pg_trgm makes of a normalised query (words padded "  w ")."""
    grams = set()
    for word in _WORD.findall(q):
        padded = f"  {word} "
        grams.update(padded[i:i + 3] for i in range(len(padded) - 2))
    return len(grams)


def name_threshold(q: str) -> float:
    """The similarity threshold for a whole-name query: (n − 4) / (n + 4) − 0.02 for its n
    trigrams, between 0.45 and 0.7. One slip (a letter dropped, doubled, changed, or two swapped)
    changes at most 4 of the query's trigrams, so the registered name keeps a similarity of at least
    (n − 4) / (n + 4), above the threshold; a common given or family name alone stays
    below it. pg_trgm's fixed default (0.3) would let "marie" alone match "marie dupont", tens of
    thousands of rows to recheck and rank on a million people (decision 0106)."""
    n = trigram_count(q)
    value = (n - 4) / (n + 4) - 0.02 if n else MIN_THRESHOLD  # a margin for float4 comparisons
    return max(MIN_THRESHOLD, min(MAX_THRESHOLD, math.floor(value * 1000) / 1000))


#: word_similarity threshold of a one-word query (pg_trgm's default)
ONE_WORD_THRESHOLD = 0.6
#: word_similarity threshold of each word of a two-word query (see :func:`filtered_words`)
WORD_FILTER_THRESHOLD = 0.2
#: a word of a two-word query needs this many trigrams to be filtered on
WORD_FILTER_MIN_TRIGRAMS = 5


def filtered_words(q: str) -> list[str]:
    """The words of a two-word query that the name must also contain in part (``w <% name_search``
    with word similarity ≥ 0.2, i.e. at least ⌈0.2·g⌉ of the word's g trigrams): those of 5 trigrams
    or more (4 letters or more). One slip changes at most 4 of a word's trigrams, so the registered
    name keeps g − 4 ≥ ⌈0.2·g⌉ of them and is still found; a namesake sharing only the other word
    (every "marie …" for "marie dupont") is no longer a candidate that the trigram index hands to
    the table to be rechecked one by one (decision 0128). Shorter words (a slip may leave none of
    their trigrams) and queries of three words or more are not filtered."""
    words = _WORD.findall(q)
    if len(words) != 2:
        return []
    return [w for w in words if trigram_count(w) >= WORD_FILTER_MIN_TRIGRAMS]


def name_match(q: str, column=Individual.name_search):
    """The WHERE clause and the score expression of a name search for a normalised query: several
    words are compared with the whole name (``%``, similarity; for two words also each longer word
    with a word of the name, :func:`filtered_words`), one word with the closest word of the name
    (``<%``, word_similarity; threshold 0.6). All use the trigram GIN index (one scan)."""
    value = literal(q)
    if " " in q:
        clause = column.op("OPERATOR(shared.%)", is_comparison=True)(value)
        for word in filtered_words(q):
            clause = and_(clause, literal(word).op("OPERATOR(shared.<%)", is_comparison=True)(column))
        return clause, func.shared.similarity(column, value)
    return (value.op("OPERATOR(shared.<%)", is_comparison=True)(column),
            func.shared.word_similarity(value, column))


#: trigram similarity of a dictionary word to a query word of 4 letters or more that makes it a
#: neighbour even when it is more than one slip away ("elody" for "elodie")
NEIGHBOUR_SIMILARITY = 0.3
#: a query word of more letters also has as neighbours the words similar to it (trigrams)
SHORT_WORD = 3
#: a query word of at least this many letters also has as neighbours the words it begins (not
#: "le": every "lebrun", "leclerc", "lefevre"…)
PREFIX_WORD = 3
#: at most this many words are filtered through the dictionary (longer queries: whole-name only)
MAX_DICTIONARY_WORDS = 2
#: similarity a one- or two-word query asks of a name that holds a neighbour of each of its words
#: (pg_trgm's default; word similarity for one word): the words already decide; one slip in a
#: short name ("ediwge ba": 0.43, "issasow": 0.55) falls below :func:`name_threshold` and below
#: 0.6, which only had to keep the candidates few
WORDS_THRESHOLD = 0.3


def query_words(q: str) -> list[str]:
    """The words of a normalised query as ``name_search`` holds them (split on spaces), those with
    a letter or digit."""
    return [w for w in q.split(" ") if _WORD.search(w)]


def word_keys(word: str) -> set[str]:
    """The keys a word is filed under in ``name_words`` (migration t0009): the word, its
    alphanumeric parts, and each of these with one letter deleted. Two words within one slip
    (a letter dropped, added, changed, or two swapped) share one."""
    parts = {word, *_WORD.findall(word)}
    keys = set(parts)
    for p in parts:
        keys.update(p[:i] + p[i + 1:] for i in range(len(p)))
    keys.discard("")
    return keys


def _like_prefix(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def neighbours(session: Session, words: list[str]) -> list[set[str]]:
    """For each query word, the registered name words it may stand for: within one slip of it or of
    one of its parts (shared key), those it begins if it has 3 letters or more ("kam": "kamga"),
    and for a word of 4 letters or more those with trigram similarity ≥ 0.3 and a length within 2
    of its own (two slips in a long word).
    One statement; index lookups only (the primary key, the trigram index on the words)."""
    if not words:
        return []
    parts = []
    for k, word in enumerate(words):
        n = literal(k).label("n")
        parts.append(select(n, NameWord.word).where(NameWord.key.in_(sorted(word_keys(word)))))
        if len(word) >= PREFIX_WORD:
            parts.append(select(n, NameWord.word).where(NameWord.key == NameWord.word,
                                                        NameWord.word.like(_like_prefix(word), escape="\\")))
        if len(word) > SHORT_WORD:  # two slips change the length by two at most (not "jean" for "jeantchoupo")
            parts.append(select(n, NameWord.word).where(
                NameWord.key == NameWord.word, NameWord.word.op("OPERATOR(shared.%)", is_comparison=True)(literal(word)),
                func.length(NameWord.word).between(len(word) - 2, len(word) + 2)))
    session.execute(select(func.set_config("pg_trgm.similarity_threshold", str(NEIGHBOUR_SIMILARITY), True)))
    found: list[set[str]] = [set() for _ in words]
    for n, word in session.execute(union(*parts)):
        found[n].add(word)
    return found


def name_words(column=Individual.name_search):
    """The words of a stored name as the GIN index ``ix_individuals_name_words`` holds them."""
    return func.string_to_array(column, literal_column("' '"), type_=ARRAY(Text))


def _holds_any(column, words) -> Any:
    return name_words(column).op("&&", is_comparison=True)(cast(sorted(words), ARRAY(Text)))


def _holds_all(column, words) -> Any:
    return name_words(column).op("@>", is_comparison=True)(cast(sorted(words), ARRAY(Text)))


def name_condition(session: Session, q: str, column=Individual.name_search):
    """The WHERE clause and score of a name search for a normalised query (decision 0129).

    A query of one or two words: each word must be in the name as one of its registered neighbours
    (:func:`neighbours`; a one-word query may also be two registered words whose space was
    dropped), which the GIN index on the name's words answers exactly, with few candidates; those
    are ranked by similarity (whole name for two words, word similarity for one), at least 0.3
    (:data:`WORDS_THRESHOLD`). A word with no neighbour in the registry finds nobody. Longer
    queries: :func:`name_match` (whole-name similarity through the trigram index)."""
    words = query_words(q)
    if not words or len(words) > MAX_DICTIONARY_WORDS:
        clause, score = name_match(q, column)
        _use_name_threshold(session, q)
        return clause, score
    found = neighbours(session, words)
    value = literal(q)
    if len(words) == 2:
        score = func.shared.similarity(column, value)
        if not all(found):
            return literal(False), score
        return and_(_holds_any(column, found[0]), _holds_any(column, found[1]),
                    score >= literal(WORDS_THRESHOLD)), score
    word = words[0]
    score = func.shared.word_similarity(value, column)
    pairs = []
    if len(word) > 1:
        # two words whose space was dropped ("victorgall"), or typed as another letter ("victorxgall")
        splits = [(word[:i], word[i:]) for i in range(1, len(word))] + \
            [(word[:i], word[i + 1:]) for i in range(1, len(word) - 1)]
        known = set(session.execute(
            select(NameWord.word).where(NameWord.key == NameWord.word,
                                        NameWord.word.in_(sorted({x for pair in splits for x in pair})))).scalars())
        pairs = [pair for pair in splits if pair[0] in known and pair[1] in known]
    held = ([_holds_any(column, found[0])] if found[0] else []) + [_holds_all(column, pair) for pair in pairs]
    if not held:
        return literal(False), score
    return and_(or_(*held), score >= literal(WORDS_THRESHOLD)), score


def _use_name_threshold(session: Session, q: str) -> None:
    word = WORD_FILTER_THRESHOLD if " " in q else ONE_WORD_THRESHOLD
    session.execute(select(func.set_config("pg_trgm.similarity_threshold", str(name_threshold(q)), True),
                           func.set_config("pg_trgm.word_similarity_threshold", str(word), True)))


def search_individuals(session: Session, *, principal: Principal | None, q: str | None = None,
                       identifier: str | None = None, national_id: str | None = None, phone: str | None = None,
                       location_id: int | None = None, household_id: int | None = None,
                       status: str | None = PersonStatus.active, after: str | None = None,
                       limit: int = 50) -> Page:
    """Individuals matching every criterion given. ``identifier`` is a national id or a scheme number;
    ``status`` "any" (or None) for every status. Ranked by name match when ``q`` is given, else by id."""
    problems: dict[str, list[str]] = {}
    country = tenant_country(session)
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    stmt = select(Individual)
    conditions = []
    if national_id:
        conditions.append(Individual.national_id == _national_id(national_id, country))
    if identifier:
        raw = identifier.strip()
        conditions.append(or_(Individual.national_id == _national_id(raw, country), Individual.scheme_number == raw))
    if phone:
        try:
            conditions.append(Individual.phone == normalize_phone(phone, country))
        except ValueError as err:
            problems["phone"] = [str(err)]
    if location_id is not None:
        conditions.append(in_subtree(Individual.location_id, location_id))
    if household_id is not None:
        conditions.append(Individual.household_id == household_id)
    if status and status != "any":
        if status not in {s.value for s in PersonStatus}:
            problems["status"] = [_("One of: %(values)s.", values=", ".join([*(s.value for s in PersonStatus),
                                                                               "any"]))]
        conditions.append(Individual.status == status)
    score = None
    if q is not None and q.strip():
        norm = normalize_query(q)
        if len(norm.replace(" ", "")) < MIN_QUERY:
            problems["q"] = [_("Type at least %(n)d letters of the name.", n=MIN_QUERY)]
        else:
            clause, score = name_condition(session, norm)
            conditions.append(clause)
    cursor = _cursor(after, ranked=score is not None, problems=problems)
    if problems:
        raise ValidationError(_("The search cannot be run."), errors=problems)
    stmt = people_query(stmt.where(*conditions), principal)
    if score is not None:
        scaled = cast(score * SCALE, Integer)
        stmt = stmt.add_columns(scaled.label("score"))
        if cursor:
            s, i = cursor
            stmt = stmt.where(or_(scaled < s, (scaled == s) & (Individual.id > i)))
        rows = session.execute(stmt.order_by(scaled.desc(), Individual.id).limit(limit)).all()
        items = [r[0] for r in rows]
        nxt = f"{rows[-1][1]}.{rows[-1][0].id}" if len(rows) == limit else None
        return Page(items, nxt, {r[0].id: r[1] / SCALE for r in rows})
    if cursor:
        stmt = stmt.where(Individual.id > cursor[1])
    items = list(session.execute(stmt.order_by(Individual.id).limit(limit)).scalars())
    return Page(items, str(items[-1].id) if len(items) == limit else None)


def search_households(session: Session, *, principal: Principal | None, q: str | None = None,
                      location_id: int | None = None, status: str | None = PersonStatus.active,
                      after: str | None = None, limit: int = 50) -> Page:
    """Households by their head's name (``q``, typo-tolerant), location subtree and status; by id."""
    problems: dict[str, list[str]] = {}
    limit = max(1, min(int(limit or 50), MAX_LIMIT))
    stmt = select(Household)
    if location_id is not None:
        stmt = stmt.where(in_subtree(Household.location_id, location_id))
    if status and status != "any":
        if status not in (PersonStatus.active, PersonStatus.inactive):
            problems["status"] = [_("One of: %(values)s.", values="active, inactive, any")]
        stmt = stmt.where(Household.status == status)
    if q is not None and q.strip():
        norm = normalize_query(q)
        if len(norm.replace(" ", "")) < MIN_QUERY:
            problems["q"] = [_("Type at least %(n)d letters of the name.", n=MIN_QUERY)]
        else:
            clause, _score = name_condition(session, norm)
            stmt = stmt.where(Household.head_id.in_(select(Individual.id).where(clause)))
    cursor = _cursor(after, ranked=False, problems=problems)
    if problems:
        raise ValidationError(_("The search cannot be run."), errors=problems)
    stmt = people_query(stmt, principal, Household.location_id)
    if cursor:
        stmt = stmt.where(Household.id > cursor[1])
    items = list(session.execute(stmt.order_by(Household.id).limit(limit)).scalars())
    return Page(items, str(items[-1].id) if len(items) == limit else None)


def _national_id(value: str, country: str | None) -> str:
    try:
        return normalize_national_id(value, country)
    except ValueError:
        return value.strip()  # no record holds an invalid id: this simply finds nothing


def _cursor(after: str | None, *, ranked: bool, problems: dict) -> tuple[int, int] | None:
    if not after:
        return None
    try:
        if ranked:
            s, i = after.split(".", 1)
            return int(s), int(i)
        return 0, int(after)
    except ValueError:
        problems["after"] = [_("The cursor of a previous page (its 'next').")]
        return None
