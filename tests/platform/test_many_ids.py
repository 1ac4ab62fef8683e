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


def test_reconciliation_of_a_statement_longer_than_a_statement_has_parameters(make_tenant):
    """A gateway's day statement of 70,000 transactions (more than the 65,535 parameters a statement
    may have), notified the evening before: each is found and matched, and one notified that day but
    absent from the statement is flagged, as with a short statement."""
    from datetime import date, timedelta

    from sqlalchemy import Text, func, literal

    from schemehost.tenants.payments import services as payments
    from schemehost.tenants.payments.models import PaymentGateway, PaymentNotification, Reconciliation

    tenant = make_tenant("blank")
    day = date(2026, 6, 1)
    n = func.generate_series(1, 70_000).table_valued("value").render_derived("n")
    with tenant.session() as s:
        gw = PaymentGateway(code="gepg", name="Control numbers", kind="control_number", base_url="http://127.0.0.1:9",
                            sp_code="SP1")
        s.add(gw)
        s.flush()
        start, _end = payments.day_bounds(gw, day)
        s.execute(PaymentNotification.__table__.insert().from_select(
            ["gateway_id", "gateway_txn_id", "amount", "currency", "paid_at", "status", "raw"],
            select(literal(gw.id), literal("txn-") + n.c.value.cast(Text), literal(5000), literal("TZS"),
                   literal(start - timedelta(hours=1)), literal("applied"), literal("{}"))))
        s.add(PaymentNotification(gateway_id=gw.id, gateway_txn_id="txn-late", amount=700, currency="TZS",
                                  paid_at=start + timedelta(hours=2), status="applied", raw="{}"))
        rec = Reconciliation(gateway_id=gw.id, day=day)
        s.add(rec)
        s.flush()
        statement = [{"txn_id": f"txn-{i}", "amount": 5000, "currency": "TZS"} for i in range(1, 70_001)]
        done = payments.reconcile(s, gw, rec, statement, actor=("system", "test", None))
        assert done.counts == {"statement": 70_000, "stored": 70_001, "matched": 70_000, "missing": 0,
                               "not_in_statement": 1, "amount_mismatch": 0, "unmatched": 0, "refused": 0,
                               "statement_total": 350_000_000}
        assert [f["txn"] for f in done.flagged] == ["txn-late"]
