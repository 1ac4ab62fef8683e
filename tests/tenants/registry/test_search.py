"""Searching people: typo- and accent-tolerant names ranked by similarity, exact identifiers and
phones, location subtrees, keyset pages, and the location restriction (services, API, console)."""

from __future__ import annotations

import pytest

from schemehost.platform.errors import ValidationError
from schemehost.tenants.registry.services import people as ppl
from schemehost.tenants.registry.services import search as srch

from ._people import be_nn, people_tenant, person, system  # noqa: F401


@pytest.fixture
def registered(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        made = {
            "elodie": ppl.create_individual(s, person(ids["N-R-T-U"], given="Élodie", family="Nguyễn",
                                                      national_id=be_nn("850730", 33), phone="0470 12 34 56"),
                                            principal=system()).id,
            "marie": ppl.create_individual(s, person(ids["N-R-T-L"], given="Marie", family="Dupont",
                                                     birth="1990-01-01"), principal=system()).id,
            "mario": ppl.create_individual(s, person(ids["S-H-M-P"], given="Mario", family="Dupond", sex="male",
                                                     birth="1970-02-02", phone="0471 23 45 67"),
                                           principal=system()).id,
            "jan": ppl.create_individual(s, person(ids["S-H-M-P"], given="Jan", family="Peeters", sex="male",
                                                   birth="1960-03-03"), principal=system()).id,
        }
    return tenant, ids, made


def _ids(page):
    return [p.id for p in page.items]


def test_names_are_found_despite_accents_typos_and_order(registered):
    tenant, ids, made = registered
    with tenant.session() as s:
        assert _ids(srch.search_individuals(s, principal=system(), q="elodie nguyen"))[0] == made["elodie"]
        assert _ids(srch.search_individuals(s, principal=system(), q="ELODY NGUYEN"))[0] == made["elodie"]
        assert _ids(srch.search_individuals(s, principal=system(), q="nguyen"))[0] == made["elodie"]
        found = srch.search_individuals(s, principal=system(), q="marie dupont")
        assert _ids(found)[:2] == [made["marie"], made["mario"]]  # the exact name ranks first
        assert found.scores[made["marie"]] > found.scores[made["mario"]]
        assert _ids(srch.search_individuals(s, principal=system(), q="zzzzzz")) == []
        with pytest.raises(ValidationError) as err:
            srch.search_individuals(s, principal=system(), q="é ")
        assert list(err.value.errors) == ["q"]


def test_identifiers_and_phones_are_matched_after_normalisation(registered):
    tenant, ids, made = registered
    with tenant.session() as s:
        assert _ids(srch.search_individuals(s, principal=system(), identifier="85.07.30-033.28")) == [made["elodie"]]
        assert _ids(srch.search_individuals(s, principal=system(), national_id="85073003328")) == [made["elodie"]]
        number = s.get(ppl.Individual, made["jan"]).scheme_number
        assert _ids(srch.search_individuals(s, principal=system(), identifier=f" {number} ")) == [made["jan"]]
        assert _ids(srch.search_individuals(s, principal=system(), identifier="85073003329")) == []
        assert _ids(srch.search_individuals(s, principal=system(), phone="+32 470 12 34 56")) == [made["elodie"]]
        assert _ids(srch.search_individuals(s, principal=system(), phone="0471234567")) == [made["mario"]]
        with pytest.raises(ValidationError) as err:
            srch.search_individuals(s, principal=system(), phone="12")
        assert list(err.value.errors) == ["phone"]


def test_location_subtrees_status_and_keyset_pages(registered):
    tenant, ids, made = registered
    with tenant.session() as s:
        assert set(_ids(srch.search_individuals(s, principal=system(), location_id=ids["S"]))) == {
            made["mario"], made["jan"]}
        assert _ids(srch.search_individuals(s, principal=system(), location_id=ids["N-R-T-L"])) == [made["marie"]]
        ppl.update_individual(s, made["jan"], {"status": "deceased"}, principal=system())
        assert _ids(srch.search_individuals(s, principal=system(), location_id=ids["S"])) == [made["mario"]]
        assert made["jan"] in _ids(srch.search_individuals(s, principal=system(), location_id=ids["S"], status="any"))

        first = srch.search_individuals(s, principal=system(), status="any", limit=3)
        second = srch.search_individuals(s, principal=system(), status="any", limit=3, after=first.next)
        assert first.next and second.next is None
        assert _ids(first) + _ids(second) == sorted(made.values())
        ranked = srch.search_individuals(s, principal=system(), q="dupont", limit=1)
        rest = srch.search_individuals(s, principal=system(), q="dupont", limit=1, after=ranked.next)
        assert _ids(ranked) == [made["marie"]] and _ids(rest) == [made["mario"]]
        with pytest.raises(ValidationError):
            srch.search_individuals(s, principal=system(), after="x.y")


def test_a_location_restricted_user_finds_only_people_of_their_area(registered):
    tenant, ids, made = registered
    north = system([ids["N-R"]])
    with tenant.session() as s:
        assert set(_ids(srch.search_individuals(s, principal=north))) == {made["elodie"], made["marie"]}
        assert _ids(srch.search_individuals(s, principal=north, q="mario dupond")) == [made["marie"]]
        assert _ids(srch.search_individuals(s, principal=north, phone="0471234567")) == []
        assert _ids(srch.search_individuals(s, principal=north, location_id=ids["S"])) == []
        assert srch.search_households(s, principal=north).items == []


def test_console_search_for_a_restricted_user(client, registered, tenant_user):
    from schemehost.tenants.identity.models import UserLocation
    from tests.tenants.test_sessions import sign_in

    tenant, ids, made = registered
    user_id, email, password = tenant_user(tenant, roles=("tenant_admin",))
    with tenant.session() as s:
        s.add(UserLocation(user_id=user_id, location_id=ids["S"]))
    assert sign_in(client, tenant, email, password).status_code in (302, 303)
    page = client.get(f"/t/{tenant.slug}/registry/people/?q=dupont")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Mario" in html and "Marie" not in html
    everyone = client.get(f"/t/{tenant.slug}/registry/people/").get_data(as_text=True)
    assert "Jan" in everyone and "Élodie" not in everyone
    assert client.get(f"/t/{tenant.slug}/registry/people/{made['elodie']}").status_code == 404
    bad = client.get(f"/t/{tenant.slug}/registry/people/?phone=12")
    assert bad.status_code == 200 and "phone number" in bad.get_data(as_text=True)


def test_api_search_pages_and_errors(client, client_token, registered, make_tenant):
    tenant, ids, made = registered
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=('registry.read',))}"}
    base = f"/t/{tenant.slug}/api/v1/individuals"
    found = client.get(f"{base}?q=dupont&limit=1", headers=headers)
    assert found.status_code == 200 and [p["id"] for p in found.json] == [made["marie"]]
    assert found.json[0]["score"] > 0.5 and 'rel="next"' in found.headers["Link"]
    nxt = found.headers["Link"].split(">")[0].lstrip("<")
    assert [p["id"] for p in client.get(nxt, headers=headers).json] == [made["mario"]]
    assert [p["id"] for p in client.get(f"{base}?phone=0470123456", headers=headers).json] == [made["elodie"]]
    assert [p["id"] for p in client.get(f"{base}?location={ids['N']}", headers=headers).json] == [
        made["elodie"], made["marie"]]
    bad = client.get(f"{base}?phone=12&status=lost", headers=headers)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert set(bad.json["errors"]) == {"phone", "status"}
    households = client.get(f"/t/{tenant.slug}/api/v1/households", headers=headers)
    assert households.status_code == 200 and households.json == []
    other = make_tenant("blank")
    there = {"Authorization": f"Bearer {client_token(other, scopes=('registry.read',))}"}
    assert client.get(f"/t/{other.slug}/api/v1/individuals?q=dupont", headers=there).json == []


def test_one_slip_keeps_a_name_above_the_threshold_a_lone_common_name_does_not(app, pg):
    names = ["marie dupont", "jean fotso", "elodie nguyen", "aicha moussa", "jean-pierre mbarga atangana"]
    for name in names:
        slips = set()
        for i in range(1, len(name) - 1):
            slips |= {name[:i] + name[i + 1:], name[:i] + name[i] + name[i:], name[:i] + "x" + name[i + 1:],
                      name[:i] + name[i + 1] + name[i] + name[i + 2:]}
        for slip in slips:
            sim = pg.execute("SELECT shared.similarity(%s, %s)", (slip, name)).fetchone()[0]
            assert sim >= srch.name_threshold(slip), (slip, name, sim)
        namesake = name.split()[0] + " kowalczyk"  # the same given name, another family
        assert pg.execute("SELECT shared.similarity(%s, %s)", (namesake, name)).fetchone()[0] < \
            srch.name_threshold(name)
        # pg_trgm counts the same trigrams as the threshold does
        assert pg.execute("SELECT cardinality(shared.show_trgm(%s))", (name,)).fetchone()[0] == \
            srch.trigram_count(name)


def test_one_slip_keeps_every_filtered_word_of_a_two_word_query_in_the_name(app, pg):
    """A two-word query also asks each word of 4 letters or more to be partly in the name
    (``search.filtered_words``): after any one slip the registered name still passes, as pg_trgm
    computes it; a namesake sharing only one word does not."""
    names = ["marie dupont", "jean fotso", "elodie nguyen", "aicha moussa", "edwige ba", "issa sow",
             "fatimatou kambi", "oumarou bello"]
    pg.execute("SELECT set_config('pg_trgm.word_similarity_threshold', %s, false)",
               (str(srch.WORD_FILTER_THRESHOLD),))
    for name in names:
        slips = set()
        for i in range(1, len(name) - 1):
            slips |= {name[:i] + name[i + 1:], name[:i] + name[i] + name[i:], name[:i] + "x" + name[i + 1:],
                      name[:i] + name[i + 1] + name[i] + name[i + 2:]}
        for slip in slips:
            for word in srch.filtered_words(slip):
                assert pg.execute("SELECT %s OPERATOR(shared.<%%) %s", (word, name)).fetchone()[0], (slip, word)
        if len(srch.filtered_words(name)) == 2:  # a short word ("ba", "sow") is not filtered on
            namesake = name.split()[0] + " kowalczyk"
            assert not all(pg.execute("SELECT %s OPERATOR(shared.<%%) %s", (w, namesake)).fetchone()[0]
                           for w in srch.filtered_words(name))
