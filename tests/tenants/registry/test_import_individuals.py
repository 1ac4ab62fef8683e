"""Importing individuals: checks, all-or-nothing, valid rows only, idempotent re-import."""

from __future__ import annotations

from schemehost.tenants.registry.people import Household, Individual

from ._imports_support import count, run_file

HEADER = "external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,phone,national_id,village\n"


def test_valid_file_is_imported_with_households_and_heads(tenant, tree):
    content = (HEADER +
               "P1,H1,head,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n"
               "P2,H1,child,Paul,Njoya,M,2010-03-04,,,N-R-T-U\n"
               "P3,,,Éloïse,Mbarga,f,1975-12-31,,,N-R-T-L\n").encode()
    out, problems = run_file(tenant, "individuals", content)
    assert problems == []
    assert out["status"] == "done"
    assert out["counts"]["created"] == 3 and out["counts"]["households_created"] == 1
    assert count(tenant, Individual) == 3 and count(tenant, Household) == 1


def test_probable_duplicates_across_import_and_manual_entry_are_flagged(tenant, tree):
    from sqlalchemy import select

    from schemehost.tenants.registry.people import DuplicateFlag

    run_file(tenant, "individuals", (HEADER + "P1,,,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n").encode())
    out, problems = run_file(tenant, "individuals", (
        HEADER + "P2,,,Aminah,Njoya,female,1980-01-02,,,N-R-T-U\n"
                 "P3,,,Paul,Biya,male,1980-01-02,,,N-R-T-U\n").encode())
    assert problems == [] and out["counts"]["created"] == 2
    with tenant.session() as s:
        flags = s.execute(select(DuplicateFlag)).scalars().all()
        ids = dict(s.execute(select(Individual.external_id, Individual.id)).all())
        assert [(f.individual_id, f.candidate_id) for f in flags] == [(ids["P2"], ids["P1"])]
        assert flags[0].reasons["same"] == ["birth_date", "village"]
    # nothing is merged: both records stay
    assert count(tenant, Individual) == 3


def test_one_audit_entry_per_import_that_writes(tenant, tree):
    from .conftest import audit_entries

    content = (HEADER + "P1,H1,head,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n"
                        "P2,H1,child,Paul,Njoya,male,2010-03-04,,,N-R-T-U\n").encode()
    run_file(tenant, "individuals", content, dry_run=True)
    assert audit_entries(tenant, action="import") == []
    out, _ = run_file(tenant, "individuals", content)
    entries = audit_entries(tenant, action="import")
    assert len(entries) == 1 and entries[0].entity_type == "individual"
    assert entries[0].details["counts"]["created"] == 2
    assert entries[0].details["input"]["import_id"] == out["id"] and len(entries[0].details["input"]["sha256"]) == 64


def test_an_erased_person_is_not_filled_in_again_by_a_re_import(tenant, tree):
    from sqlalchemy import select

    from schemehost.tenants.registry.privacy import erase_individual

    row = HEADER + "P1,,,Amina,Njoya,female,1980-01-02,,,N-R-T-U\n"
    run_file(tenant, "individuals", row.encode())
    with tenant.session() as s:
        person_id = s.execute(select(Individual.id).where(Individual.external_id == "P1")).scalar_one()
        erase_individual(s, person_id, confirm=person_id)
    out, problems = run_file(tenant, "individuals", row.encode())
    assert [(p["column"], p["code"]) for p in problems] == [("external_id", "erased_record")]
    with tenant.session() as s:
        person = s.get(Individual, person_id)
        assert person.status == "erased" and "Amina" not in person.given_name


def test_a_big_import_refreshes_the_planner_statistics(tenant, tree, monkeypatch):
    from sqlalchemy import text

    from schemehost.tenants.registry.imports import tasks

    monkeypatch.setattr(tasks, "ANALYZE_AFTER_ROWS", 2)
    rows = "".join(f"P{i},,,Name{i},Family{i},female,1980-01-{i + 1:02d},,,N-R-T-U\n" for i in range(3))
    out, problems = run_file(tenant, "individuals", (HEADER + rows).encode())
    assert problems == [] and out["counts"]["created"] == 3
    import time

    with tenant.app.app_context():
        from schemehost.platform.extensions import db

        for _ in range(50):  # statistics views are published by the backend shortly after its transaction
            analyzed = db.session.execute(text(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE schemaname = :s AND relname = 'individuals'"),
                {"s": tenant.schema}).scalar()
            db.session.rollback()
            if analyzed is not None:
                break
            time.sleep(0.1)
    assert analyzed is not None


def test_writing_imports_of_one_tenant_run_one_at_a_time(tenant, tree, pg):
    """A second writing import (e.g. from the CLI while the worker runs one) waits for the first."""
    import threading
    import time

    pg.execute("BEGIN")
    pg.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"registry-import:{tenant.schema}",))
    results = {}
    thread = threading.Thread(target=lambda: results.update(out=run_file(
        tenant, "individuals", (HEADER + "P9,,,Awa,Sow,female,1990-05-06,,,N-R-T-U\n").encode())))
    thread.start()
    time.sleep(1.0)
    assert thread.is_alive() and count(tenant, Individual) == 0  # waiting for the other import
    pg.execute("COMMIT")
    thread.join(timeout=60)
    out, problems = results["out"]
    assert problems == [] and out["status"] == "done" and count(tenant, Individual) == 1


def test_imported_people_get_consecutive_scheme_numbers_in_file_order(tenant, tree):
    """Each new person draws one number of the scheme's sequence (default pattern ``{seq:08d}``)."""
    from sqlalchemy import select

    rows = "".join(f"P{i},,,Name{i},Family{i},female,1980-01-0{i + 1},,,N-R-T-U\n" for i in range(4))
    out, problems = run_file(tenant, "individuals", (HEADER + rows).encode())
    assert problems == [] and out["counts"]["created"] == 4
    with tenant.session() as s:
        numbers = list(s.execute(select(Individual.scheme_number).order_by(Individual.external_id)).scalars())
    assert all(len(n) == 8 and n.isdigit() for n in numbers)
    first = int(numbers[0])
    assert [int(n) for n in numbers] == [first, first + 1, first + 2, first + 3]
