"""Benchmark: fleet migration of 1,000 tenants, then the same command with nothing pending.

Run by hand: ``.venv/bin/python benchmarks/fleet_migrate.py [--tenants 1000] [--jobs 4] [--runs 3]``.

Works on its own scratch database on 127.0.0.1:5432, dropped at the end with
its tenant roles (``DROP OWNED BY`` then ``DROP ROLE`` for ``sh_<installid>_*``).

Building the fleet: spare schemas are cloned set-wise — the tenant tree's DDL
up to head is rendered once, offline, by Alembic and run as one SQL script
per spare (schema, tables, version stamp and pool row in one transaction) —
then every tenant is created by the real warm path (``create_tenant``: claim
a spare, rename, role, grants, seed, control row, event; one transaction
each). A few spares are left in the pool, so they are migrated too.

Each run adds one tenant revision to a temporary copy of the tenant tree (a
column and an index on two tables, ``settings`` and ``users``), then times
``schemehost tenants migrate --all --jobs N`` as a subprocess (wall clock,
process start included) and the same command again with nothing pending.

Last line: ``fleet_migrate_1000_s=<n> fleet_noop_1000_s=<n>`` (medians over the runs).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from scratchdb import commit_id, scratch_app

REVISION = '''"""Benchmark revision {n}: a column and an index on two tables."""

from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("settings", sa.Column("bench_note_{n}", sa.String(200), nullable=True))
    op.create_index("ix_settings_bench_note_{n}", "settings", ["bench_note_{n}"])
    op.add_column("users", sa.Column("bench_nick_{n}", sa.String(100), nullable=True))
    op.create_index("ix_users_bench_nick_{n}", "users", ["bench_nick_{n}"])


def downgrade() -> None:
    op.drop_index("ix_users_bench_nick_{n}", table_name="users")
    op.drop_column("users", "bench_nick_{n}")
    op.drop_index("ix_settings_bench_note_{n}", table_name="settings")
    op.drop_column("settings", "bench_note_{n}")
'''

PLACEHOLDER = "spare_benchplaceholder"


def clone_spares(n: int) -> float:
    """Build ``n`` spare schemas at head from one offline rendering of the tree; returns seconds."""
    from schemehost.platform.extensions import db
    from schemehost.provisioning.fleet import MigrationTree
    from schemehost.provisioning.pool import spare_name

    tree = MigrationTree()
    script = tree.render_sql(PLACEHOLDER, None, lock_timeout="5s", role=None)
    body = "\n".join(ln for ln in script.splitlines() if ln.strip() not in ("BEGIN;", "COMMIT;"))
    server_id = db.session.execute(text("SELECT id FROM control.database_servers WHERE is_default")).scalar_one()
    db.session.rollback()
    start = time.perf_counter()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for _ in range(n):
            name = spare_name()
            cur.execute(
                f'CREATE SCHEMA "{name}"; ' + body.replace(PLACEHOLDER, name)
                + f" INSERT INTO control.spare_schemas (schema_name, server_id, version)"
                  f" VALUES ('{name}', {int(server_id)}, '{tree.head}');")
            raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - start


def create_tenants(n: int, partner: str) -> float:
    """Create ``n`` tenants through the warm path, one transaction each; returns seconds."""
    from schemehost.platform.extensions import db
    from schemehost.provisioning.create import create_tenant

    start = time.perf_counter()
    for i in range(n):
        result = create_tenant(db.session, f"fleet-{i:05d}", name=f"Fleet {i}", partner=partner,
                               template="blank", actor="bench")
        db.session.commit()
        assert result.path == "warm", result.path
    return time.perf_counter() - start


def add_revision(tree: Path, n: int, down: str) -> str:
    rev = f"b{n:03d}fleet"
    (tree / "versions" / f"29990101_{rev}_bench_{n}.py").write_text(REVISION.format(n=n, rev=rev, down=down))
    return rev


def schemehost(*args: str, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    exe = Path(sys.executable).with_name("schemehost")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "schemehost.platform.cli"]
    start = time.perf_counter()
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--spares", type=int, default=3, help="spare schemas left in the pool (migrated too)")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3, help="revisions added and migrated one after another")
    args = parser.parse_args()

    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.provisioning.migrate import head, migrations_dir

    rows = []
    with scratch_app("fleet", SCHEMEHOST_WARM_POOL_SIZE="0") as (app, url, name):
        with app.app_context():
            print(f"# scratch database {name}; installed tenant head {head('tenant')}")
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            clone_s = clone_spares(args.tenants + args.spares)
            create_s = create_tenants(args.tenants, "bench")
            db.session.remove()
            db.engine.dispose()
        print(f"# built {args.tenants + args.spares} spare schemas by cloning the head DDL in {clone_s:.1f} s "
              f"({clone_s / (args.tenants + args.spares) * 1000:.1f} ms each); created {args.tenants} tenants "
              f"through the warm path in {create_s:.1f} s ({create_s / args.tenants * 1000:.1f} ms each)")

        tree = Path(tempfile.mkdtemp(prefix="schemehost-bench-tree-")) / "tenant"
        shutil.copytree(migrations_dir() / "tenant", tree, ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, SCHEMEHOST_TENANT_MIGRATIONS=str(tree), SCHEMEHOST_LOG_LEVEL="WARNING")
        down = head("tenant")
        targets = args.tenants + args.spares
        try:
            for run in range(1, args.runs + 1):
                down = add_revision(tree, run, down)
                migrate_s, proc = schemehost("tenants", "migrate", "--all", "--jobs", str(args.jobs), env=env)
                if proc.returncode != 0 or f"{targets} upgraded, 0 failed" not in proc.stdout:
                    sys.exit(f"migration run {run} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
                inner = float(re.search(r"schema\(s\) in ([\d.]+) s", proc.stdout).group(1))
                noop_s, proc = schemehost("tenants", "migrate", "--all", "--jobs", str(args.jobs), env=env)
                if proc.returncode != 0 or not proc.stdout.startswith("nothing to do"):
                    sys.exit(f"no-op run {run} did something ({proc.returncode}):\n{proc.stdout[-3000:]}")
                read = float(re.search(r"read in ([\d.]+) s", proc.stdout).group(1))
                status_s, proc = schemehost("tenants", "status", "--json", env=env)
                assert proc.returncode == 0, proc.stdout[-2000:]
                rows.append({"run": run, "rev": down, "migrate": migrate_s, "inner": inner, "noop": noop_s,
                             "read": read, "status": status_s})
                print(f"# run {run}: {down} migrated in {migrate_s:.2f} s, no-op {noop_s:.2f} s", flush=True)
        finally:
            shutil.rmtree(tree.parent, ignore_errors=True)

    print(f"\nfleet migration benchmark — {args.tenants} tenants + {args.spares} spares, --jobs {args.jobs}, "
          f"commit {commit_id()}, {os.cpu_count()} cores")
    print("each revision: ADD COLUMN + CREATE INDEX on settings and on users; per schema one transaction with "
          "lock_timeout, search_path, grants re-applied, control row and event")
    print(f"{'run':>3} {'revision':<11} {'migrate s':>10} {'in-command s':>13} {'no-op s':>8} {'version read s':>15} "
          f"{'status s':>9}")
    for r in rows:
        print(f"{r['run']:>3} {r['rev']:<11} {r['migrate']:>10.2f} {r['inner']:>13.2f} {r['noop']:>8.2f} "
              f"{r['read']:>15.3f} {r['status']:>9.2f}")
    migrate = [r["migrate"] for r in rows]
    noop = [r["noop"] for r in rows]
    print(f"median migrate {statistics.median(migrate):.2f} s (min {min(migrate):.2f}, max {max(migrate):.2f}); "
          f"median no-op {statistics.median(noop):.2f} s (min {min(noop):.2f}, max {max(noop):.2f}); "
          "wall clock of the whole command, process start included")
    print("targets: migrate <= 15 s, no-op <= 2 s (2 cores)")
    print(f"fleet_migrate_{args.tenants}_s={statistics.median(migrate):.2f} "
          f"fleet_noop_{args.tenants}_s={statistics.median(noop):.2f}")


if __name__ == "__main__":
    main()
