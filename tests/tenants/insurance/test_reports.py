"""Insurance reports against figures added up by hand on the small scheme of ``payment_data``: policies
by status and district, contributions per month, claims by status, amounts claimed against valuated
per month and per facility — as JSON, as CSV, on the console page, and within a user's district."""

from __future__ import annotations

import csv
import io

import pytest

from tests.tenants.test_audit import sign_in_tenant_user

from .payment_data import build_payment_world
from .test_products_api import Api

MONTHS = [
    {"month": "2026-10", "currency": "TZS", "claims": 5, "claimed": 260_000, "valuated_claims": 4,
     "claimed_valuated": 250_000, "valuated": 225_000},
    {"month": "2026-11", "currency": "TZS", "claims": 4, "claimed": 80_000, "valuated_claims": 1,
     "claimed_valuated": 40_000, "valuated": 40_000},
]


@pytest.fixture(scope="module")
def world(make_module_tenant):
    return build_payment_world(make_module_tenant("health-insurance", prefix="ir"))


@pytest.fixture
def api(client, client_token, world):
    return Api(client, client_token(world.tenant, scopes=("reports.read",)))


def _get(api, world, kind, **query):
    resp = api.get(f"/t/{world.slug}/api/v1/insurance/reports/{kind}", query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def test_the_figures_are_the_hand_computed_sums(api, world):
    policies = _get(api, world, "policies").json
    assert [(r["name"], r["level"], r["active"], r["idle"], r["total"]) for r in policies] == [
        ("North", "District", 1, 1, 2), ("South", "District", 1, 0, 1)]
    by_village = _get(api, world, "policies", level="Village").json
    assert {r["area"]: r["total"] for r in by_village} == {"VN": 2, "VS": 1}

    assert _get(api, world, "contributions").json == [
        {"month": "2026-09", "currency": "TZS", "contributions": 1, "amount": 1_000_000},
        {"month": "2026-10", "currency": "TZS", "contributions": 3, "amount": 5_500_000}]
    october = _get(api, world, "contributions", date_from="2026-10-01", date_to="2026-10-31").json
    assert [r["month"] for r in october] == ["2026-10"]

    claims = {r["status"]: (r["claims"], r["claimed"], r["valuated"]) for r in _get(api, world, "claims").json}
    assert claims == {"entered": (1, 20_000, 0), "checked": (1, 5_000, 0), "processed": (1, 15_000, 0),
                      "valuated": (5, 290_000, 265_000), "rejected": (1, 10_000, 0)}

    assert _get(api, world, "months").json == MONTHS
    assert _get(api, world, "months", date_from="2026-11-01").json == MONTHS[1:]
    facilities = _get(api, world, "facilities").json
    assert [(r["facility"], r["claims"], r["claimed"], r["valuated_claims"], r["claimed_valuated"], r["valuated"])
            for r in facilities] == [("FN", 6, 250_000, 4, 220_000, 205_000), ("FS", 3, 90_000, 1, 70_000, 60_000)]


def test_csv_has_the_same_rows(api, world):
    resp = _get(api, world, "months", format="csv")
    assert resp.mimetype == "text/csv"
    assert 'filename="insurance-months.csv"' in resp.headers["Content-Disposition"]
    text = resp.get_data(as_text=True)
    assert text.splitlines()[0] == "month,currency,claims,claimed,valuated_claims,claimed_valuated,valuated"
    assert list(csv.DictReader(io.StringIO(text))) == [{k: str(v) for k, v in row.items()} for row in MONTHS]


def test_bad_options_are_422_with_field_errors(api, world):
    base = f"/t/{world.slug}/api/v1/insurance/reports"
    for path, query, field in ((f"{base}/months", {"date_from": "2026-11-01", "date_to": "2026-10-01"}, "date_to"),
                               (f"{base}/nope", {}, "kind"), (f"{base}/policies", {"level": "Galaxy"}, "level"),
                               (f"{base}/claims", {"date_from": "yesterday"}, "date_from")):
        resp = api.get(path, query_string=query)
        assert resp.status_code == 422, (path, resp.get_data(as_text=True))
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert field in str(resp.json.get("errors")), resp.json


def test_a_user_of_one_district_sees_its_figures_only(app, world, tenant_user):
    from schemehost.tenants.identity.models import UserLocation

    uid, email, password = tenant_user(world.tenant, roles=("auditor",))
    with world.tenant.session() as s:
        s.add(UserLocation(user_id=uid, location_id=world.locations["DS"]))
    officer = app.test_client()
    sign_in_tenant_user(officer, world.tenant, email, password)
    page = officer.get(f"/t/{world.slug}/insurance/reports")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-area="DS"' in html and 'data-area="DN"' not in html
    assert 'data-key="FS"' in html and 'data-key="FN"' not in html
    rows = list(csv.DictReader(io.StringIO(officer.get(f"/t/{world.slug}/insurance/reports/claims.csv")
                                           .get_data(as_text=True))))
    assert {r["status"]: (r["claims"], r["claimed"]) for r in rows} == {
        "entered": ("0", "0"), "checked": ("1", "5000"), "processed": ("1", "15000"), "valuated": ("1", "70000"),
        "rejected": ("0", "0")}
    contributions = officer.get(f"/t/{world.slug}/insurance/reports/contributions.csv").get_data(as_text=True)
    assert contributions.splitlines()[1:] == ["2026-10,TZS,1,3000000"]
    # bad dates on the page: shown beside the filters, 422
    bad = officer.get(f"/t/{world.slug}/insurance/reports", query_string={"date_from": "2026-12-01",
                                                                         "date_to": "2026-01-01"})
    assert bad.status_code == 422 and "before the start of the period" in bad.get_data(as_text=True)
    # the report needs reports.read: a facility cashier gets 403
    _uid, cashier_email, cashier_password = tenant_user(world.tenant, roles=("facility_cashier",))
    cashier = app.test_client()
    sign_in_tenant_user(cashier, world.tenant, cashier_email, cashier_password)
    assert cashier.get(f"/t/{world.slug}/insurance/reports").status_code == 403
