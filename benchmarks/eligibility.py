"""Benchmark: insurance eligibility on a tenant with 1,000,000 insurees.

Run by hand: ``.venv/bin/python benchmarks/eligibility.py [--runs 500] [--households 250000]``.

One scratch database (dropped at the end with its tenant roles) holding one ``health-insurance``
tenant whose registry is generated set-wise as in ``search_registry.py`` (10,000 villages, 250,000
households of 1 to 7 members: about 1,000,000 individuals). Then, set-wise in SQL: 20 catalogue
entries, one product covering 15 of them (count limits on some), one policy per household (90 %
paid and active, 5 % idle, 5 % suspended) and its members (every individual is an insuree), and
``VACUUM (ANALYZE)``.

Each timed call is ``eligibility.check(...)`` through the service, as the API calls it (insuree by
scheme number, a catalogue code, today), in its own transaction, for a random insuree and a random
entry (covered or not), after 20 untimed warm-up calls. Last line: ``eligibility_p95_ms=<n>``.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date

import psycopg

from scratchdb import MachineNote, commit_id, scratch_app, summary
from search_registry import generate


def insure(conn: psycopg.Connection, schema: str) -> dict[str, float]:
    s = f'"{schema}"'
    steps: dict[str, float] = {}

    def step(name: str, sql: str, params: tuple | None = None) -> None:
        start = time.perf_counter()
        conn.execute(sql, params)
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - start

    step("catalogue", f"""
        INSERT INTO {s}.catalogue_entries (kind, code, name, type, care_type, patient_sex, patient_age)
        SELECT CASE WHEN g <= 10 THEN 'service' ELSE 'item' END, 'E' || lpad(g::text, 3, '0'), 'Entry ' || g,
               CASE WHEN g <= 10 THEN 'consultation' ELSE 'medicine' END, 'both', 'any', 'any'
        FROM generate_series(1, 20) g""")
    step("product", f"""
        INSERT INTO {s}.insurance_products (code, version, name, currency, valid_from, insurance_period_months,
                                            lump_sum, threshold, premium_adult, premium_child,
                                            waiting_period_days)
        VALUES ('CHF', 1, 'Family cover', 'TZS', date '2020-01-01', 12, 3000000, 6, 500000, 500000, 30)""")
    step("coverage", f"""
        INSERT INTO {s}.insurance_product_coverage (product_id, entry_id, limit_count, limit_amount)
        SELECT p.id, e.id, CASE WHEN e.id % 3 = 0 THEN 4 END, CASE WHEN e.id % 5 = 0 THEN 200000 END
        FROM {s}.insurance_products p CROSS JOIN {s}.catalogue_entries e
        WHERE e.code <= 'E015'""")
    step("policies", f"""
        INSERT INTO {s}.insurance_policies (id, product_id, household_id, stage, status, enrol_date, start_date,
                                            expiry_date, effective_date, value, currency, paid, adults, children)
        SELECT h.id, p.id, h.id, 'new',
               CASE WHEN h.id % 20 = 0 THEN 'idle' WHEN h.id % 20 = 1 THEN 'suspended' ELSE 'active' END,
               current_date - 100, current_date - 100, current_date + 264,
               CASE WHEN h.id % 20 = 0 THEN NULL ELSE current_date - 70 END, 3000000, 'TZS',
               CASE WHEN h.id % 20 = 0 THEN 0 ELSE 3000000 END, 2, 2
        FROM {s}.households h CROSS JOIN {s}.insurance_products p""")
    step("members", f"""
        INSERT INTO {s}.insurance_policy_members (policy_id, individual_id)
        SELECT household_id, id FROM {s}.individuals""")
    start = time.perf_counter()
    for table in ("insurance_policies", "insurance_policy_members", "insurance_product_coverage",
                  "catalogue_entries", "individuals"):
        conn.execute(f"VACUUM (ANALYZE) {s}.{table}")
    steps["vacuum analyze"] = time.perf_counter() - start
    return steps


def run(runs: int, households: int) -> None:
    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.platform.tenancy import open_tenant_session
    from schemehost.provisioning.create import create_tenant
    from schemehost.tenants.insurance.services import eligibility

    note = MachineNote()
    rng = random.Random(42)
    with scratch_app("elig") as (app, url, name):
        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            result = create_tenant(db.session, "elig", name="Eligibility bench", partner="bench",
                                   template="health-insurance", actor="bench")
            db.session.commit()
            result.after_commit(wait=True)
            tenant = result.tenant
            schema, role = tenant.schema_name, tenant.role_name
        print(f"# scratch database {name}; tenant schema {schema}")
        libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
        start = time.perf_counter()
        with psycopg.connect(libpq, autocommit=True) as conn:
            steps = generate(conn, schema, households)
            steps.update(insure(conn, schema))
            insurees = conn.execute(f'SELECT count(*) FROM "{schema}".insurance_policy_members').fetchone()[0]
            sample = [r[0] for r in conn.execute(
                f'SELECT scheme_number FROM "{schema}".individuals TABLESAMPLE SYSTEM (1) REPEATABLE (7) '
                f'LIMIT 5000').fetchall()]
        print(f"# {insurees:,} insurees generated and insured in {time.perf_counter() - start:.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")
        codes = [f"E{n:03d}" for n in range(1, 21)]
        times: list[float] = []
        outcomes: dict[str, int] = {}
        today = date.today()
        with app.app_context():
            session = open_tenant_session(db.engine, schema, role)
            try:
                for i in range(runs + 20):
                    insuree, code = rng.choice(sample), rng.choice(codes)
                    t0 = time.perf_counter()
                    answer = eligibility.check(session, insuree=insuree, code=code, kind=None, day=today,
                                               principal=None)
                    session.rollback()
                    if i >= 20:
                        times.append((time.perf_counter() - t0) * 1000)
                        key = "covered" if answer.covered else answer.reason
                        outcomes[key] = outcomes.get(key, 0) + 1
            finally:
                session.close()
    st = summary(times)
    print()
    print(f"{'check':<28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'min':>7} {'max':>7}")
    print(f"{'eligibility (service)':<28} {st['n']:>5} {st['p50']:>8.2f} {st['p95']:>8.2f} {st['min']:>7.2f} "
          f"{st['max']:>7.2f}")
    print("# answers: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"# commit {commit_id()}; {note}")
    print(f"eligibility_p95_ms={st['p95']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500, help="timed checks (after 20 untimed)")
    parser.add_argument("--households", type=int, default=250_000, help="households (about 4 members each)")
    args = parser.parse_args()
    run(args.runs, args.households)


if __name__ == "__main__":
    main()
