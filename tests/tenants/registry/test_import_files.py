"""Bad files: each gives a precise report and, in all-or-nothing mode, changes nothing."""

from __future__ import annotations

import io

import pytest

from schemehost.tenants.registry.people import Household, Individual

from ._imports_support import count, run_file

HEADER = "external_id,household_external_id,relationship,given_name,family_name,sex,birth_date,phone,national_id,village\n"
GOOD = "P1,H1,head,Amina,Njoya,female,1980-01-02,+237699123456,,N-R-T-U\n"


def _problems(problems):
    return [(p["row"], p["column"], p["code"]) for p in problems]


def _nothing_written(tenant):
    assert count(tenant, Individual) == 0 and count(tenant, Household) == 0


@pytest.mark.parametrize("content, expected", [
    (b"", [(0, None, "empty_file")]),
    (HEADER.encode(), [(0, None, "no_rows")]),
    ((HEADER + GOOD + "P2,H1,child,Ren\xe9,Njoya,male,2010-01-01,,,N-R-T-U\n").encode("latin-1"),
     [(3, None, "encoding")]),
    (("external_id,given_name,sex,birth_date,village\n" + "P1,A,female,1980-01-01,N-R-T-U\n").encode(),
     [(1, "family_name", "missing_column")]),
    ((HEADER.rstrip("\n") + ",shoe_size\n" + GOOD.rstrip("\n") + ",42\n").encode(),
     [(1, "shoe_size", "unknown_column")]),
    ((HEADER + GOOD + GOOD).encode(), [(3, "external_id", "duplicate_in_file"), (3, "relationship", "second_head")]),
    ((HEADER + GOOD.replace("N-R-T-U", "NOWHERE")).encode(), [(2, "village", "unknown_location")]),
    ((HEADER + GOOD.replace("N-R-T-U", "N-R-T")).encode(), [(2, "village", "not_a_village")]),
    ((HEADER + GOOD.replace("1980-01-02", "1980-02-30") + GOOD.replace("P1,H1,head", "P2,H2,head")
      .replace("1980-01-02", "02/01/1980")).encode(),
     [(2, "birth_date", "invalid_date"), (3, "birth_date", "invalid_date")]),
    ((HEADER + GOOD.replace("+237699123456", "12")).encode(), [(2, "phone", "invalid_phone")]),
    ((HEADER + GOOD + "P2,H1,child,Paul,Njoya,male,2010-01-01,,,N-R-T-U,extra\n").encode(),
     [(3, None, "too_many_fields")]),
])
def test_bad_csv_files_are_reported_and_nothing_is_written(tenant, tree, content, expected):
    out, problems = run_file(tenant, "individuals", content)
    assert _problems(problems) == expected
    assert out["status"] == "rejected"
    assert all(p["message"] and p["message"] != p["code"] for p in problems)
    _nothing_written(tenant)


def test_invalid_national_id_is_reported(tenant, tree):
    with tenant.session() as s:
        from schemehost.tenants.core.models import Setting

        s.merge(Setting(key="country", value="BE"))
    out, problems = run_file(tenant, "individuals", (HEADER + GOOD.replace(",,N-R-T-U", ",12345678901,N-R-T-U")
                                                     .replace("+237699123456", "")).encode())
    assert _problems(problems) == [(2, "national_id", "invalid_national_id")]
    _nothing_written(tenant)


def test_empty_xlsx_and_bom_with_semicolons(tenant, tree):
    out, problems = run_file(tenant, "individuals", b"", filename="people.xlsx")
    assert _problems(problems) == [(0, None, "empty_file")]
    content = "\ufeff" + HEADER.replace(",", ";") + GOOD.replace(",", ";")
    out, problems = run_file(tenant, "individuals", content.encode("utf-8"))
    assert problems == [] and out["status"] == "done" and out["counts"]["created"] == 1


def test_damaged_xlsx_is_reported(tenant, tree):
    out, problems = run_file(tenant, "individuals", b"PK\x03\x04 not really a zip", filename="people.xlsx")
    assert _problems(problems) == [(0, None, "unreadable_xlsx")]


def test_xlsx_file_is_imported(tenant, tree):
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    sheet = book.add_worksheet()
    for r, line in enumerate([HEADER, GOOD, "", "P2,H1,child,Paul,Njoya,male,2010-01-01,,,N-R-T-L\n"]):
        for c, value in enumerate(line.strip().split(",") if line else []):
            sheet.write(r, c, value)
    book.close()
    out, problems = run_file(tenant, "individuals", buf.getvalue(), filename="people.xlsx")
    assert problems == [] and out["counts"]["created"] == 2


def test_dry_run_writes_nothing_and_valid_only_writes_the_valid_rows(tenant, tree):
    content = (HEADER + GOOD + "P2,H1,child,Paul,Njoya,male,2010-13-01,,,N-R-T-U\n").encode()
    out, problems = run_file(tenant, "individuals", content, dry_run=True)
    assert out["status"] == "checked" and _problems(problems) == [(3, "birth_date", "invalid_date")]
    _nothing_written(tenant)
    out, problems = run_file(tenant, "individuals", content, valid_only=True)
    assert out["status"] == "done" and out["counts"]["created"] == 1 and out["counts"]["invalid"] == 1
    assert count(tenant, Individual) == 1


def test_reimport_is_idempotent_and_exact_duplicates_point_at_the_record(tenant, tree):
    content = (HEADER + GOOD.replace(",,N-R-T-U", ",ID-1,N-R-T-U")).encode()
    out, _ = run_file(tenant, "individuals", content)
    assert out["counts"]["created"] == 1
    out, problems = run_file(tenant, "individuals", content)
    assert problems == [] and out["counts"]["created"] == 0 and out["counts"]["unchanged"] == 1
    assert count(tenant, Individual) == 1 and count(tenant, Household) == 1
    other = (HEADER + "P9,,,Jean,Fotso,male,1970-01-01,,ID-1,N-R-T-L\n").encode()
    out, problems = run_file(tenant, "individuals", other)
    assert _problems(problems) == [(2, "national_id", "national_id_taken")]
    with tenant.session() as s:
        from sqlalchemy import select

        existing = s.execute(select(Individual.id)).scalar_one()
    assert str(existing) in problems[0]["message"]


def test_locations_facilities_households_and_prices(tenant, tree):
    out, problems = run_file(tenant, "locations", (
        "code,name,parent,level\nN-R-T-X,Extra village,N-R-T,Village\nS-H-M,Hills town,S-H,\n"
        "S-H-M-V,Hills village,S-H-M,\nBAD,Bad,NOWHERE,\n").encode(), valid_only=True)
    assert _problems(problems) == [(5, "parent", "unknown_parent")]
    assert out["counts"]["created"] == 3
    out, problems = run_file(tenant, "facilities", (
        "code,name,level,care_type,location,contract_start,contract_end\n"
        "HC1,Hills centre,health_centre,both,S-H-M-V,2026-01-01,2026-12-31\n").encode())
    assert problems == [] and out["counts"]["created"] == 1
    out, problems = run_file(tenant, "households", "external_id,village,address\nHH9,S-H-M-V,Market\n".encode())
    assert problems == [] and out["counts"]["created"] == 1
    out, problems = run_file(tenant, "prices", "price_list,entry,price\nPL,CONS,100\n".encode())
    assert _problems(problems) == [(2, "entry", "unknown_entry"), (2, "price_list", "unknown_price_list")]


def test_codes_make_reimports_idempotent_for_locations_facilities_and_prices(tenant, tree):
    from schemehost.tenants.registry import services as reg

    with tenant.session() as s:
        reg.create_entry(s, kind="service", code="CONS", name="Consultation", type="consultation")
        reg.create_price_list(s, code="PL", name="Shared 2026", valid_from="2026-01-01")
    files = [
        ("locations", "code,name,parent\nN-R-T-X,Extra,N-R-T\n"),
        ("facilities", "code,name,level,care_type,location\nHC1,Centre,health_centre,both,N-R-T-X\n"),
        ("prices", "price_list;entry;price\nPL;CONS;1500\n"),
    ]
    for kind, text in files:
        out, problems = run_file(tenant, kind, text.encode())
        assert problems == [] and out["counts"]["created"] == 1, (kind, problems)
        out, problems = run_file(tenant, kind, text.encode())
        assert problems == [] and out["counts"]["created"] == 0 and out["counts"]["unchanged"] == 1, kind
    out, problems = run_file(tenant, "prices", b"price_list,entry,price\nPL,CONS,1750\n")
    assert out["counts"]["updated"] == 1
    with tenant.session() as s:
        from sqlalchemy import select

        from schemehost.tenants.registry.models import HealthFacility, Location, PriceListLine

        assert s.execute(select(PriceListLine.price)).scalars().all() == [1750]
        village = s.execute(select(Location).where(Location.code == "N-R-T-X")).scalar_one()
        assert village.level == 3 and village.path[:3] == [tree["N"], tree["N-R"], tree["N-R-T"]]
        assert s.execute(select(HealthFacility.location_id)).scalar_one() == village.id


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_template_files_import_as_they_are(tenant, tree, fmt):
    from schemehost.tenants.registry.imports import template_csv, template_xlsx

    data = template_csv("individuals") if fmt == "csv" else template_xlsx("individuals")
    out, problems = run_file(tenant, "individuals", data, filename=f"template.{fmt}", dry_run=True)
    assert problems == [] and out["status"] == "checked" and out["counts"]["valid"] == 1


def test_a_column_mapping_reads_other_headers(tenant, tree):
    content = ("ID;Prénom;Nom;Sexe;Naissance;Village\nP1;Amina;Njoya;F;1980-01-02;N-R-T-U\n").encode()
    mapping = {"ID": "external_id", "Prénom": "given_name", "Nom": "family_name", "Sexe": "sex",
               "Naissance": "birth_date", "Village": "village"}
    out, problems = run_file(tenant, "individuals", content, mapping=mapping)
    assert problems == [] and out["counts"]["created"] == 1


def test_windows_line_ends_and_quoted_fields(tenant, tree):
    content = ("external_id,given_name,family_name,other_names,sex,birth_date,village\r\n"
               'P1,"Amina, Grace",Njoya,"line one\r\nline two",female,1980-01-02,N-R-T-U\r\n'
               "P2,Paul,Njoya,,male,1981-01-02,N-R-T-U\r\n\r\n").encode()
    out, problems = run_file(tenant, "individuals", content)
    assert problems == [] and out["counts"]["created"] == 2
    with tenant.session() as s:
        from sqlalchemy import select

        person = s.execute(select(Individual).where(Individual.external_id == "P1")).scalar_one()
        assert person.given_name == "Amina, Grace" and person.other_names == "line one\r\nline two"


def test_a_file_in_another_encoding_imports_when_its_encoding_is_given(tenant, tree):
    content = (HEADER + "P2,H1,head,René,Ngoué,male,2010-01-01,,,N-R-T-U\n").encode("cp1252")
    out, problems = run_file(tenant, "individuals", content, encoding="cp1252")
    assert problems == [] and out["counts"]["created"] == 1
    with tenant.session() as s:
        from sqlalchemy import select

        assert s.execute(select(Individual.family_name)).scalar_one() == "Ngoué"
