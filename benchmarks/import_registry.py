"""Import 1,000,000 individuals (250,000 households, ~10,000 villages) from one CSV file.

Builds a scratch installation with one tenant (country CM), creates the location tree set-wise
(10 regions x 10 districts x 10 municipalities x 10 villages), writes the CSV (untimed), then
times the real import: ``create_import`` (the file kept in the tenant's schema) and the
``registry.import`` job run here (COPY into staging, checks in SQL, phones and national ids on
every core, INSERT ... SELECT). Peak memory is the largest sum of RSS over this process and its
children (the check workers), sampled every 50 ms.

    .venv/bin/python benchmarks/import_registry.py [--people 1000000]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import threading
import time
from datetime import date

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from scratchdb import MachineNote, commit_id, scratch_app  # noqa: E402

GIVEN = ["Amina", "Paul", "Éloïse", "Jean", "Fatou", "Moussa", "Aïcha", "Pierre", "Marie", "Ibrahim", "Chantal",
         "Emmanuel", "Grâce", "Samuel", "Nadège", "Hamadou", "Clarisse", "Joseph", "Hawa", "Blaise"]
FAMILY = ["Njoya", "Mbarga", "Ndiaye", "Fotso", "Bello", "Tchoupo", "Kamga", "Essomba", "Abega", "Oumarou",
          "Nkodo", "Biya", "Etoundi", "Manga", "Ngono", "Ateba", "Onana", "Moukoko", "Ekotto", "Song"]


#: birth dates spread over 20 years from these days (adults from 1960, children from 2005)
ADULTS = date(1960, 1, 1).toordinal()
CHILDREN = date(2005, 1, 1).toordinal()


class PeakRss:
    """Largest RSS sum of this process and its children, sampled in a thread."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        import psutil

        total = self.proc.memory_info().rss
        for child in self.proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            time.sleep(self.interval)

    def __enter__(self):
        self.peak = self._sample()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()
        self.peak = max(self.peak, self._sample())


def build_tree(session, fanout: int = 10) -> int:
    """Region > District > Municipality > Village, ``fanout`` children each, set-wise; returns the village count."""
    from sqlalchemy import text

    schema = session.info["tenant_schema"]
    session.execute(text(f'SET LOCAL search_path TO "{schema}"'))
    session.execute(text("""
        INSERT INTO locations (id, code, name, level, parent_id, path)
        SELECT n.id, 'R' || n.g, 'Region ' || n.g, 0, NULL, ARRAY[n.id]
          FROM (SELECT nextval('locations_id_seq')::int AS id, g FROM generate_series(1, :f) g) n
    """), {"f": fanout})
    for level in (1, 2, 3):
        session.execute(text("""
            INSERT INTO locations (id, code, name, level, parent_id, path)
            SELECT n.id, n.code, n.name, n.level, n.parent_id, n.path || n.id FROM (SELECT nextval('locations_id_seq')::int AS id, p.code || '-' || g, 'Place ' || p.code || '-' || g,
                   :lvl, p.id, p.path
              FROM locations p CROSS JOIN generate_series(1, :f) g
             WHERE p.level = :parent) AS n(id, code, name, level, parent_id, path)
        """), {"f": fanout, "lvl": level, "parent": level - 1})
    villages = session.execute(text("SELECT count(*) FROM locations WHERE level = 3")).scalar_one()
    session.execute(text("SET LOCAL search_path TO DEFAULT"))
    return villages


def village_codes(fanout: int = 10) -> list[str]:
    return [f"R{a}-{b}-{c}-{d}" for a in range(1, fanout + 1) for b in range(1, fanout + 1)
            for c in range(1, fanout + 1) for d in range(1, fanout + 1)]


def write_csv(path: str, people: int, villages: list[str]) -> int:
    """1 head + 3 members per household (one family name), birth dates spread over 20 years, phones for
    60 %, national ids for all. Returns bytes written."""
    rnd = random.Random(42)
    households = people // 4
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,"
                "phone,national_id,village\n")
        buf = io.StringIO()
        n = 0
        for h in range(households):
            village = villages[h % len(villages)]
            family = FAMILY[h % len(FAMILY)]
            for m in range(4):
                n += 1
                rel = ("head", "spouse", "child", "child")[m]
                sex = "male" if (n % 2) else "female"
                born = (ADULTS if m < 2 else CHILDREN) + rnd.randrange(20 * 365)
                phone = f"+23767{n:07d}" if n % 5 < 3 else ""
                buf.write(f"P{n:07d},H{h:06d},{rel},{GIVEN[rnd.randrange(20)]},{family},{sex},"
                          f"{date.fromordinal(born).isoformat()},{phone},CM{n:09d},{village}\n")
            if h % 5000 == 0:
                f.write(buf.getvalue())
                buf.seek(0)
                buf.truncate()
        f.write(buf.getvalue())
    return os.path.getsize(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    note = MachineNote()
    with scratch_app("import") as (app, _url, name):
        from sqlalchemy import func, select

        from schemehost.platform.extensions import db
        from schemehost.platform.jobs import get_job, run_job
        from schemehost.platform.partners.services import create_partner
        from schemehost.platform.tenancy import open_tenant_session
        from schemehost.provisioning.create import create_tenant
        from schemehost.tenants.core.models import Setting
        from schemehost.tenants.registry.imports import create_import
        from schemehost.tenants.registry.people import Household, Individual

        with app.app_context():
            create_partner(db.session, "bench", name="Bench partner")
            db.session.commit()
            res = create_tenant(db.session, "bench-import", name="Bench import", partner="bench", template="blank",
                                cold=True)
            db.session.commit()
            res.after_commit(wait=True)
            tenant = res.tenant

            def tsession():
                return open_tenant_session(db.engine, tenant.schema_name, tenant.role_name,
                                           statement_timeout_ms=15 * 60 * 1000)

            s = tsession()
            s.merge(Setting(key="country", value="CM"))
            villages = build_tree(s)
            s.commit()
            s.close()
            path = tempfile.mktemp(prefix="schemehost-bench-", suffix=".csv")
            t0 = time.perf_counter()
            size = write_csv(path, args.people, village_codes())
            print(f"# {name}: {villages} villages; CSV of {args.people} people, {size / 1e6:.0f} MB written in "
                  f"{time.perf_counter() - t0:.1f} s (untimed)")

            with PeakRss() as mem:
                start = time.perf_counter()
                s = tsession()
                with open(path, "rb") as handle:
                    imp = create_import(s, db.session, tenant.id, kind="individuals", filename="people.csv",
                                        stream=handle, created_by="bench")
                import_id, job_id = imp.id, imp.job_id
                s.commit()
                s.close()
                db.session.commit()
                stored = time.perf_counter() - start
                run_job(job_id)
                elapsed = time.perf_counter() - start
            job = get_job(db.session, job_id)
            s = tsession()
            people = s.execute(select(func.count()).select_from(Individual)).scalar_one()
            households = s.execute(select(func.count()).select_from(Household)).scalar_one()
            from schemehost.tenants.registry.imports import get_import

            result = get_import(s, import_id)
            counts, status = result.counts, result.status
            s.close()
            os.unlink(path)
    print(f"\nregistry import benchmark — commit {commit_id()}, {os.cpu_count()} cores")
    print(note)
    print(f"job {job.status}; import {status}; counts {counts}")
    print(f"{'step':<32} {'value':>12}")
    for phase, seconds in (counts.get("seconds") or {}).items():
        print(f"{'  ' + phase:<32} {seconds:>10.1f} s")
    print(f"{'file kept (chunks in tenant)':<32} {stored:>10.1f} s")
    print(f"{'import total (wall)':<32} {elapsed:>10.1f} s")
    print(f"{'individuals in tenant':<32} {people:>12}")
    print(f"{'households in tenant':<32} {households:>12}")
    print(f"{'peak RSS (process + children)':<32} {mem.peak / 1e6:>9.0f} MB")
    print("targets: <= 60 s wall, <= 500 MB peak")
    print(f"import_1m_s={elapsed:.1f} import_peak_mb={mem.peak / 1e6:.0f}")


if __name__ == "__main__":
    main()
