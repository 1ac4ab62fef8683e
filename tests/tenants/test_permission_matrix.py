"""Permission matrix: every built-in role against every permission-guarded tenant route.

Routes are enumerated from the app's URL map, so a new guarded route is covered
without touching this file: a view function (or MethodView method) decorated
with ``permission_required`` carries ``__permission__`` (and one that accepts
any of several permissions also ``__any_permission__``). For each built-in role
of a real tenant made from the ``health-insurance`` template, a route must
answer 403 when the role lacks its permission, and neither 401 nor 403 when the
role holds it.

Console routes are called by a tenant user signed in at ``/t/<slug>/login``
who holds only that role (one session: the user's role is changed between
rounds, which applies from the next request). API routes are called with an access token of an API client
whose scopes are the role's permissions (a client cannot hold ``"*"``, so the
tenant administrator's token holds every permission the tenant's modules allow,
and the expectation follows the scopes actually held). Path arguments get values
naming nothing (every choice of an ``any(...)`` argument), so a permitted
request ends in 404/422 and changes nothing.
"""

from __future__ import annotations

import re
import uuid
from importlib import resources
from itertools import count, product

import pytest
import yaml
from sqlalchemy import select
from werkzeug.routing import AnyConverter, IntegerConverter, UUIDConverter

from schemehost.platform.console.security import is_csrf_exempt
from schemehost.platform.permissions import ALL, BUILTIN_ROLES, PERMISSIONS
from schemehost.tenants.identity.models import Role

TEMPLATE = "health-insurance"
#: The enumeration must find at least this many guarded (route, method) pairs (98 when written): raise it
#: as modules add routes, lower it only on purpose.
MIN_GUARDED = 90
SAFE = {"GET", "HEAD", "OPTIONS"}
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|type="hidden" name="csrf_token" value="([^"]+)"')
_addresses = count(1)


def template_roles() -> dict[str, frozenset[str]]:
    """The expected table: built-in role code -> its permissions, as the template declares them."""
    text = resources.files("schemehost.provisioning.templates").joinpath(f"{TEMPLATE}.yaml").read_text()
    roles = {r["code"]: frozenset(r["permissions"]) for r in yaml.safe_load(text)["roles"]}
    return {code: perms for code, perms in roles.items() if code in BUILTIN_ROLES}


def guarded_routes(app) -> list[tuple[object, str, tuple[str, ...]]]:
    """(rule, method, permissions) of every tenant route whose view states a permission: one, or
    several of which any one is enough (``__any_permission__``)."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/t/<slug>"):
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            handler = getattr(view_class, method.lower(), None) if view_class is not None else view
            permission = getattr(handler, "__permission__", None)
            if permission:
                found.append((rule, method, tuple(getattr(handler, "__any_permission__", None) or (permission,))))
    return found


def concrete_paths(rule, slug: str) -> list[str]:
    """The rule's paths for tenant ``slug`` with arguments that name nothing that exists (one path per
    choice of an ``any(...)`` argument)."""
    choices: dict[str, list] = {}
    for name in rule.arguments:
        converter = rule._converters.get(name)
        if name == "slug":
            choices[name] = [slug]
        elif isinstance(converter, AnyConverter):
            choices[name] = sorted(converter.items)
        elif isinstance(converter, IntegerConverter):
            choices[name] = [987654]
        elif isinstance(converter, UUIDConverter):
            choices[name] = [uuid.UUID(int=0)]
        else:
            choices[name] = ["zz-nothing-here"]
    paths = []
    for combination in product(*choices.values()):
        path = rule.rule
        for name, value in zip(choices, combination):
            path = re.sub(r"<(?:[^<>]+:)?" + re.escape(name) + r">", str(value), path)
        paths.append(path)
    return paths


def test_enough_guarded_routes_are_found(app):
    routes = guarded_routes(app)
    assert len(routes) >= MIN_GUARDED, [f"{m} {r.rule}" for r, m, _p in routes]
    named = {(r.rule, m): p for r, m, p in routes}
    # the roles API and pages are among them (the enumeration sees MethodView methods and functions)
    assert named[("/t/<slug>/api/v1/roles", "POST")] == ("users.manage",)
    assert named[("/t/<slug>/roles/", "GET")] == ("users.manage",)
    assert all(p in PERMISSIONS for perms in named.values() for p in perms)


def test_the_expected_table_is_the_tenants_seeded_roles(make_tenant):
    tenant = make_tenant(TEMPLATE)
    with tenant.session() as s:
        seeded = {r.code: frozenset(r.permissions) for r in s.execute(select(Role).where(Role.builtin)).scalars()}
    assert seeded == template_roles()
    assert len(seeded) >= 5


def _own_address() -> dict:
    n = next(_addresses)
    return {"REMOTE_ADDR": f"10.77.{n >> 8 & 255}.{n & 255}"}


def _signed_in(app, tenant_user, tenant):
    """A new user without roles, and a test client signed in as them at /t/<slug>/login."""
    user_id, email, password = tenant_user(tenant, roles=())
    client = app.test_client()
    client.environ_base.update(_own_address())
    page = client.get(f"/t/{tenant.slug}/login")
    assert page.status_code == 200, page.status_code
    match = CSRF_RE.search(page.get_data(as_text=True))
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": match.group(1) or match.group(2), "email": email, "password": password})
    assert resp.status_code == 302 and "/login" not in resp.headers["Location"], resp.status_code
    home = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    match = CSRF_RE.search(home)
    assert match, "no CSRF token on the signed-in home page"
    return user_id, client, match.group(1) or match.group(2)


def _api_scopes(tenant, permissions: frozenset[str]) -> frozenset[str]:
    if ALL not in permissions:
        return permissions
    from schemehost.tenants.identity.roles import available_permissions

    with tenant.session() as s:
        return frozenset(p.name for p in available_permissions(s))


@pytest.fixture(scope="module")
def matrix_tenant(make_module_tenant):
    """One tenant of the template with every module enabled, so that every module's routes answer
    (not 404); the roles' rounds share it (each spread over the workers as its own test)."""
    tenant = make_module_tenant(TEMPLATE)
    with tenant.session() as s:
        from schemehost.platform.permissions import MODULES
        from schemehost.tenants.core.services import put_setting

        put_setting(s, "modules", sorted(MODULES))
    return tenant


@pytest.mark.parametrize("code", sorted(template_roles()))
def test_each_builtin_role_against_each_guarded_route(app, matrix_tenant, tenant_user, request, code):
    from schemehost.tenants.identity.roles import set_user_roles

    client_token = request.getfixturevalue("client_token")
    tenant = matrix_tenant
    tenant_user(tenant, roles=("tenant_admin",))  # the scheme keeps an administrator whatever the user holds
    user_id, console, csrf = _signed_in(app, tenant_user, tenant)
    routes = guarded_routes(app)
    assert len(routes) >= MIN_GUARDED
    cases = [(rule, method, needed, path) for rule, method, needed in routes
             for path in concrete_paths(rule, tenant.slug)]
    failures, checked = [], 0
    permissions = template_roles()[code]
    with tenant.session() as s:
        set_user_roles(s, user_id, [code])
    scopes = _api_scopes(tenant, permissions)
    token = client_token(tenant, scopes=sorted(scopes))
    api = app.test_client()
    for rule, method, needed, path in cases:
        if is_csrf_exempt(path):
            held = any(p in scopes for p in needed)
            kw = {"headers": {"Authorization": f"Bearer {token}"}}
            if method not in SAFE:
                kw["json"] = {}
            resp = api.open(path, method=method, environ_base=_own_address(), **kw)
        else:
            held = ALL in permissions or any(p in permissions for p in needed)
            kw = {"headers": {"Accept": "text/html"}}
            if method not in SAFE:
                kw["data"] = {"csrf_token": csrf}
            resp = console.open(path, method=method, **kw)
        checked += 1
        status = resp.status_code
        what = " or ".join(needed)
        if held and status in (401, 403):
            failures.append(f"{code:<18} {method:<6} {path} needs {what}, held, got {status}")
        elif not held and status != 403:
            failures.append(f"{code:<18} {method:<6} {path} needs {what}, not held, got {status}")
        elif not held and resp.mimetype == "application/problem+json" \
                and resp.json.get("missing_permission") not in needed:
            failures.append(f"{code:<18} {method:<6} {path} refused for "
                            f"{resp.json.get('missing_permission')!r}, not {what}")
    assert checked == len(cases)
    assert not failures, "\n" + "\n".join(failures)
