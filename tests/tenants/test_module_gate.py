"""A module the tenant has not enabled does not answer: its API and console routes are 404 (problem+json
under the API, the console's 404 page) and its menu entries are hidden; enabling it through the settings
API makes it answer at once; the enabled modules are cached per process, not read on every request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import event

from schemehost.platform.extensions import db
from schemehost.tenants import modules as gate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402

API_PATHS = ("/api/v1/vouchers/programmes", "/api/v1/insurance/products", "/api/v1/transfers/programmes",
             "/api/v1/payments/bills")
CONSOLE_PATHS = ("/vouchers/", "/insurance/products/", "/transfers/", "/payments/")


def _sign_in(client, tenant, email, password):
    own_address(client)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)


@pytest.fixture
def blank(make_tenant):
    return make_tenant("blank")


def _enable(client, tenant, headers, modules):
    resp = client.put(f"/t/{tenant.slug}/api/v1/settings/modules", headers=headers, json={"value": modules})
    assert resp.status_code == 200, resp.get_data(as_text=True)


def test_blank_tenant_has_only_the_registry(blank):
    with blank.session() as s:
        assert gate.read_modules(s) == {"registry"}


def test_disabled_module_api_answers_404_until_enabled(app, client, blank, client_token):
    settings = {"Authorization": f"Bearer {client_token(blank, scopes=('settings.manage', 'registry.read'))}"}
    for path in API_PATHS:
        for headers in (settings, {}):  # signed in or not: the module is not there
            resp = client.get(f"/t/{blank.slug}{path}", headers=headers)
            assert resp.status_code == 404, (path, resp.status_code)
            assert resp.mimetype == "application/problem+json"
    # the registry and the tenant's own settings answer
    assert client.get(f"/t/{blank.slug}/api/v1/settings", headers=settings).status_code == 200
    assert client.get(f"/t/{blank.slug}/api/v1/locations", headers=settings).status_code == 200
    _enable(client, blank, settings, ["registry", "vouchers", "insurance", "transfers", "payments"])
    token = client_token(blank, scopes=("vouchers.programmes.manage", "insurance.read", "transfers.programmes.manage",
                                        "payments.read"))
    for path in API_PATHS:
        resp = client.get(f"/t/{blank.slug}{path}", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, (path, resp.get_data(as_text=True))
    # and disabling it again closes it
    _enable(client, blank, settings, ["registry", "insurance"])
    for path, code in zip(API_PATHS, (404, 200, 404, 404)):
        assert client.get(f"/t/{blank.slug}{path}", headers={"Authorization": f"Bearer {token}"}).status_code == code


def test_console_pages_and_menu_entries_of_a_disabled_module(app, blank, tenant_user, client_token):
    client = app.test_client()
    _uid, email, password = tenant_user(blank, roles=("tenant_admin",))
    _sign_in(client, blank, email, password)
    home = client.get(f"/t/{blank.slug}/").get_data(as_text=True)
    assert f"/t/{blank.slug}/vouchers/" not in home and f"/t/{blank.slug}/transfers/" not in home
    for path in CONSOLE_PATHS:
        resp = client.get(f"/t/{blank.slug}{path}", headers={"Accept": "text/html"})
        assert resp.status_code == 404 and resp.mimetype == "text/html", path  # the console's 404 page
    settings = {"Authorization": f"Bearer {client_token(blank)}"}
    _enable(app.test_client(), blank, settings, ["registry", "vouchers", "transfers"])
    home = client.get(f"/t/{blank.slug}/").get_data(as_text=True)
    assert f"/t/{blank.slug}/vouchers/" in home and f"/t/{blank.slug}/transfers/" in home
    assert client.get(f"/t/{blank.slug}/vouchers/").status_code == 200
    assert client.get(f"/t/{blank.slug}/transfers/").status_code == 200
    assert client.get(f"/t/{blank.slug}/insurance/products/").status_code == 404


def test_the_setting_is_read_once_per_ttl_not_on_every_request(app, client, make_tenant, client_token):
    tenant = make_tenant("maternal-voucher", prefix="gate")
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=('vouchers.programmes.manage',))}"}
    path = f"/t/{tenant.slug}/api/v1/vouchers/programmes"
    assert client.get(path, headers=headers).status_code == 200  # fills the cache
    reads: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "settings" in statement and "modules" in str(parameters):
            reads.append(statement)

    cache = app.extensions["schemehost.enabled_modules"]
    cache.clock, real = (lambda: 0.0), cache.clock  # frozen time: every request within the TTL
    try:
        cache.reset()
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            for _ in range(5):
                assert client.get(path, headers=headers).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
    finally:
        cache.clock = real
    assert len(reads) == 1
