"""Provisioning: warm and cold paths, names, bad input, crashes and races."""

import json
import threading

import pytest

from schemehost.platform.extensions import db
from schemehost.provisioning import create as create_mod


def schema_exists(pg, name):
    return pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (name,)).fetchone() is not None


def role_exists(pg, name):
    return pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


def own_roles(pg):
    """Tenant roles of this test database's installation (other runs may share the server)."""
    install = pg.execute("SELECT install_id FROM control.installation").fetchone()[0]
    return pg.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", (f"sh\\_{install}\\_%",)).fetchone()[0]


def tenant_row(pg, slug):
    return pg.execute("SELECT status, role_name, schema_name FROM control.tenants WHERE slug = %s", (slug,)).fetchone()


def test_warm_create_claims_a_spare(runner, partner, unique, spares, pg):
    spares(1)
    spare = pg.execute("SELECT schema_name FROM control.spare_schemas LIMIT 1").fetchone()[0]
    slug = unique("warm-")
    result = runner("tenants", "create", slug, "--name", "Warm one", "--partner", partner,
                    "--template", "health-insurance", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "active" and data["path"] == "warm"
    assert data["template"] == "health-insurance" and data["template_version"] >= 1
    schema = "tenant_" + slug.replace("-", "_")
    assert data["schema_name"] == schema
    assert schema_exists(pg, schema) and not schema_exists(pg, spare)
    status, role, _ = tenant_row(pg, slug)
    assert status == "active" and role_exists(pg, role)
    assert len(role) <= 63 and role.startswith("sh_")
    settings = dict(pg.execute(f"SELECT key, value FROM {schema}.settings").fetchall())
    assert settings["currency"] == "TZS" and "insurance" in settings["modules"]
    version = pg.execute(f"SELECT version_num FROM {schema}.alembic_version").fetchone()[0]
    assert version == data["schema_version"]
    timeout = pg.execute("SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                         "WHERE r.rolname = %s", (role,)).fetchone()[0]
    assert any(c.startswith("statement_timeout=") for c in timeout)


def test_cold_create_builds_everything(runner, partner, unique, empty_pool, pg):
    slug = unique("cold-")
    result = runner("tenants", "create", slug, "--name", "Cold one", "--partner", partner, "--json",
                    "--demo-data")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["status"] == "active" and data["path"] == "cold"
    schema = data["schema_name"]
    assert schema_exists(pg, schema)
    assert pg.execute(f"SELECT count(*) FROM {schema}.settings WHERE key = 'demo'").fetchone()[0] == 1
    events = [r[0] for r in pg.execute(
        "SELECT kind FROM control.tenant_events WHERE tenant_slug = %s ORDER BY id", (slug,)).fetchall()]
    assert events == ["provisioning_started", "created"]
    job = pg.execute("SELECT status FROM control.jobs WHERE tenant_id = (SELECT id FROM control.tenants "
                     "WHERE slug = %s)", (slug,)).fetchone()
    assert job[0] == "succeeded"


@pytest.mark.parametrize("slug, needle", [
    ("ab", "3 to 40"),
    ("x" * 41, "3 to 40"),
    ("Upper", "lowercase"),
    ("9lives", "lowercase letter"),
    ("double--hyphen", "single hyphens"),
    ("trailing-", "single hyphens"),
    ("under_score", "single hyphens"),
    ("admin", "reserved"),
    ("www", "reserved"),
])
def test_bad_slug_is_refused_with_the_rule(runner, partner, slug, needle, pg):
    before = pg.execute("SELECT count(*) FROM control.tenants").fetchone()[0]
    result = runner("tenants", "create", slug, "--name", "X", "--partner", partner)
    assert result.exit_code == 1
    assert needle in result.output
    assert pg.execute("SELECT count(*) FROM control.tenants").fetchone()[0] == before


def test_unknown_partner_and_template_are_named(runner, unique, pg):
    result = runner("tenants", "create", unique("x-"), "--name", "X", "--partner", "nobody",
                    "--template", "nothing")
    assert result.exit_code == 1
    assert "partner: Unknown partner 'nobody'" in result.output
    assert "template: Unknown template 'nothing'" in result.output


def test_taken_slug_exits_1(runner, partner, unique, spares):
    spares(1)
    slug = unique("taken-")
    assert runner("tenants", "create", slug, "--name", "A", "--partner", partner).exit_code == 0
    again = runner("tenants", "create", slug, "--name", "B", "--partner", partner)
    assert again.exit_code == 1
    assert "already taken" in again.output


WARM_STEPS = ["claimed", "renamed", "role", "granted", "seeded", "recorded"]
COLD_STEPS = ["schema", "migrated", "role", "seeded", "recorded"]


class Crash(Exception):
    pass


@pytest.fixture
def crash_at(monkeypatch):
    def arm(step):
        def hook(name):
            if name == step:
                raise Crash(f"injected crash at {step}")

        monkeypatch.setattr(create_mod, "FAULT_HOOK", hook)

    return arm


@pytest.mark.parametrize("step", WARM_STEPS)
def test_warm_crash_leaves_nothing(app, runner, partner, unique, spares, crash_at, pg, step):
    spares(1)
    spare_count = pg.execute("SELECT count(*) FROM control.spare_schemas").fetchone()[0]
    roles_before = own_roles(pg)
    slug = unique("crash-")
    crash_at(step)
    result = runner("tenants", "create", slug, "--name", "Crash", "--partner", partner)
    assert result.exit_code != 0
    assert tenant_row(pg, slug) is None
    assert not schema_exists(pg, "tenant_" + slug.replace("-", "_"))
    assert own_roles(pg) == roles_before
    # the claimed spare went back to the pool
    assert pg.execute("SELECT count(*) FROM control.spare_schemas").fetchone()[0] == spare_count
    create_mod.FAULT_HOOK = None
    assert runner("tenants", "create", slug, "--name", "Again", "--partner", partner).exit_code == 0


@pytest.mark.parametrize("step", COLD_STEPS)
def test_cold_crash_leaves_a_failed_row_only(app, runner, partner, unique, empty_pool, crash_at, pg, step):
    roles_before = own_roles(pg)
    slug = unique("cold-crash-")
    crash_at(step)
    result = runner("tenants", "create", slug, "--name", "Crash", "--partner", partner)
    assert result.exit_code == 1
    status, role, schema = tenant_row(pg, slug)
    assert status == "failed" and role is None
    assert not schema_exists(pg, schema)
    assert own_roles(pg) == roles_before
    create_mod.FAULT_HOOK = None
    # a failed tenant can be removed, and its slug reused
    assert runner("tenants", "delete", slug, "--yes").exit_code == 0
    assert tenant_row(pg, slug) is None
    assert runner("tenants", "create", slug, "--name", "Again", "--partner", partner).exit_code == 0


def test_failed_tenant_can_be_retried(runner, partner, unique, empty_pool, crash_at, pg):
    slug = unique("retry-")
    crash_at("migrated")
    assert runner("tenants", "create", slug, "--name", "R", "--partner", partner).exit_code == 1
    create_mod.FAULT_HOOK = None
    result = runner("tenants", "retry", slug)
    assert result.exit_code == 0, result.output
    assert tenant_row(pg, slug)[0] == "active"


@pytest.mark.parametrize("warm", [True, False])
def test_two_concurrent_creates_of_one_slug(app, partner, unique, spares, empty_pool, warm, pg):
    if warm:
        spares(2)
    slug = unique("race-")
    barrier = threading.Barrier(2)
    outcomes = []

    def attempt(i):
        from schemehost.provisioning.create import create_tenant

        with app.app_context():
            barrier.wait()
            try:
                res = create_tenant(db.session, slug, name=f"Racer {i}", partner=partner, template="blank")
                db.session.commit()
                res.after_commit(wait=True)
                outcomes.append(("ok", res.tenant.status))
            except Exception as exc:  # the loser's error is what we check
                db.session.rollback()
                outcomes.append(("error", type(exc).__name__, getattr(exc, "status", None)))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o[0] for o in outcomes) == ["error", "ok"], outcomes
    loser = next(o for o in outcomes if o[0] == "error")
    assert loser[1] == "Conflict" and loser[2] == 409
    assert pg.execute("SELECT count(*) FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0] == 1
