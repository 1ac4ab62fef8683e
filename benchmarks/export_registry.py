"""Export 1,000,000 individuals as CSV through the real export service (server-side cursor).

Builds a scratch installation with one tenant, the location tree of ``import_registry.py`` and
1,000,000 individuals in 250,000 households set-wise in SQL (untimed), then times
``stream_export(..., "individuals", "csv")`` written to a file. Peak memory: the largest RSS of
this process sampled every 50 ms during the export, beside the RSS before it (constant memory:
the growth must not depend on the row count).

    .venv/bin/python benchmarks/export_registry.py [--people 1000000] [--format csv|xlsx]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from import_registry import PeakRss, build_tree  # noqa: E402
from scratchdb import MachineNote, commit_id, scratch_app  # noqa: E402


def fill(session, people: int) -> None:
    from sqlalchemy import text

    schema = session.info["tenant_schema"]
    session.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    session.execute(text("""
        INSERT INTO households (external_id, location_id)
        SELECT 'H' || lpad(g::text, 6, '0'), v.id
          FROM generate_series(0, :h - 1) g
          JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM locations WHERE level = 3) v
            ON v.k = g % 10000
    """), {"h": people // 4})
    session.execute(text("""
        INSERT INTO individuals (external_id, household_id, relationship, given_name, family_name, name_search, sex,
                                 birth_date, national_id, scheme_number, phone, location_id)
        SELECT 'P' || lpad(g::text, 7, '0'), h.id, CASE WHEN g % 4 = 0 THEN 'head' ELSE 'child' END,
               'Given' || (g % 97), 'Family' || (g % 89), 'given' || (g % 97) || ' family' || (g % 89),
               CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, date '1960-01-01' + (g % 20000),
               'CM' || lpad(g::text, 9, '0'), lpad(g::text, 8, '0'),
               CASE WHEN g % 5 < 3 THEN '+23767' || lpad(g::text, 7, '0') END, h.location_id
          FROM generate_series(0, :n - 1) g JOIN households h ON h.external_id = 'H' || lpad((g / 4)::text, 6, '0')
    """), {"n": people})
    session.execute(text("SET LOCAL search_path TO DEFAULT"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=("csv", "xlsx"))
    args = parser.parse_args()
    note = MachineNote()
    with scratch_app("export") as (app, _url, name):
        from schemehost.platform.extensions import db
        from schemehost.platform.partners.services import create_partner
        from schemehost.platform.tenancy import open_tenant_session
        from schemehost.provisioning.create import create_tenant
        from schemehost.tenants.identity.principal import Principal
        from schemehost.tenants.registry.services import exports

        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            res = create_tenant(db.session, "bench-export", name="Bench export", partner="bench", template="blank",
                                cold=True)
            db.session.commit()
            res.after_commit(wait=True)
            tenant = res.tenant
            s = open_tenant_session(db.engine, tenant.schema_name, tenant.role_name, statement_timeout_ms=3_600_000)
            build_tree(s)
            t0 = time.perf_counter()
            fill(s, args.people)
            s.commit()
            s.close()
            print(f"# {name}: {args.people} individuals made in {time.perf_counter() - t0:.1f} s (untimed)")
            principal = Principal(kind="user", id="bench", name="bench", tenant_id=tenant.id, permissions=frozenset())
            out = tempfile.mktemp(prefix="schemehost-export-", suffix="." + args.format)
            s = open_tenant_session(db.engine, tenant.schema_name, tenant.role_name)
            import psutil

            before = psutil.Process().memory_info().rss
            with PeakRss() as mem:
                start = time.perf_counter()
                with open(out, "wb") as f:
                    for chunk in exports.stream_export(s, "individuals", args.format, principal=principal):
                        f.write(chunk)
                elapsed = time.perf_counter() - start
            s.rollback()
            s.close()
            size = os.path.getsize(out)
            with open(out, "rb") as f:
                lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b""))
            os.unlink(out)
    print(f"\nregistry export benchmark — commit {commit_id()}, format {args.format}")
    print(note)
    print(f"{'rows (lines - header)':<32} {lines - 1:>12}" if args.format == "csv" else f"{'file':<32} {'xlsx':>12}")
    print(f"{'file size':<32} {size / 1e6:>9.0f} MB")
    print(f"{'export (wall)':<32} {elapsed:>10.1f} s")
    print(f"{'RSS before export':<32} {before / 1e6:>9.0f} MB")
    print(f"{'peak RSS during export':<32} {mem.peak / 1e6:>9.0f} MB")
    print("targets: <= 30 s, constant memory")
    print(f"export_1m_s={elapsed:.1f} export_peak_mb={mem.peak / 1e6:.0f}")


if __name__ == "__main__":
    main()
