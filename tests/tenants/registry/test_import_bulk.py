"""The bulk path of a large first import (decision 0138): the registry's indexes and foreign keys are
built after the rows, come back exactly as they were, and a failure leaves the registry untouched."""

from __future__ import annotations

import io

import pytest

from schemehost.platform.extensions import db as sadb
from schemehost.tenants.registry.imports import bulk
from schemehost.tenants.registry.people import DuplicateFlag, Household, Individual

from ._imports_support import count, run_file
from ._people import system

HEADER = "external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,phone,national_id,village\n"
ROWS = ("P1,H1,head,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n"
        "P2,H1,child,Paul,Njoya,male,2010-03-04,,,N-R-T-U\n"
        "P3,H2,head,Éloïse,Mbarga,female,1975-12-31,,,N-R-T-L\n"
        "P4,H2,spouse,Jean,Mbarga,male,1974-06-01,,,N-R-T-L\n"
        "P5,,,Aminah,Njoya,female,1980-01-02,,,N-R-T-U\n")


def structure(pg, schema: str) -> dict:
    """The registry tables' indexes and constraints as the catalogue defines them, with the
    indexes' object ids (which change only when an index is built again)."""
    indexes = pg.execute("""
        SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indexrelid::int
          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = %s AND t.relname IN ('individuals', 'households') ORDER BY 1
    """, (schema,)).fetchall()
    constraints = pg.execute("""
        SELECT k.conname, pg_get_constraintdef(k.oid), k.condeferrable, k.condeferred, k.convalidated
          FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = %s AND t.relname IN ('individuals', 'households') ORDER BY 1
    """, (schema,)).fetchall()
    return {"definitions": [(name, d) for name, d, _ in indexes], "oids": {name: oid for name, _, oid in indexes},
            "constraints": constraints}


def test_a_large_first_import_builds_indexes_after_the_rows_and_restores_them_exactly(tenant, tree, pg,
                                                                                       monkeypatch):
    import datetime

    from sqlalchemy import select

    from schemehost.tenants.registry.services.search import search_individuals

    monkeypatch.setattr(bulk, "BULK_FROM", 4)
    before = structure(pg, tenant.schema)
    assert any(name == "fk_individuals_household_id_households" for name, *_ in before["constraints"])

    out, problems = run_file(tenant, "individuals", (HEADER + ROWS).encode())

    assert problems == [] and out["status"] == "done"
    assert out["counts"]["created"] == 5 and out["counts"]["households_created"] == 2
    assert {"indexes_individuals", "indexes_households"} <= set(out["counts"]["seconds"])
    after = structure(pg, tenant.schema)
    assert after["definitions"] == before["definitions"]
    assert after["constraints"] == before["constraints"]
    rebuilt = {n for n in before["oids"] if before["oids"][n] != after["oids"][n]}
    assert {"ix_individuals_name_search", "ix_individuals_birth_date", "ix_households_head_id"} <= rebuilt
    assert "uq_individuals_external_id" in rebuilt
    assert "pk_individuals" not in rebuilt  # the primary key (other tables refer to it) is kept
    with tenant.session() as s:
        heads = dict(s.execute(select(Household.external_id, Household.head_id)).all())
        people = dict(s.execute(select(Individual.external_id, Individual.id)).all())
        assert heads == {"H1": people["P1"], "H2": people["P3"]}
        # probable duplicates inside the file are flagged once, the later row pointing at the earlier
        flags = s.execute(select(DuplicateFlag)).scalars().all()
        assert [(f.individual_id, f.candidate_id) for f in flags] == [(people["P5"], people["P1"])]
        assert flags[0].reasons["same"] == ["birth_date", "village"] and flags[0].status == "open"
        found = search_individuals(s, principal=system(), q="Eloise Mbarga")
        assert [p.external_id for p in found.items][:1] == ["P3"]
    # the rebuilt constraints hold: a person of an unknown household is refused by PostgreSQL
    with pytest.raises(Exception, match="fk_individuals_household_id_households"):
        with tenant.session() as s:
            s.add(Individual(external_id="PX", given_name="A", family_name="B", sex="female",
                             birth_date=datetime.date(1990, 1, 1),
                             location_id=tree["N-R-T-U"], household_id=10**9, name_search="a b",
                             scheme_number="X-1"))
            s.flush()


def test_a_failure_after_the_drops_leaves_the_registry_as_it_was(tenant, tree, pg, monkeypatch):
    from schemehost.platform.jobs import get_job, run_job
    from schemehost.tenants.registry.imports import create_import, get_import

    monkeypatch.setattr(bulk, "BULK_FROM", 4)
    before = structure(pg, tenant.schema)
    # a fault inside the database, after the indexes were dropped: the people INSERT fails
    pg.execute(f"""
        CREATE FUNCTION "{tenant.schema}".fail_insert() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'disk full (injected)'; END $$;
        CREATE TRIGGER fail_insert BEFORE INSERT ON "{tenant.schema}".individuals
            FOR EACH STATEMENT EXECUTE FUNCTION "{tenant.schema}".fail_insert();
    """)
    with tenant.session() as s:
        imp = create_import(s, sadb.session, tenant.id, kind="individuals", filename="people.csv",
                            stream=io.BytesIO((HEADER + ROWS).encode()), created_by="tests")
        import_id, job_id = imp.id, imp.job_id
        sadb.session.commit()
    with tenant.app.app_context():
        run_job(job_id)
        assert get_job(sadb.session, job_id).status == "failed"
        sadb.session.rollback()
    with tenant.session() as s:
        assert get_import(s, import_id).status == "failed"
    assert count(tenant, Individual) == 0 and count(tenant, Household) == 0
    after = structure(pg, tenant.schema)
    assert after == before  # every index and constraint, the same objects: nothing was dropped

    pg.execute(f'DROP TRIGGER fail_insert ON "{tenant.schema}".individuals')
    out, problems = run_file(tenant, "individuals", (HEADER + ROWS).encode())
    assert problems == [] and out["counts"]["created"] == 5


def test_an_import_into_a_registry_with_people_keeps_its_indexes(tenant, tree, pg, monkeypatch):
    run_file(tenant, "individuals", (HEADER + "P0,,,Awa,Sow,female,1990-05-06,,,N-R-T-U\n").encode())
    monkeypatch.setattr(bulk, "BULK_FROM", 4)
    before = structure(pg, tenant.schema)
    out, problems = run_file(tenant, "individuals", (HEADER + ROWS).encode())
    assert problems == [] and out["counts"]["created"] == 5
    assert "indexes_individuals" not in out["counts"]["seconds"]
    assert structure(pg, tenant.schema) == before
