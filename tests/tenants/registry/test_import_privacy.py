"""Import files and reports hold people's data: erasing a person drops the kept files that name
them and clears their rows in the reports; old files and reports go after the tenant's period
(decision 0137). The import rows and their audit entries stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from schemehost.platform.db import utcnow
from schemehost.tenants.registry.imports.models import RegistryImport, RegistryImportChunk, RegistryImportProblem
from schemehost.tenants.registry.people import Individual

from ._imports_support import run_file

HEADER = "external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,phone,national_id,village\n"
AMINA = "P1,H1,head,Amina,Njoya,female,1980-01-02,+237699123456,ID-1,N-R-T-U\n"
PAUL = "P2,H1,child,Paul,Njoya,male,2010-01-01,,,N-R-T-U\n"
JEAN = "P3,H3,head,Jean,Fotso,male,1970-01-01,,,N-R-T-L\n"


def _chunks(s, import_id):
    return s.execute(select(func.count()).select_from(RegistryImportChunk)
                     .where(RegistryImportChunk.import_id == import_id)).scalar_one()


def _problems(s, import_id):
    return [(p.row, p.column, p.value, p.params) for p in s.execute(
        select(RegistryImportProblem).where(RegistryImportProblem.import_id == import_id)
        .order_by(RegistryImportProblem.id)).scalars()]


def _id(s, external_id):
    return s.execute(select(Individual.id).where(Individual.external_id == external_id)).scalar_one()


def test_erasing_a_person_drops_the_files_naming_them_and_their_report_rows(tenant, tree):
    from schemehost.tenants.registry.privacy import erase_individual

    # a dry run with a problem on Amina's row and one on Paul's, then the real import, then a file without her
    checked, _ = run_file(tenant, "individuals", (HEADER + AMINA.replace("1980-01-02", "1980-02-30")
                                                  + PAUL.replace("2010-01-01", "2010-13-01")).encode(), dry_run=True)
    done, problems = run_file(tenant, "individuals", (HEADER + AMINA + PAUL).encode())
    assert problems == [] and done["counts"]["created"] == 2
    other, _ = run_file(tenant, "individuals", (HEADER + JEAN).encode())
    with tenant.session() as s:
        assert _chunks(s, checked["id"]) == 1 and len(_problems(s, checked["id"])) == 2
        # the hashes kept with the file are those erasure computes
        from schemehost.tenants.registry.imports.engine import key_hash_of

        assert sorted(s.get(RegistryImport, done["id"]).key_hashes) == sorted([key_hash_of("P1"), key_hash_of("P2")])
        erase_individual(s, _id(s, "P1"), confirm=_id(s, "P1"))
    with tenant.session() as s:
        for import_id in (checked["id"], done["id"]):
            imp = s.get(RegistryImport, import_id)
            assert imp.purge_reason == "erasure" and imp.purged_at is not None
            assert _chunks(s, import_id) == 0
            assert imp.counts["created" if import_id == done["id"] else "invalid"] == 2  # the import itself stays
        # Amina's report row lost its value; Paul's row is untouched
        assert _problems(s, checked["id"]) == [(2, "birth_date", None, {}),
                                               (3, "birth_date", "2010-13-01", {})]
        # the file without her is still kept
        assert _chunks(s, other["id"]) == 1 and s.get(RegistryImport, other["id"]).purged_at is None
    # the audit entry of the import stays; a dropped file cannot be imported again from the dry run
    from .conftest import audit_entries

    assert [e.details["input"]["import_id"] for e in audit_entries(tenant, action="import")] == [done["id"], other["id"]]
    with tenant.session() as s:
        from schemehost.platform.errors import Conflict
        from schemehost.platform.extensions import db
        from schemehost.tenants.registry.imports.services import rerun_import

        with pytest.raises(Conflict):
            rerun_import(s, db.session, tenant.id, checked["id"])


def test_reports_quoting_an_erased_record_lose_its_scheme_number(tenant, tree):
    from schemehost.tenants.registry.privacy import erase_individual

    run_file(tenant, "individuals", (HEADER + AMINA).encode())
    _, problems = run_file(tenant, "individuals", (HEADER + "P9,,,Awa,Sow,female,1990-01-01,,ID-1,N-R-T-U\n").encode())
    assert problems[0]["code"] == "national_id_taken"
    with tenant.session() as s:
        refused = s.execute(select(RegistryImportProblem)).scalar_one()
        assert refused.params["scheme_number"] and refused.value == "ID-1"
        erase_individual(s, _id(s, "P1"))
    with tenant.session() as s:
        refused = s.execute(select(RegistryImportProblem)).scalar_one()
        assert "scheme_number" not in refused.params and "external_id" not in refused.params
        assert refused.params["id"] == _id(s, "P1")


def test_households_files_go_when_all_members_are_erased(tenant, tree):
    from schemehost.tenants.registry.privacy import erase_individual

    households, _ = run_file(tenant, "households", b"external_id,village,address\nH1,N-R-T-U,Near the market\n")
    run_file(tenant, "individuals", (HEADER + AMINA + PAUL).encode())
    with tenant.session() as s:
        erase_individual(s, _id(s, "P1"))
    with tenant.session() as s:
        assert _chunks(s, households["id"]) == 1  # Paul still lives there
        erase_individual(s, _id(s, "P2"))
    with tenant.session() as s:
        assert _chunks(s, households["id"]) == 0
        assert s.get(RegistryImport, households["id"]).purge_reason == "erasure"


def test_old_import_files_and_reports_are_dropped_by_the_retention_run(tenant, tree, runner):
    from schemehost.tenants.core.models import Setting
    from schemehost.tenants.registry import privacy

    old, _ = run_file(tenant, "individuals", (HEADER + AMINA.replace("1980-01-02", "1980-02-30")).encode())
    recent, _ = run_file(tenant, "locations", b"code,name,parent\nN-R-T-X,Extra,N-R-T\n")
    with tenant.session() as s:
        s.get(RegistryImport, old["id"]).finished_at = utcnow() - timedelta(days=181)
        s.get(RegistryImport, recent["id"]).finished_at = utcnow() - timedelta(days=20)
    with tenant.session() as s:
        assert privacy.apply_retention(s) == {"rule": None, "erased": 0, "imports_purged": 1}
    with tenant.session() as s:
        imp = s.get(RegistryImport, old["id"])
        assert imp.purge_reason == "retention" and imp.counts["problems"] == 1 and imp.status == "rejected"
        assert _chunks(s, old["id"]) == 0 and _problems(s, old["id"]) == []
        assert imp.key_hashes is None
        assert _chunks(s, recent["id"]) == 1
        # the tenant's own period
        s.merge(Setting(key="registry", value={"import_retention_days": 10}))
    result = runner("registry", "retention", tenant.slug)
    assert result.exit_code == 0 and "1 old import file(s)" in result.output
    with tenant.session() as s:
        assert _chunks(s, recent["id"]) == 0
    from .conftest import audit_entries

    entries = audit_entries(tenant, action="retention.purge")
    assert [e.details["counts"]["imports"] for e in entries] == [1, 1]
    assert entries[0].details["input"]["import_ids"] == [old["id"]]


def test_the_console_says_the_file_was_dropped_and_offers_no_import(app, tenant, tree, tenant_user):
    import sys
    from pathlib import Path

    from schemehost.tenants.registry.privacy import erase_individual

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
    from _console_support import csrf_from, own_address

    checked, _ = run_file(tenant, "individuals", (HEADER + AMINA).encode(), dry_run=True)
    run_file(tenant, "individuals", (HEADER + AMINA).encode())
    client = app.test_client()
    own_address(client)
    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    page = client.get(f"/t/{tenant.slug}/login")
    client.post(f"/t/{tenant.slug}/login", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                 "email": email, "password": password, "next": ""})
    url = f"/t/{tenant.slug}/registry/imports/{checked['id']}"
    assert 'id="run-form"' in client.get(url).get_data(as_text=True)
    with tenant.session() as s:
        erase_individual(s, _id(s, "P1"))
    html = client.get(url).get_data(as_text=True)
    assert 'id="import-purged"' in html and "a person it names was erased" in html
    assert 'id="run-form"' not in html and "Amina" not in html


def test_key_hashes_made_in_python_equal_the_sql_ones(tenant, tree, pg):
    """A people file's key hashes are computed beside the checks in Python, a households file's in
    SQL: both must be the same function of the external id, or erasure would miss a file."""
    from schemehost.tenants.registry.imports.engine import key_hash, key_hash_of

    keys = ["P1", "HH-000123", "Éloïse-7", "名前", "a b", "x" * 100, "0", "🙂"]
    sql = pg.execute(f"SELECT k, {key_hash('k')} FROM unnest(%s::text[]) AS t(k)", (keys,)).fetchall()
    assert [h for _, h in sql] == [key_hash_of(k) for k in keys]
    header = "external_id,given_name,family_name,sex,birth_date,village\n"
    out, problems = run_file(tenant, "individuals", (header + "".join(
        f" {k} ,Name,Family,female,1980-01-02,N-R-T-U\n" for k in keys[:4])).encode())
    assert problems == [] and out["counts"]["created"] == 4
    with tenant.session() as s:
        stored = s.execute(select(RegistryImport.key_hashes).where(RegistryImport.id == out["id"])).scalar_one()
    assert sorted(stored) == sorted(key_hash_of(k) for k in keys[:4])  # of the trimmed ids
