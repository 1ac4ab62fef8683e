"""Console pages for people: enrol a household by form, errors beside fields, a person's page,
edit, add a member, change head, leave; pages need registry.read and forms registry.write."""

from __future__ import annotations

from sqlalchemy import select

from schemehost.tenants.registry.people import Household, Individual
from tests.tenants.test_sessions import csrf_from, sign_in

from ._people import people_tenant  # noqa: F401


def _signed_in(client, tenant, tenant_user, roles=("tenant_admin",)):
    _uid, email, password = tenant_user(tenant, roles=roles)
    assert sign_in(client, tenant, email, password).status_code in (302, 303)


def _post(client, path, data):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data})


def test_enrol_a_household_edit_and_manage_members(client, people_tenant, tenant_user):
    tenant, ids = people_tenant
    _signed_in(client, tenant, tenant_user)
    base = f"/t/{tenant.slug}/registry"
    home = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "Households" in home and "People" in home

    bad = _post(client, f"{base}/households/new", {
        "location_id": str(ids["N-R"]), "head.given_name": "Jean", "head.family_name": "Dupont", "head.sex": "male",
        "head.birth_date": "2999-01-01", "head.phone": "12",
        "members.2.given_name": "Anne", "members.2.family_name": "Dupont", "members.2.sex": "female",
        "members.2.relationship": "child"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    for message in ("People live in villages", "cannot be in the future", "not a valid phone number",
                    "A birth date is needed"):
        assert message in html
    assert 'name="members.2.given_name"' in html and 'value="Anne"' in html  # what was typed stays

    done = _post(client, f"{base}/households/new", {
        "location_id": "N-R-T-U", "address": "Rue 1", "head.given_name": "Jean", "head.family_name": "Dupont",
        "head.sex": "male", "head.birth_date": "1980-01-01", "head.phone": "0470 12 34 56",
        "members.0.given_name": "Anne", "members.0.family_name": "Dupont", "members.0.sex": "female",
        "members.0.birth_date": "2010-01-01", "members.0.birth_date_estimated": "y",
        "members.0.relationship": "child"})
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    with tenant.session() as s:
        hh = s.execute(select(Household)).scalar_one()
        anne = s.execute(select(Individual).where(Individual.given_name == "Anne")).scalar_one()
        assert anne.birth_date_estimated and anne.location_id == ids["N-R-T-U"] and anne.household_id == hh.id
        hh_id, anne_id, head_id = hh.id, anne.id, hh.head_id
    page = client.get(f"{base}/households/{hh_id}").get_data(as_text=True)
    assert "Jean Dupont" in page and "Anne Dupont" in page and "Rue 1" in page

    # a member added from the household page
    added = _post(client, f"{base}/people/new?household_id={hh_id}", {
        "given_name": "Paul", "family_name": "Dupont", "sex": "male", "birth_date": "2012-02-02",
        "relationship": "child", "household_id": str(hh_id)})
    assert added.status_code == 302
    # edit with an error, then a good one
    wrong = _post(client, f"{base}/people/{anne_id}/edit", {
        "given_name": "Anne", "family_name": "Dupont", "sex": "female", "birth_date": "2010-01-01",
        "national_id": "85.07.30-033.29", "location_id": str(ids["N-R-T-U"])})
    assert wrong.status_code == 422 and "check digits" in wrong.get_data(as_text=True)
    right = _post(client, f"{base}/people/{anne_id}/edit", {
        "given_name": "Anne-Marie", "family_name": "Dupont", "sex": "female", "birth_date": "2010-01-01",
        "national_id": "85.07.30-033.28", "location_id": str(ids["N-R-T-U"]), "status": "active"})
    assert right.status_code == 302
    person = client.get(f"{base}/people/{anne_id}").get_data(as_text=True)
    assert "Anne-Marie Dupont" in person and "85073003328" in person

    assert _post(client, f"{base}/households/{hh_id}", {}).status_code == 405
    changed = client.post(f"{base}/households/{hh_id}/head",
                          data={"csrf_token": csrf_from(page), "individual_id": str(anne_id)})
    assert changed.status_code == 302
    left = client.post(f"{base}/households/{hh_id}/leave",
                       data={"csrf_token": csrf_from(page), "individual_id": str(head_id)})
    assert left.status_code == 302
    with tenant.session() as s:
        assert s.get(Household, hh_id).head_id == anne_id and s.get(Individual, head_id).household_id is None


def test_reading_only_shows_no_forms_and_refuses_them(client, people_tenant, tenant_user):
    tenant, ids = people_tenant
    reader = "read_only"
    _signed_in(client, tenant, tenant_user, roles=(reader,))
    page = client.get(f"/t/{tenant.slug}/registry/people/")
    if page.status_code == 200:
        assert "Register a person" not in page.get_data(as_text=True)
    assert client.get(f"/t/{tenant.slug}/registry/people/new").status_code == 403
