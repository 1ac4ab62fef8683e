"""Benchmark: people search (name, identifier, phone) on 1,000,000 individuals.

Run by hand: ``.venv/bin/python benchmarks/search_registry.py [--runs 200] [--households 250000]``.

One scratch database (dropped at the end with its tenant roles) holding one ``blank`` tenant in
Cameroon (country CM) whose registry is generated set-wise in SQL (``INSERT ... SELECT`` over
``generate_series``): 10 regions × 10 districts × 10 municipalities × 10 villages (10,000
villages), 250,000 households of 1 to 7 members (about 1,000,000 individuals). Names are drawn
from 90 given and 260 family names (accented and not) with a fixed seed, so common names repeat
as they do in real registries; ``name_search`` is filled by ``NAME_SEARCH_SQL`` (the same SQL an
import uses); 70 % have a national id, 50 % a phone (E.164). The trigram index on ``name_search``
is built after the load, then ``VACUUM (ANALYZE)``.

Each timed call is ``search.search_individuals(...)`` through the service, as the API calls it
(normalisation of the query, the location restriction helper, one query, first page of 50), in
its own transaction:

* name: a registered person's "given family" with one typo (a letter dropped, doubled or swapped)
  and accents removed, e.g. ``Elodie Ngyuen``;
* identifier: a registered national id, typed with spaces;
* phone: a registered phone in national format (``6 71 23 45 67``);
* name, restricted: a name search by a user restricted to one region (a tenth of the people).

The table shows rows returned on average and how often the person the value was taken from is on
the first page ("wanted"; a restricted user cannot find people outside their region, and a common
name may have more than 50 better-ranked namesakes). Each kind runs ``--runs`` times with different values after 10 untimed warm-up calls. Last line:
``search_p95_ms=<n>``: the worst of the p95 of name, identifier and phone searches.
"""

from __future__ import annotations

import argparse
import random
import time

import psycopg

from scratchdb import MachineNote, commit_id, scratch_app, summary

GIVEN = ("Marie Jean Élodie Paul Anne Pierre Joseph Françoise Emmanuel Hélène Daniel Esther Samuel Ruth "
         "Aïcha Moussa Fatimatou Ibrahim Hadidja Oumarou Amadou Aminatou Boubakar Salamatou Issa Mariama "
         "Christelle Arlette Bertrand Cédric Désiré Eugénie Félicité Gaëlle Hervé Inès Jérôme Laetitia "
         "Michèle Noël Odette Pélagie Rosine Sylvie Théophile Ursule Valérie Yannick Zoé Blaise Clément "
         "Dieudonné Estelle Francis Grâce Honoré Irène Jacqueline Léon Madeleine Nadège Olivier Patrice "
         "Raïssa Serge Thérèse Victor Wilfried Yvette Achille Brigitte Chantal Didier Edwige Fabrice "
         "Georgette Hugues Josiane Kévin Lucie Martial Nathalie Octave Priscille Régine Stéphane "
         "Ténin Ulrich Véronique").split()
FAMILY = ("Nguyễn Mbarga Atangana Fotso Kamga Tchoupo Ngono Essomba Owona Nkoulou Abena Biya Eto'o "
          "Mballa Nanga Onana Tsafack Wamba Djoumessi Fokou Kengne Nana Pokam Simo Tagne Talla Tchamba "
          "Yomi Zambo Bello Hamadou Moussa Oumarou Abdoulaye Aliou Bakary Souley Yaya Haman Mohamadou "
          "Dupont Martin Bernard Durand Lefèvre Moreau Laurent Simon Michel Garcia David Bertrand Roux "
          "Vincent Fournier Morel Girard André Lefebvre Mercier Dubois Blanc Guérin Boyer Garnier "
          "Chevalier François Legrand Gauthier Perrin Robin Clément Morin Nicolas Henry Rousseau Mathieu "
          "Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier Brun "
          "Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard Roche "
          "Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas "
          "Lacroix Olivier Philippe Bourgeois Pierre Benoît Rey Leclerc Payet Rolland Leclercq Guillaume "
          "Lecomte López Jean Dupuy Guillot Hubert Berger Carpentier Sánchez Dupuis Moulin Louis "
          "Deschamps Huet Vasseur Perez Boucher Fleury Royer Klein Jacquet Adam Paris Poirier Marty "
          "Aubry Guyot Carré Charles Renault Charpentier Ménard Maillard Baron Bertin Bailly Hervé "
          "Schneider Fernández Le Gall Collet Léger Bouvier Julien Prévost Millet Perrot Daniel Le Roux "
          "Cousin Germain Breton Besson Langlois Rémy Le Pelletier Lebrun Lévêque Mbappé Ekotto Song "
          "Makoun Mbia Njitap Ndjeng Chedjou Choupo Moting Aboubakar Bassogog Ngadeu Kunde Tolo Oyongo "
          "Ngamaleu Ondoa Zoua Toko Ekambi Anguissa Fai Nkoudou Wooh Castelletto Epassy Kotto Ndiaye "
          "Diallo Traoré Koné Coulibaly Camara Keïta Sow Bah Barry Sylla Touré Cissé Diop Fall Sarr Mbaye "
          "Gueye Faye Niang Seck Kane Thiam Ba Sy Dia Ndour Diouf Mendy Sané Badji Diatta Goudiaby Sagna "
          "Tendeng Manga Bassène Coly Djiba Sambou Ndong Obiang Mba Nze Ondo Essono Nguema Mintsa Ella "
          "Moubamba Mouélé Boussougou").split()


def generate(conn: psycopg.Connection, schema: str, households: int) -> dict[str, float]:
    """The registry, set-wise; returns seconds per step."""
    from schemehost.tenants.registry.validation import NAME_SEARCH_SQL

    s = f'"{schema}"'
    steps: dict[str, float] = {}

    def step(name: str, sql: str, params: tuple | None = None) -> None:
        start = time.perf_counter()
        conn.execute(sql, params)
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - start

    conn.execute("SELECT setseed(0.42)")
    step("drop trigram index", f"DROP INDEX {s}.ix_individuals_name_search")
    step("locations", f"""
        WITH src AS (SELECT nextval('{schema}.locations_id_seq')::int AS id, g FROM generate_series(1, 10) g)
        INSERT INTO {s}.locations (id, code, name, level, parent_id, path)
        SELECT id, 'B' || g, 'Region ' || g, 0, NULL, ARRAY[id] FROM src""")
    for level, word in ((1, "District"), (2, "Municipality"), (3, "Village")):
        step("locations", f"""
            WITH src AS (SELECT nextval('{schema}.locations_id_seq')::int AS id, p.id AS pid, p.path AS ppath,
                                p.code AS pcode, g
                         FROM {s}.locations p CROSS JOIN generate_series(1, 10) g
                         WHERE p.level = %s AND p.code LIKE 'B%%')
            INSERT INTO {s}.locations (id, code, name, level, parent_id, path)
            SELECT id, pcode || '-' || g, '{word} ' || pcode || '-' || g, %s, pid, ppath || id FROM src""",
             (level - 1, level))
    step("households", f"""
        WITH v AS (SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM {s}.locations WHERE level = 3),
             nv AS (SELECT count(*) AS c FROM v)
        INSERT INTO {s}.households (id, external_id, location_id, status)
        SELECT g, 'H' || g, v.id, 'active'
        FROM generate_series(1, {int(households)}) g CROSS JOIN nv JOIN v ON v.n = (g * 7919) % nv.c""")
    step("individuals", f"""
        INSERT INTO {s}.individuals (household_id, relationship, given_name, family_name, other_names,
                                     name_search, sex, birth_date, national_id, scheme_number, phone,
                                     location_id, status)
        SELECT x.household_id, x.relationship, x.given_name, x.family_name, x.other_names,
               {NAME_SEARCH_SQL}, x.sex, x.birth_date, x.national_id, x.scheme_number, x.phone, x.location_id,
               'active'
        FROM (
          SELECT h.id AS household_id,
                 CASE WHEN m = 1 THEN 'head' WHEN m = 2 THEN 'spouse' WHEN m <= 5 THEN 'child'
                      ELSE 'other_relative' END AS relationship,
                 (%(given)s::text[])[1 + floor(random() * cardinality(%(given)s::text[]))::int] AS given_name,
                 (%(family)s::text[])[1 + (h.id * 7 + CASE WHEN m = 2 THEN 3 ELSE 0 END)
                                          %% cardinality(%(family)s::text[])] AS family_name,
                 CASE WHEN random() < 0.3
                      THEN (%(given)s::text[])[1 + floor(random() * cardinality(%(given)s::text[]))::int]
                 END AS other_names,
                 CASE WHEN random() < 0.5 THEN 'female' ELSE 'male' END AS sex,
                 date '2026-06-15' - (random() * 90 * 365)::int AS birth_date,
                 CASE WHEN random() < 0.7 THEN 'CM' || lpad((h.id * 10 + m)::text, 9, '0') END AS national_id,
                 lpad((h.id * 10 + m)::text, 8, '0') AS scheme_number,
                 CASE WHEN random() < 0.5 THEN '+23767' || lpad((h.id * 10 + m)::text, 7, '0') END AS phone,
                 h.location_id
          FROM {s}.households h CROSS JOIN LATERAL generate_series(1, 1 + (h.id * 31) %% 7) m
        ) x""", {"given": list(GIVEN), "family": list(FAMILY)})
    step("heads", f"""
        UPDATE {s}.households h SET head_id = i.id FROM {s}.individuals i
        WHERE i.household_id = h.id AND i.relationship = 'head'""")
    step("trigram index", f"CREATE INDEX ix_individuals_name_search ON {s}.individuals "
                          f"USING gin (name_search shared.gin_trgm_ops)")
    conn.execute(f"""INSERT INTO {s}.settings (key, value) VALUES ('country', '"CM"'::jsonb)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value""")
    start = time.perf_counter()
    for table in ("locations", "households", "individuals"):
        conn.execute(f"VACUUM (ANALYZE) {s}.{table}")
    steps["vacuum analyze"] = time.perf_counter() - start
    return steps


def typo(rng: random.Random, text: str) -> str:
    """``text`` with one slip: a letter dropped, doubled or two letters swapped (never the first)."""
    i = rng.randrange(1, len(text) - 1)
    kind = rng.choice(("drop", "double", "swap"))
    if kind == "drop":
        return text[:i] + text[i + 1:]
    if kind == "double":
        return text[:i] + text[i] + text[i:]
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def strip_accents(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def run(runs: int, households: int) -> None:
    from schemehost.platform.extensions import db
    from schemehost.platform.partners.services import create_partner
    from schemehost.platform.tenancy import open_tenant_session
    from schemehost.provisioning.create import create_tenant
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.registry.services import search as srch

    note = MachineNote()
    rng = random.Random(42)
    with scratch_app("search") as (app, url, name):
        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            result = create_tenant(db.session, "search", name="Search bench", partner="bench",
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
            n = runs + 10
            sample = conn.execute(
                f'SELECT id, given_name, family_name, national_id, phone FROM "{schema}".individuals '
                f'TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT 5000').fetchall()
            region = conn.execute(f'SELECT id FROM "{schema}".locations WHERE code = %s', ("B3",)).fetchone()[0]
        print(f"# generated {counts[0]:,} individuals, {counts[1]:,} households, {counts[2]:,} villages "
              f"in {time.perf_counter() - start:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
              + ")")
        rng.shuffle(sample)
        # (value typed, the id it must find)
        names = [(typo(rng, strip_accents(f"{g} {f}")), i) for i, g, f, _n, _p in sample[:n]]
        ids = [(f" {nid} ", i) for i, *_x, nid, _p in sample if nid][:n]  # no rule for CM: exact, trimmed
        phones = [(f"{p[4]} {p[5:7]} {p[7:9]} {p[9:11]} {p[11:]}", i) for i, *_x, p in sample if p][:n]

        everyone = Principal(kind="user", id="bench", name="Bench", tenant_id=tenant_id, permissions=frozenset({"*"}))
        officer = Principal(kind="user", id="officer", name="Officer", tenant_id=tenant_id,
                            permissions=frozenset({"registry.read"}), location_ids=frozenset({region}))
        kinds = [("name (one typo, no accents)", "q", names, everyone),
                 ("identifier (national id)", "identifier", ids, everyone),
                 ("phone (national format)", "phone", phones, everyone),
                 ("name, user restricted to a region", "q", names, officer)]
        rows = []
        with app.app_context():
            session = open_tenant_session(db.engine, schema, role)
            try:
                for label, arg, values, principal in kinds:
                    times, found, hits = [], 0, 0
                    for i, (value, wanted) in enumerate(values):
                        t0 = time.perf_counter()
                        page = srch.search_individuals(session, principal=principal, **{arg: value}, limit=50)
                        session.rollback()
                        if i >= 10:
                            times.append((time.perf_counter() - t0) * 1000)
                            found += len(page.items)
                            hits += any(p.id == wanted for p in page.items)
                    st = summary(times)
                    rows.append((label, st, found / len(times), hits / len(times)))
            finally:
                session.close()
    print()
    print(f"{'search':<36} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'min':>7} {'max':>7} {'rows':>6} {'wanted':>7}")
    for label, st, avg, hit in rows:
        print(f"{label:<36} {st['n']:>5} {st['p50']:>8.1f} {st['p95']:>8.1f} {st['min']:>7.1f} {st['max']:>7.1f} "
              f"{avg:>6.1f} {100 * hit:>6.0f}%")
    worst = max(st["p95"] for label, st, _a, _h in rows[:3])
    print(f"# {sum(st['n'] for _l, st, _a, _h in rows)} timed searches (first page of 50); the headline is the worst "
          f"p95 of the name, identifier and phone searches; commit {commit_id()}; {note}")
    print(f"search_p95_ms={worst:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="timed searches per kind (after 10 untimed)")
    parser.add_argument("--households", type=int, default=250_000, help="households (about 4 members each)")
    args = parser.parse_args()
    run(args.runs, args.households)


if __name__ == "__main__":
    main()
