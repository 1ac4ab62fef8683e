"""Name search through the dictionary of name words (decision 0129): every slip of a registered
name still finds the person; the dictionary stays in step with every writer (services, imports,
merges, erasure)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schemehost.tenants.registry.people import DuplicateFlag, NameWord
from schemehost.tenants.registry.services import people as ppl
from schemehost.tenants.registry.services import search as srch

from ._imports_support import run_file
from ._people import people_tenant, person, system  # noqa: F401

NAMES = [("Edwige", "Ba"), ("Issa", "Sow"), ("Victor", "Gall"), ("Élodie", "Nguyễn"), ("Marie", "Dupont"),
         ("Jean-Pierre", "Mbarga")]
#: namesakes sharing one word with a registered name
NAMESAKES = [("Edwige", "Mbarga"), ("Edwige", "Sow"), ("Victor", "Dupont"), ("Marie", "Ba"), ("Issa", "Gallo")]


def _words(s) -> set[str]:
    return set(s.execute(select(NameWord.word).where(NameWord.key == NameWord.word)).scalars())


def _slips(name: str) -> set[str]:
    out = set()
    for i in range(1, len(name) - 1):
        out |= {name[:i] + name[i + 1:], name[:i] + name[i] + name[i:], name[:i] + "x" + name[i + 1:],
                name[:i] + name[i + 1] + name[i] + name[i + 2:]}
    return out


@pytest.fixture
def named(people_tenant):
    tenant, ids = people_tenant
    made = {}
    with tenant.session() as s:
        for n, (given, family) in enumerate(NAMES + NAMESAKES):
            made[(given, family)] = ppl.create_individual(
                s, person(ids["N-R-T-U"], given=given, family=family, birth=f"19{50 + n}-01-01"),
                principal=system()).id
    return tenant, ids, made


def test_every_slip_of_a_registered_name_still_finds_the_person(named):
    """A letter dropped, doubled, changed or two swapped, anywhere (the space included: one word
    made of two, a word split in two), short family names ("ba", "sow") included."""
    tenant, _ids, made = named
    with tenant.session() as s:
        for given, family in NAMES:
            name = srch.normalize_query(f"{given} {family}")
            for slip in sorted(_slips(name)):
                if len(slip.replace(" ", "")) < srch.MIN_QUERY:
                    continue
                found = [p.id for p in srch.search_individuals(s, principal=system(), q=slip).items]
                assert made[(given, family)] in found, (slip, name)
                s.rollback()


def test_two_word_queries_no_longer_bring_namesakes_of_one_word(named):
    tenant, _ids, made = named
    with tenant.session() as s:
        found = [p.id for p in srch.search_individuals(s, principal=system(), q="edwige ab").items]
        assert found == [made[("Edwige", "Ba")]]  # a swap in the short word; not every Edwige
        found = [p.id for p in srch.search_individuals(s, principal=system(), q="edwige sow").items]
        assert found[0] == made[("Edwige", "Sow")]
        assert made[("Edwige", "Mbarga")] not in found
        # a partial short word is a prefix; a word nobody holds finds nobody
        assert [p.id for p in srch.search_individuals(s, principal=system(), q="victor gal").items][0] == \
            made[("Victor", "Gall")]
        # the beginning of a longer word; a part of a hyphenated one
        assert [p.id for p in srch.search_individuals(s, principal=system(), q="jean mbarg").items] == \
            [made[("Jean-Pierre", "Mbarga")]]
        assert srch.search_individuals(s, principal=system(), q="edwige qqqqqq").items == []
        # the part of a hyphenated name, and a one-word query of two names whose space was dropped
        assert made[("Jean-Pierre", "Mbarga")] in [
            p.id for p in srch.search_individuals(s, principal=system(), q="pierre mbarga").items]
        assert [p.id for p in srch.search_individuals(s, principal=system(), q="victorgall").items][0] == \
            made[("Victor", "Gall")]


def test_the_dictionary_follows_creation_update_import_merge_and_erasure(named, people_tenant):
    tenant, ids, made = named
    with tenant.session() as s:
        words = _words(s)
        assert {"edwige", "ba", "elodie", "nguyen", "jean-pierre", "mbarga"} <= words
        # the parts of a word and its one-letter deletions are keys of it
        assert set(s.execute(select(NameWord.key).where(NameWord.word == "jean-pierre")).scalars()) >= \
            {"jean-pierre", "jean", "pierre", "jeanpierre", "ean-pierre", "ierre"}
        ppl.update_individual(s, made[("Issa", "Gallo")], {"family_name": "Kowalczyk"}, principal=system())
        assert "kowalczyk" in _words(s)
    out, problems = run_file(tenant, "individuals", (
        "external_id,given_name,family_name,sex,birth_date,village\n"
        "P1,Zéphirin,Abanda,male,1980-01-02,N-R-T-U\n"
        "P2,Zéphirin,Ba,male,1981-01-02,N-R-T-U\n").encode())
    assert problems == [], out
    with tenant.session() as s:
        assert {"zephirin", "abanda"} <= _words(s)
        found = srch.search_individuals(s, principal=system(), q="zefirin abanda").items
        assert [p.external_id for p in found] == ["P1"]
    # a merge retires one record (inactive): the kept one is still found by its words
    from schemehost.tenants.registry.services import duplicates as dup

    with tenant.session() as s:
        a = ppl.create_individual(s, person(ids["N-R-T-L"], given="Ulrich", family="Moukoko", birth="1977-07-07"),
                                  principal=system()).id
        b = ppl.create_individual(s, person(ids["N-R-T-L"], given="Ulrick", family="Moukoko", birth="1977-07-07"),
                                  principal=system()).id
        dup.flag_probable_duplicates(s, [a, b])
        flag = s.execute(select(DuplicateFlag).where(DuplicateFlag.individual_id.in_([a, b]))).scalar_one()
        dup.merge_flag(s, flag.id, a, principal=system())
        assert {"ulrich", "ulrick", "moukoko"} <= _words(s)
        assert [p.id for p in srch.search_individuals(s, principal=system(), q="ulrich moukokoo").items] == [a]
    # erasure: the words only the erased person held leave the dictionary, shared ones stay
    from schemehost.tenants.registry.privacy import erase_individual

    with tenant.session() as s:
        erase_individual(s, made[("Issa", "Gallo")], principal=system())
        words = _words(s)
        assert "kowalczyk" not in words and "issa" in words
        assert not any(w.startswith("erased") or w.startswith("#") for w in words)
        assert srch.search_individuals(s, principal=system(), q="issa kowalczyk").items == []
