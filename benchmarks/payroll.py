"""Cash transfers: a payroll for 1,000,000 active beneficiaries, and the reconciliation of 1,000,000
payment results.

Builds a scratch installation with one cash-transfer tenant, the location tree of
``import_registry.py``, N households set-wise in SQL (each with its head, and one child in every other
household) and a formula programme (base + per child, capped) with every household enrolled through the
registry's eligibility filter and made active (untimed). Then times, each committed:

- ``generate_payroll`` (one INSERT ... SELECT with the formula, children counted per household, the
  district from the location path; count and total from its RETURNING; the audit entry);
- ``reconcile_upload`` of the paid list as the payment points send it (a CSV of N rows ``line_id,
  status,reference``, 1 in 50 failed): COPY into a temporary table, every row checked in SQL, one
  UPDATE ... FROM, one probe for a pending line (decisions 0413, 0414).

Each timed step also prints the CPU seconds of its database backend (read from ``/proc``: the server
must be local) and of this Python process: on a shared machine these move much less with the load
than wall time does. The machine line gives the load average and a calibration; the reference query
(``SELECT sum(g) FROM generate_series(1, 5000000) g``, best of 3, before and after) is a fixed piece of
database work to compare runs made on differently loaded machines.

Last line: ``payroll_1m_s=<n> reconcile_1m_s=<n>`` (scaled to 1,000,000 when ``--households`` is smaller).

    .venv/bin/python benchmarks/payroll.py [--households 1000000] [--explain]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from import_registry import build_tree  # noqa: E402
from scratchdb import MachineNote, commit_id, scratch_app  # noqa: E402


def fill(session, households: int) -> None:
    """``households`` households, each with a head; every other one with a child of 5 too."""
    from sqlalchemy import text

    schema = session.info["tenant_schema"]
    session.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    session.execute(text("""
        INSERT INTO households (id, location_id, status)
        OVERRIDING SYSTEM VALUE
        SELECT g + 1, v.id, 'active'
          FROM generate_series(0, :n - 1) g
          JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM locations WHERE level = 3) v
            ON v.k = g % 10000
    """), {"n": households})
    session.execute(text("""
        INSERT INTO individuals (household_id, relationship, given_name, family_name, name_search, sex, birth_date,
                                 scheme_number, phone, location_id)
        SELECT h.id, 'head', 'Given' || (h.id % 97), 'Family' || (h.id % 89),
               'given' || (h.id % 97) || ' family' || (h.id % 89), 'female', date '1975-01-01' + (h.id % 8000)::int,
               'H' || lpad(h.id::text, 9, '0'), '+2207' || lpad(h.id::text, 6, '0'), h.location_id
          FROM households h
    """))
    session.execute(text("""
        INSERT INTO individuals (household_id, relationship, given_name, family_name, name_search, sex, birth_date,
                                 scheme_number, location_id)
        SELECT h.id, 'child', 'Kid' || (h.id % 97), 'Family' || (h.id % 89),
               'kid' || (h.id % 97) || ' family' || (h.id % 89), 'male', date '2021-06-01',
               'C' || lpad(h.id::text, 9, '0'), h.location_id
          FROM households h WHERE h.id % 2 = 0
    """))
    session.execute(text("""
        UPDATE households h SET head_id = i.id FROM individuals i
         WHERE i.household_id = h.id AND i.relationship = 'head'
    """))
    session.execute(text("SET LOCAL search_path TO DEFAULT"))


def analyze(schema: str, *tables: str) -> None:
    """Planner statistics of the filled tables, as the schema's owner (the tenant role may not ANALYZE)."""
    from schemehost.platform.extensions import db
    from schemehost.platform.tenancy import quote_ident

    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            conn.exec_driver_sql(f"ANALYZE {quote_ident(schema)}.{table}")


def explain(s, cycle_id: int) -> None:
    """EXPLAIN ANALYZE of the payroll's INSERT ... SELECT, rolled back."""
    from sqlalchemy import func, select
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from schemehost.tenants.transfers import services as tr
    from schemehost.tenants.transfers.models import Payroll, PayrollLine

    cycle = tr.get_cycle(s, cycle_id)
    programme = tr.get_programme(s, cycle.programme_id)
    payroll = Payroll(cycle_id=cycle.id, generated_by="x", currency=programme.currency)
    s.add(payroll)
    s.flush()
    s.execute(select(func.set_config("enable_nestloop", "off", True), func.set_config("jit", "off", True),
                     func.set_config("work_mem", "64MB", True)))
    stmt = pg_insert(PayrollLine.__table__).from_select(
        ["payroll_id", "cycle_id", "beneficiary_id", "amount", "children", "district_id", "payment_point_id", "status"],
        tr.payroll_lines_select(programme, cycle, payroll.id))
    compiled = stmt.compile(dialect=s.bind.dialect, compile_kwargs={"literal_binds": True})
    sql = str(compiled).replace("tenant.", f'"{s.info["tenant_schema"]}".')
    from sqlalchemy import text

    for row in s.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)):
        print("#", row[0])
    s.rollback()
    s.close()


def backend_pid(session) -> int:
    from sqlalchemy import func, select

    return session.execute(select(func.pg_backend_pid())).scalar_one()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far; NaN when /proc does not show it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def reference_query(session) -> tuple[float, float]:
    """Best of 3 (wall s, backend CPU s) of a fixed query: the database's speed at that moment."""
    from sqlalchemy import text

    pid, best = backend_pid(session), (float("inf"), float("nan"))
    for _ in range(3):
        c0, t0 = cpu_s(pid), time.perf_counter()
        session.execute(text("SELECT sum(g) FROM generate_series(1, 5000000) g")).scalar_one()
        best = min(best, (time.perf_counter() - t0, cpu_s(pid) - c0))
    session.rollback()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--explain", action="store_true", help="print the plan of the payroll INSERT (rolled back)")
    args = parser.parse_args()
    note = MachineNote()
    with scratch_app("payroll") as (app, _url, name):
        from datetime import date

        from sqlalchemy import select, text, update

        from schemehost.platform.extensions import db
        from schemehost.platform.partners.services import create_partner
        from schemehost.platform.tenancy import open_tenant_session
        from schemehost.provisioning.create import create_tenant
        from schemehost.tenants.identity.principal import Principal
        from schemehost.tenants.transfers import services as tr
        from schemehost.tenants.transfers.models import Beneficiary, PayrollLine

        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            res = create_tenant(db.session, "bench-payroll", name="Bench payroll", partner="bench",
                                template="cash-transfer", cold=True)
            db.session.commit()
            res.after_commit(wait=True)
            tenant = res.tenant
            maker = Principal(kind="user", id="1", name="Maker", tenant_id=tenant.id, permissions=frozenset({"*"}))
            checker = Principal(kind="user", id="2", name="Checker", tenant_id=tenant.id, permissions=frozenset({"*"}))

            def session():
                return open_tenant_session(db.engine, tenant.schema_name, tenant.role_name,
                                           statement_timeout_ms=3_600_000)

            s = session()
            t0 = time.perf_counter()
            build_tree(s)
            fill(s, args.households)
            s.commit()
            analyze(tenant.schema_name, "households", "individuals", "locations")
            programme = tr.create_programme(s, code="NAFA", name="Bench transfer", target="households",
                                            eligibility={"all": [{"field": "size", "op": "gte", "value": 1}]},
                                            benefit_kind="formula", base_amount=150000, per_child_amount=50000,
                                            max_children=3, cap_amount=300000, currency="GMD", status="active")
            enrolled = tr.enrol_eligible(s, programme.id, reason="payroll benchmark")
            s.execute(update(Beneficiary).values(status="active"))
            cycle = tr.open_cycle(s, programme.id, date(2026, 12, 1))
            s.commit()
            analyze(tenant.schema_name, "transfer_beneficiaries")
            cycle_id = cycle.id
            s.close()
            print(f"# {name}: {args.households} households, {enrolled['enrolled']} active beneficiaries "
                  f"made in {time.perf_counter() - t0:.1f} s (untimed)")

            if args.explain:
                explain(session(), cycle_id)
            s = session()
            ref_before = reference_query(s)
            pid = backend_pid(s)
            start, cpu0, py0 = time.perf_counter(), cpu_s(pid), time.process_time()
            payroll = tr.generate_payroll(s, cycle_id, principal=maker)
            s.commit()
            payroll_s = time.perf_counter() - start
            payroll_cpu, payroll_py = cpu_s(pid) - cpu0, time.process_time() - py0
            lines, total, payroll_id = payroll.lines, payroll.total, payroll.id
            tr.approve_payroll(s, payroll_id, principal=checker)
            tr.pay_payroll(s, payroll_id, via="offline", principal=checker)
            s.commit()
            ids = s.execute(select(PayrollLine.id).where(PayrollLine.payroll_id == payroll_id)
                            .order_by(PayrollLine.id)).scalars().all()
            s.close()
            out = io.StringIO()
            out.write("line_id,status,reference\n")
            for n, line_id in enumerate(ids):
                out.write(f"{line_id},{'failed' if n % 50 == 0 else 'paid'},RC{line_id}\n")
            data = out.getvalue().encode()

            s = session()
            pid = backend_pid(s)
            start, cpu0, py0 = time.perf_counter(), cpu_s(pid), time.process_time()
            result = tr.reconcile_upload(s, payroll_id, data, principal=checker)
            s.commit()
            reconcile_s = time.perf_counter() - start
            reconcile_cpu, reconcile_py = cpu_s(pid) - cpu0, time.process_time() - py0
            ref_after = reference_query(s)
            s.close()

    print(f"\npayroll benchmark — commit {commit_id()}")
    print(note)
    print(f"{'payroll lines':<32} {lines:>12}   total {total} (minor units)")
    print(f"{'payroll generation':<32} {payroll_s:>10.2f} s   (backend CPU {payroll_cpu:.2f} s, "
          f"Python CPU {payroll_py:.2f} s)")
    print(f"{'paid list rows (paid / failed)':<32} {result['rows']:>12}   ({result['paid']} / {result['failed']}, "
          f"{len(data) / 1e6:.1f} MB) -> {result['payroll_status']}")
    print(f"{'reconciliation':<32} {reconcile_s:>10.2f} s   (backend CPU {reconcile_cpu:.2f} s, "
          f"Python CPU {reconcile_py:.2f} s)")
    print(f"{'reference query (best of 3)':<32} {ref_before[0]:>10.2f} s before, {ref_after[0]:.2f} s after   "
          f"(backend CPU {ref_before[1]:.2f} / {ref_after[1]:.2f} s)")
    scale = 1_000_000 / max(lines, 1)
    print(f"payroll_1m_s={payroll_s * scale:.2f} reconcile_1m_s={reconcile_s * scale:.2f}")


if __name__ == "__main__":
    main()
