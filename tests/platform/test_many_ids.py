"""Id lists longer than the 65,535 parameters a PostgreSQL statement may have, through code that binds
them as one array (:func:`schemehost.platform.db.any_of`): the result is the real ids' alone."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from schemehost.platform.db import any_of, none_of
from schemehost.platform.extensions import db
from schemehost.platform.tenants.models import Tenant

pytestmark = pytest.mark.usefixtures("app_ctx")

#: ids no row has, some past the int4 range of control-plane ids
MISSING = list(range(2**31 - 35_000, 2**31 + 35_000))


def test_any_of_and_none_of_match_in_and_not_in(make_tenant):
    handle = make_tenant("blank")
    ids = MISSING + [handle.id]
    assert db.session.execute(select(Tenant.slug).where(any_of(Tenant.id, ids))).scalars().all() == [handle.slug]
    assert db.session.execute(select(Tenant.slug).where(any_of(Tenant.slug, [handle.slug, "x" * 300])
                                                        )).scalars().all() == [handle.slug]
    assert db.session.execute(select(Tenant.id).where(any_of(Tenant.id, []))).all() == []
    others = set(db.session.execute(select(Tenant.id).where(Tenant.id != handle.id)).scalars())
    assert set(db.session.execute(select(Tenant.id).where(none_of(Tenant.id, ids))).scalars()) == others
    assert len(db.session.execute(select(Tenant.id).where(none_of(Tenant.id, []))).all()) == len(others) + 1


def test_fleet_corrects_stale_records_of_more_tenants_than_a_statement_has_parameters(make_tenant):
    """A fleet plan with 70,000 stale tenant records, all but one unknown, corrects the real one."""
    from schemehost.provisioning.fleet import FleetPlan, SchemaVersion, Target, fix_stale_records

    handle = make_tenant("blank")
    head = db.session.execute(select(Tenant.schema_version).where(Tenant.id == handle.id)).scalar_one()
    engine = db.session.get_bind()
    with engine.begin() as conn:
        conn.execute(update(Tenant.__table__).where(Tenant.__table__.c.id == handle.id).values(schema_version="old"))
    targets = [Target("tenant", f"t{i}", f"tenant_t{i}", i, None, None, "old", "active") for i in MISSING]
    targets.append(Target("tenant", handle.slug, handle.schema, handle.id, handle.role, None, "old", "active"))
    plan = FleetPlan(head, targets, {t: SchemaVersion("ok", head) for t in targets})
    assert fix_stale_records(engine, plan) == 70_001
    db.session.rollback()
    assert db.session.execute(select(Tenant.schema_version).where(Tenant.id == handle.id)).scalar_one() == head
