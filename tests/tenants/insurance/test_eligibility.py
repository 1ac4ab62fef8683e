"""Eligibility: covered or not, the reason, remaining limits (the full limits while no claims exist,
and what the usage view reports once it has rows), permissions and tenant isolation."""

from __future__ import annotations

from datetime import date, timedelta

from .conftest import ALL_INSURANCE, build_scheme, product_body
from .test_policies import _enrol, _pay
from .test_products_api import Api

TODAY = date.today()


def _check(api, scheme, insuree, **params):
    return api.get(f"/t/{scheme.slug}/api/v1/eligibility", query_string={"insuree": insuree, **params})


def _active_household(api, scheme, pid, births=("1980-01-01", "1982-05-05", "2015-01-01"),
                      sexes=("male", "female", "male")):
    household, members, numbers = scheme.household(*births, sexes=sexes)
    start = TODAY - timedelta(days=100)
    policy = api.post(f"/t/{scheme.slug}/api/v1/insurance/policies",
                      json={"household_id": household, "product_id": pid, "enrol_date": start.isoformat()}).json
    assert _pay(api, scheme, policy["id"], policy["value"], f"E-{household}", paid_on=start).status_code == 201
    return policy, members, numbers


def test_covered_with_remaining_limits_and_every_reason_why_not(client, client_token, scheme):
    api = Api(client, client_token(scheme.tenant, scopes=ALL_INSURANCE))
    pid = api.post(f"/t/{scheme.slug}/api/v1/insurance/products",
                   json=product_body(coverage=[{"service": "CONS", "limit_count": 4},
                                               {"item": "PARA", "limit_amount": 200_000},
                                               {"service": "DELIV"}, {"service": "OLD"}])).json["id"]
    policy, members, numbers = _active_household(api, scheme, pid)
    ok = _check(api, scheme, numbers[0], service="CONS")
    assert ok.status_code == 200, ok.json
    body = ok.json
    assert body["covered"] is True and body["reason"] is None
    assert body["policy"]["id"] == policy["id"] and body["item"]["code"] == "CONS"
    assert body["limits"]["count"] == {"limit": 4, "used": 0, "remaining": 4}
    assert body["limits"]["amount"] is None and body["limits"]["copayment_percent"] == "10.00"
    by_id = _check(api, scheme, str(members[0]), item="PARA").json
    assert by_id["covered"] and by_id["limits"]["amount"] == {"limit": 200_000, "used": 0, "remaining": 200_000}
    reasons = {
        "unknown_insuree": _check(api, scheme, "NOBODY-1", service="CONS"),
        "unknown_item": _check(api, scheme, numbers[0], service="NOPE"),
        "not_covered": _check(api, scheme, numbers[0], service="XRAY"),
        "item_not_valid": _check(api, scheme, numbers[0], service="OLD"),
        "not_for_sex": _check(api, scheme, numbers[0], service="DELIV"),
    }
    for reason, resp in reasons.items():
        assert resp.status_code == 200 and resp.json["covered"] is False and resp.json["reason"] == reason, (
            reason, resp.json)
    assert _check(api, scheme, numbers[1], service="DELIV").json["covered"] is True
    # a kind that does not match the code is an unknown item
    assert _check(api, scheme, numbers[0], item="CONS").json["reason"] == "unknown_item"
    # outside the policy's period, and before its coverage started
    assert _check(api, scheme, numbers[0], service="CONS",
                  date=(TODAY + timedelta(days=400)).isoformat()).json["reason"] == "not_insured"
    assert _check(api, scheme, numbers[0], service="CONS",
                  date=(TODAY - timedelta(days=90)).isoformat()).json["reason"] == "waiting_period"
    # suspended
    api.post(f"/t/{scheme.slug}/api/v1/insurance/policies/{policy['id']}/suspend", json={})
    assert _check(api, scheme, numbers[0], service="CONS").json["reason"] == "policy_not_active"


def test_idle_policies_and_uninsured_people(client, client_token, scheme):
    api = Api(client, client_token(scheme.tenant, scopes=ALL_INSURANCE))
    pid = api.post(f"/t/{scheme.slug}/api/v1/insurance/products", json=product_body()).json["id"]
    _policy, _members, numbers = _enrol(api, scheme, pid)
    assert _check(api, scheme, numbers[0], service="CONS").json["reason"] == "policy_not_active"
    _hh, _m, uninsured = scheme.household("1990-01-01")
    assert _check(api, scheme, uninsured[0], service="CONS").json["reason"] == "not_insured"


def test_limits_count_what_the_usage_view_reports(client, client_token, scheme, pg):
    """The claims module will define ``insurance_usage`` over claimed lines; here the view is replaced
    by one over a table of test rows, and the remaining limits follow."""
    api = Api(client, client_token(scheme.tenant, scopes=ALL_INSURANCE))
    pid = api.post(f"/t/{scheme.slug}/api/v1/insurance/products", json=product_body()).json["id"]
    policy, members, numbers = _active_household(api, scheme, pid)
    schema = scheme.tenant.schema
    pg.execute(f'CREATE TABLE "{schema}".test_usage AS SELECT * FROM "{schema}".insurance_usage')
    pg.execute(f'CREATE OR REPLACE VIEW "{schema}".insurance_usage AS SELECT * FROM "{schema}".test_usage')
    pg.execute(f'GRANT SELECT ON "{schema}".test_usage TO "{scheme.tenant.role}"')
    pg.execute(f'INSERT INTO "{schema}".test_usage VALUES (%(p)s, %(i)s, %(e)s, %(d)s, 3, 9000), '
               f'(%(p)s, %(i)s, %(f)s, %(d)s, 1, 200000)',
               {"p": policy["id"], "i": members[0], "e": scheme.entries["CONS"], "f": scheme.entries["PARA"],
                "d": TODAY})
    cons = _check(api, scheme, numbers[0], service="CONS").json
    assert cons["covered"] and cons["limits"]["count"] == {"limit": 4, "used": 3, "remaining": 1}
    para = _check(api, scheme, numbers[0], item="PARA").json
    assert para["covered"] is False and para["reason"] == "limit_reached"
    assert para["limits"]["amount"] == {"limit": 200_000, "used": 200_000, "remaining": 0}
    assert _check(api, scheme, numbers[1], item="PARA").json["covered"] is True  # another member's own limit


def test_bad_queries_permissions_and_isolation(client, client_token, scheme, make_tenant):
    api = Api(client, client_token(scheme.tenant, scopes=ALL_INSURANCE))
    pid = api.post(f"/t/{scheme.slug}/api/v1/insurance/products", json=product_body()).json["id"]
    _policy, _members, numbers = _active_household(api, scheme, pid)
    both = _check(api, scheme, numbers[0], service="CONS", item="PARA")
    assert both.status_code == 422 and "item" in both.json["errors"]
    assert _check(api, scheme, numbers[0]).status_code == 422
    assert api.get(f"/t/{scheme.slug}/api/v1/eligibility", query_string={"service": "CONS"}).status_code == 422
    assert _check(api, scheme, numbers[0], service="CONS", date="soon").status_code == 422
    cashier = Api(client, client_token(scheme.tenant, scopes=("claims.submit",)))  # facility staff
    assert _check(cashier, scheme, numbers[0], service="CONS").json["covered"] is True
    nobody = Api(client, client_token(scheme.tenant, scopes=("registry.read",)))
    assert _check(nobody, scheme, numbers[0], service="CONS").status_code == 403
    other = build_scheme(make_tenant("health-insurance"))
    other_api = Api(client, client_token(other.tenant, scopes=ALL_INSURANCE))
    assert _check(other_api, other, numbers[0], service="CONS").json["reason"] == "unknown_insuree"
