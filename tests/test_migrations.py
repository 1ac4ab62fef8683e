"""Both Alembic trees: models match head (no autogenerate diff), and base -> head -> base works."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from schemehost.platform.db import CONTROL_SCHEMA, libpq_url
from schemehost.platform.extensions import db
from schemehost.provisioning.fleet import MigrationTree
from schemehost.provisioning.migrate import migrations_dir


def _config(tree: str) -> Config:
    """A fresh Alembic config (the cached ones in ``migrate`` are shared by the app)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir() / tree))
    return cfg


def _revisions(tree: str) -> list[str]:
    """Revision ids from base to head."""
    return [s.revision for s in reversed(list(MigrationTree(migrations_dir() / tree).script.walk_revisions()))]


@pytest.fixture
def scratch_schema(app):
    """A connection in a transaction (rolled back at the end) with an empty schema to build in."""
    schema = "spare_mig_" + uuid.uuid4().hex[:10]
    with app.app_context(), db.engine.connect() as conn:
        trans = conn.begin()
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield conn, schema
        finally:
            trans.rollback()


def _tables(conn, schema: str) -> set[str]:
    return set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}).scalars())


def test_tenant_models_match_head(scratch_schema):
    from schemehost.tenants.models import unscoped_metadata

    conn, schema = scratch_schema
    MigrationTree().upgrade(conn, schema)
    conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    ctx = MigrationContext.configure(conn, opts={
        "compare_type": True,
        "include_name": lambda name, type_, parent: not (type_ == "table" and name == "alembic_version"),
    })
    metadata = unscoped_metadata()
    diff = compare_metadata(ctx, metadata)
    assert diff == [], diff
    # the comparison really looked at the tenant schema
    assert {t.name for t in metadata.sorted_tables} <= _tables(conn, schema)


def test_control_models_match_head(app):
    from schemehost.platform.models import ControlBase

    def include(name, type_, parent):
        if type_ == "schema":
            return name == CONTROL_SCHEMA  # procrastinate's tables live in public: not ours to compare
        return not (type_ == "table" and name == "alembic_version")

    with app.app_context(), db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_schemas": True,
                                                     "include_name": include})
        diff = compare_metadata(ctx, ControlBase.metadata)
        conn.rollback()
    assert diff == [], diff


def test_tenant_tree_upgrades_from_base_and_downgrades_to_base(scratch_schema):
    conn, schema = scratch_schema
    cfg = _config("tenant")
    cfg.attributes.update(connection=conn, schema=schema)
    conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    revisions = _revisions("tenant")
    for rev in revisions:  # one step at a time, then back down one step at a time
        command.upgrade(cfg, rev)
        assert conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar() == rev
    built = _tables(conn, schema)
    for _ in revisions:
        command.downgrade(cfg, "-1")
    assert _tables(conn, schema) == {"alembic_version"}
    assert conn.execute(text(f'SELECT count(*) FROM "{schema}".alembic_version')).scalar() == 0
    command.upgrade(cfg, "head")
    assert _tables(conn, schema) == built


@pytest.fixture
def scratch_database(database_url):
    """An empty database beside the test database, dropped at the end."""
    name = re.search(r"/([^/?]+)(?:[?]|$)", database_url).group(1) + "_mig"
    session_db = re.search(r"/([^/?]+)(?:[?]|$)", database_url).group(1)
    admin_url = libpq_url(database_url).replace(f"/{session_db}", "/postgres", 1)
    url = database_url.replace(f"/{session_db}", f"/{name}", 1)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(url, poolclass=NullPool)
    yield engine
    engine.dispose()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_control_tree_upgrades_from_base_and_downgrades_to_base(scratch_database):
    cfg = _config("control")
    revisions = _revisions("control")

    def run(fn, target):
        with scratch_database.begin() as conn:
            cfg.attributes["connection"] = conn
            fn(cfg, target)

    for rev in revisions:
        run(command.upgrade, rev)
    with scratch_database.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM control.alembic_version")).scalar() == revisions[-1]
        assert "procrastinate_jobs" in _tables(conn, "public")
        built = _tables(conn, CONTROL_SCHEMA)
    for _ in revisions:
        run(command.downgrade, "-1")
    with scratch_database.connect() as conn:
        assert _tables(conn, CONTROL_SCHEMA) == {"alembic_version"}
        assert not {t for t in _tables(conn, "public") if t.startswith("procrastinate")}
    run(command.upgrade, "head")
    with scratch_database.connect() as conn:
        assert _tables(conn, CONTROL_SCHEMA) == built
