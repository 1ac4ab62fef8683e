"""Benchmark: requests/s of a tenant JSON endpoint with 1 tenant vs 1,000 tenants rotating.

Run by hand: ``.venv/bin/python benchmarks/routing.py [--tenants 1000] [--rounds 3] [--duration 10]``.

Two scratch databases (dropped at the end with their tenant roles): one holds 1
tenant, the other ``--tenants`` tenants, all from ``health-insurance``, created
the way operators create them (the warm pool refilled in batches, as its
background job would, and ``create_tenant`` claiming the spares), each with 20
extra rows written straight into its ``settings`` table, so that
``GET /t/<slug>/api/v1/settings?limit=20`` reads 20 rows.

Each database is served by its own gunicorn (``schemehost.platform.app:create_app()``,
2 sync workers, see docs/decisions/0060) on 127.0.0.1. ``wrk`` (1 thread,
4 connections, an access token of an API client of each tenant) loads, per round, after a 2 s warm-up
each: the 1-tenant database; the big one rotating over all its tenants (a Lua
script choosing the next tenant's path and token per request, round-robin); the big one on
a single tenant. Alternating the runs makes a change of load on the shared
machine hit every figure alike.

During each run it samples the connections to the database (``pg_stat_activity``)
and their backends' private memory, and counts the CPU used by gunicorn, the
database's backends and wrk per request.

Last line: ``routing_rps_1=<n> routing_ratio_1000_vs_1=<n>``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psycopg
from sqlalchemy import text

from scratchdb import MachineNote, commit_id, db_url, scratch_app

TEMPLATE = "health-insurance"
VENV_BIN = Path(sys.executable).parent
WORKERS = 2
WORKER_CLASS = "sync"
THREADS = 1


# ---- data ----------------------------------------------------------------------------------------

def seed_settings(session, schemas: list[str], rows: int = 20) -> None:
    """Insert ``rows`` extra settings directly into each tenant schema (100 schemas per transaction)."""
    for start in range(0, len(schemas), 100):
        batch = schemas[start:start + 100]
        sql = "; ".join(
            f"INSERT INTO {s}.settings (key, value) "
            f"SELECT 'bench_' || lpad(g::text, 2, '0'), to_jsonb(g) FROM generate_series(1, {rows}) g"
            for s in batch)
        session.connection().exec_driver_sql(sql)
        session.commit()


def create_tenants(prefix: str, first: int, stop: int, partner: str, batch: int = 50) -> list[str]:
    """Create tenants ``<prefix><first>`` .. ``<prefix><stop - 1>`` by claiming warm spares (the pool
    refilled ``batch`` at a time, as the background job would); their slugs."""
    from schemehost.platform.extensions import db
    from schemehost.provisioning.create import create_tenant
    from schemehost.provisioning.pool import refill_pool

    slugs = []
    for start in range(first, stop, batch):
        n = min(batch, stop - start)
        refill_pool(db.session, size=n)
        for i in range(start, start + n):
            slug = f"{prefix}{i}"
            result = create_tenant(db.session, slug, name=f"Bench {slug}", partner=partner, template=TEMPLATE,
                                   actor="bench")
            db.session.commit()
            assert result.path == "warm" and result.tenant.status == "active", (result.path, result.tenant.status)
            slugs.append(slug)
    return slugs


# ---- server --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn serving the app on 127.0.0.1 with this process's environment (scratch DATABASE_URL)."""

    def __init__(self, port: int, worker_class: str = WORKER_CLASS, threads: int = THREADS,
                 env: dict[str, str] | None = None):
        self.port, self.worker_class, self.threads = port, worker_class, threads
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Gunicorn":
        cmd = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", str(WORKERS),
               "--worker-class", self.worker_class, "--threads", str(self.threads), "--log-level", "warning",
               "schemehost.platform.app:create_app()"]
        self.proc = subprocess.Popen(cmd, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 30 s")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its own workers
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- load ----------------------------------------------------------------------------------------

LUA = """
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local n = #paths
local i = 0
request = function()
  i = i %% n + 1
  return wrk.format("GET", paths[i], {["Authorization"] = "Bearer " .. tokens[i]})
end
"""


def client_tokens(slugs: list[str], ttl_s: int = 3 * 3600) -> dict[str, str]:
    """An API client (scope settings.manage) and an access token for each tenant, issued through the
    services (tenant API requests need a principal of the tenant; tokens last the whole run)."""
    from schemehost.platform.extensions import db
    from schemehost.platform.tenancy import open_tenant_session, server_engine
    from schemehost.platform.tenants.routing import load_tenant_ref
    from schemehost.tenants.identity.clients import create_client, issue_token

    tokens = {}
    for slug in slugs:
        ref = load_tenant_ref(slug)
        session = open_tenant_session(server_engine(ref.server_dsn), ref.schema_name, ref.role_name)
        try:
            actor = ("system", "bench", "bench")
            client, _secret = create_client(session, "bench", ["settings.manage"], created_by="bench", actor=actor)
            tokens[slug], _row = issue_token(session, client, client.scopes, ttl_s=ttl_s, actor=actor)
            session.commit()
        finally:
            session.close()
    db.session.rollback()
    return tokens


def lua_script(directory: str, name: str, slugs: list[str], tokens: dict[str, str]) -> str:
    """A wrk script requesting the tenants' paths round-robin, each with its tenant's token."""
    paths = ", ".join(f'"/t/{s}/api/v1/settings?limit=20"' for s in slugs)
    path = os.path.join(directory, f"{name}.lua")
    Path(path).write_text(LUA % {"paths": paths, "tokens": ", ".join(f'"{tokens[s]}"' for s in slugs)})
    return path


class Sampler(threading.Thread):
    """Samples connections to ``dbname`` and their backends' anonymous memory while a run lasts."""

    def __init__(self, dbname: str, interval: float = 0.5):
        super().__init__(daemon=True)
        self.dbname, self.interval = dbname, interval
        self.counts: list[int] = []
        self.rss_kib: list[int] = []
        self._done = threading.Event()

    def run(self) -> None:
        with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
            while not self._done.is_set():
                pids = [r[0] for r in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,)).fetchall()]
                self.counts.append(len(pids))
                self.rss_kib += [kib for kib in map(anon_kib, pids) if kib is not None]
                self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def anon_kib(pid: int) -> int | None:
    """A backend's private (anonymous) resident memory, from /proc (the server runs on this machine)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def child_pids(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                pids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def backend_pids(dbname: str) -> list[int]:
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> "
                                           "pg_backend_pid()", (dbname,)).fetchall()]


def wrk(port: int, script: str, seconds: int) -> dict:
    url = f"http://127.0.0.1:{port}/"
    out = subprocess.run(["wrk", "-t1", "-c4", f"-d{seconds}s", "--latency", "-s", script, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    return {"rps": rps, "requests": requests, "non_2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(0) if errors else "",
            "p50_ms": to_ms(p50), "p99_ms": to_ms(p99), "raw": out}


def to_ms(match) -> float:
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def measure(server: "Gunicorn", script: str, dbname: str, seconds: int) -> dict:
    """One run: warm-up, then ``seconds`` of load while connections, memory and CPU are recorded."""
    wrk(server.port, script, 2)  # warm-up: worker imports, pools, the backends' catalog caches
    app_pids = [server.proc.pid, *child_pids(server.proc.pid)]
    db_pids = backend_pids(dbname)
    before = {pid: cpu_s(pid) for pid in app_pids + db_pids}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler = Sampler(dbname)
    sampler.start()
    try:
        result = wrk(server.port, script, seconds)
    finally:
        sampler.stop()
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    db_pids = sorted(set(db_pids) | set(backend_pids(dbname)))
    used = {name: sum(cpu_s(pid) - before.get(pid, 0.0) for pid in pids)
            for name, pids in (("app", app_pids), ("db", db_pids))}
    used["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    result["cpu_ms_per_request"] = {k: v * 1000 / result["requests"] for k, v in used.items()}
    if result["non_2xx"] or result["socket_errors"]:
        raise RuntimeError(f"wrk saw failures:\n{result['raw']}")
    result["conns_max"] = max(sampler.counts)
    result["conns_median"] = statistics.median(sampler.counts)
    result["backend_anon_kib_max"] = max(sampler.rss_kib) if sampler.rss_kib else 0
    return result


def check_endpoint(port: int, slug: str, token: str) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/t/{slug}/api/v1/settings?limit=20",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        rows = json.load(resp)
    assert len(rows) == 20, f"expected 20 rows, got {len(rows)}"


# ---- main ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000, help="tenants in the rotating load")
    parser.add_argument("--rounds", type=int, default=5, help="runs per load (median, min, max reported)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run (after 2 s warm-up)")
    parser.add_argument("--worker-class", default=WORKER_CLASS, choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per gthread worker")
    args = parser.parse_args()
    worker = (args.worker_class, args.threads if args.worker_class == "gthread" else 1)
    note = MachineNote()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")

    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner

    runs: dict[str, list[dict]] = {"1 tenant": [], "1 of many": [], "rotating": []}
    workdir = tempfile.mkdtemp(prefix="schemehost-bench-routing-")

    def prepare(app, count: int) -> tuple[list[str], dict[str, str], float]:
        """Partner and ``count`` seeded tenants with an API client token each; (slugs, tokens, seconds to create)."""
        from schemehost.platform.tenancy import dispose_engines

        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            started = time.perf_counter()
            slugs = create_tenants("tn-", 0, count, "bench")
            created = time.perf_counter() - started
            seed_settings(db.session, ["tenant_" + s.replace("-", "_") for s in slugs])
            tokens = client_tokens(slugs)
            db.engine.dispose()  # only gunicorn's connections count while it serves
            dispose_engines()
        return slugs, tokens, created

    # two databases, one with 1 tenant and one with all of them, each served by its own gunicorn;
    # their runs alternate so that a change of load on the machine hits both alike
    with scratch_app("routing1") as (app1, url1, db1), scratch_app("routingn") as (appn, urln, dbn):
        first, token1, _ = prepare(app1, 1)
        slugs, tokenn, created_s = prepare(appn, args.tenants)
        with appn.app_context():
            total = db.session.execute(text("SELECT count(*) FROM control.tenants WHERE status = 'active'")).scalar()
            db.session.rollback()
            db.engine.dispose()
        one = lua_script(workdir, "one", first, token1)
        one_of_many = lua_script(workdir, "one-of-many", slugs[:1], tokenn)
        rotating = lua_script(workdir, "rotating", slugs, tokenn)
        with Gunicorn(free_port(), *worker, env={"DATABASE_URL": url1}) as server1, \
                Gunicorn(free_port(), *worker, env={"DATABASE_URL": urln}) as servern:
            check_endpoint(server1.port, first[0], token1[first[0]])
            check_endpoint(servern.port, slugs[-1], tokenn[slugs[-1]])
            # steady state before measuring: three passes over all tenants, so that each worker's
            # tenant ref cache holds the tenants in use (as it does under a steady rotating load)
            # (not wrk.thread:stop(): wrk then keeps its sockets open until the duration ends, and sync
            # workers blocked on them are killed by gunicorn's timeout, losing their caches)
            rate = wrk(servern.port, rotating, 2)["rps"]
            wrk(servern.port, rotating, min(120, math.ceil(3 * len(slugs) / max(rate, 1.0))))
            for _ in range(args.rounds):
                runs["1 tenant"].append(measure(server1, one, db1, args.duration))
                runs["rotating"].append(measure(servern, rotating, dbn, args.duration))
                runs["1 of many"].append(measure(servern, one_of_many, dbn, args.duration))
    shutil.rmtree(workdir, ignore_errors=True)

    def med(name, key):
        return statistics.median(r[key] for r in runs[name])

    threads = f" x {worker[1]} threads" if worker[0] == "gthread" else ""
    print(f"\nrouting benchmark — GET /t/<slug>/api/v1/settings?limit=20 (20 rows), gunicorn {WORKERS} "
          f"{worker[0]} workers{threads}, wrk 1 thread 4 connections, {args.rounds} x "
          f"{args.duration} s after 2 s warm-up each, commit {commit_id()}")
    print(note)
    print(f"two scratch databases: one with 1 tenant; one with {total} active tenants, created through the "
          f"warm pool + create_tenant in {created_s:.1f} s; runs alternate between them")
    print(f"{'load':<24} {'req/s med':>10} {'min':>6} {'max':>6} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'db conns':>8} {'backend MiB':>11} {'CPU ms/req app+db+wrk':>22} {'2-core capacity':>15}")
    labels = {"1 tenant": "1 tenant (of 1)", "1 of many": f"1 tenant (of {args.tenants})",
              "rotating": f"{args.tenants} tenants rotating"}
    for name in ("1 tenant", "1 of many", "rotating"):
        label = labels[name]
        rps = [r["rps"] for r in runs[name]]
        conns = max(r["conns_max"] for r in runs[name])
        cpu = {k: statistics.median(r["cpu_ms_per_request"][k] for r in runs[name]) for k in ("app", "db", "wrk")}
        total_cpu = sum(cpu.values())
        print(f"{label:<24} {statistics.median(rps):>10.0f} {min(rps):>6.0f} {max(rps):>6.0f} "
              f"{med(name, 'p50_ms'):>7.2f} {med(name, 'p99_ms'):>7.2f} {conns:>8} "
              f"{max(r['backend_anon_kib_max'] for r in runs[name]) / 1024:>11.1f} "
              f"{cpu['app']:>8.2f}+{cpu['db']:.2f}+{cpu['wrk']:.2f} {2000 / total_cpu:>15.0f}")
    print("backend MiB: the largest private memory of one of the database's backends; 2-core capacity: "
          "2,000 ms / CPU ms per request, the req/s two idle cores could serve (other load on the machine "
          "lowers req/s but hardly the CPU per request)")
    rps_1 = med("1 tenant", "rps")
    ratio = med("rotating", "rps") / rps_1
    cpu_ratio = (sum(statistics.median(r["cpu_ms_per_request"][k] for r in runs["1 tenant"]) for k in ("app", "db", "wrk"))
                 / sum(statistics.median(r["cpu_ms_per_request"][k] for r in runs["rotating"]) for k in ("app", "db", "wrk")))
    print(f"ratio {args.tenants} rotating / 1 tenant: {ratio:.3f} in req/s, {cpu_ratio:.3f} in capacity (vs 1 tenant "
          f"of {args.tenants}: {med('rotating', 'rps') / med('1 of many', 'rps'):.3f}); targets: ratio >= 0.95, "
          f"1 tenant >= 1185 req/s, db conns independent of tenant count")
    print(f"routing_rps_1={rps_1:.0f} routing_ratio_1000_vs_1={ratio:.3f}")


if __name__ == "__main__":
    main()
