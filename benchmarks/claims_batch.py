"""Benchmark: check and valuate 100,000 insurance claims of about 5 lines each, set-based.

Run by hand: ``.venv/bin/python benchmarks/claims_batch.py [--claims 100000] [--households 50000]``.

One scratch database (dropped at the end with its tenant roles) holding one ``health-insurance``
tenant whose registry is generated set-wise as in ``search_registry.py`` (``--households``
households of 1 to 7 members). Then, set-wise in SQL (untimed): 20 catalogue entries, 30 facilities,
a shared price list and 5 facilities' own lists, one product covering 18 entries (count and amount
limits, co-payment overrides, a deductible and ceilings), one policy per household (95 % paid, 5 %
idle) with its members, and ``--claims`` entered claims of 3 to 7 lines (5 on average) spread over
the year, 2 % of lines above the list price; ``VACUUM (ANALYZE)``.

Timed, each committed in its own transaction: ``check_claims`` over every entered claim (the service
a job or the API calls), then — untimed — the review's outcome (every checked claim ``processed``,
its passed lines ``approved``), then ``valuate_claims`` over every processed claim. Last line:
``claims_100k_s=<n>`` — check + valuation, scaled to 100,000 claims when ``--claims`` is smaller.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import psycopg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scratchdb import MachineNote, commit_id, scratch_app  # noqa: E402
from search_registry import generate  # noqa: E402


def insure(conn: psycopg.Connection, schema: str, claims: int, fillfactor: int | None = None) -> dict[str, float]:
    s = f'"{schema}"'
    steps: dict[str, float] = {}
    if fillfactor is not None:  # an experiment: room in each page for HOT updates of the lines
        conn.execute(f"ALTER TABLE {s}.claim_lines SET (fillfactor = {int(fillfactor)})")

    def step(name: str, sql: str, params: dict | None = None) -> None:
        start = time.perf_counter()
        conn.execute(sql, params)
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - start

    conn.execute("SELECT setseed(0.17)")
    step("catalogue", f"""
        INSERT INTO {s}.catalogue_entries (kind, code, name, type, care_type, patient_sex, patient_age, unit_price,
                                           currency)
        SELECT CASE WHEN g <= 10 THEN 'service' ELSE 'item' END, 'E' || lpad(g::text, 3, '0'), 'Entry ' || g,
               CASE WHEN g <= 10 THEN 'consultation' ELSE 'medicine' END, 'both', 'any', 'any',
               CASE WHEN g = 20 THEN 1500 END, CASE WHEN g = 20 THEN 'TZS' END
        FROM generate_series(1, 20) g""")
    step("facilities", f"""
        INSERT INTO {s}.health_facilities (code, name, level, care_type, location_id, status)
        SELECT 'HF' || g, 'Facility ' || g, CASE WHEN g <= 5 THEN 'hospital' ELSE 'health_centre' END, 'both',
               (SELECT id FROM {s}.locations WHERE level = 3 ORDER BY id OFFSET g LIMIT 1), 'active'
        FROM generate_series(1, 30) g""")
    step("price lists", f"""
        INSERT INTO {s}.price_lists (code, name, facility_id, currency, valid_from)
        SELECT 'NAT', 'National tariff', NULL, 'TZS', date '2026-01-01'
        UNION ALL
        SELECT 'OWN' || f.code, 'Own ' || f.code, f.id, 'TZS', date '2026-06-01'
          FROM {s}.health_facilities f WHERE f.code IN ('HF1', 'HF2', 'HF3', 'HF4', 'HF5')""")
    step("price lists", f"""
        INSERT INTO {s}.price_list_lines (price_list_id, entry_id, price)
        SELECT pl.id, e.id, CASE WHEN e.kind = 'service' THEN 5000 + 1000 * (e.id % 7) ELSE 200 + 50 * (e.id % 9) END
               * CASE WHEN pl.facility_id IS NULL THEN 1 ELSE 2 END
          FROM {s}.price_lists pl CROSS JOIN {s}.catalogue_entries e
         WHERE e.code < 'E020' AND (pl.facility_id IS NULL OR e.kind = 'service')""")
    step("product", f"""
        INSERT INTO {s}.insurance_products (code, version, name, currency, valid_from, insurance_period_months,
                                            lump_sum, threshold, waiting_period_days, copayment_percent, cost_sharing)
        VALUES ('CHF', 1, 'Family cover', 'TZS', date '2020-01-01', 12, 3000000, 6, 30, 10,
                '{{"deductible_insuree_out_patient": 2000, "ceiling_policy_out_patient": 400000,
                   "ceiling_treatment_in_patient": 60000, "ceiling_insuree_in_patient": 150000}}'::jsonb)""")
    step("coverage", f"""
        INSERT INTO {s}.insurance_product_coverage (product_id, entry_id, limit_count, limit_amount, copayment_percent)
        SELECT p.id, e.id, CASE WHEN e.id % 4 = 0 THEN 2 END, CASE WHEN e.id % 5 = 0 THEN 40000 END,
               CASE WHEN e.id % 3 = 0 THEN 0 END
        FROM {s}.insurance_products p CROSS JOIN {s}.catalogue_entries e
        WHERE e.code <= 'E018' OR e.code = 'E020'""")
    step("policies", f"""
        INSERT INTO {s}.insurance_policies (id, product_id, household_id, stage, status, enrol_date, start_date,
                                            expiry_date, effective_date, value, currency, paid, adults, children)
        OVERRIDING SYSTEM VALUE
        SELECT h.id, p.id, h.id, 'new', CASE WHEN h.id % 20 = 0 THEN 'idle' ELSE 'active' END,
               date '2027-01-01', date '2027-01-01', date '2027-12-31',
               CASE WHEN h.id % 20 = 0 THEN NULL ELSE date '2027-01-31' END, 3000000, 'TZS',
               CASE WHEN h.id % 20 = 0 THEN 0 ELSE 3000000 END, 2, 2
        FROM {s}.households h CROSS JOIN {s}.insurance_products p""")
    step("members", f"""
        INSERT INTO {s}.insurance_policy_members (policy_id, individual_id)
        SELECT household_id, id FROM {s}.individuals""")
    step("claims", f"""
        WITH people AS (SELECT min(id) AS lo, count(*) AS n FROM {s}.individuals),
             hf AS (SELECT array_agg(id ORDER BY id) AS ids FROM {s}.health_facilities)
        INSERT INTO {s}.claims (id, code, facility_id, individual_id, visit_type, date_from, date_to, date_claimed,
                                icd_code, status, currency, claimed)
        OVERRIDING SYSTEM VALUE
        SELECT g, 'B' || g, hf.ids[1 + (g * 17) % 30], people.lo + (g::bigint * 7919) % people.n,
               CASE WHEN g % 10 = 0 THEN 'in_patient' WHEN g % 10 = 1 THEN 'emergency' ELSE 'out_patient' END,
               date '2027-01-20' + (g * 31) % 330, date '2027-01-20' + (g * 31) % 330 + CASE WHEN g % 10 = 0 THEN 3 ELSE 0 END,
               date '2027-01-20' + (g * 31) % 330 + 5, 'A09', 'entered', 'TZS', 0
        FROM generate_series(1, {int(claims)}) g CROSS JOIN people CROSS JOIN hf""")
    step("claim lines", f"""
        WITH e AS (SELECT array_agg(id ORDER BY id) AS ids FROM {s}.catalogue_entries)
        INSERT INTO {s}.claim_lines (claim_id, line_no, entry_id, quantity, price)
        SELECT c.id, n, e.ids[1 + (c.id * 7 + n * 3) % 20], 1 + (c.id + n) % 3,
               coalesce((SELECT pll.price FROM {s}.price_list_lines pll JOIN {s}.price_lists pl
                           ON pl.id = pll.price_list_id AND pl.facility_id IS NULL
                          WHERE pll.entry_id = e.ids[1 + (c.id * 7 + n * 3) % 20]), 1500)
               + CASE WHEN (c.id + n) % 50 = 0 THEN 100 ELSE 0 END
        FROM {s}.claims c CROSS JOIN e CROSS JOIN LATERAL generate_series(1, 3 + c.id % 5) n""")
    step("claim totals", f"""
        UPDATE {s}.claims c SET claimed = t.claimed
          FROM (SELECT claim_id, sum(quantity * price) AS claimed FROM {s}.claim_lines GROUP BY claim_id) t
         WHERE t.claim_id = c.id""")
    start = time.perf_counter()
    for table in ("insurance_policies", "insurance_policy_members", "insurance_product_coverage", "catalogue_entries",
                  "individuals", "claims", "claim_lines", "price_lists", "price_list_lines", "health_facilities"):
        conn.execute(f"VACUUM (ANALYZE) {s}.{table}")
    steps["vacuum analyze"] = time.perf_counter() - start
    return steps


def run(claims: int, households: int, fillfactor: int | None = None) -> None:
    from sqlalchemy import func, select, update

    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.platform.tenancy import open_tenant_session
    from schemehost.provisioning.create import create_tenant
    from schemehost.tenants.insurance.claims.checks import check_claims, valuate_claims
    from schemehost.tenants.insurance.claims.models import ClaimLine, InsuranceClaim

    note = MachineNote()
    with scratch_app("claims") as (app, url, name):
        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            result = create_tenant(db.session, "claims", name="Claims bench", partner="bench",
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
            steps.update(insure(conn, schema, claims, fillfactor))
            lines = conn.execute(f'SELECT count(*) FROM "{schema}".claim_lines').fetchone()[0]
        print(f"# {claims:,} claims with {lines:,} lines generated in {time.perf_counter() - start:.1f} s ("
              + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items()) + ")")

        with app.app_context():
            def session():
                return open_tenant_session(db.engine, schema, role, statement_timeout_ms=3_600_000)

            s = session()
            s.info["claims_timings"] = check_steps = []
            t0 = time.perf_counter()
            checked = check_claims(s, actor=("system", "bench", "bench"))
            s.commit()
            check_s = time.perf_counter() - t0
            s.close()

            s = session()
            t0 = time.perf_counter()
            s.execute(update(ClaimLine).where(ClaimLine.status == "passed").values(status="approved"))
            s.execute(update(InsuranceClaim).where(InsuranceClaim.status == "checked")
                      .values(status="processed", version=InsuranceClaim.version + 1))
            s.commit()
            review_s = time.perf_counter() - t0
            s.close()

            s = session()
            s.info["claims_timings"] = valuate_steps = []
            t0 = time.perf_counter()
            valued = valuate_claims(s, actor=("system", "bench", "bench"))
            s.commit()
            valuate_s = time.perf_counter() - t0
            by_status = dict(s.execute(select(InsuranceClaim.status, func.count()).group_by(InsuranceClaim.status)
                                       ).all())
            s.close()

    total = check_s + valuate_s
    print()
    print(f"{'step':<34} {'claims':>9} {'seconds':>9}")
    print(f"{'check_claims':<34} {checked['checked'] + checked['rejected']:>9} {check_s:>9.2f}")
    print(f"{'(review outcome, untimed)':<34} {checked['checked']:>9} {review_s:>9.2f}")
    print(f"{'valuate_claims':<34} {valued['valuated']:>9} {valuate_s:>9.2f}")
    for label, steps in (("check", check_steps), ("valuate", valuate_steps)):
        for what, seconds in steps:
            print(f"#   {label}: {what[:60]:<60} {seconds:>7.2f} s")
    print(f"# checked {checked['checked']}, rejected {checked['rejected']} (claims: {checked['claim_reasons']}); "
          f"lines passed {checked['lines_passed']}, rejected {checked['lines_rejected']} "
          f"({checked['line_reasons']})")
    print(f"# valuated total {valued['total']} (minor units); claims by status {by_status}")
    print(f"# commit {commit_id()}; {note}" + (f"; claim_lines fillfactor {fillfactor}" if fillfactor else ""))
    print(f"claims_100k_s={total * 100_000 / max(claims, 1):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--households", type=int, default=50_000, help="households (about 4 members each)")
    parser.add_argument("--fillfactor", type=int, default=None,
                        help="an experiment: claim_lines' fillfactor (the schema's is 100)")
    args = parser.parse_args()
    run(args.claims, args.households, args.fillfactor)


if __name__ == "__main__":
    main()
