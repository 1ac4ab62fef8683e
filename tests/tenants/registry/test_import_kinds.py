"""The issue's bad files for every kind (locations, facilities, households, prices; individuals in
test_import_files.py): each gives a precise report and, all-or-nothing, changes nothing. The
import-export round trip of every kind, and duplicates across imports and manual entry."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from schemehost.tenants.registry.models import HealthFacility, Location, PriceListLine
from schemehost.tenants.registry.people import DuplicateFlag, Household, Individual

from ._imports_support import run_file

GOOD = {
    "locations": ("code,name,parent,level,male_population", "N-R-T-X,Extra village,N-R-T,Village,120"),
    "facilities": ("code,name,level,care_type,location,contract_start,contract_end",
                   "HC1,Upper centre,health_centre,both,N-R-T-U,2026-01-01,2026-12-31"),
    "households": ("external_id,village,address", "H1,N-R-T-U,Near the market"),
    "prices": ("price_list,entry,price", "PL,CONS,1500"),
}
#: per kind: the table its rows go to, a row repeating the good row's key, a row naming an unknown
#: location (None: the kind names none) and its report, a row with a bad date or number and its report
BAD = {
    "locations": (Location, "N-R-T-X,Again,N-R-T,Village,1", ("N-R-T-Y,Y,NOWHERE,,1", "parent", "unknown_parent"),
                  ("N-R-T-Z,Z,N-R-T,,many", "male_population", "invalid_number")),
    "facilities": (HealthFacility, "HC1,Again,health_centre,both,N-R-T-U,,",
                   ("HC2,Two,dispensary,both,NOWHERE,,", "location", "unknown_location"),
                   ("HC3,Three,hospital,both,N-R-T-U,2026-02-30,", "contract_start", "invalid_date")),
    "households": (Household, "H1,N-R-T-L,Again", ("H2,NOWHERE,x", "village", "unknown_location"), None),
    "prices": (PriceListLine, "PL,CONS,1600", None, ("PL,LAB,-3", "price", "invalid_number")),
}
KEY = {"locations": "code", "facilities": "code", "households": "external_id", "prices": "entry"}


@pytest.fixture
def catalogue(tenant, tree):
    from schemehost.tenants.registry import services as reg

    with tenant.session() as s:
        reg.create_entry(s, kind="service", code="CONS", name="Consultation", type="consultation")
        reg.create_entry(s, kind="service", code="LAB", name="Laboratory", type="laboratory")
        reg.create_price_list(s, code="PL", name="Shared 2026", valid_from="2026-01-01")
    return tree


def _rows(tenant, model) -> int:
    with tenant.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _report(problems):
    return [(p["row"], p["column"], p["code"]) for p in problems]


def _bad_files(kind):
    header, good = GOOD[kind]
    table, repeat, unknown, bad_value = BAD[kind]
    files = [
        ("empty file", b"", [(0, None, "empty_file")]),
        ("header only", (header + "\n").encode(), [(0, None, "no_rows")]),
        ("wrong encoding", (header + "\n" + good + "\n" + good.replace(good.split(",")[0], "X\xe9") + "\n")
         .encode("latin-1"), [(3, None, "encoding")]),
        ("missing column", (header.split(",", 1)[1] + "\n" + good.split(",", 1)[1] + "\n").encode(),
         [(1, KEY[kind] if kind != "prices" else "price_list", "missing_column")]),
        ("extra column", (header + ",colour\n" + good + ",blue\n").encode(), [(1, "colour", "unknown_column")]),
        ("duplicate rows", (header + "\n" + good + "\n" + repeat + "\n").encode(),
         [(3, KEY[kind], "duplicate_in_file")]),
        ("too many fields", (header + "\n" + good + ",surplus\n").encode(), [(2, None, "too_many_fields")]),
    ]
    if unknown:
        files.append(("unknown code", (header + "\n" + good + "\n" + unknown[0] + "\n").encode(),
                      [(3, unknown[1], unknown[2])]))
    if bad_value:
        files.append(("bad value", (header + "\n" + good + "\n" + bad_value[0] + "\n").encode(),
                      [(3, bad_value[1], bad_value[2])]))
    return table, files


@pytest.mark.parametrize("kind", ["locations", "facilities", "households", "prices"])
def test_bad_files_of_every_kind_are_reported_and_change_nothing(tenant, catalogue, kind):
    table, files = _bad_files(kind)
    before = _rows(tenant, table)
    for name, content, expected in files:
        out, problems = run_file(tenant, kind, content)
        assert _report(problems) == expected, (kind, name, problems)
        assert out["status"] == "rejected", (kind, name)
        assert all(p["message"] and p["message"] != p["code"] for p in problems), (kind, name)
        assert _rows(tenant, table) == before, (kind, name)


@pytest.mark.parametrize("kind", ["locations", "facilities", "households", "prices"])
def test_a_0_byte_xlsx_and_a_bom_with_semicolons_for_every_kind(tenant, catalogue, kind):
    table, _files = _bad_files(kind)
    before = _rows(tenant, table)
    out, problems = run_file(tenant, kind, b"", filename=f"{kind}.xlsx")
    assert _report(problems) == [(0, None, "empty_file")] and _rows(tenant, table) == before
    header, good = GOOD[kind]
    content = "\ufeff" + header.replace(",", ";") + "\r\n" + good.replace(",", ";") + "\r\n"
    out, problems = run_file(tenant, kind, content.encode("utf-8"))
    assert problems == [] and out["counts"]["created"] == 1 and _rows(tenant, table) == before + 1


def _export(tenant, name, fmt="csv") -> bytes:
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.registry.services import exports

    principal = Principal(kind="user", id="1", name="t", tenant_id=tenant.id, permissions=frozenset())
    with tenant.session() as s:
        return b"".join(exports.stream_export(s, name, fmt, principal=principal, filters={}))


ROUND_TRIP = {
    "locations": ("code,name,parent,level,male_population,female_population,other_population,families\n",
                  "N-R-T-X,Extra village,N-R-T,Village,120,130,,40\nN-R-T-Y,Other village,N-R-T,Village,,,,\n"),
    "facilities": ("code,name,level,care_type,location,contract_start,contract_end,status\n",
                   "HC1,Upper centre,health_centre,both,N-R-T-U,2026-01-01,2026-12-31,active\n"
                   "D1,\"Lower dispensary, east\",dispensary,out_patient,N-R-T-L,,,inactive\n"),
    "households": ("external_id,village,address,status\n",
                   "H1,N-R-T-U,Près du marché,active\nH2,N-R-T-L,,inactive\n"),
    "prices": ("price_list,entry,price\n", "PL,CONS,1500\nPL,LAB,250000\n"),
}


@pytest.mark.parametrize("kind", list(ROUND_TRIP))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_import_then_export_gives_the_same_data_for_every_kind(tenant, catalogue, kind, fmt):
    header, rows = ROUND_TRIP[kind]
    out, problems = run_file(tenant, kind, (header + rows).encode())
    assert problems == [] and out["counts"]["created"] == 2
    data = _export(tenant, kind, fmt)
    if fmt == "csv":
        text = data.decode("utf-8-sig").replace("\r\n", "\n")
        assert text.startswith(header)
        lines = text[len(header):].splitlines(keepends=True)
        # the imported rows come out as they went in (locations: after the tree that was there)
        assert "".join(lines[-2:]) == rows
    out, problems = run_file(tenant, kind, data, filename=f"{kind}.{fmt}")
    assert problems == [] and out["counts"]["created"] == 0 and out["counts"]["updated"] == 0
    assert out["counts"]["unchanged"] == out["counts"]["rows"] >= 2


HEADER = "external_id,given_name,family_name,sex,birth_date,national_id,village\n"


def _person(tenant, tree, **data):
    from schemehost.tenants.registry.services import people

    values = {"given_name": "Amina", "family_name": "Njoya", "sex": "female", "birth_date": "1980-01-02",
              "location_id": tree["N-R-T-U"], **data}
    with tenant.session() as s:
        return people.create_individual(s, values, principal=None)


def test_exact_duplicates_across_manual_entry_and_import(tenant, tree):
    from schemehost.platform.errors import Conflict

    manual = _person(tenant, tree, national_id="ID-7")
    out, problems = run_file(tenant, "individuals", (HEADER + "P1,Awa,Sow,female,1990-01-01,ID-7,N-R-T-L\n").encode())
    assert _report(problems) == [(2, "national_id", "national_id_taken")] and str(manual.id) in problems[0]["message"]
    assert _rows(tenant, Individual) == 1
    out, problems = run_file(tenant, "individuals", (HEADER + "P2,Jean,Fotso,male,1970-01-01,ID-8,N-R-T-L\n").encode())
    assert problems == []
    with pytest.raises(Conflict) as err:
        _person(tenant, tree, given_name="Jeanne", national_id="ID-8")
    with tenant.session() as s:
        imported = s.execute(select(Individual.id).where(Individual.external_id == "P2")).scalar_one()
    assert err.value.extra["existing_id"] == imported
    assert _rows(tenant, Individual) == 2


def test_probable_duplicates_across_manual_entry_and_import(tenant, tree):
    manual = _person(tenant, tree)
    out, problems = run_file(tenant, "individuals", (HEADER + "P1,Aminah,Njoya,female,1980-01-02,,N-R-T-U\n"
                                                              "P2,Jean,Fotso,male,1970-01-01,,N-R-T-U\n").encode())
    assert problems == [] and out["counts"]["created"] == 2
    with tenant.session() as s:
        ids = dict(s.execute(select(Individual.external_id, Individual.id)).all())
        flags = [(f.individual_id, f.candidate_id) for f in s.execute(select(DuplicateFlag)).scalars()]
    assert flags == [(ids["P1"], manual.id)]
    # and a manual entry after the import is flagged against the imported person
    later = _person(tenant, tree, given_name="Jean", family_name="Fotso", sex="male", birth_date="1970-01-01")
    with tenant.session() as s:
        pairs = {(f.individual_id, f.candidate_id) for f in s.execute(select(DuplicateFlag)).scalars()}
    assert (later.id, ids["P2"]) in pairs
    assert _rows(tenant, Individual) == 4  # nothing merged


def test_an_xlsx_with_bad_values_is_reported_with_spreadsheet_rows(tenant, tree):
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    sheet = book.add_worksheet()
    for r, line in enumerate([HEADER.strip(), "P1,Amina,Njoya,female,1980-02-30,,N-R-T-U", "",
                              "P2,Paul,Njoya,x,1981-01-01,,NOWHERE"]):
        for c, value in enumerate(line.split(",") if line else []):
            sheet.write_string(r, c, value)
    book.close()
    out, problems = run_file(tenant, "individuals", buf.getvalue(), filename="people.xlsx")
    assert _report(problems) == [(2, "birth_date", "invalid_date"), (4, "sex", "invalid_choice"),
                                 (4, "village", "unknown_location")]
    assert out["status"] == "rejected" and _rows(tenant, Individual) == 0
