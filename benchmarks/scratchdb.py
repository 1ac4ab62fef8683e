"""A throwaway database for one benchmark run, and the figures every benchmark prints.

``scratch_app(prefix)`` creates a database on the local server (127.0.0.1:5432
unless ``BENCH_SERVER_URL`` says otherwise; loads only ever go to 127.0.0.1),
builds the app on it with production settings, brings the control plane to
head and, on exit (also after an error or Ctrl-C), drops the database and
this installation's tenant roles ``sh_<installid>_*`` (``DROP OWNED BY`` first).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import tempfile
import uuid
from collections.abc import Iterator

import psycopg

SERVER_URL = os.environ.get("BENCH_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def db_url(name: str) -> str:
    base, _, _db = SERVER_URL.rpartition("/")
    return f"{base}/{name}"


def tenant_roles(conn: psycopg.Connection, install_id: str) -> list[str]:
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s ORDER BY rolname",
                        (f"sh\\_{install_id}\\_%",)).fetchall()
    return [r[0] for r in rows]


def drop_scratch(name: str) -> int:
    """Drop database ``name`` and its installation's tenant roles; returns how many roles went."""
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return 0
        install_id, roles = None, []
        try:
            with psycopg.connect(db_url(name), autocommit=True) as conn:
                row = conn.execute("SELECT install_id FROM control.installation").fetchone()
                install_id = row[0] if row else None
                if install_id:
                    roles = tenant_roles(conn, install_id)
                    # one role per statement: a single DROP OWNED BY over a thousand
                    # tenants would lock every relation at once (max_locks_per_transaction)
                    for role in roles:
                        conn.execute(f'DROP OWNED BY "{role}"')
        except psycopg.Error:
            pass  # the control plane may not exist yet; the database goes anyway
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if install_id:
            for role in tenant_roles(admin, install_id):
                admin.execute(f'DROP OWNED BY "{role}"')
                admin.execute(f'DROP ROLE "{role}"')
        return len(roles)


@contextlib.contextmanager
def scratch_app(prefix: str, **env: str) -> Iterator[tuple]:
    """``(app, database_url, name)`` on a fresh database with the control plane at head."""
    name = f"schemehost_bench_{prefix}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(SERVER_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    instance = tempfile.mkdtemp(prefix=f"schemehost-bench-{prefix}-")
    url = db_url(name).replace("postgresql://", "postgresql+psycopg://", 1)
    # production settings (Config, not TestingConfig): the figures are for what runs in production
    os.environ.update({"DATABASE_URL": url, "SCHEMEHOST_INSTANCE": instance,
                       "SECRET_KEY": "bench-" + uuid.uuid4().hex, "SCHEMEHOST_LOG_LEVEL": "WARNING", **env})
    app = None
    try:
        from schemehost.platform.app import create_app
        from schemehost.platform.extensions import db
        from schemehost.provisioning.migrate import upgrade_control

        app = create_app()
        with app.app_context():
            upgrade_control(db.engine)
        yield app, url, name
    finally:
        if app is not None:
            from schemehost.platform.extensions import db
            from schemehost.platform.tenancy import dispose_engines

            with app.app_context():
                db.session.remove()
                db.engine.dispose()
                dispose_engines()
        dropped = drop_scratch(name)
        print(f"# dropped database {name} and {dropped} tenant role(s)")


def summary(values: list[float]) -> dict[str, float]:
    """p50/p95/min/max/mean of a list of milliseconds."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"n": len(ordered), "p50": statistics.median(ordered), "p95": p95, "min": ordered[0],
            "max": ordered[-1], "mean": statistics.fmean(ordered)}


def commit_id() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu_ticks() -> list[int]:
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


class MachineNote:
    """How fast the (shared, virtual) machine was while a benchmark ran.

    ``calibration_us``: best of 5 for ``sum(range(1000))`` (about 16 µs when the host is quiet);
    ``steal``: share of CPU time the hypervisor gave to other guests; ``load``: 1-minute load average.
    """

    def __init__(self) -> None:
        self.start = _cpu_ticks()
        self.load_start = os.getloadavg()[0]

    @staticmethod
    def calibration_us() -> float:
        import timeit

        return min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6

    def __str__(self) -> str:
        end = _cpu_ticks()
        delta = [b - a for a, b in zip(self.start, end)]
        steal = delta[7] / max(1, sum(delta)) if len(delta) > 7 else 0.0
        return (f"machine: sum(range(1000)) {self.calibration_us():.1f} µs, steal {100 * steal:.1f} %, "
                f"load {self.load_start:.2f} -> {os.getloadavg()[0]:.2f}")
