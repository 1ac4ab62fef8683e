"""Registry console pages with a signed-in tenant user: tree, forms, errors beside fields, permissions."""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path

import pytest

from schemehost.tenants.registry import services as reg

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402


def _signed_in(app, tenant, tenant_user, roles):
    client = app.test_client()
    own_address(client)
    _uid, email, password = tenant_user(tenant, roles=roles)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


@pytest.fixture
def admin(app, tenant, tenant_user):
    return _signed_in(app, tenant, tenant_user, ("tenant_admin",))


def _post(client, page, action, data):
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={"csrf_token": csrf_from(html), **data})


def test_tree_page_creates_renames_moves_and_deletes_locations(admin, tenant, tree):
    base = f"/t/{tenant.slug}/registry"
    page = admin.get(f"{base}/locations/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'class="tree"' in html and "<details open>" in html
    assert re.search(r'data-code="N-R-T-U".*Upper', html, re.S)

    resp = _post(admin, f"{base}/locations/", f"{base}/locations/new", {"code": "E", "name": "East"})
    assert resp.status_code == 302
    dup = _post(admin, f"{base}/locations/", f"{base}/locations/new", {"code": "E", "name": "East again"})
    assert dup.status_code == 409 and "This code is already taken." in dup.get_data(as_text=True)

    town = f"{base}/locations/{tree['N-R-T']}"
    child = _post(admin, town, f"{base}/locations/new", {"parent_id": tree["N-R-T"], "code": "N-R-T-M",
                                                         "name": "Middle"})
    assert child.status_code == 302 and child.headers["Location"].endswith(f"/locations/{tree['N-R-T']}")
    assert "Middle" in admin.get(town).get_data(as_text=True)

    assert _post(admin, town, f"{town}/rename", {"name": "Old Town", "code": "N-R-T"}).status_code == 302
    bad_move = _post(admin, town, f"{town}/move", {"parent": "S"})
    text = bad_move.get_data(as_text=True)
    assert bad_move.status_code == 422 and "A Municipality goes below a District, not below a Region" in text
    missing = _post(admin, town, f"{town}/move", {"parent": "NOPE"})
    assert missing.status_code == 422 and "No location with code" in missing.get_data(as_text=True)
    assert _post(admin, town, f"{town}/move", {"parent": "S-H"}).status_code == 302
    moved = admin.get(town).get_data(as_text=True)
    assert "Old Town" in moved and re.search(r"South</a>\s*›\s*<a[^>]*>Hills", moved)

    pop = _post(admin, town, f"{town}/population", {"male_population": "5", "female_population": "7",
                                                    "families": "3"})
    assert pop.status_code == 302
    with tenant.session() as s:
        loc = reg.get_location(s, tree["N-R-T"])
        assert (loc.name, loc.male_population, loc.families, loc.path[0]) == ("Old Town", 5, 3, tree["S"])

    in_use = _post(admin, town, f"{town}/delete", {})
    assert in_use.status_code == 302
    assert "still used" in admin.get(in_use.headers["Location"]).get_data(as_text=True)
    leaf = f"{base}/locations/{tree['N-R-T-U']}"
    assert _post(admin, leaf, f"{leaf}/delete", {}).status_code == 302
    assert admin.get(leaf).status_code == 404


def test_a_big_tree_shows_the_upper_levels_and_links_to_the_rest(app, admin, tenant, tree):
    app.config["REGISTRY_TREE_MAX_NODES"] = 3
    try:
        html = admin.get(f"/t/{tenant.slug}/registry/locations/").get_data(as_text=True)
    finally:
        del app.config["REGISTRY_TREE_MAX_NODES"]
    assert 'data-code="N"' in html and 'data-code="N-R"' not in html
    assert f'href="/t/{tenant.slug}/registry/locations/?root={tree["N"]}">1 below</a>' in html
    sub = admin.get(f"/t/{tenant.slug}/registry/locations/?root={tree['N-R']}").get_data(as_text=True)
    assert 'data-code="N-R-T-U"' in sub and 'data-code="S"' not in sub and "All locations" in sub
    found = admin.get(f"/t/{tenant.slug}/registry/locations/?q=upp").get_data(as_text=True)
    assert re.search(r'Found.*Upper.*N-R-T-U', found, re.S)


def test_facility_catalogue_and_price_list_pages(admin, tenant, tree):
    base = f"/t/{tenant.slug}/registry"
    form = {"code": "HC", "name": "Upper centre", "level": "health_centre", "care_type": "both",
            "location": "N-R-T-U", "contract_start": "2026-01-01", "contract_end": "2025-01-01", "status": "active"}
    bad = _post(admin, f"{base}/facilities/new", f"{base}/facilities/new", form | {"location": "N"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    assert "The end cannot be before the start." in text and "not in a Region" in text
    ok = _post(admin, f"{base}/facilities/new", f"{base}/facilities/new", form | {"contract_end": "2026-12-31"})
    assert ok.status_code == 302
    listing = admin.get(f"{base}/facilities/").get_data(as_text=True)
    assert 'data-code="HC"' in listing and "Upper" in listing

    entry = _post(admin, f"{base}/catalogue/new", f"{base}/catalogue/new", {
        "kind": "service", "code": "ANC", "name": "Antenatal visit", "type": "consultation", "unit_price": "20.50",
        "care_type": "out_patient", "patient_sex": "female", "patient_age": "any"})
    assert entry.status_code == 302
    wrong = _post(admin, f"{base}/catalogue/new", f"{base}/catalogue/new", {
        "kind": "service", "code": "PARA", "name": "Paracetamol", "type": "medicine", "unit_price": "1.234",
        "care_type": "both", "patient_sex": "any", "patient_age": "any"})
    assert wrong.status_code == 422 and "at most 2 decimals" in wrong.get_data(as_text=True)
    assert "$20.50" in admin.get(f"{base}/catalogue/?kind=service").get_data(as_text=True)

    created = _post(admin, f"{base}/price-lists/new", f"{base}/price-lists/new", {
        "code": "HC-2026", "name": "Centre tariff", "facility": "HC", "valid_from": "2026-01-01"})
    assert created.status_code == 302
    page = created.headers["Location"]
    assert _post(admin, page, f"{page}/prices", {"entry": "ANC", "price": "25"}).status_code == 302
    unknown = _post(admin, page, f"{page}/prices", {"entry": "NOPE", "price": "25"})
    assert unknown.status_code == 422 and "unknown catalogue entry" in unknown.get_data(as_text=True)
    assert "$25.00" in admin.get(page).get_data(as_text=True)
    bad_period = _post(admin, page, page, {"code": "HC-2026", "name": "Centre tariff", "valid_from": "2026-01-01",
                                           "valid_to": "2025-01-01"})
    assert bad_period.status_code == 422 and "The end cannot be before the start." in bad_period.get_data(as_text=True)

    with tenant.session() as s:
        facility = reg.get_facility_by_code(s, "HC")
        anc = reg.get_entry_by_code(s, "ANC")
        assert reg.price_for(s, facility.id, "ANC", date(2026, 5, 1)).amount == 2500
    fpage = f"{base}/facilities/{facility.id}"
    edit = admin.get(fpage).get_data(as_text=True)
    assert 'value="N-R-T-U"' in edit and "Centre tariff" in edit
    saved = _post(admin, fpage, fpage, form | {"contract_end": "2026-12-31", "status": "inactive", "name": "Closed"})
    assert saved.status_code == 302
    epage = f"{base}/catalogue/{anc.id}"
    assert 'value="20.50"' in admin.get(epage).get_data(as_text=True)
    saved = _post(admin, epage, epage, {"code": "ANC", "name": "Antenatal care visit", "type": "consultation",
                                        "unit_price": "21", "care_type": "both", "patient_sex": "female",
                                        "patient_age": "any"})
    assert saved.status_code == 302
    with tenant.session() as s:
        assert reg.get_facility(s, facility.id).status == "inactive"
        assert (reg.get_entry(s, anc.id).name, reg.get_entry(s, anc.id).unit_price) == ("Antenatal care visit", 2100)


def test_readers_see_pages_without_forms_and_cannot_post(app, tenant, tenant_user, tree):
    reader = _signed_in(app, tenant, tenant_user, ("read_only",))
    base = f"/t/{tenant.slug}/registry"
    html = reader.get(f"{base}/locations/{tree['N-R']}").get_data(as_text=True)
    assert "Riverside" in html and "/rename" not in html and "Delete location" not in html
    assert 'href="/t/%s/registry/locations/"' % tenant.slug in reader.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    resp = _post(reader, f"{base}/locations/", f"{base}/locations/new", {"code": "Z", "name": "Z"})
    assert resp.status_code == 403
    assert reader.get(f"{base}/facilities/new").status_code == 403
    outsider = _signed_in(app, tenant, tenant_user, ())
    assert outsider.get(f"{base}/locations/").status_code == 403
