"""Tenant-defined extra fields in imports, templates and exports: typed by the tenant's JSON
Schema, checked with a per-row report, written, exported and imported again unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from schemehost.tenants.registry.people import Household, Individual

from ._imports_support import count, run_file

SCHEMAS = {
    "individual": {
        "type": "object",
        "properties": {
            "disability": {"type": "boolean", "title": "Disability"},
            "income": {"type": "integer", "minimum": 0},
            "water": {"enum": ["river", "well", "tap"]},
            "enrolled": {"type": "string", "format": "date"},
            "skills": {"type": "array", "items": {"type": "string"}},
            "score": {"type": "number"},
        },
        "additionalProperties": False,
    },
    "household": {
        "type": "object",
        "properties": {"roof": {"enum": ["metal", "thatch"]}, "rooms": {"type": "integer", "minimum": 1}},
        "required": ["roof"],
    },
}
BASE = "external_id,given_name,family_name,sex,birth_date,village"
EXTRA = "extra.disability,extra.enrolled,extra.income,extra.score,extra.skills,extra.water"


@pytest.fixture
def schemas(tenant):
    from schemehost.tenants.core.models import Setting

    with tenant.session() as s:
        s.merge(Setting(key="registry", value={"extra_fields": SCHEMAS}))


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _export(tenant, name, fmt="csv"):
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.registry.services import exports

    principal = Principal(kind="user", id="1", name="t", tenant_id=tenant.id, permissions=frozenset())
    with tenant.session() as s:
        return b"".join(exports.stream_export(s, name, fmt, principal=principal, filters={}))


def test_bad_extra_values_are_reported_per_row_and_nothing_is_written(tenant, tree, schemas):
    content = (f"{BASE},{EXTRA}\n"
               "P1,Amina,Njoya,female,1980-01-02,N-R-T-U,maybe,2026-02-30,-5,abc,,lake\n"
               "P2,Paul,Njoya,male,1981-01-02,N-R-T-U,yes,2026-01-15,12,1.5,a|b,well\n").encode()
    out, problems = run_file(tenant, "individuals", content)
    assert out["status"] == "rejected" and count(tenant, Individual) == 0
    assert [(p["row"], p["column"], p["value"]) for p in problems] == [
        (2, "extra.disability", "maybe"), (2, "extra.enrolled", "2026-02-30"), (2, "extra.income", "-5"),
        (2, "extra.score", "abc"), (2, "extra.water", "lake")]
    messages = {p["column"]: p["message"] for p in problems}
    assert messages["extra.income"] == "At least 0." and messages["extra.water"] == "One of: river, well, tap."
    assert messages["extra.disability"] == "Expected: boolean." and "date" in messages["extra.enrolled"]
    assert out["counts"]["invalid"] == 1 and out["counts"]["valid"] == 1


def test_unknown_extra_column_is_reported_with_the_known_columns(tenant, tree, schemas):
    out, problems = run_file(tenant, "individuals", (f"{BASE},extra.shoe\n"
                                                     "P1,Amina,Njoya,female,1980-01-02,N-R-T-U,42\n").encode())
    assert [(p["row"], p["column"], p["code"]) for p in problems] == [(1, "extra.shoe", "unknown_column")]
    assert "extra.income" in problems[0]["message"]


def test_extra_fields_are_written_typed_filtered_exported_and_imported_again(tenant, tree, schemas):
    from schemehost.tenants.registry import eligibility as el

    content = (f"{BASE},{EXTRA}\n"
               "P1,Amina,Njoya,female,1980-01-02,N-R-T-U,yes,2026-01-15,250,2.5,sewing|farming,river\n"
               "P2,Paul,Njoya,male,1981-01-02,N-R-T-U,false,,12,,,\n"
               "P3,Jean,Fotso,male,1975-12-31,N-R-T-L,,,,,,\n").encode()
    out, problems = run_file(tenant, "individuals", content)
    assert problems == [] and out["counts"]["created"] == 3
    with tenant.session() as s:
        extra = dict(s.execute(select(Individual.external_id, Individual.extra)).all())
        assert extra == {"P1": {"disability": True, "income": 250, "water": "river", "enrolled": "2026-01-15",
                                "skills": ["sewing", "farming"], "score": 2.5},
                         "P2": {"disability": False, "income": 12}, "P3": {}}
        # the eligibility filters read the same types
        ids = s.execute(el.compile_filter(s, {"field": "extra.income", "op": "gt", "value": 100},
                                          target="individuals")).scalars().all()
        assert ids == [s.execute(select(Individual.id).where(Individual.external_id == "P1")).scalar_one()]
        assert len(s.execute(el.compile_filter(s, {"field": "extra.skills", "op": "has", "value": "farming"},
                                               target="individuals")).all()) == 1
    exported = _export(tenant, "individuals").decode("utf-8-sig")
    rows = _rows(exported)
    header = rows[0]
    assert header[-6:] == EXTRA.split(",")
    by_id = {r[0]: dict(zip(header, r)) for r in rows[1:]}
    assert by_id["P1"]["extra.skills"] == '["sewing", "farming"]' and by_id["P1"]["extra.disability"] == "true"
    assert by_id["P2"]["extra.water"] == "" and by_id["P2"]["extra.income"] == "12"
    for fmt in ("csv", "xlsx"):
        data = exported.encode("utf-8-sig") if fmt == "csv" else _export(tenant, "individuals", "xlsx")
        out, problems = run_file(tenant, "individuals", data, filename=f"people.{fmt}")
        assert problems == [] and out["counts"]["unchanged"] == 3, (fmt, problems)
    # an emptied cell clears the field; a column absent from the file leaves the field alone
    out, problems = run_file(tenant, "individuals", (f"{BASE},extra.income\n"
                                                     "P1,Amina,Njoya,female,1980-01-02,N-R-T-U,\n").encode())
    assert problems == [] and out["counts"]["updated"] == 1
    with tenant.session() as s:
        person = s.execute(select(Individual).where(Individual.external_id == "P1")).scalar_one()
        assert "income" not in person.extra and person.extra["water"] == "river"


def test_households_extra_fields_required_and_round_trip(tenant, tree, schemas):
    out, problems = run_file(tenant, "households", b"external_id,village,extra.rooms\nH1,N-R-T-U,3\n")
    assert [(p["row"], p["column"], p["message"]) for p in problems] == [(2, "extra.roof", "This field is required.")]
    assert count(tenant, Household) == 0
    out, problems = run_file(tenant, "households", b"external_id,village,extra.roof,extra.rooms\n"
                                                   b"H1,N-R-T-U,metal,3\nH2,N-R-T-L,thatch,0\n", valid_only=True)
    assert [(p["row"], p["column"], p["value"]) for p in problems] == [(3, "extra.rooms", "0")]
    assert out["counts"]["created"] == 1
    exported = _export(tenant, "households").decode("utf-8-sig").replace("\r\n", "\n")
    assert exported == "external_id,village,address,status,extra.roof,extra.rooms\nH1,N-R-T-U,,active,metal,3\n"
    out, problems = run_file(tenant, "households", exported.encode())
    assert problems == [] and out["counts"]["unchanged"] == 1


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_templates_list_the_extra_columns_and_import_as_they_are(tenant, tree, schemas, client, client_token, fmt):
    token = client_token(tenant, scopes=("registry.read",))
    resp = client.get(f"/t/{tenant.slug}/api/v1/import-templates/individuals.{fmt}",
                      headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    if fmt == "csv":
        header = _rows(resp.get_data(as_text=True))[0]
        assert header[-6:] == EXTRA.split(",")
    else:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_filelike(io.BytesIO(resp.data))
        header = book.get_sheet_by_index(0).to_python()[0]
        assert header[-6:] == EXTRA.split(",")
        about = book.get_sheet_by_index(1).to_python()
        assert ["extra.disability", "no", "Disability: true or false"] in about
    out, problems = run_file(tenant, "individuals", resp.data, filename=f"template.{fmt}", dry_run=True)
    assert problems == [] and out["status"] == "checked"


def test_mapping_may_name_extra_fields(tenant, tree, schemas):
    content = "ID,Prénom,Nom,Sexe,Naissance,Village,Revenu\nP1,Amina,Njoya,F,1980-01-02,N-R-T-U,40\n".encode()
    mapping = {"ID": "external_id", "Prénom": "given_name", "Nom": "family_name", "Sexe": "sex",
               "Naissance": "birth_date", "Village": "village", "Revenu": "extra.income"}
    out, problems = run_file(tenant, "individuals", content, mapping=mapping)
    assert problems == [] and out["counts"]["created"] == 1
    with tenant.session() as s:
        assert s.execute(select(Individual.extra)).scalar_one() == {"income": 40}


def test_cli_template_with_the_tenants_extra_columns(tenant, schemas, runner, tmp_path):
    out = tmp_path / "households.csv"
    result = runner("registry", "template", "households", str(out), "--tenant", tenant.slug)
    assert result.exit_code == 0, result.output
    assert _rows(out.read_text())[0] == ["external_id", "village", "address", "status", "extra.roof", "extra.rooms"]
    result = runner("registry", "template", "households", str(out))
    assert result.exit_code == 0 and _rows(out.read_text())[0] == ["external_id", "village", "address", "status"]
