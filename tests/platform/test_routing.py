"""Routing by path, host and custom domain; the lifecycle status table; tenant isolation."""

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import ProgrammingError

from schemehost.platform.extensions import db
from schemehost.platform.tenancy import open_tenant_session
from schemehost.tenants.core.models import Setting

PROBLEM = "application/problem+json"


@pytest.fixture
def make_tenant(app, runner, partner, unique, tenant_api):
    from schemehost.provisioning.pool import refill_pool

    def make(status="active", prefix="r-"):
        with app.app_context():
            refill_pool(db.session, size=1)
        slug = unique(prefix)
        result = runner("tenants", "create", slug, "--name", f"Scheme {slug}", "--partner", partner)
        assert result.exit_code == 0, result.output
        if status != "active":
            tenant_api.token(slug)  # an API client's token, taken while the tenant is active
            with app.app_context():
                db.session.execute(sa.text("UPDATE control.tenants SET status = :s WHERE slug = :slug"),
                                   {"s": status, "slug": slug})
                db.session.commit()
            # changed behind the ORM's back: the token request above has cached the tenant as active
            app.extensions["schemehost.tenant_refs"].forget([slug])
        return slug

    return make


def put_setting(api, slug, key, value, **kw):
    return api.put(f"/t/{slug}/api/v1/settings/{key}", json={"value": value}, **kw)


def test_path_routing_reads_the_tenant(tenant_api, make_tenant):
    slug = make_tenant()
    resp = tenant_api.get(f"/t/{slug}/api/v1/settings")
    assert resp.status_code == 200
    keys = {row["key"] for row in resp.json}
    assert {"currency", "locale", "modules"} <= keys


def test_host_and_custom_domain_routing(app, tenant_api, make_tenant, pg):
    slug = make_tenant()
    base = app.config["BASE_DOMAIN"]
    assert put_setting(tenant_api, slug, "display_name", "Via path").status_code == 200
    by_host = tenant_api.get("/api/v1/settings/display_name", slug=slug, base_url=f"http://{slug}.{base}")
    # /api/v1/... on a tenant host is the tenant's API, not the control API
    assert by_host.status_code == 200, by_host.json
    assert by_host.json["value"] == "Via path"
    tenant_id = pg.execute("SELECT id FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0]
    host = f"care.{slug}.example.org"
    pg.execute("INSERT INTO control.domains (tenant_id, host, verification_token, verified_at) "
               "VALUES (%s, %s, 'tok', NULL)", (tenant_id, host))
    app.extensions["schemehost.domains"].refresh()
    unverified = tenant_api.get("/api/v1/settings/display_name", slug=slug, base_url=f"http://{host}")
    assert unverified.status_code == 401 or unverified.status_code == 404  # not routed to the tenant
    pg.execute("UPDATE control.domains SET verified_at = now() WHERE host = %s", (host,))
    app.extensions["schemehost.domains"].refresh()
    verified = tenant_api.get("/api/v1/settings/display_name", slug=slug, base_url=f"http://{host}")
    assert verified.status_code == 200 and verified.json["value"] == "Via path"


def test_host_cannot_reach_another_tenant_by_path(app, tenant_api, make_tenant):
    a, b = make_tenant(prefix="ha-"), make_tenant(prefix="hb-")
    assert put_setting(tenant_api, a, "display_name", "Secret A").status_code == 200
    base = app.config["BASE_DOMAIN"]
    # B's own credential on B's host, naming A's path
    resp = tenant_api.get(f"/t/{a}/api/v1/settings/display_name", slug=b, base_url=f"http://{b}.{base}")
    assert resp.status_code == 404
    assert "Secret A" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("status, method, code", [
    ("provisioning", "get", 503),
    ("failed", "get", 404),
    ("archived", "get", 410),
    ("suspended", "get", 423),
    ("suspended", "put", 423),
    ("read_only", "put", 423),
])
def test_status_table(tenant_api, make_tenant, status, method, code):
    slug = make_tenant(status)
    if method == "get":
        resp = tenant_api.get(f"/t/{slug}/api/v1/settings")
    else:
        resp = put_setting(tenant_api, slug, "display_name", "x")
    assert resp.status_code == code
    assert resp.mimetype == PROBLEM
    body = resp.json
    assert body["status"] == code and body["title"] and body["detail"]
    if code == 503:
        assert resp.headers["Retry-After"]


def test_unknown_tenant_is_404(client):
    resp = client.get("/t/no-such-scheme/api/v1/settings")
    assert resp.status_code == 404 and resp.mimetype == PROBLEM


def test_read_only_still_reads(tenant_api, make_tenant):
    slug = make_tenant("read_only")
    assert tenant_api.get(f"/t/{slug}/api/v1/settings").status_code == 200


def test_suspended_keeps_billing_and_sign_in_open(app, make_tenant, client):
    from schemehost.platform.tenants.routing import check_status, load_tenant_ref

    slug = make_tenant("suspended")
    with app.test_request_context():
        ref = load_tenant_ref(slug)
        for path in ("/billing", "/login", "/payments/callbacks/gepg", "/webhooks/stripe"):
            check_status(ref, slug, "POST", path)  # raises if refused
        with pytest.raises(Exception) as exc:
            check_status(ref, slug, "GET", "/api/v1/settings")
        assert getattr(exc.value, "status", None) == 423


def test_write_and_bad_input_are_problem_json(tenant_api, make_tenant):
    slug = make_tenant()
    ok = put_setting(tenant_api, slug, "display_name", "North")
    assert ok.status_code == 200 and ok.json["value"] == "North"
    bad_type = put_setting(tenant_api, slug, "location_levels", "not a list")
    assert bad_type.status_code == 422 and bad_type.mimetype == PROBLEM
    assert "value" in bad_type.json["errors"]
    unknown = put_setting(tenant_api, slug, "nonsense", "x")
    assert unknown.status_code == 422 and "key" in unknown.json["errors"]
    missing = tenant_api.put(f"/t/{slug}/api/v1/settings/display_name", json={})
    assert missing.status_code == 422 and "value" in missing.json["errors"]
    assert tenant_api.get(f"/t/{slug}/api/v1/settings/display_name").json["value"] == "North"


def test_tenant_api_needs_authentication(client, make_tenant):
    slug = make_tenant()
    resp = client.get(f"/t/{slug}/api/v1/settings")
    assert resp.status_code == 401 and resp.mimetype == PROBLEM


def test_tenant_role_cannot_read_another_tenants_schema(app, make_tenant, pg):
    a, b = make_tenant(prefix="iso-a-"), make_tenant(prefix="iso-b-")
    rows = {r[0]: r[1:] for r in pg.execute(
        "SELECT slug, schema_name, role_name FROM control.tenants WHERE slug IN (%s, %s)", (a, b))}
    schema_a, _ = rows[a]
    schema_b, role_b = rows[b]
    with app.app_context():
        session = open_tenant_session(db.engine, schema_b, role_b)
        try:
            # own data through the placeholder schema works
            assert session.execute(sa.select(sa.func.count()).select_from(Setting)).scalar() > 0
            assert session.execute(sa.text("SELECT current_user")).scalar() == role_b
            # a crafted query naming tenant A's table fails in the database
            with pytest.raises(ProgrammingError) as exc:
                session.execute(sa.text(f"SELECT * FROM {schema_a}.settings"))
            assert "permission denied" in str(exc.value)
            session.rollback()
            for table in ("control.tenants", "control.operators", "control.tenant_secrets"):
                with pytest.raises(ProgrammingError):
                    session.execute(sa.text(f"SELECT * FROM {table}"))
                session.rollback()
        finally:
            session.close()


def test_tenant_data_never_crosses_by_path(tenant_api, make_tenant):
    a, b = make_tenant(prefix="pa-"), make_tenant(prefix="pb-")
    assert put_setting(tenant_api, a, "display_name", "Only in A").status_code == 200
    assert tenant_api.get(f"/t/{b}/api/v1/settings/display_name").status_code == 404
    values = [row["value"] for row in tenant_api.get(f"/t/{b}/api/v1/settings").json]
    assert "Only in A" not in values
    # A's token at B's path is unknown there
    crossed = tenant_api.get(f"/t/{b}/api/v1/settings", headers={"Authorization": f"Bearer {tenant_api.token(a)}"})
    assert crossed.status_code == 401 and "Only in A" not in crossed.get_data(as_text=True)


def test_lifecycle_api(api, tenant_api, make_tenant, pg):
    slug = make_tenant()
    assert api.post(f"/api/v1/tenants/{slug}/suspend", json={"reason": "unpaid"}).json["status"] == "suspended"
    assert tenant_api.get(f"/t/{slug}/api/v1/settings").status_code == 423
    assert api.post(f"/api/v1/tenants/{slug}/resume", json={}).json["status"] == "active"
    assert tenant_api.get(f"/t/{slug}/api/v1/settings").status_code == 200
    again = api.post(f"/api/v1/tenants/{slug}/resume", json={})
    assert again.status_code == 409 and again.mimetype == PROBLEM
    assert api.post(f"/api/v1/tenants/{slug}/archive", json={}).json["status"] == "archived"
    assert tenant_api.get(f"/t/{slug}/api/v1/settings").status_code == 410
    early = api.delete(f"/api/v1/tenants/{slug}")
    assert early.status_code == 409 and "grace" in early.json["detail"]
    kinds = [e["kind"] for e in api.get(f"/api/v1/tenants/{slug}/events").json]
    assert kinds == ["created", "suspended", "resumed", "archived"]
    role = pg.execute("SELECT role_name FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0]
    assert api.delete(f"/api/v1/tenants/{slug}?force=true").status_code == 204
    assert api.get(f"/api/v1/tenants/{slug}").status_code == 404
    assert pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
    assert pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                      ("tenant_" + slug.replace("-", "_"),)).fetchone() is None
    deleted = pg.execute("SELECT kind FROM control.tenant_events WHERE tenant_slug = %s ORDER BY id DESC LIMIT 1",
                         (slug,)).fetchone()[0]
    assert deleted == "deleted"


def test_delete_after_grace_period_without_force(api, make_tenant, pg):
    slug = make_tenant()
    api.post(f"/api/v1/tenants/{slug}/archive", json={})
    pg.execute("UPDATE control.tenants SET archived_at = %s WHERE slug = %s",
               (datetime(2000, 1, 1, tzinfo=timezone.utc), slug))
    assert api.delete(f"/api/v1/tenants/{slug}").status_code == 204


def test_create_tenant_api_warm_and_cold(api, client, partner, unique, app):
    from schemehost.provisioning.pool import drain_pool, refill_pool

    with app.app_context():
        refill_pool(db.session, size=1)
    slug = unique("api-")
    warm = api.post("/api/v1/tenants", json={"slug": slug, "name": "API", "partner": partner})
    assert warm.status_code == 201, warm.json
    assert warm.json["status"] == "active" and warm.headers["Location"].endswith(f"/api/v1/tenants/{slug}")
    with app.app_context():
        drain_pool(db.session)
    cold_slug = unique("api-cold-")
    cold = api.post("/api/v1/tenants", json={"slug": cold_slug, "name": "Cold", "partner": partner})
    assert cold.status_code == 202
    assert cold.json["status"] == "provisioning" and cold.json["job"].startswith("/api/v1/jobs/")
    job = api.get(cold.json["job"])
    assert job.status_code == 200 and job.json["status"] in ("queued", "running", "succeeded")
    # provisioning answers 503 until the worker has built it
    assert client.get(f"/t/{cold_slug}/api/v1/settings").status_code == 503


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "partner": "p"}, "slug"),
    ({"slug": "Bad Slug", "name": "x", "partner": "PARTNER"}, "slug"),
    ({"slug": "good-slug", "name": "", "partner": "PARTNER"}, "name"),
    ({"slug": "good-slug", "name": "x", "partner": "nobody"}, "partner"),
    ({"slug": "good-slug", "name": "x", "partner": "PARTNER", "template": "nope"}, "template"),
    ({"slug": "good-slug", "name": "x", "partner": "PARTNER", "demo_data": "maybe"}, "demo_data"),
])
def test_create_tenant_api_bad_input(api, partner, pg, body, field):
    body = {k: (partner if v == "PARTNER" else v) for k, v in body.items()}
    before = pg.execute("SELECT count(*) FROM control.tenants").fetchone()[0]
    resp = api.post("/api/v1/tenants", json=body)
    assert resp.status_code == 422 and resp.mimetype == PROBLEM
    assert field in resp.json["errors"]
    assert pg.execute("SELECT count(*) FROM control.tenants").fetchone()[0] == before


def test_create_tenant_api_taken_slug_409(api, make_tenant, partner):
    slug = make_tenant()
    resp = api.post("/api/v1/tenants", json={"slug": slug, "name": "Again", "partner": partner})
    assert resp.status_code == 409 and resp.mimetype == PROBLEM


def test_control_api_needs_a_valid_token(client):
    assert client.get("/api/v1/tenants").status_code == 401
    bad = client.get("/api/v1/tenants", headers={"Authorization": "Bearer sho_wrong"})
    assert bad.status_code == 401 and bad.mimetype == PROBLEM


def test_only_platform_admins_force_a_deletion(app, client, make_tenant, api, unique, partner):
    from schemehost.platform.operators.services import create_operator, issue_token

    slug = make_tenant()
    api.post(f"/api/v1/tenants/{slug}/archive", json={})
    with app.app_context():
        staff = create_operator(db.session, f"{unique('staff')}@example.org", password="correct horse battery",
                                role="partner_staff", partner=partner)
        token = issue_token(db.session, staff)
        db.session.commit()
    resp = client.delete(f"/api/v1/tenants/{slug}?force=true", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and resp.mimetype == PROBLEM
    assert "force" in resp.json["errors"]
    assert api.get(f"/api/v1/tenants/{slug}").json["status"] == "archived"
