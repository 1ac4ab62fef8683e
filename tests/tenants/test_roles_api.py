"""The roles API and console pages: problem+json with field errors, audit entries, effect on the next request."""

from __future__ import annotations

import re
from itertools import count

import pytest
from sqlalchemy import select

from schemehost.tenants.identity.models import AuditEntry

PROBLEM = "application/problem+json"
HTML = {"Accept": "text/html"}
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|type="hidden" name="csrf_token" value="([^"]+)"')
_addresses = count(1)


@pytest.fixture
def tenant(make_tenant):
    return make_tenant("health-insurance")


@pytest.fixture
def manager(client, client_token, tenant):
    """Calls the tenant's API with a token of a client holding ``users.manage``."""
    token = client_token(tenant, scopes=("users.manage",))

    def call(method, path, **kw):
        return client.open(f"/t/{tenant.slug}/api/v1{path}", method=method,
                           headers={"Authorization": f"Bearer {token}"}, **kw)

    return call


def _audit(tenant, action):
    with tenant.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars())


def _csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def sign_in(app, tenant, email, password):
    client = app.test_client()
    n = next(_addresses)
    client.environ_base["REMOTE_ADDR"] = f"10.88.{n >> 8 & 255}.{n & 255}"
    page = client.get(f"/t/{tenant.slug}/login").get_data(as_text=True)
    resp = client.post(f"/t/{tenant.slug}/login", data={"csrf_token": _csrf(page), "email": email,
                                                         "password": password})
    assert resp.status_code == 302 and "/login" not in resp.headers["Location"]
    return client


def form_post(client, path, data, **kw):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": _csrf(page.get_data(as_text=True)), **data}, **kw)


# ---- API -------------------------------------------------------------------------------------------


def test_create_read_update_delete_a_custom_role(manager, tenant):
    made = manager("POST", "/roles", json={"code": "district_lead", "name": "District lead",
                                            "permissions": ["registry.read", "claims.review"]})
    assert made.status_code == 201, made.json
    assert made.json == {"code": "district_lead", "name": "District lead", "builtin": False,
                         "permissions": ["registry.read", "claims.review"], "users": 0}
    assert made.headers["Location"].endswith(f"/t/{tenant.slug}/api/v1/roles/district_lead")
    assert manager("GET", "/roles/district_lead").json["name"] == "District lead"
    listed = manager("GET", "/roles").json
    assert listed[0]["builtin"] and listed[-1]["code"] == "district_lead"

    changed = manager("PATCH", "/roles/district_lead", json={"permissions": ["registry.read"]})
    assert changed.status_code == 200 and changed.json["permissions"] == ["registry.read"]
    assert manager("DELETE", "/roles/district_lead").status_code == 204
    gone = manager("GET", "/roles/district_lead")
    assert gone.status_code == 404 and gone.mimetype == PROBLEM

    actions = [(e.action, e.actor_type) for e in _audit(tenant, "create") + _audit(tenant, "update")
               + _audit(tenant, "delete") if e.entity_type == "role"]
    assert actions == [("create", "client"), ("update", "client"), ("delete", "client")]


def test_bad_input_is_problem_json_with_field_errors(manager):
    missing = manager("POST", "/roles", json={})
    assert missing.status_code == 422 and missing.mimetype == PROBLEM
    assert {"code", "name"} <= set(missing.json["errors"])

    bad = manager("POST", "/roles", json={"code": "Bad Code", "name": "x",
                                          "permissions": ["registry.read", "vouchers.redeem", "nope"]})
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    assert set(bad.json["errors"]) == {"code", "permissions"}
    assert set(bad.json["errors"]["permissions"]) == {"1", "2"}
    assert "vouchers" in bad.json["errors"]["permissions"]["1"][0]

    assert manager("POST", "/roles", json={"code": "lead", "name": "Lead"}).status_code == 201
    taken = manager("POST", "/roles", json={"code": "lead", "name": "Lead again"})
    assert taken.status_code == 409 and taken.mimetype == PROBLEM and "code" in taken.json["errors"]

    empty = manager("PATCH", "/roles/lead", json={})
    assert empty.status_code == 422 and empty.mimetype == PROBLEM
    admin = manager("PATCH", "/roles/tenant_admin", json={"permissions": ["registry.read"]})
    assert admin.status_code == 422 and "permissions" in admin.json["errors"]
    assert manager("GET", "/roles/tenant_admin").json["permissions"] == ["*"]
    builtin = manager("DELETE", "/roles/auditor")
    assert builtin.status_code == 409 and builtin.mimetype == PROBLEM
    assert manager("PATCH", "/roles/ghost", json={"name": "Ghost"}).status_code == 404


def test_assign_roles_and_locations_to_a_user(manager, tenant, tenant_user):
    admin_id, _e, _p = tenant_user(tenant, roles=("tenant_admin",))
    user_id, _e, _p = tenant_user(tenant, roles=("read_only",))

    put = manager("PUT", f"/users/{user_id}/roles", json={"roles": ["claims_reviewer", "auditor"]})
    assert put.status_code == 200 and put.json == {"user_id": user_id, "roles": ["auditor", "claims_reviewer"]}
    assert manager("GET", f"/users/{user_id}/roles").json["roles"] == ["auditor", "claims_reviewer"]
    entry = _audit(tenant, "role_change")[-1]
    assert (entry.entity_id, entry.actor_type) == (str(user_id), "client")
    assert (entry.before, entry.after) == ({"roles": ["read_only"]}, {"roles": ["auditor", "claims_reviewer"]})

    unknown = manager("PUT", f"/users/{user_id}/roles", json={"roles": ["auditor", "ghost"]})
    assert unknown.status_code == 422 and unknown.json["errors"] == {"roles": {"1": ["unknown role 'ghost'"]}}
    shape = manager("PUT", f"/users/{user_id}/roles", json={"roles": "auditor"})
    assert shape.status_code == 422 and "roles" in shape.json["errors"]
    assert manager("PUT", "/users/987654/roles", json={"roles": []}).status_code == 404
    last = manager("PUT", f"/users/{admin_id}/roles", json={"roles": ["auditor"]})
    assert last.status_code == 409 and last.mimetype == PROBLEM
    assert manager("GET", f"/users/{admin_id}/roles").json["roles"] == ["tenant_admin"]

    locs = manager("PUT", f"/users/{user_id}/locations", json={"locations": [12, 5, 12]})
    assert locs.status_code == 200 and locs.json == {"user_id": user_id, "locations": [5, 12]}
    assert manager("GET", f"/users/{user_id}/locations").json["locations"] == [5, 12]
    bad = manager("PUT", f"/users/{user_id}/locations", json={"locations": [1, "two", 0]})
    assert bad.status_code == 422 and set(bad.json["errors"]["locations"]) == {"1", "2"}
    assert _audit(tenant, "location_change")[-1].after == {"locations": [5, 12]}


def test_the_permission_catalogue_is_for_any_principal_of_the_tenant(client, client_token, tenant, make_tenant):
    token = client_token(tenant, scopes=("registry.read",))
    resp = client.get(f"/t/{tenant.slug}/api/v1/permissions", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    by_name = {p["name"]: p for p in resp.json}
    assert {"claims.review", "payments.read", "users.manage"} <= set(by_name)
    assert not any(n.startswith("vouchers.") for n in by_name)  # the module is not enabled
    assert by_name["registry.read"]["granted"] and not by_name["users.manage"]["granted"]
    assert by_name["claims.review"]["module"] == "insurance" and by_name["users.manage"]["module"] is None
    assert client.get(f"/t/{tenant.slug}/api/v1/permissions").status_code == 401
    # nor for a principal of another tenant
    other = make_tenant("blank")
    foreign = client.get(f"/t/{other.slug}/api/v1/permissions", headers={"Authorization": f"Bearer {token}"})
    assert foreign.status_code in (401, 403)


def test_roles_need_users_manage(client, client_token, tenant):
    token = client_token(tenant, scopes=("registry.read",))
    resp = client.post(f"/t/{tenant.slug}/api/v1/roles", json={"code": "x_role", "name": "X"},
                       headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and resp.mimetype == PROBLEM
    assert resp.json["missing_permission"] == "users.manage"


# ---- console ---------------------------------------------------------------------------------------


def test_a_role_change_applies_from_the_users_next_request(app, manager, tenant, tenant_user):
    tenant_user(tenant, roles=("tenant_admin",))
    user_id, email, password = tenant_user(tenant, roles=("read_only",))
    browser = sign_in(app, tenant, email, password)
    assert browser.get(f"/t/{tenant.slug}/roles/", headers=HTML).status_code == 403
    assert 'href="/t/%s/roles/"' % tenant.slug not in browser.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert manager("PUT", f"/users/{user_id}/roles", json={"roles": ["tenant_admin"]}).status_code == 200
    assert browser.get(f"/t/{tenant.slug}/roles/", headers=HTML).status_code == 200  # same session
    assert manager("PUT", f"/users/{user_id}/roles", json={"roles": ["read_only"]}).status_code == 200
    assert browser.get(f"/t/{tenant.slug}/roles/", headers=HTML).status_code == 403


@pytest.fixture
def admin_browser(app, make_tenant, tenant_user):
    tenant = make_tenant("blank")
    _id, email, password = tenant_user(tenant, roles=("tenant_admin",))
    return tenant, sign_in(app, tenant, email, password)


def test_console_lists_roles_and_creates_one_with_checkboxes(admin_browser):
    tenant, browser = admin_browser
    base = f"/t/{tenant.slug}"
    home = browser.get(f"{base}/").get_data(as_text=True)
    assert f'href="{base}/roles/"' in home
    listing = browser.get(f"{base}/roles/").get_data(as_text=True)
    assert 'data-code="tenant_admin"' in listing and 'data-code="read_only"' in listing

    form = browser.get(f"{base}/roles/new").get_data(as_text=True)
    assert 'value="registry.write"' in form and 'value="users.manage"' in form
    assert 'value="claims.review"' not in form  # insurance is not enabled in this tenant
    made = form_post(browser, f"{base}/roles/new", {"code": "field_agent", "name": "Field agent",
                                                    "permissions": ["registry.read", "registry.write"]})
    assert made.status_code == 302
    page = browser.get(f"{base}/roles/field_agent").get_data(as_text=True)
    assert re.search(r'value="registry.write" checked', page) and not re.search(r'value="audit.read" checked', page)


def test_console_shows_errors_next_to_fields_and_changes_nothing(admin_browser):
    tenant, browser = admin_browser
    base = f"/t/{tenant.slug}"
    bad = form_post(browser, f"{base}/roles/new", {"code": "Bad Code", "name": "",
                                                   "permissions": ["registry.read"]}, headers=HTML)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "A code has 2 to 60 characters" in html and "A role name has 1 to 200 characters" in html
    assert 'value="registry.read" checked' in html  # the choice is kept
    assert "Bad Code" not in browser.get(f"{base}/roles/").get_data(as_text=True)

    fr = browser.get(f"{base}/roles/new?lang=fr").get_data(as_text=True)
    assert "Nouveau rôle" in fr


def test_console_edits_built_in_roles_and_deletes_custom_ones(admin_browser):
    tenant, browser = admin_browser
    base = f"/t/{tenant.slug}"
    admin_page = browser.get(f"{base}/roles/tenant_admin").get_data(as_text=True)
    assert 'name="permissions"' not in admin_page and "Delete role" not in admin_page
    renamed = form_post(browser, f"{base}/roles/auditor", {"name": "Inspector", "permissions": ["audit.read"]})
    assert renamed.status_code == 302
    assert "Inspector" in browser.get(f"{base}/roles/").get_data(as_text=True)

    form_post(browser, f"{base}/roles/new", {"code": "temp_role", "name": "Temporary"})
    page = browser.get(f"{base}/roles/temp_role").get_data(as_text=True)
    assert "Delete role" in page
    deleted = browser.post(f"{base}/roles/temp_role/delete", data={"csrf_token": _csrf(page)})
    assert deleted.status_code == 302
    assert browser.get(f"{base}/roles/temp_role", headers=HTML).status_code == 404


def test_console_assigns_roles_and_locations(admin_browser, tenant_user):
    tenant, browser = admin_browser
    base = f"/t/{tenant.slug}"
    user_id, email, _p = tenant_user(tenant, roles=("read_only",))
    page = browser.get(f"{base}/users/{user_id}/roles").get_data(as_text=True)
    assert email in page and 'value="read_only" checked' in page
    saved = form_post(browser, f"{base}/users/{user_id}/roles", {"roles": ["auditor", "enrolment_officer"],
                                                                 "locations": "4, 9"})
    assert saved.status_code == 302
    page = browser.get(f"{base}/users/{user_id}/roles").get_data(as_text=True)
    assert 'value="auditor" checked' in page and 'value="read_only" checked' not in page
    assert 'value="4, 9"' in page
    bad = form_post(browser, f"{base}/users/{user_id}/roles", {"roles": ["auditor"], "locations": "4, north"})
    assert bad.status_code == 422 and "is not a location id" in bad.get_data(as_text=True)
    assert browser.get(f"{base}/users/987654/roles", headers=HTML).status_code == 404


def test_console_keeps_the_last_administrator(admin_browser):
    tenant, browser = admin_browser
    base = f"/t/{tenant.slug}"
    with tenant.session() as s:
        from schemehost.tenants.core.models import User

        admin_id = s.execute(select(User.id)).scalar_one()
    refused = form_post(browser, f"{base}/users/{admin_id}/roles", {"roles": ["auditor"]})
    assert refused.status_code == 409
    assert "the last active tenant administrator cannot lose this role" in refused.get_data(as_text=True)
    assert browser.get(f"{base}/roles/", headers=HTML).status_code == 200  # still an administrator
