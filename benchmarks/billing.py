"""Benchmark: a billing run (usage metering + invoice generation) for 1,000 tenants.

Run by hand: ``.venv/bin/python benchmarks/billing.py [--tenants 1000] [--rounds 3] [--full-schemas]``
(``--full-schemas``: real ``health-insurance`` tenants from the warm pool, every module's tables; slower
to set up).

One scratch database (dropped at the end). Untimed set-up: 10 partners (tax rate, platform fee, a
monthly plan each with tiered prices on active individuals and households and per-GB storage), N
tenant rows, each with a schema holding the two registry tables the meters count (``individuals``,
``households`` with their ``status``; 0–2,000 active individuals each) — not the full tenant schema, so
the catalogue is smaller than in production (the storage meter reads ``pg_class`` per schema) — and a
subscription from 2026-01-01 with 30 days of earlier daily usage per meter.

Timed, per round (each bills the next month): metering every tenant (one UNION ALL count statement per
250 tenants, one catalogue query, one upsert) and invoicing every ended period (lines, tax, platform fee,
numbering and issuing under each partner's counter lock), with the commit — the billing run of the issue.
Then, timed apart, the dunning pass: before each round 90 % of the open invoices are marked paid
(untimed SQL), so the other 10 % get reminders and, from the third round, read-only transitions.

Last line: ``billing_run_1000_s=<median seconds of metering + invoicing>`` (scaled to 1,000 tenants when
``--tenants`` differs) and ``billing_dunning_1000_s=<median seconds of the dunning pass>``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date

from scratchdb import MachineNote, commit_id, scratch_app

PARTNERS = 10
TIERS = [{"up_to": 500, "unit_amount": "100"}, {"up_to": 5000, "unit_amount": "60"},
         {"up_to": None, "unit_amount": "25.5"}]


def full_schema(s, slug: str, partner_slug: str, people: int) -> str:
    """A real tenant (``health-insurance``: every module's tables) claimed from the warm pool, with
    ``people`` registry individuals in ``people // 4`` households; its schema name."""
    from sqlalchemy import text

    from schemehost.provisioning.create import create_tenant
    from schemehost.provisioning.pool import refill_pool

    refill_pool(s, size=1)
    result = create_tenant(s, slug, name=f"Bench {slug}", partner=partner_slug, template="health-insurance",
                           actor="bench")
    s.commit()
    schema = result.tenant.schema_name
    s.execute(text(
        f"WITH n AS (SELECT nextval(pg_get_serial_sequence('\"{schema}\".locations', 'id'))::int AS id) "
        f'INSERT INTO "{schema}".locations (id, code, name, level, path) OVERRIDING SYSTEM VALUE '
        f"SELECT id, 'V', 'Village', 0, ARRAY[id] FROM n"))
    s.execute(text(f'INSERT INTO "{schema}".households (location_id, status) SELECT l.id, CASE WHEN g % 10 = 0 '
                   f"THEN 'inactive' ELSE 'active' END FROM generate_series(1, :n) g, \"{schema}\".locations l"),
              {"n": people // 4})
    s.execute(text(
        f'INSERT INTO "{schema}".individuals (given_name, family_name, name_search, sex, birth_date, scheme_number, '
        f"location_id, status) SELECT 'A', 'B', 'a b', 'female', date '1990-01-01', 'S' || g, l.id, "
        f"CASE WHEN g % 20 = 0 THEN 'inactive' ELSE 'active' END "
        f'FROM generate_series(1, :n) g, "{schema}".locations l'), {"n": people})
    return schema


def setup(n: int, full: bool = False) -> None:
    from sqlalchemy import select, text

    from schemehost.platform.billing import services as billing
    from schemehost.platform.extensions import db
    from schemehost.platform.partners.models import Partner
    from schemehost.platform.tenants.models import Tenant
    from schemehost.platform.tenants.services import default_server

    s = db.session
    server = default_server(s).id
    plans = []
    for i in range(PARTNERS):
        partner = Partner(slug=f"bench-p{i}", name=f"Partner {i}", country="CM", contact_email=f"p{i}@bench.example")
        s.add(partner)
        s.flush()
        billing.set_tax_rate(s, partner, country="CM", rate="19.25", name="TVA")
        billing.set_platform_fee(s, partner, kind="percent", percent="7.5")
        plans.append(billing.create_plan(
            s, partner, code="std", name="Standard", currency="XAF", fixed_fee=150000, setup_fee=0,
            prices=[{"meter": "active_individuals", "included": 100, "tiers": TIERS},
                    {"meter": "active_households", "included": 50, "tiers": TIERS},
                    {"meter": "storage_mb", "included": 1, "tiers": [{"up_to": None, "unit_amount": "5000"}]}]))
    tenants = []
    if full:
        s.commit()
        for i in range(n):
            partner = s.get(Partner, plans[i % PARTNERS].partner_id)
            full_schema(s, f"bench{i}", partner.slug, (i * 7919) % 2001)
            s.commit()
        tenants = list(s.execute(select(Tenant).order_by(Tenant.id)).scalars())
    for i in range(0 if full else n):
        slug = f"bench{i}"
        schema = f"tenant_{slug}"
        s.execute(text(f"CREATE SCHEMA {schema}"))
        s.execute(text(f"CREATE TABLE {schema}.households (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                       f"status varchar(20) NOT NULL DEFAULT 'active')"))
        s.execute(text(f"CREATE TABLE {schema}.individuals (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                       f"household_id bigint, status varchar(20) NOT NULL DEFAULT 'active')"))
        people = (i * 7919) % 2001
        s.execute(text(f"INSERT INTO {schema}.households (status) SELECT CASE WHEN g % 10 = 0 THEN 'inactive' "
                       f"ELSE 'active' END FROM generate_series(1, :n) g"), {"n": people // 4})
        s.execute(text(f"INSERT INTO {schema}.individuals (household_id, status) SELECT g / 4, CASE WHEN g % 20 = 0 "
                       f"THEN 'inactive' ELSE 'active' END FROM generate_series(1, :n) g"), {"n": people})
        tenant = Tenant(slug=slug, name=f"Bench {slug}", partner_id=plans[i % PARTNERS].partner_id, template="blank",
                        template_version=1, status="active", server_id=server, schema_name=schema, currency="XAF")
        s.add(tenant)
        tenants.append(tenant)
        if i % 100 == 99:
            s.commit()  # each CREATE holds its locks until commit
    s.commit()
    for i, tenant in enumerate(tenants):
        billing.subscribe(s, tenant, plans[i % PARTNERS], start=date(2026, 1, 1), actor="bench")
    # earlier daily usage: 30 days per meter and month billed
    s.execute(text(
        "INSERT INTO control.billing_usage (tenant_id, meter, day, value) "
        "SELECT t.id, m, d::date, (t.id * 31 + extract(doy FROM d)::int * 7) % 1800 "
        "FROM control.tenants t, unnest(ARRAY['active_individuals', 'active_households', 'storage_mb']) m, "
        "generate_series(date '2026-01-01', date '2026-04-29', interval '1 day') d"))
    s.commit()
    s.execute(text("ANALYZE control.billing_usage"))
    s.commit()


def one_round(today: date) -> tuple[float, float, float, int, int]:
    from sqlalchemy import text

    from schemehost.platform.billing import dunning
    from schemehost.platform.billing import services as billing
    from schemehost.platform.extensions import db

    s = db.session
    # untimed: most tenants paid what they owed
    s.execute(text("UPDATE control.billing_invoices SET amount_paid = total, status = 'paid', paid_at = now() "
                   "WHERE status = 'issued' AND tenant_id % 10 <> 0"))
    s.commit()
    t0 = time.perf_counter()
    rows = billing.meter_usage(s, day=today)
    t1 = time.perf_counter()
    invoices = billing.invoice_due_periods(s, today=today)
    s.commit()
    t2 = time.perf_counter()
    dunning.run_dunning(s, today=today, send=lambda *a: None)
    s.commit()
    t3 = time.perf_counter()
    assert len(invoices) >= 1
    return t1 - t0, t2 - t1, t3 - t2, len(invoices), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full-schemas", action="store_true",
                        help="real health-insurance tenants (every module's tables) from the warm pool")
    args = parser.parse_args()
    with scratch_app("billing") as (app, _url, _name):
        with app.app_context():
            t0 = time.perf_counter()
            setup(args.tenants, full=args.full_schemas)
            print(f"# set-up of {args.tenants} tenants{' (full schemas)' if args.full_schemas else ''}: {time.perf_counter() - t0:.1f} s (untimed)")
            note = MachineNote()
            results = []
            for r in range(args.rounds):
                today = date(2026, 2 + r, 1)
                meter_s, invoice_s, dunning_s, n_invoices, rows = one_round(today)
                results.append((meter_s + invoice_s, meter_s, invoice_s, dunning_s))
                print(f"# round {r + 1} ({today}): {meter_s + invoice_s:.2f} s — metering {meter_s:.2f} s "
                      f"({rows} values), invoicing {invoice_s:.2f} s ({n_invoices} invoices); "
                      f"dunning {dunning_s:.2f} s")
    totals = [r[0] for r in results]
    median = statistics.median(totals)
    mid = sorted(results)[len(results) // 2]
    dunning_median = statistics.median(r[3] for r in results)
    scale = 1000 / args.tenants
    print(f"\nbilling benchmark — commit {commit_id()}")
    print(note)
    print(f"{'tenants':<30} {args.tenants:>10}{' full schemas' if args.full_schemas else ''}")
    print(f"{'run median / min / max':<30} {median:.2f} / {min(totals):.2f} / {max(totals):.2f} s")
    print(f"{'median: metering / invoicing':<30} {mid[1]:.2f} / {mid[2]:.2f} s")
    print(f"{'dunning pass median':<30} {dunning_median:.2f} s")
    print(f"billing_run_1000_s={median * scale:.2f} billing_dunning_1000_s={dunning_median * scale:.2f}")


if __name__ == "__main__":
    main()
