"""Products API: definition with field-level errors, versions when a product in use changes,
permissions and tenant isolation."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance.models import InsuranceProduct, ProductCoverage

from .conftest import ALL_INSURANCE, build_scheme, product_body


class Api:
    def __init__(self, client, token):
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        return lambda path, **kw: getattr(self.client, method)(path, headers=self.headers, **kw)


def _api(client, client_token, scheme, scopes=ALL_INSURANCE) -> Api:
    return Api(client, client_token(scheme.tenant, scopes=scopes))


def test_a_product_is_defined_with_coverage_from_the_catalogue(client, client_token, scheme):
    api = _api(client, client_token, scheme)
    base = f"/t/{scheme.slug}/api/v1/insurance/products"
    resp = api.post(base, json=product_body(cycle_starts=["07-01", "01-01"], grace_period_days=30,
                                            cost_sharing={"ceiling_policy_in_patient": 50_000_000,
                                                          "deductible_insuree_out_patient": 10_000}))
    assert resp.status_code == 201, resp.json
    product = resp.json
    assert resp.headers["Location"].endswith(f"/insurance/products/{product['id']}")
    assert (product["version"], product["currency"], product["in_use"]) == (1, "TZS", False)
    assert product["cycle_starts"] == ["01-01", "07-01"]
    assert product["copayment_percent"] == "10.00"
    assert {(c["code"], c["limit_count"], c["limit_amount"]) for c in product["coverage"]} == {
        ("CONS", 4, None), ("PARA", None, 200_000), ("DELIV", None, None), ("OLD", None, None)}
    assert api.get(f"{base}/{product['id']}").json["code"] == "CHF"
    assert [p["id"] for p in api.get(base, query_string={"code": "CHF"}).json] == [product["id"]]
    with scheme.tenant.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.entity_type == "insurance_product")).scalar_one()
        assert entry.action == "create" and entry.after["coverage"]


def test_every_bad_field_is_named_and_nothing_is_saved(client, client_token, scheme):
    api = _api(client, client_token, scheme)
    base = f"/t/{scheme.slug}/api/v1/insurance/products"
    resp = api.post(base, json=product_body(
        code="bad code!", valid_from="2027-01-01", valid_to="2026-01-01", lump_sum=0, premium_adult=0,
        premium_child=0, copayment_percent="150", cycle_starts=["02-29", "13-01"],
        cost_sharing={"ceiling_policy_in_patient": 100, "deductible_policy_in_patient": 500, "ceiling_x": 1},
        coverage=[{"service": "NOPE"}, {"item": "CONS"}, {"service": "CONS", "limit_count": -1}]))
    assert resp.status_code == 422
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    errors = resp.json["errors"]
    for field in ("code", "valid_to", "copayment_percent", "cycle_starts", "cost_sharing.ceiling_policy_in_patient",
                  "cost_sharing.ceiling_x", "coverage.0.code", "coverage.1.code", "coverage.2.limit_count"):
        assert field in errors, (field, errors)
    assert "lump sum or a premium" in errors["lump_sum"][0]
    bad_shape = api.post(base, json={**product_body(), "insurance_period_months": "twelve"})
    assert bad_shape.status_code == 422 and "insurance_period_months" in str(bad_shape.json["errors"])
    with scheme.tenant.session() as s:
        assert s.execute(select(func.count()).select_from(InsuranceProduct)).scalar() == 0
        assert s.execute(select(func.count()).select_from(ProductCoverage)).scalar() == 0


def test_a_taken_code_is_409(client, client_token, scheme):
    api = _api(client, client_token, scheme)
    base = f"/t/{scheme.slug}/api/v1/insurance/products"
    assert api.post(base, json=product_body()).status_code == 201
    resp = api.post(base, json=product_body(name="Other"))
    assert resp.status_code == 409 and "code" in resp.json["errors"]


def test_a_product_not_in_use_changes_in_place(client, client_token, scheme):
    api = _api(client, client_token, scheme)
    base = f"/t/{scheme.slug}/api/v1/insurance/products"
    pid = api.post(base, json=product_body()).json["id"]
    resp = api.patch(f"{base}/{pid}", json={"lump_sum": 3_500_000, "coverage": [{"service": "CONS"}]})
    assert resp.status_code == 200, resp.json
    assert (resp.json["id"], resp.json["version"], resp.json["lump_sum"]) == (pid, 1, 3_500_000)
    assert [c["code"] for c in resp.json["coverage"]] == ["CONS"]
    bad = api.patch(f"{base}/{pid}", json={"valid_to": "2019-01-01"})
    assert bad.status_code == 422 and "valid_to" in bad.json["errors"]
    assert api.get(f"{base}/{pid}").json["valid_to"] is None


def test_a_product_in_use_gets_a_new_version_and_its_policies_keep_theirs(client, client_token, scheme):
    api = _api(client, client_token, scheme)
    base = f"/t/{scheme.slug}/api/v1/insurance/products"
    pid = api.post(base, json=product_body()).json["id"]
    household, _members, _numbers = scheme.household("1980-01-01", "1985-01-01")
    policy = api.post(f"/t/{scheme.slug}/api/v1/insurance/policies",
                      json={"household_id": household, "product_id": pid, "enrol_date": "2026-01-10"})
    assert policy.status_code == 201, policy.json
    # the name changes in place
    renamed = api.patch(f"{base}/{pid}", json={"name": "Family cover (renamed)"})
    assert renamed.status_code == 200 and renamed.json["id"] == pid and renamed.json["in_use"]
    # a change of the rules makes version 2, valid from tomorrow at the earliest
    resp = api.patch(f"{base}/{pid}", json={"lump_sum": 4_000_000, "coverage": [{"service": "CONS"}]})
    assert resp.status_code == 201, resp.json
    new = resp.json
    assert (new["version"], new["lump_sum"], new["code"]) == (2, 4_000_000, "CHF")
    assert new["valid_from"] == max(date.today(), date(2020, 1, 2)).isoformat()
    old = api.get(f"{base}/{pid}").json
    assert old["lump_sum"] == 3_000_000 and len(old["coverage"]) == 4
    assert old["valid_to"] == (date.fromisoformat(new["valid_from"]) - timedelta(days=1)).isoformat()
    assert api.get(f"/t/{scheme.slug}/api/v1/insurance/policies/{policy.json['id']}").json["value"] == 3_000_000
    # only the latest version changes; a new version cannot start before tomorrow's earliest date
    assert api.patch(f"{base}/{pid}", json={"name": "x"}).status_code == 409
    # version 2 (no policy yet) changes in place, but cannot start while version 1 is still valid
    too_early = api.patch(f"{base}/{new['id']}", json={"lump_sum": 1, "valid_from": "2020-01-01"})
    assert too_early.status_code == 422 and "valid_from" in too_early.json["errors"]
    in_place = api.patch(f"{base}/{new['id']}", json={"lump_sum": 4_100_000})
    assert (in_place.status_code, in_place.json["id"], in_place.json["version"]) == (200, new["id"], 2)
    assert [p["version"] for p in api.get(base, query_string={"latest": "true"}).json] == [2]


def test_reading_and_writing_need_their_permissions(client, client_token, scheme):
    base = f"/t/{scheme.slug}/api/v1/insurance/products"
    reader = _api(client, client_token, scheme, scopes=("insurance.read",))
    assert reader.get(base).status_code == 200
    assert reader.post(base, json=product_body()).status_code == 403
    officer = _api(client, client_token, scheme, scopes=("insurance.policies.manage",))
    assert officer.get(base).status_code == 200
    nobody = _api(client, client_token, scheme, scopes=("registry.read",))
    resp = nobody.get(base)
    assert resp.status_code == 403 and resp.headers["Content-Type"].startswith("application/problem+json")


def test_another_tenants_products_are_unknown(client, client_token, scheme, make_tenant):
    api = _api(client, client_token, scheme)
    pid = api.post(f"/t/{scheme.slug}/api/v1/insurance/products", json=product_body()).json["id"]
    other = build_scheme(make_tenant("health-insurance"))
    other_api = _api(client, client_token, other)
    assert other_api.get(f"/t/{other.slug}/api/v1/insurance/products/{pid}").status_code == 404
    assert other_api.get(f"/t/{other.slug}/api/v1/insurance/products").json == []
    assert other_api.patch(f"/t/{other.slug}/api/v1/insurance/products/{pid}", json={"name": "x"}).status_code == 404
    # a token of one tenant opens nothing of the other
    assert api.get(f"/t/{other.slug}/api/v1/insurance/products").status_code == 401
