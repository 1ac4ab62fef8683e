"""The per-process cache of tenant refs used by routing: never older than its TTL."""

import time

import pytest

from schemehost.platform.app import create_app
from schemehost.platform.extensions import db


class FakeClock:
    def __init__(self):
        self.now = time.monotonic()

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(app):
    """Drive the app's tenant ref cache with a clock the test moves."""
    cache = app.extensions["schemehost.tenant_refs"]
    fake = FakeClock()
    cache.clock = fake
    cache.reset()
    yield fake
    cache.clock = time.monotonic
    cache.reset()


@pytest.fixture
def make_tenant(app, runner, partner, unique):
    from schemehost.provisioning.pool import refill_pool

    def make(prefix="c-"):
        with app.app_context():
            refill_pool(db.session, size=1)
        slug = unique(prefix)
        result = runner("tenants", "create", slug, "--name", f"Scheme {slug}", "--partner", partner)
        assert result.exit_code == 0, result.output
        return slug

    return make


def settings(tenant_api, slug):
    return tenant_api.get(f"/t/{slug}/api/v1/settings")


def test_a_status_changed_elsewhere_is_obeyed_once_the_ttl_has_passed(app, tenant_api, make_tenant, pg, clock):
    slug = make_tenant()
    assert settings(tenant_api, slug).status_code == 200
    # another process (CLI, job, SQL) suspends it: this process may answer from its cache until the TTL
    pg.execute("UPDATE control.tenants SET status = 'suspended' WHERE slug = %s", (slug,))
    assert settings(tenant_api, slug).status_code == 200
    clock.advance(app.config["TENANT_CACHE_TTL_S"])
    resp = settings(tenant_api, slug)
    assert resp.status_code == 423 and resp.mimetype == "application/problem+json"


def test_a_transition_committed_in_this_process_is_obeyed_at_once(api, tenant_api, make_tenant, clock):
    slug = make_tenant()
    assert settings(tenant_api, slug).status_code == 200
    assert api.post(f"/api/v1/tenants/{slug}/suspend", json={"reason": "unpaid"}).status_code == 200
    assert settings(tenant_api, slug).status_code == 423
    assert api.post(f"/api/v1/tenants/{slug}/resume", json={}).status_code == 200
    assert settings(tenant_api, slug).status_code == 200


def test_a_rolled_back_change_keeps_the_cache(app, tenant_api, make_tenant, clock):
    from schemehost.provisioning.lifecycle import suspend_tenant

    slug = make_tenant()
    assert settings(tenant_api, slug).status_code == 200
    with app.app_context():
        suspend_tenant(db.session, slug, actor="test")
        db.session.rollback()
    assert settings(tenant_api, slug).status_code == 200


def test_unknown_slugs_are_not_cached(app, client, tenant_api, runner, partner, unique, clock):
    from schemehost.provisioning.pool import refill_pool

    slug = unique("later-")
    assert client.get(f"/t/{slug}/api/v1/settings").status_code == 404
    with app.app_context():
        refill_pool(db.session, size=1)
    result = runner("tenants", "create", slug, "--name", "Later", "--partner", partner)
    assert result.exit_code == 0, result.output
    assert settings(tenant_api, slug).status_code == 200  # no TTL to wait for


def test_refresh_keeps_the_tenants_in_use_and_drops_idle_ones(app, tenant_api, make_tenant, pg, clock):
    cache = app.extensions["schemehost.tenant_refs"]
    ttl = app.config["TENANT_CACHE_TTL_S"]
    a, b = make_tenant("ca-"), make_tenant("cb-")
    assert settings(tenant_api, a).status_code == 200 and settings(tenant_api, b).status_code == 200
    pg.execute("UPDATE control.tenants SET status = 'read_only' WHERE slug = %s", (b,))
    clock.advance(ttl)
    assert settings(tenant_api, a).status_code == 200  # the refresh re-reads both refs in use
    assert cache._refs[b].status == "read_only"
    clock.advance(cache.idle)
    assert settings(tenant_api, a).status_code == 200  # b unused for `idle` seconds: dropped
    assert a in cache._refs and b not in cache._refs


def test_ttl_zero_turns_the_cache_off(app, tenant_api, make_tenant, pg, clock):
    cache = app.extensions["schemehost.tenant_refs"]
    slug = make_tenant()
    ttl, cache.ttl = cache.ttl, 0
    try:
        assert settings(tenant_api, slug).status_code == 200
        pg.execute("UPDATE control.tenants SET status = 'archived', archived_at = now() WHERE slug = %s", (slug,))
        assert settings(tenant_api, slug).status_code == 410
    finally:
        cache.ttl = ttl


@pytest.mark.parametrize("ttl", [-1, 2.5, 60])
def test_ttl_above_two_seconds_is_refused(database_url, tmp_path, ttl):
    with pytest.raises(ValueError, match="between 0 and 2"):
        create_app({"DATABASE_URL": database_url, "SCHEMEHOST_INSTANCE": str(tmp_path), "TENANT_CACHE_TTL_S": ttl})
