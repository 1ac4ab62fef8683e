"""No request ever sees another tenant's data: every tenant route, from the app's URL map, against
tenant B's access token, tenant B's session cookie (as sent, and renamed to tenant A's cookie), an
operator's API token, and — with tenant A's own credentials — ids and codes taken from tenant B.

Routes are enumerated from ``app.url_map``, so a route added later is covered without editing
this file. A route may answer a foreign credential only with a refusal (401, 403, 404, 405, 400
for a missing CSRF token, or a redirect to the sign-in page); only the public sign-in pages
(``/login...``, ``/logout``, ``/oauth/...``) may answer otherwise, and no answer may ever contain
the other tenant's data.
"""

from __future__ import annotations

import re

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter

from schemehost.platform.permissions import PERMISSIONS
from tests.tenants.test_sessions import sign_in

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
REFUSALS = {400, 401, 403, 404, 405, 410}
PUBLIC = re.compile(r"^/t/<slug>/(login|logout|oauth)(/|$)")
ALL_PERMISSIONS = [name for name, perm in PERMISSIONS.items() if perm.module in (None, "registry")]


def tenant_rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/t/<slug>")), key=lambda r: r.rule)


def url_for_rule(rule, slug: str, values: dict) -> str:
    """The path of ``rule`` in tenant ``slug`` with its other arguments taken from ``values``."""
    args = {"slug": slug}
    for name in rule.arguments - {"slug"}:
        conv = rule._converters[name]
        if isinstance(conv, AnyConverter):
            args[name] = sorted(conv.items)[0] if hasattr(conv, "items") else re.findall(r"\w+", conv.regex)[0]
        elif isinstance(conv, IntegerConverter):
            args[name] = values.get(name, values["int"])
        else:
            args[name] = values.get(name, "x")
    path = rule.rule
    for name, value in args.items():
        path = re.sub(rf"<(?:[^:<>]+(?:\([^)]*\))?:)?{name}>", str(value), path)
    return path


def seed(tenant, client_token, tenant_user, marker: str) -> dict:
    """Data of one tenant carrying ``marker`` in every readable field, and its credentials."""
    from schemehost.tenants.core.services import put_setting
    from schemehost.tenants.identity.clients import create_client
    from schemehost.tenants.registry.services.locations import create_location

    user_id, email, password = tenant_user(tenant, name=f"{marker} user")
    with tenant.session() as s:
        put_setting(s, "display_name", f"{marker} scheme")
        client, _secret = create_client(s, f"{marker} client", ["registry.read"], created_by="tests",
                                        actor=("system", "tests", "tests"))
        client_id = client.client_id
        location_id = create_location(s, code=f"{marker}R", name=f"{marker} region").id
    token = client_token(tenant, scopes=ALL_PERMISSIONS)
    return {"user_id": user_id, "email": email, "password": password, "client_id": client_id, "token": token,
            "location_id": location_id}


@pytest.fixture
def pair(app, make_tenant, client_token, tenant_user):
    a, b = make_tenant("health-insurance", prefix="xa"), make_tenant("health-insurance", prefix="xb")
    data_a = seed(a, client_token, tenant_user, "MARKERA")
    data_b = seed(b, client_token, tenant_user, "MARKERB")
    browser = app.test_client()
    assert sign_in(browser, b, data_b["email"], data_b["password"]).status_code == 302
    cookie = next(c for c in browser._cookies.values() if c.key == f"sh_t{b.id}")
    data_b["cookie"] = cookie.value
    return a, b, data_a, data_b


def _values(data: dict) -> dict:
    return {"int": data["location_id"], "user_id": data["user_id"], "location_id": data["location_id"],
            "client_id": data["client_id"],
            "code": "tenant_admin", "key": "display_name", "token": "x" * 43}


def _leaks(resp, marker: str) -> bool:
    return marker in resp.get_data(as_text=True)


def _refused(rule, resp) -> bool:
    if resp.status_code in REFUSALS:
        return True
    if resp.status_code in (302, 303):
        return "/login" in resp.headers.get("Location", "")
    return False


def _requests(app, a, b, data_a, data_b, operator_token):
    """(label, headers) of each foreign credential presented at tenant A."""
    return [
        ("tenant B's token", {"Authorization": f"Bearer {data_b['token']}"}),
        ("tenant B's cookie", {"Cookie": f"sh_t{b.id}={data_b['cookie']}"}),
        ("tenant B's cookie renamed to A's", {"Cookie": f"sh_t{a.id}={data_b['cookie']}"}),
        ("an operator's API token", {"Authorization": f"Bearer {operator_token}"}),
    ]


def test_every_tenant_route_refuses_another_tenants_credentials(app, pair, operator_token):
    a, b, data_a, data_b = pair
    client = app.test_client(use_cookies=False)
    checked, problems = 0, []
    for rule in tenant_rules(app):
        path = url_for_rule(rule, a.slug, _values(data_b))
        for method in sorted(set(METHODS) & rule.methods):
            for label, headers in _requests(app, a, b, data_a, data_b, operator_token):
                resp = client.open(path, method=method, headers={**headers, "Accept": "text/html"}, json={})
                checked += 1
                if _leaks(resp, "MARKERA") or _leaks(resp, "MARKERB"):
                    problems.append(f"{method} {path} with {label}: data in the answer ({resp.status_code})")
                elif not PUBLIC.match(rule.rule) and not _refused(rule, resp):
                    problems.append(f"{method} {path} with {label}: {resp.status_code}")
    assert checked > 300, checked  # the URL map really was enumerated
    assert not problems, "\n".join(problems)


def test_ids_and_codes_of_another_tenant_never_reach_its_data(app, pair):
    """Tenant A's own admin token with B's user id, client id, ... : answers hold A's data or nothing."""
    a, b, data_a, data_b = pair
    client = app.test_client(use_cookies=False)
    headers = {"Authorization": f"Bearer {data_a['token']}"}
    read = 0
    for rule in tenant_rules(app):
        if "GET" not in rule.methods or not rule.arguments - {"slug"}:
            continue
        path = url_for_rule(rule, a.slug, _values(data_b))
        resp = client.get(path, headers=headers)
        read += 1
        assert not _leaks(resp, "MARKERB"), f"GET {path}: tenant B's data in tenant A's answer"
        assert resp.status_code < 500, f"GET {path}: {resp.status_code}"
    assert read > 10, read


def test_tenant_a_sees_its_own_data_with_its_own_token(app, pair):
    """The markers really are readable by their owner, so the absence above means something."""
    a, _b, data_a, _data_b = pair
    resp = app.test_client().get(f"/t/{a.slug}/api/v1/settings/display_name",
                                 headers={"Authorization": f"Bearer {data_a['token']}"})
    assert resp.status_code == 200 and "MARKERA" in resp.get_data(as_text=True)
