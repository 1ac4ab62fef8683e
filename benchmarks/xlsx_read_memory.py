"""Read a large XLSX sheet through the import's reader, streamed (openpyxl read-only) and loaded
whole (python-calamine), and print each one's time and peak memory growth (decision 0135).

Writes an individuals sheet of ``--rows`` rows (14 columns, inline strings, as our exports write
them) with xlsxwriter, then reads it in a fresh process per reader: the peak resident size is
reset (``/proc/self/clear_refs``) after the imports and read back (``VmHWM``) after the last row.

    .venv/bin/python benchmarks/xlsx_read_memory.py [--rows 200000]

Last line: ``xlsx_rows=<n> streamed_s=<n> streamed_peak_mb=<n> calamine_s=<n> calamine_peak_mb=<n>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

MEASURE = """
import json, sys, time
from pathlib import Path
import openpyxl, python_calamine
from schemehost.tenants.registry.imports import reader

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])

reader.XLSX_STREAM_FROM = int(sys.argv[2])
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status("VmRSS")
started = time.perf_counter()
source = reader.open_source(Path(sys.argv[1]), "xlsx")
rows = sum(block.count(b"\\n") for block in source.rows)
print(json.dumps({"rows": rows, "seconds": round(time.perf_counter() - started, 1),
                  "peak_mb": round((status("VmHWM") - before) / 1024, 1)}))
"""

COLUMNS = ["external_id", "household_external_id", "relationship", "given_name", "family_name", "other_names",
           "sex", "birth_date", "birth_date_estimated", "national_id", "phone", "village", "scheme_number", "status"]


def write_sheet(path: str, rows: int) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(path, {"constant_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, COLUMNS)
    for r in range(1, rows + 1):
        sheet.write_row(r, 0, [f"P{r:07d}", f"H{r // 4:06d}", "child" if r % 4 else "head", f"Given{r % 5000}",
                               f"Family{r % 3000}", "", "female" if r % 2 else "male", "1980-01-02", "false",
                               f"ID{r:09d}", f"+2376{r:08d}", f"V{r % 10000:05d}", f"S-{r:08d}", "active"])
    book.close()


def measure(path: str, stream_from: int) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, path, str(stream_from)], check=True, capture_output=True,
                         text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "people.xlsx")
        started = time.perf_counter()
        write_sheet(path, args.rows)
        from schemehost.tenants.registry.imports.reader import sheet_xml_size

        print(f"sheet written in {time.perf_counter() - started:.1f} s: {os.path.getsize(path) / 1e6:.1f} MB, "
              f"sheet XML {sheet_xml_size(__import__('pathlib').Path(path)) / 1e6:.1f} MB")
        streamed = measure(path, 0)
        print(f"streamed (openpyxl read-only): {streamed}")
        loaded = measure(path, 1 << 62)
        print(f"loaded whole (calamine):       {loaded}")
        assert streamed["rows"] == loaded["rows"] == args.rows
    print(f"xlsx_rows={args.rows} streamed_s={streamed['seconds']} streamed_peak_mb={streamed['peak_mb']} "
          f"calamine_s={loaded['seconds']} calamine_peak_mb={loaded['peak_mb']}")


if __name__ == "__main__":
    main()
