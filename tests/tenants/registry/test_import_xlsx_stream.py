"""XLSX reading in bounded memory: large sheets are parsed as a stream (openpyxl read-only), small
ones loaded by calamine; both give the same rows, and a large sheet is read without holding it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from schemehost.tenants.registry.imports import reader

from ._imports_support import run_file

HEADER = ["external_id", "given_name", "family_name", "sex", "birth_date", "village"]


def _workbook(path, rows, *, start_row=0, constant_memory=False):
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory})
    sheet = book.add_worksheet()
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    for r, row in enumerate(rows, start=start_row):
        for c, value in enumerate(row):
            if isinstance(value, (date, datetime)):
                sheet.write_datetime(r, c, value, day)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return path


def _blocks(path: Path, stream_from: int, monkeypatch) -> tuple[list[str], bytes]:
    monkeypatch.setattr(reader, "XLSX_STREAM_FROM", stream_from)
    source = reader.open_source(path, "xlsx")
    return source.header, b"".join(source.rows)


def test_streamed_and_loaded_sheets_give_the_same_rows(tmp_path, monkeypatch):
    rows = [HEADER + ["n"], ["P1", "Amina", "Njoya", "F", datetime(1980, 1, 2), "N-R-T-U", 12],
            [None] * 7, ["P2", "Paul", None, "M", "1981-02-03", "N-R-T-U", 2.5],
            ["P3", "Awa", "Sow", True, date(1990, 5, 6), "N-R-T-L", None]]
    path = _workbook(tmp_path / "people.xlsx", rows, start_row=2)
    loaded = _blocks(path, 1 << 30, monkeypatch)
    streamed = _blocks(path, 0, monkeypatch)
    assert loaded == streamed
    header, data = streamed
    assert header == HEADER + ["n"]
    # spreadsheet row numbers first (the header is on row 3), empty rows skipped, typed cells as text
    assert data.decode().splitlines() == ["4,P1,Amina,Njoya,F,1980-01-02,N-R-T-U,12",
                                          "6,P2,Paul,,M,1981-02-03,N-R-T-U,2.5",
                                          "7,P3,Awa,Sow,true,1990-05-06,N-R-T-L,"]


def test_a_streamed_sheet_is_imported_with_its_row_numbers(tenant, tree, tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "XLSX_STREAM_FROM", 0)
    rows = [HEADER, ["P1", "Amina", "Njoya", "female", "1980-01-02", "N-R-T-U"],
            ["P2", "Paul", "Njoya", "male", "1981-02-30", "N-R-T-U"]]
    data = _workbook(tmp_path / "people.xlsx", rows).read_bytes()
    out, problems = run_file(tenant, "individuals", data, filename="people.xlsx")
    assert [(p["row"], p["column"], p["code"]) for p in problems] == [(3, "birth_date", "invalid_date")]
    assert out["status"] == "rejected"
    out, problems = run_file(tenant, "individuals", data, filename="people.xlsx", valid_only=True)
    assert out["counts"]["created"] == 1


def test_a_sheet_damaged_past_its_header_is_reported(tmp_path, monkeypatch):
    import zipfile

    rows = [HEADER] + [[f"P{i}", "Amina", "Njoya", "female", "1980-01-02", "N-R-T-U"] for i in range(50)]
    good = _workbook(tmp_path / "good.xlsx", rows)
    bad = tmp_path / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # the sheet's XML stops in the middle of a row
            dst.writestr(info, data)
    monkeypatch.setattr(reader, "XLSX_STREAM_FROM", 0)
    with pytest.raises(reader.FileProblem) as err:
        source = reader.open_source(bad, "xlsx")
        b"".join(source.rows)
    assert err.value.code == "unreadable_xlsx"


MEASURE = """
import json, sys
from pathlib import Path
import openpyxl, python_calamine  # loaded before the baseline
from schemehost.tenants.registry.imports import reader

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

reader.XLSX_STREAM_FROM = int(sys.argv[2])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # resets the peak resident size (VmHWM) to the current one
before = status("VmRSS")
source = reader.open_source(Path(sys.argv[1]), "xlsx")
rows = sum(block.count(b"\\n") for block in source.rows)
print(json.dumps({"rows": rows, "grew_kb": status("VmHWM") - before}))
"""


def _measure(path: Path, stream_from: int) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(stream_from)], check=True,
                         capture_output=True, text=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_large_sheet_is_read_in_bounded_memory(tmp_path):
    """30,000 rows (about 22 MB of sheet XML): streamed, the reader's peak memory grows by far less
    than the sheet (calamine, which loads the sheet whole, grows by more than the sheet itself)."""
    n = 30_000
    rows = [HEADER + ["household_external_id", "phone", "national_id", "scheme_number", "other_names"]]
    rows += [[f"P{i:07d}", f"Given{i}", f"Family{i}", "female", "1980-01-02", "N-R-T-U", f"H{i // 4}",
              f"+2376{i:08d}", f"ID{i:09d}", f"S-{i:08d}", "Grace Marie"] for i in range(n)]
    path = _workbook(tmp_path / "big.xlsx", rows, constant_memory=True)
    sheet_kb = reader.sheet_xml_size(path) // 1024
    streamed = _measure(path, 0)
    loaded = _measure(path, 1 << 40)
    assert streamed["rows"] == loaded["rows"] == n
    assert streamed["grew_kb"] < sheet_kb // 2, (streamed, sheet_kb)
    assert loaded["grew_kb"] > sheet_kb, (loaded, sheet_kb)  # the bound truly tells the two apart
    # and the default threshold streams a sheet of this size
    assert reader.sheet_xml_size(path) > reader.XLSX_STREAM_FROM
