"""Benchmark: eligibility filter preview (count + breakdown by district) on 1,000,000 individuals.

Run by hand: ``.venv/bin/python benchmarks/eligibility_preview.py [--runs 7] [--households 250000]``.

One scratch database (dropped at the end with its tenant roles) holding one ``blank`` tenant
whose registry is generated set-wise in SQL (``INSERT ... SELECT`` over ``generate_series``):
10 regions × 10 districts × 10 municipalities × 10 villages (11,110 locations, 10,000 villages),
250,000 households of 1 to 7 members (about 1,000,000 individuals; ages, sexes, statuses,
national ids, phones and extra fields drawn at random with a fixed seed), then
``VACUUM (ANALYZE)``. The trigram index on ``name_search`` is dropped before the load (it only
serves name search and makes the load slow; previews never read it).

Each timed call is ``eligibility.preview(...)`` through the service, as the API calls it:
validation (the tenant's extra fields, location codes), compilation and the one counting query,
breakdown by district (level 1), in its own transaction. Each filter runs once untimed, then
``--runs`` times. Last line: ``eligibility_preview_p95_ms=<n>`` (p95 over all timed calls).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

import psycopg

from scratchdb import MachineNote, commit_id, scratch_app, summary

ON = date(2026, 6, 15)
EXTRA_FIELDS = {
    "individual": {"type": "object", "properties": {
        "disability": {"type": "boolean"}, "school": {"enum": ["none", "primary", "secondary"]}}},
    "household": {"type": "object", "properties": {
        "water_source": {"enum": ["river", "well", "tap", "pond"]}, "rooms": {"type": "integer"},
        "latrine": {"type": "boolean"}}},
}


def generate(conn: psycopg.Connection, schema: str, households: int) -> dict[str, float]:
    """The registry, set-wise; returns seconds per step."""
    s = f'"{schema}"'
    steps: dict[str, float] = {}

    def step(name: str, sql: str, params: tuple = ()) -> None:
        start = time.perf_counter()
        conn.execute(sql, params or None)
        steps[name] = time.perf_counter() - start

    conn.execute("SELECT setseed(0.42)")
    step("drop trigram index", f"DROP INDEX {s}.ix_individuals_name_search")
    step("locations", f"""
        WITH src AS (SELECT nextval('{schema}.locations_id_seq')::int AS id, g FROM generate_series(1, 10) g)
        INSERT INTO {s}.locations (id, code, name, level, parent_id, path)
        SELECT id, 'B' || g, 'Region ' || g, 0, NULL, ARRAY[id] FROM src""")
    for level, word in ((1, "District"), (2, "Municipality"), (3, "Village")):
        start = time.perf_counter()
        conn.execute(f"""
            WITH src AS (SELECT nextval('{schema}.locations_id_seq')::int AS id, p.id AS pid, p.path AS ppath,
                                p.code AS pcode, g
                         FROM {s}.locations p CROSS JOIN generate_series(1, 10) g
                         WHERE p.level = %s AND p.code LIKE 'B%%')
            INSERT INTO {s}.locations (id, code, name, level, parent_id, path)
            SELECT id, pcode || '-' || g, '{word} ' || pcode || '-' || g, %s, pid, ppath || id FROM src""",
                     (level - 1, level))
        steps["locations"] += time.perf_counter() - start
    step("households", f"""
        WITH v AS (SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM {s}.locations WHERE level = 3),
             nv AS (SELECT count(*) AS c FROM v)
        INSERT INTO {s}.households (id, external_id, location_id, status, extra)
        SELECT g, 'H' || g, v.id, CASE WHEN g % 50 = 0 THEN 'inactive' ELSE 'active' END,
               jsonb_build_object('water_source', (ARRAY['river', 'well', 'tap', 'pond'])[1 + (g * 13) % 4],
                                  'rooms', 1 + (g * 7) % 5, 'latrine', g % 3 = 0)
        FROM generate_series(1, {int(households)}) g CROSS JOIN nv JOIN v ON v.n = (g * 7919) % nv.c""")
    # members 1..7 per household (mean 4): the head, a spouse, children, other relatives
    step("individuals", f"""
        INSERT INTO {s}.individuals (household_id, relationship, given_name, family_name, name_search, sex,
                                     birth_date, birth_date_estimated, national_id, scheme_number, phone,
                                     location_id, status, extra)
        SELECT h.id, r.relationship, 'Given' || r.k, 'Family' || h.id, 'given' || r.k || ' family' || h.id,
               r.sex, r.birth_date, random() < 0.1,
               CASE WHEN r.birth_date <= date '2008-06-15' AND random() < 0.7 THEN 'N' || r.k END,
               'S' || r.k, CASE WHEN random() < 0.5 THEN '+23767' || lpad(r.k::text, 7, '0') END,
               h.location_id, r.status,
               jsonb_build_object('disability', random() < 0.05,
                                  'school', (ARRAY['none', 'primary', 'secondary'])[1 + (r.k % 3)::int])
        FROM {s}.households h
        CROSS JOIN LATERAL generate_series(1, 1 + (h.id * 31) % 7) m
        CROSS JOIN LATERAL (
            SELECT h.id * 10 + m AS k,
                   CASE WHEN m = 1 THEN 'head' WHEN m = 2 THEN 'spouse' WHEN m <= 5 THEN 'child'
                        ELSE 'other_relative' END AS relationship,
                   CASE WHEN m = 1 THEN (CASE WHEN h.id % 3 = 0 THEN 'female' ELSE 'male' END)
                        WHEN m = 2 THEN (CASE WHEN h.id % 3 = 0 THEN 'male' ELSE 'female' END)
                        WHEN random() < 0.5 THEN 'female' ELSE 'male' END AS sex,
                   date '2026-06-15' - (CASE WHEN m <= 2 THEN 18 * 365 + (random() * 60 * 365)::int
                                             WHEN m <= 5 THEN (random() * 18 * 365)::int
                                             ELSE (random() * 90 * 365)::int END) AS birth_date,
                   CASE WHEN random() < 0.97 THEN 'active' WHEN random() < 0.5 THEN 'inactive'
                        WHEN random() < 0.8 THEN 'deceased' ELSE 'erased' END AS status
        ) r""")
    step("heads", f"""
        UPDATE {s}.households h SET head_id = i.id FROM {s}.individuals i
        WHERE i.household_id = h.id AND i.relationship = 'head'""")
    conn.execute(f"""INSERT INTO {s}.settings (key, value) VALUES ('registry', %s::jsonb)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value""",
                 (json.dumps({"deduplication": "flag", "extra_fields": EXTRA_FIELDS}),))
    start = time.perf_counter()
    for table in ("locations", "households", "individuals"):
        conn.execute(f"VACUUM (ANALYZE) {s}.{table}")
    steps["vacuum analyze"] = time.perf_counter() - start
    return steps


def filters(districts: list[str], region: str) -> list[tuple[str, str, dict, str | None]]:
    """(name, target, filter, restricted to this location code or None)."""
    women = {"all": [{"field": "sex", "op": "eq", "value": "female"},
                     {"field": "age", "op": "between", "value": [15, 49]},
                     {"field": "location", "op": "within", "value": districts}]}
    return [
        ("women 15-49 in 3 districts", "individuals", women, None),
        ("households with >= 3 children under 5", "households",
         {"field": "members", "op": "gte", "value": 3, "where": {"field": "age", "op": "lt", "value": 5}}, None),
        ("households: water from river or pond, size >= 5", "households",
         {"all": [{"field": "extra.water_source", "op": "in", "value": ["river", "pond"]},
                  {"field": "size", "op": "gte", "value": 5}]}, None),
        ("active, disability, 60+", "individuals",
         {"all": [{"field": "extra.disability", "op": "eq", "value": True},
                  {"field": "age", "op": "gte", "value": 60},
                  {"field": "status", "op": "eq", "value": "active"}]}, None),
        ("children in female-headed households", "individuals",
         {"all": [{"field": "age", "op": "lt", "value": 18},
                  {"field": "household.head.sex", "op": "eq", "value": "female"}]}, None),
        ("everyone", "individuals", {"all": []}, None),
        ("women 15-49, officer restricted to a region", "individuals",
         {"all": women["all"][:2]}, region),
    ]


def run(runs: int, households: int) -> None:
    from sqlalchemy import select

    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.platform.tenancy import open_tenant_session
    from schemehost.provisioning.create import create_tenant
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.registry import eligibility as el
    from schemehost.tenants.registry.models import Location

    note = MachineNote()
    with scratch_app("elig") as (app, url, name):
        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            result = create_tenant(db.session, "elig", name="Eligibility bench", partner="bench",
                                   template="blank", actor="bench")
            db.session.commit()
            result.after_commit(wait=True)
            tenant = result.tenant
            schema, role, tenant_id = tenant.schema_name, tenant.role_name, tenant.id
        print(f"# scratch database {name}; tenant schema {schema}")
        libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
        start = time.perf_counter()
        with psycopg.connect(libpq, autocommit=True) as conn:
            steps = generate(conn, schema, households)
            counts = conn.execute(f'SELECT (SELECT count(*) FROM "{schema}".individuals), '
                                  f'(SELECT count(*) FROM "{schema}".households), '
                                  f'(SELECT count(*) FROM "{schema}".locations WHERE level = 3)').fetchone()
        print(f"# generated {counts[0]:,} individuals, {counts[1]:,} households, {counts[2]:,} villages "
              f"in {time.perf_counter() - start:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
              + ")")

        everyone = Principal(kind="user", id="bench", name="Bench", tenant_id=tenant_id, permissions=frozenset({"*"}))
        all_times: list[float] = []
        rows = []
        with app.app_context():
            session = open_tenant_session(db.engine, schema, role)
            try:
                codes = dict(session.execute(select(Location.code, Location.id)
                                             .where(Location.code.in_(["B1-2", "B4-7", "B9-9", "B3"]))).all())
                session.rollback()
                for label, target, spec, restricted in filters(["B1-2", "B4-7", "B9-9"], "B3"):
                    principal = everyone if restricted is None else Principal(
                        kind="user", id="officer", name="Officer", tenant_id=tenant_id,
                        permissions=frozenset({"registry.read"}), location_ids=frozenset({codes[restricted]}))
                    times = []
                    out = None
                    for i in range(runs + 1):
                        t0 = time.perf_counter()
                        out = el.preview(session, spec, target=target, principal=principal, by_level=1, on_date=ON)
                        session.rollback()
                        if i:
                            times.append((time.perf_counter() - t0) * 1000)
                    all_times += times
                    stats = summary(times)
                    rows.append((label, target, out["count"], len(out["breakdown"]), stats))
            finally:
                session.close()

    print()
    print(f"{'filter':<48} {'target':<12} {'count':>9} {'rows':>5} {'p50 ms':>8} {'p95 ms':>8} {'min':>7} {'max':>7}")
    for label, target, count, nrows, st in rows:
        print(f"{label:<48} {target:<12} {count:>9,} {nrows:>5} {st['p50']:>8.0f} {st['p95']:>8.0f} "
              f"{st['min']:>7.0f} {st['max']:>7.0f}")
    overall = summary(all_times)
    print(f"# {overall['n']} timed previews (breakdown by district); commit {commit_id()}; {note}")
    print(f"eligibility_preview_p95_ms={overall['p95']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed previews per filter (after one untimed)")
    parser.add_argument("--households", type=int, default=250_000, help="households (about 4 members each)")
    args = parser.parse_args()
    run(args.runs, args.households)


if __name__ == "__main__":
    main()
