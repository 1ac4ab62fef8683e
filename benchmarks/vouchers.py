"""Vouchers: bulk issuance of 100,000 vouchers, and redemption latency under 8 concurrent clients.

Builds a scratch installation with one maternal-voucher tenant, the location tree of
``import_registry.py``, 200,000 individuals set-wise in SQL (half of them women of 12–55 flagged
pregnant: the eligible 100,000) and a programme with a facility (untimed). Then times
``issue_bulk`` (the job's service: eligible ids, codes, one INSERT; committed), and 8 client processes each
redeeming services of their own vouchers through ``redeem`` in its own tenant session and
transaction (lookup, row lock, checks, ledger entry, audit, commit) — the work of one API request
without HTTP — each client a process of its own (as behind several web workers). Last line: ``issue_100k_s=<n> redeem_p95_ms=<n>``.

    .venv/bin/python benchmarks/vouchers.py [--people 200000] [--redemptions 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import os
import multiprocessing
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from import_registry import build_tree  # noqa: E402
from scratchdb import MachineNote, commit_id, scratch_app  # noqa: E402


def fill(session, people: int) -> None:
    from sqlalchemy import text

    schema = session.info["tenant_schema"]
    session.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    session.execute(text("""
        INSERT INTO individuals (given_name, family_name, name_search, sex, birth_date, scheme_number, location_id,
                                 extra)
        SELECT 'Given' || (g % 97), 'Family' || (g % 89), 'given' || (g % 97) || ' family' || (g % 89),
               CASE WHEN g % 2 = 0 THEN 'female' ELSE 'male' END, date '1980-01-01' + (g % 8000),
               'V' || lpad(g::text, 8, '0'), v.id, jsonb_build_object('pregnant', g % 2 = 0)
          FROM generate_series(0, :n - 1) g
          JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM locations WHERE level = 3) v
            ON v.k = g % 10000
    """), {"n": people})
    session.execute(text("SET LOCAL search_path TO DEFAULT"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--redemptions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    note = MachineNote()
    with scratch_app("vouchers") as (app, _url, name):
        from schemehost.platform.extensions import db
        from schemehost.platform.partners.services import create_partner
        from schemehost.platform.tenancy import open_tenant_session
        from schemehost.provisioning.create import create_tenant
        from schemehost.tenants.core.models import Setting
        from schemehost.tenants.registry import services as reg
        from schemehost.tenants.vouchers import services as vs
        from schemehost.tenants.vouchers.models import Voucher
        from sqlalchemy import select, text

        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            res = create_tenant(db.session, "bench-vouchers", name="Bench vouchers", partner="bench",
                                template="maternal-voucher", cold=True)
            db.session.commit()
            res.after_commit(wait=True)
            tenant = res.tenant

            def session():
                return open_tenant_session(db.engine, tenant.schema_name, tenant.role_name,
                                           statement_timeout_ms=3_600_000)

            s = session()
            build_tree(s)
            t0 = time.perf_counter()
            fill(s, args.people)
            s.merge(Setting(key="registry", value={"extra_fields": {
                "individual": {"type": "object", "properties": {"pregnant": {"type": "boolean"}}},
                "household": {"type": "object", "properties": {}}}}))
            village = s.execute(text(f'SELECT id FROM "{tenant.schema_name}".locations WHERE level = 2 LIMIT 1')
                                ).scalar_one()
            facility = reg.create_facility(s, code="CSI-1", name="Centre 1", level="health_centre", care_type="both",
                                           location_id=village)
            programme = vs.create_programme(s, {
                "code": "CS-MERE", "name": "Mother and child", "validity_days": 300, "facilities": ["CSI-1"],
                "eligibility": {"all": [{"field": "sex", "op": "eq", "value": "female"},
                                        {"field": "age", "op": "between", "value": [12, 55]},
                                        {"field": "extra.pregnant", "op": "eq", "value": True}]},
                "services": [{"code": "CPN", "name": "Antenatal visit", "tariff": 2500, "count": 4},
                             {"code": "ACC", "name": "Delivery", "tariff": 20000, "count": 1,
                              "requires_code": "CPN", "requires_count": 1},
                             {"code": "TRANS", "name": "Transport", "tariff": 5000, "count": 1}]})
            pid, fid = programme.id, facility.id
            s.commit()
            s.execute(text(f'ANALYZE "{tenant.schema_name}".individuals'))
            s.close()
            print(f"# {name}: {args.people} individuals made in {time.perf_counter() - t0:.1f} s (untimed)")

            s = session()
            start = time.perf_counter()
            result = vs.issue_bulk(s, pid, issued_by="bench")
            s.commit()
            issue_s = time.perf_counter() - start
            s.close()
            s = session()
            all_codes = s.execute(select(Voucher.code).where(Voucher.programme_id == pid)
                                  .order_by(Voucher.id)).scalars().all()
            s.close()

            per_client = args.redemptions // args.clients
            schema, role = tenant.schema_name, tenant.role_name
            db.session.remove()
            db.engine.dispose()
            ctx = multiprocessing.get_context("fork")
            results = ctx.Queue()
            start_line = ctx.Barrier(args.clients)

            def client(k: int) -> None:
                """One client process (its own connections after the fork) redeeming its own vouchers."""
                db.engine.dispose(close=False)
                out_times, out_refused = [], []
                with app.app_context():
                    mine = all_codes[k * per_client:(k + 1) * per_client]
                    s = open_tenant_session(db.engine, schema, role)
                    backend = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
                    s.rollback()
                    s.close()
                    start_line.wait()
                    cpu0, server0 = time.process_time(), cpu_seconds(backend)
                    for i, code in enumerate(mine):
                        service = ("CPN", "TRANS", "CPN")[i % 3]
                        t = time.perf_counter()
                        s = open_tenant_session(db.engine, schema, role)
                        try:
                            vs.redeem(s, code, service_code=service, facility_id=fid, redeemed_by="bench")
                            s.commit()
                        except vs.VoucherRefused as err:
                            s.rollback()
                            out_refused.append(err.extra.get("reason"))
                        finally:
                            s.close()
                        out_times.append(time.perf_counter() - t)
                    cpu = (time.process_time() - cpu0, cpu_seconds(backend) - server0)
                results.put((out_times, out_refused, cpu))

            procs = [ctx.Process(target=client, args=(k,)) for k in range(args.clients)]
            start = time.perf_counter()
            for p in procs:
                p.start()
            timings: list[float] = []
            refused: list[str] = []
            client_cpu = server_cpu = 0.0
            for _p in procs:
                got_times, got_refused, (got_client, got_server) = results.get()
                timings += got_times
                refused += got_refused
                client_cpu += got_client
                server_cpu += got_server
            for p in procs:
                p.join()
            wall = time.perf_counter() - start

    timings.sort()
    p95 = timings[int(0.95 * (len(timings) - 1))] * 1000
    print(f"\nvouchers benchmark — commit {commit_id()}")
    print(note)
    print(f"{'vouchers issued (bulk)':<32} {result['issued']:>12}")
    print(f"{'bulk issuance':<32} {issue_s:>10.2f} s")
    print(f"{'redemptions (clients)':<32} {len(timings):>8} ({args.clients})  refused {len(refused)}")
    print(f"{'redemption p50 / p95 / max':<32} {statistics.median(timings) * 1000:.1f} / {p95:.1f} / "
          f"{timings[-1] * 1000:.1f} ms   ({len(timings) / wall:.0f} per s)")
    # CPU per redemption moves far less with the machine's load than latency does: the figure to
    # compare across runs on a shared machine (latency ≈ clients ÷ throughput once the cores are busy)
    print(f"{'CPU per redemption':<32} client {client_cpu / len(timings) * 1000:.2f} ms + database backend "
          f"{server_cpu / len(timings) * 1000:.2f} ms")
    scale = 100_000 / max(result["issued"], 1)
    print(f"issue_100k_s={issue_s * scale:.2f} redeem_p95_ms={p95:.1f}")


if __name__ == "__main__":
    main()
