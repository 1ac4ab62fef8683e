"""Deduplication: exact duplicates refused with a pointer, probable ones flagged (on creation and
set-wise for a batch), reviewed in a queue where a person merges or dismisses; all audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.registry.people import DuplicateFlag, Individual
from schemehost.tenants.registry.services import duplicates as dup
from schemehost.tenants.registry.services import people as ppl

from ._people import WRITE, people_tenant, person, system  # noqa: F401
from .conftest import audit_entries


def _flags(s):
    return list(s.execute(select(DuplicateFlag).order_by(DuplicateFlag.id)).scalars())


def test_probable_duplicates_are_flagged_on_creation_and_never_merged(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        first = ppl.create_individual(s, person(ids["N-R-T-U"], given="Marie-Claire", family="Dupont"),
                                      principal=system())
        # similar name + same birth date + same village
        second = ppl.create_individual(s, person(ids["N-R-T-U"], given="Marie Claire", family="Dupond"),
                                       principal=system())
        # same phone in another village
        third = ppl.create_individual(s, person(ids["S-H-M-P"], given="Mari-Claire", family="Dupont",
                                                phone="0470123456"), principal=system())
        fourth = ppl.create_individual(s, person(ids["N-R-T-L"], given="Marie Claire", family="Dupont",
                                                 phone="0470 12 34 56"), principal=system())
        # not flagged: another birth date; another name (third and first: other villages, no shared phone)
        ppl.create_individual(s, person(ids["N-R-T-U"], given="Marie-Claire", family="Dupont", birth="1985-07-31"),
                              principal=system())
        ppl.create_individual(s, person(ids["N-R-T-U"], given="Jan", family="Peeters"), principal=system())
        pairs = [(f.individual_id, f.candidate_id, f.reasons["same"]) for f in _flags(s)]
        assert pairs == [(second.id, first.id, ["birth_date", "village"]),
                         (fourth.id, third.id, ["birth_date", "phone"])]
        assert all(f.status == "open" and 0.5 <= f.score <= 1 for f in _flags(s))
        assert {p.status for p in s.execute(select(Individual)).scalars()} == {"active"}


def test_a_batch_is_flagged_in_one_call_each_pair_once(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        batch = [ppl.create_individual(s, person(ids["N-R-T-U"], given=g, family="Dupont"), principal=system(),
                                       check_duplicates=False).id for g in ("Marie", "Mari", "Marie")]
        assert _flags(s) == []
        assert dup.flag_probable_duplicates(s, batch) == 3
        assert sorted((f.individual_id, f.candidate_id) for f in _flags(s)) == [
            (batch[1], batch[0]), (batch[2], batch[0]), (batch[2], batch[1])]
        assert dup.flag_probable_duplicates(s, batch) == 0  # idempotent
        assert dup.flag_probable_duplicates(s, []) == 0


def test_exact_duplicates_are_refused_at_creation(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        first = ppl.create_individual(s, person(ids["N-R-T-U"], national_id="85073003328"), principal=system())
        with pytest.raises(Conflict) as err:
            ppl.create_household(s, principal=system(), location_id=ids["S-H-M-P"],
                                 head=person(None, given="Someone", national_id="85.07.30-033.28"))
        assert err.value.extra["existing_id"] == first.id


def test_merge_keeps_one_record_moves_membership_and_is_audited(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        hh = ppl.create_household(s, principal=system(), location_id=ids["N-R-T-U"],
                                  head=person(None, given="Jean", family="Dupont", sex="male", birth="1960-01-01"),
                                  members=[{**person(None), "relationship": "spouse", "phone": "0470123456"}])
        in_household = ppl.members(s, hh.id)[1]
        loner = ppl.create_individual(s, person(ids["N-R-T-U"], given="Mary", national_id="85073003328"),
                                      principal=system())
        flag = _flags(s)[0]
        assert {flag.individual_id, flag.candidate_id} == {in_household.id, loner.id}
        with pytest.raises(ValidationError):
            dup.merge_flag(s, flag.id, 999, principal=system())
        kept = dup.merge_flag(s, flag.id, loner.id, principal=system())
        assert kept.id == loner.id
        assert (kept.household_id, kept.relationship, kept.phone) == (hh.id, "spouse", "+32470123456")
        retired = s.get(Individual, in_household.id)
        assert (retired.status, retired.household_id) == ("inactive", None)
        assert flag.status == "merged" and flag.decided_by == "user:1" and flag.decided_at
        with pytest.raises(Conflict):
            dup.dismiss_flag(s, flag.id, principal=system())
        flag_id, loner_id, retired_id = flag.id, loner.id, retired.id
    merges = audit_entries(tenant, action="merge")
    assert {(e.entity_type, e.entity_id) for e in merges} == {
        ("individual", str(loner_id)), ("individual", str(retired_id)), ("duplicate_flag", str(flag_id))}
    kept_entry = next(e for e in merges if e.entity_id == str(loner_id) and e.entity_type == "individual")
    assert kept_entry.details["merged_from"] == retired_id and kept_entry.after["household_id"] is not None
    assert "+32470123456" not in repr([(e.before, e.after, e.details) for e in merges])


def test_dismiss_closes_the_flag_for_good_and_the_queue_respects_areas(people_tenant):
    tenant, ids = people_tenant
    with tenant.session() as s:
        a = ppl.create_individual(s, person(ids["S-H-M-P"], phone="0470123456"), principal=system())
        b = ppl.create_individual(s, person(ids["N-R-T-U"], given="Maria", phone="0470123456"), principal=system())
        flag = _flags(s)[0]
        north = system([ids["N"]])
        assert dup.list_flags(s, principal=north) == []  # one of the two lives outside the area
        with pytest.raises(NotFound):
            dup.dismiss_flag(s, flag.id, principal=north)
        assert [v.flag.id for v in dup.list_flags(s, principal=system())] == [flag.id]
        dup.dismiss_flag(s, flag.id, principal=system())
        assert flag.status == "dismissed" and dup.list_flags(s, principal=system()) == []
        ppl.update_individual(s, b.id, {"given_name": "Marie"}, principal=system())  # re-checked, not re-flagged
        assert len(_flags(s)) == 1 and a.id
    assert [e.action for e in audit_entries(tenant, "duplicate_flag")] == ["dismiss"]


def test_queue_api_and_console(client, client_token, people_tenant, tenant_user, make_tenant):
    from tests.tenants.test_sessions import sign_in

    tenant, ids = people_tenant
    with tenant.session() as s:
        ppl.create_individual(s, person(ids["N-R-T-U"]), principal=system())
        ppl.create_individual(s, person(ids["N-R-T-U"], given="Mary"), principal=system())
        flag_id = _flags(s)[0].id
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=WRITE)}"}
    base = f"/t/{tenant.slug}/api/v1/duplicates"
    queue = client.get(base, headers=headers)
    assert queue.status_code == 200 and [f["id"] for f in queue.json] == [flag_id]
    assert queue.json[0]["reasons"]["same"] == ["birth_date", "village"]
    bad = client.post(f"{base}/{flag_id}/merge", json={"keep_id": 1234567}, headers=headers)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json" and "keep_id" in bad.json["errors"]
    other = make_tenant("blank")
    there = {"Authorization": f"Bearer {client_token(other, scopes=WRITE)}"}
    assert client.post(f"/t/{other.slug}/api/v1/duplicates/{flag_id}/dismiss", headers=there).status_code == 404
    reader = {"Authorization": f"Bearer {client_token(tenant, scopes=('registry.read',))}"}
    assert client.post(f"{base}/{flag_id}/dismiss", headers=reader).status_code == 403

    _uid, email, password = tenant_user(tenant)
    sign_in(client, tenant, email, password)
    page = client.get(f"/t/{tenant.slug}/registry/duplicates/")
    assert page.status_code == 200 and f'data-flag="{flag_id}"' in page.get_data(as_text=True)
    from tests.tenants.test_sessions import csrf_from

    token = csrf_from(page.get_data(as_text=True))
    done = client.post(f"/t/{tenant.slug}/registry/duplicates/{flag_id}",
                       data={"csrf_token": token, "decision": "dismiss"})
    assert done.status_code == 302
    assert client.get(base + "?status=dismissed", headers=headers).json[0]["id"] == flag_id
