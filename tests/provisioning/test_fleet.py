"""Fleet migration and fleet status, on a database of their own.

The "new release" is a temporary copy of the tenant Alembic tree with one
extra revision (a column and an index on two tables, and a new table so that
re-applied grants can be checked); the engine is pointed at it with the
hidden ``--migrations`` option. The module has its own database, because
``--all`` and ``status`` look at every tenant and spare schema there is.
"""

from __future__ import annotations

import json
import re
import shutil

import psycopg
import pytest

from schemehost.platform.db import libpq_url
from schemehost.platform.extensions import db
from schemehost.provisioning.migrate import head as installed_head

NEW_REV = "t9fleet01"

REVISION = '''"""Fleet test revision: a column and an index on two tables, and a new table."""

from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("settings", sa.Column("note", sa.String(200), nullable=True))
    op.create_index("ix_settings_note", "settings", ["note"])
    op.add_column("users", sa.Column("nickname", sa.String(100), nullable=True))
    op.create_index("ix_users_nickname", "users", ["nickname"])
    op.create_table("fleet_notes", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("body", sa.Text, nullable=False))


def downgrade() -> None:
    op.drop_table("fleet_notes")
    op.drop_index("ix_users_nickname", table_name="users")
    op.drop_column("users", "nickname")
    op.drop_index("ix_settings_note", table_name="settings")
    op.drop_column("settings", "note")
'''


@pytest.fixture(scope="module")
def database_url(database_factory, db_name):
    """A database of this module's own beside the session's, dropped with its tenant roles."""
    with database_factory(db_name + "_fleet") as url:
        yield url


@pytest.fixture(scope="module")
def app(database_url, tmp_path_factory, app_factory):
    with app_factory(database_url, str(tmp_path_factory.mktemp("fleet-instance"))) as app:
        yield app


@pytest.fixture(scope="module")
def new_tree(tmp_path_factory):
    """A copy of the tenant tree with one more revision on top of the installed head."""
    from schemehost.provisioning.migrate import migrations_dir

    root = tmp_path_factory.mktemp("tree") / "tenant"
    shutil.copytree(migrations_dir() / "tenant", root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "versions" / f"29991231_{NEW_REV}_fleet_test.py").write_text(
        REVISION.format(rev=NEW_REV, down=installed_head("tenant")))
    return str(root)


@pytest.fixture
def fleet(runner, new_tree):
    """Run ``schemehost tenants <args>`` against the new tree."""

    def invoke(*args):
        return runner("tenants", *args, "--migrations", new_tree)

    return invoke


@pytest.fixture
def make_tenants(runner, partner, unique, spares):
    """Create ``n`` tenants (warm path) at the installed head; returns their slugs."""

    def make(n, prefix="fl-"):
        spares(n)
        slugs = [unique(prefix) for _ in range(n)]
        for slug in slugs:
            result = runner("tenants", "create", slug, "--name", f"Fleet {slug}", "--partner", partner)
            assert result.exit_code == 0, result.output
        return slugs

    return make


def schema_of(slug):
    return "tenant_" + slug.replace("-", "_")


def version(pg, schema):
    return pg.execute(f"SELECT version_num FROM {schema}.alembic_version").fetchone()[0]


def recorded(pg, slug):
    return pg.execute("SELECT schema_version FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0]


def migrated_events(pg, slug):
    return [r[0] for r in pg.execute("SELECT data FROM control.tenant_events WHERE tenant_slug = %s"
                                     " AND kind = 'migrated' ORDER BY id", (slug,)).fetchall()]


def test_broken_tenants_are_reported_others_reach_head_and_a_rerun_resumes(
        fleet, make_tenants, spares, pg, database_url, monkeypatch):
    old = installed_head("tenant")
    slugs = make_tenants(5)
    spares(1)
    spare = pg.execute("SELECT schema_name FROM control.spare_schemas WHERE version = %s LIMIT 1",
                       (old,)).fetchone()[0]
    locked, renamed, *healthy = slugs
    # one tenant's table stays locked by a long transaction, so lock_timeout fires ...
    holder = psycopg.connect(libpq_url(database_url))
    holder.execute(f"LOCK TABLE {schema_of(locked)}.users IN ACCESS SHARE MODE")
    # ... and another lost a table the revision alters
    pg.execute(f"ALTER TABLE {schema_of(renamed)}.settings RENAME TO settings_moved")
    try:
        result = fleet("migrate", "--all", "--jobs", "2", "--lock-timeout", "300ms")
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 1, result.output
    out = result.output
    assert re.search(rf"^{locked}\s+{old}\s+-\s+failed", out, re.M), out
    assert re.search(rf"^{renamed}\s+{old}\s+-\s+failed", out, re.M), out
    assert "lock timeout" in out and 'relation "settings" does not exist' in out
    for slug in healthy:
        assert re.search(rf"^{slug}\s+{old}\s+{NEW_REV}\s+upgraded", out, re.M), out
        assert version(pg, schema_of(slug)) == NEW_REV and recorded(pg, slug) == NEW_REV
        assert migrated_events(pg, slug) == [{"from": old, "to": NEW_REV}]
        role = pg.execute("SELECT role_name FROM control.tenants WHERE slug = %s", (slug,)).fetchone()[0]
        # grants were re-applied: the new table is usable by the tenant role, the version table is not
        assert pg.execute("SELECT has_table_privilege(%s, %s, 'INSERT'), has_table_privilege(%s, %s, 'UPDATE')",
                          (role, f"{schema_of(slug)}.fleet_notes", role,
                           f"{schema_of(slug)}.alembic_version")).fetchone() == (True, False)
    assert version(pg, spare) == NEW_REV
    assert pg.execute("SELECT version FROM control.spare_schemas WHERE schema_name = %s",
                      (spare,)).fetchone()[0] == NEW_REV
    for slug in (locked, renamed):  # the failures changed nothing
        assert version(pg, schema_of(slug)) == old and recorded(pg, slug) == old
        assert migrated_events(pg, slug) == []
        assert pg.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = %s"
                          " AND column_name IN ('note', 'nickname')", (schema_of(slug),)).fetchone()[0] == 0

    # fixed: the second run upgrades only the two (with spawned workers this time)
    pg.execute(f"ALTER TABLE {schema_of(renamed)}.settings_moved RENAME TO settings")
    monkeypatch.setenv("SCHEMEHOST_FLEET_START_METHOD", "spawn")
    again = fleet("migrate", "--all", "--jobs", "2")
    assert again.exit_code == 0, again.output
    upgraded = re.findall(rf"^(\S+)\s+{old}\s+{NEW_REV}\s+upgraded", again.output, re.M)
    assert sorted(upgraded) == sorted([locked, renamed]), again.output
    assert "2 upgraded, 0 failed" in again.output
    for slug in slugs:
        assert version(pg, schema_of(slug)) == NEW_REV and len(migrated_events(pg, slug)) == 1


def test_nothing_pending_is_a_quick_exit_0(fleet, make_tenants, pg):
    make_tenants(2)
    assert fleet("migrate", "--all", "--jobs", "2").exit_code == 0
    events = pg.execute("SELECT count(*) FROM control.tenant_events").fetchone()[0]
    result = fleet("migrate", "--all", "--jobs", "4")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("nothing to do:")
    assert f"at head {NEW_REV}" in result.output
    assert pg.execute("SELECT count(*) FROM control.tenant_events").fetchone()[0] == events


def test_one_tenant_by_slug_and_a_stale_record(fleet, make_tenants, pg):
    one, other = make_tenants(2)
    result = fleet("migrate", one)
    assert result.exit_code == 0, result.output
    assert version(pg, schema_of(one)) == NEW_REV
    assert version(pg, schema_of(other)) == installed_head("tenant")  # not named, not touched
    # a control record that lags behind its schema is corrected, not re-migrated
    pg.execute("UPDATE control.tenants SET schema_version = %s WHERE slug = %s", (installed_head("tenant"), one))
    result = fleet("migrate", one)
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert "recorded version corrected for 1" in result.output
    assert recorded(pg, one) == NEW_REV and len(migrated_events(pg, one)) == 1


def test_dry_run_prints_the_sql_and_changes_nothing(fleet, make_tenants, pg):
    (slug,) = make_tenants(1)
    schema = schema_of(slug)
    old = installed_head("tenant")
    result = fleet("migrate", slug, "--dry-run", "--lock-timeout", "2s")
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"-- tenant {slug} ({schema}): {old} -> {NEW_REV}" in out
    assert "SET LOCAL lock_timeout = '2s';" in out
    assert f'SET LOCAL search_path TO "{schema}";' in out
    assert "ALTER TABLE settings ADD COLUMN note VARCHAR(200)" in out
    assert "CREATE INDEX ix_users_nickname ON users (nickname)" in out
    assert f"UPDATE {schema}.alembic_version SET version_num='{NEW_REV}'" in out
    assert "nothing was changed" in out
    assert version(pg, schema) == old and recorded(pg, slug) == old
    assert pg.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = %s"
                      " AND column_name = 'note'", (schema,)).fetchone()[0] == 0


def test_status_flags_drift(fleet, make_tenants, spares, pg):
    behind, current, lying, gone = make_tenants(4)
    assert fleet("migrate", current, lying, gone).exit_code == 0
    pg.execute("UPDATE control.tenants SET schema_version = 'xyz' WHERE slug = %s", (lying,))
    pg.execute(f"DROP SCHEMA {schema_of(gone)} CASCADE")

    result = fleet("status", behind, current, lying, gone)
    assert result.exit_code == 1, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert f"behind head ({installed_head('tenant')} < {NEW_REV})" in lines[behind]
    assert lines[current].rstrip().endswith("ok")
    assert "control plane records xyz" in lines[lying]
    assert "schema missing" in lines[gone]
    assert "4 schema(s), 3 with drift" in result.output

    data = json.loads(fleet("status", current, "--json").output)
    assert data["head"] == NEW_REV and data["drift"] is False
    assert data["schemas"][0].items() >= {"name": current, "actual": NEW_REV, "recorded": NEW_REV,
                                          "problems": []}.items()
    assert fleet("status", current).exit_code == 0
    # spares are listed too
    spares(1)
    assert "spare_" in fleet("status").output
    pg.execute("UPDATE control.tenants SET status = 'failed' WHERE slug = %s", (gone,))  # leave no broken tenant


def test_deep_status_catches_a_hand_made_difference(fleet, make_tenants, pg):
    clean, tampered = make_tenants(2)
    assert fleet("migrate", clean, tampered).exit_code == 0
    pg.execute(f"ALTER TABLE {schema_of(tampered)}.users ADD COLUMN hand_made integer")
    pg.execute(f"DROP INDEX {schema_of(tampered)}.ix_settings_note")

    result = fleet("status", clean, tampered, "--deep")
    assert result.exit_code == 1, result.output
    assert "extra column users.hand_made: integer" in result.output
    assert "missing index ix_settings_note: CREATE INDEX ix_settings_note ON settings USING btree (note)" \
        in result.output
    assert "structure differs from head (2 difference(s))" in result.output
    # a schema that was migrated (not built fresh) matches a fresh build exactly
    clean_run = fleet("status", clean, "--deep", "--json")
    assert clean_run.exit_code == 0, clean_run.output
    assert json.loads(clean_run.output)["schemas"][0]["differences"] == []


@pytest.mark.parametrize("args, needle", [
    ((), "Name the tenants to migrate, or pass --all"),
    (("--all", "x-one"), "not both"),
    (("no-such-tenant",), "No tenant no-such-tenant"),
    (("--all", "--lock-timeout", "soon"), "A lock timeout is a positive number"),
    (("--all", "--lock-timeout", "0s"), "A lock timeout is a positive number"),
])
def test_bad_input_is_refused_and_changes_nothing(fleet, pg, args, needle):
    before = pg.execute("SELECT count(*) FROM control.tenant_events").fetchone()[0]
    result = fleet("migrate", *args)
    assert result.exit_code == 1, result.output
    assert needle in result.output
    assert pg.execute("SELECT count(*) FROM control.tenant_events").fetchone()[0] == before


def test_versions_are_read_set_wise_in_chunks(app, make_tenants, new_tree, pg):
    from schemehost.provisioning.fleet import read_versions

    slugs = make_tenants(3)
    schemas = [schema_of(s) for s in slugs] + ["tenant_not_there"]
    pg.execute(f"DROP TABLE {schema_of(slugs[2])}.alembic_version")
    with app.app_context(), db.engine.connect() as conn:
        versions = read_versions(conn, schemas, chunk=1)
    assert versions[schemas[0]].version == installed_head("tenant")
    assert versions[schemas[1]].state == "ok"
    assert versions[schemas[2]].state == "no_version_table"
    assert versions["tenant_not_there"].state == "no_schema"
    pg.execute(f"DROP SCHEMA {schema_of(slugs[2])} CASCADE")  # leave no broken tenant behind
    pg.execute("UPDATE control.tenants SET status = 'failed' WHERE slug = %s", (slugs[2],))


def test_a_tenant_without_schema_cannot_be_named(fleet, make_tenants, pg):
    (slug,) = make_tenants(1)
    pg.execute("UPDATE control.tenants SET status = 'failed' WHERE slug = %s", (slug,))
    result = fleet("migrate", slug)
    assert result.exit_code == 1
    assert f"Tenant(s) {slug} have no schema" in result.output


def test_a_schema_gone_from_the_control_plane_meanwhile_is_skipped(app, database_url, new_tree, spares, pg):
    from schemehost.provisioning.fleet import SchemaMigrator, Target

    spares(1)
    spare = pg.execute("SELECT schema_name FROM control.spare_schemas WHERE version = %s LIMIT 1",
                       (installed_head("tenant"),)).fetchone()[0]
    pg.execute("DELETE FROM control.spare_schemas WHERE schema_name = %s", (spare,))  # claimed meanwhile
    migrator = SchemaMigrator(database_url, new_tree)
    try:
        outcome = migrator.upgrade(Target("spare", spare, spare, recorded=installed_head("tenant")))
        missing = migrator.upgrade(Target("tenant", "nobody", "tenant_nobody", tenant_id=10**9))
    finally:
        migrator.close()
    assert (outcome.status, missing.status) == ("skipped", "skipped")
    assert version(pg, spare) == installed_head("tenant")  # untouched
    pg.execute(f"DROP SCHEMA {spare} CASCADE")
