"""Benchmark: disk and relations of an idle (just created, no demo data) tenant.

Run by hand: ``.venv/bin/python benchmarks/idle_tenant.py [--tenants N]``.

On its own scratch database (dropped at the end with its tenant roles),
creates N tenants from ``health-insurance`` without demo data through the
warm path and reports, per tenant: the relations of its schema (tables,
indexes, sequences, toast tables and their indexes) and their disk size (sum of
``pg_total_relation_size`` over the schema's tables and sequences, which
includes their indexes and toast), plus the growth of the whole database per
tenant (which also counts the system catalog rows that describe the schema).

Last line: ``idle_tenant_kib=<n> idle_tenant_relations=<n>``.
"""

from __future__ import annotations

import argparse
import statistics

from sqlalchemy import text

from provision import TEMPLATE, create_one, relations
from scratchdb import MachineNote, commit_id, scratch_app

SIZE_SQL = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
FROM pg_class c
WHERE c.relnamespace = to_regnamespace(:schema) AND c.relkind IN ('r', 'p', 'm', 'S')
"""


def schema_bytes(session, schema: str) -> int:
    return int(session.execute(text(SIZE_SQL), {"schema": schema}).scalar_one())


def database_bytes(session) -> int:
    session.execute(text("CHECKPOINT"))
    return int(session.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50, help="tenants to create and measure")
    args = parser.parse_args()
    note = MachineNote()

    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.provisioning.pool import drain_pool, refill_pool

    with scratch_app("idle") as (app, _url, _name):
        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            refill_pool(db.session, size=1)
            spare = db.session.execute(text("SELECT schema_name FROM control.spare_schemas")).scalar_one()
            spare_rel, spare_bytes = relations(db.session, spare), schema_bytes(db.session, spare)
            create_one("warmup", "bench")
            drain_pool(db.session)
            before = database_bytes(db.session)
            db.session.commit()
            for i in range(args.tenants):
                refill_pool(db.session, size=1)
                create_one(f"idle-{i}", "bench")
            drain_pool(db.session)
            after = database_bytes(db.session)
            db.session.commit()
            sizes = [schema_bytes(db.session, f"tenant_idle_{i}") for i in range(args.tenants)]
            rels = [relations(db.session, f"tenant_idle_{i}")["total"] for i in range(args.tenants)]
            detail = relations(db.session, "tenant_idle_0")
            per_kind = db.session.execute(text("""
                SELECT c.relname, c.relkind, pg_total_relation_size(c.oid) AS bytes
                FROM pg_class c WHERE c.relnamespace = to_regnamespace('tenant_idle_0')
                  AND c.relkind IN ('r', 'S') ORDER BY bytes DESC, c.relname"""), {}).all()
            db.session.rollback()

    kib = statistics.median(sizes) / 1024
    print(f"\nidle tenant footprint — template {TEMPLATE}, no demo data, {args.tenants} tenants, commit {commit_id()}")
    print(note)
    print(f"relations per tenant: {detail['total']} = {detail['tables']} tables + {detail['indexes']} indexes + "
          f"{detail['sequences']} sequences + {detail['toast']} toast (tables and indexes)")
    print(f"{'measure':<48} {'median':>10} {'min':>10} {'max':>10}")
    print(f"{'schema disk, KiB (pg_total_relation_size)':<48} {kib:>10.1f} {min(sizes) / 1024:>10.1f} "
          f"{max(sizes) / 1024:>10.1f}")
    print(f"{'relations':<48} {statistics.median(rels):>10.0f} {min(rels):>10} {max(rels):>10}")
    print(f"{'database growth per tenant, KiB (incl. catalogs)':<48} "
          f"{(after - before) / args.tenants / 1024:>10.1f}")
    print(f"{'unclaimed spare schema, KiB / relations':<48} {spare_bytes / 1024:>10.1f} {spare_rel['total']:>10}")
    print("per table of one tenant (KiB, with its indexes and toast):",
          ", ".join(f"{name} {size / 1024:.0f}" for name, _kind, size in per_kind))
    print(f"idle_tenant_kib={kib:.0f} idle_tenant_relations={statistics.median(rels):.0f}")


if __name__ == "__main__":
    main()
