"""Reading an uploaded file as a stream of CSV rows for PostgreSQL's ``COPY``.

CSV files go to ``COPY`` nearly as they are (PostgreSQL parses CSV far faster than Python): this
module only strips a byte-order mark, sniffs the separator (``,``, ``;`` or tab) from the header,
checks the encoding chunk by chunk (transcoding when the file is not UTF-8) and drops trailing
blank lines. XLSX files are written out as CSV rows, each with its spreadsheet row number first:
a sheet whose XML is small is read with ``python-calamine`` (fast, but it loads the whole sheet
before the first row: calamine has no lazy row reader), a larger one with openpyxl's read-only
mode, which parses the sheet as a stream (decision 0135). Memory stays bounded: chunks of 1 MiB,
batches of rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
XLSX_BATCH = 5000
#: sheets whose XML (uncompressed) is larger than this are streamed (openpyxl read-only) instead of
#: loaded whole by calamine, which takes about twice the XML's size in memory
XLSX_STREAM_FROM = int(os.environ.get("SCHEMEHOST_XLSX_STREAM_FROM", str(16 << 20)))
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


class FileProblem(Exception):
    """The file cannot be read at all (wrong encoding, empty, not a spreadsheet, a broken row):
    the report gets this one problem (``row`` 0 = the whole file) and nothing else is checked."""

    def __init__(self, code: str, *, row: int = 0, column: str | None = None, value: str | None = None,
                 **params: Any) -> None:
        super().__init__(code)
        self.code, self.row, self.column, self.value, self.params = code, row, column, value, params


@dataclass
class Source:
    """An opened file: its header and a way to stream its data rows as UTF-8 CSV."""

    header: list[str]
    delimiter: str
    #: True when every data row starts with its spreadsheet row number (XLSX)
    numbered: bool
    rows: Iterator[bytes] = field(repr=False)


def detect_format(filename: str, head: bytes) -> str:
    """``xlsx`` for a zip container or an .xlsx name, else ``csv``."""
    if head.startswith(b"PK\x03\x04") or filename.lower().endswith((".xlsx", ".xlsm")):
        return "xlsx"
    return "csv"


def open_source(path: Path, fmt: str, *, encoding: str = "utf-8") -> Source:
    return open_xlsx(path) if fmt == "xlsx" else open_csv(path, encoding=encoding)


# ---- CSV --------------------------------------------------------------------------------------------


def sniff_delimiter(line: str) -> str:
    """The separator of a header line: the most frequent of ``;``, ``,`` and tab outside quotes."""
    outside, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(ch)
    text = "".join(outside)
    counts = {d: text.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def open_csv(path: Path, *, encoding: str = "utf-8") -> Source:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise FileProblem("unknown_encoding", value=encoding) from None
    handle = open(path, "rb")
    first = handle.read(CHUNK)
    if not first.strip():
        handle.close()
        raise FileProblem("empty_file")
    for bom, name in BOMS:
        if first.startswith(bom):
            first, encoding = first[len(bom):], name
            break
    utf8 = codecs.lookup(encoding).name == "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    state = {"line": 1, "offset": 0}

    def decode(chunk: bytes, final: bool = False) -> bytes:
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError as err:
            line = state["line"] + chunk.count(b"\n", 0, err.start)
            bad = chunk[err.start:err.end][:8].hex(" ")
            raise FileProblem("encoding", row=line, value=bad, encoding=encoding) from None
        state["line"] += chunk.count(b"\n")
        return chunk if utf8 else text.encode("utf-8")

    data = decode(first)
    # the header: everything up to the first line end (headers never hold quoted line breaks)
    while b"\n" not in data:
        more = handle.read(CHUNK)
        if not more:
            break
        data += decode(more)
    head, sep, rest = data.partition(b"\n")
    # the file's line end, written again after its last row (PostgreSQL refuses mixed line ends)
    line_end = b"\r\n" if head.endswith(b"\r") else b"\n"
    header_line = head.decode("utf-8").rstrip("\r")
    delimiter = sniff_delimiter(header_line)
    header = next(csv.reader([header_line], delimiter=delimiter), [])

    def rows() -> Iterator[bytes]:
        pending = b""
        chunk = rest
        sent = False
        try:
            while True:
                data = pending + chunk
                body = data.rstrip(b"\r\n")
                pending = data[len(body):]
                if body:
                    sent = True
                    yield body
                chunk = handle.read(CHUNK)
                if not chunk:
                    decode(b"", final=True)
                    break
                chunk = decode(chunk)
            if sent:
                yield line_end
        finally:
            handle.close()

    return Source(header=[h.strip() for h in header], delimiter=delimiter, numbered=False, rows=rows())


# ---- XLSX -------------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A spreadsheet cell as the text a CSV file would hold (whole numbers without ``.0``, dates ISO)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def sheet_xml_size(path: Path) -> int | None:
    """The uncompressed size of the first worksheet's XML (from the zip directory, nothing is
    decompressed), or None when the file is no zip or has no worksheet."""
    try:
        with zipfile.ZipFile(path) as zf:
            sizes = sorted((info.filename, info.file_size) for info in zf.infolist()
                           if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"))
    except (zipfile.BadZipFile, OSError):
        return None
    # the first sheet of the workbook is normally sheet1.xml; take the largest to be safe
    return max((size for _name, size in sizes), default=None)


def calamine_rows(path: Path) -> tuple[Iterator[list], int]:
    """The rows of the first sheet, loaded whole by calamine, and the row number before the first
    (``iter_rows`` starts at the sheet's row 1 even when its data start lower: 0)."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    sheet = book.get_sheet_by_index(0)
    return iter(sheet.iter_rows()), 0


def streamed_rows(path: Path) -> tuple[Iterator[tuple], int]:
    """The rows of the first sheet parsed as a stream (openpyxl read-only: one row at a time; only
    the shared-strings table is held whole, as every XLSX reader must). Rows missing from the
    sheet come as empty rows, so the first row is row 1."""
    import warnings

    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it ignores
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    sheet = book.worksheets[0]
    sheet.reset_dimensions()  # read every cell, whatever the sheet's (often stale) <dimension> says

    def rows() -> Iterator[tuple]:
        try:
            yield from sheet.iter_rows(values_only=True)
        except Exception:  # a file damaged past its first rows (zip or XML errors of every kind)
            raise FileProblem("unreadable_xlsx") from None
        finally:
            book.close()

    return rows(), 0


def open_xlsx(path: Path) -> Source:
    if path.stat().st_size == 0:
        raise FileProblem("empty_file")
    size = sheet_xml_size(path)
    if size is None:
        raise FileProblem("unreadable_xlsx")
    try:
        iterator, first_row = (streamed_rows if size > XLSX_STREAM_FROM else calamine_rows)(path)
        return _xlsx_source(iterator, first_row)
    except FileProblem:
        raise
    except Exception:  # calamine and openpyxl raise their own types for every kind of damaged file
        raise FileProblem("unreadable_xlsx") from None


def _xlsx_source(iterator: Iterator, first_row: int) -> Source:
    header: list[str] | None = None
    number = first_row
    for cells in iterator:
        number += 1
        texts = [cell_text(c) for c in cells]
        if any(texts):
            header = texts
            break
    if header is None:
        raise FileProblem("empty_file")
    while header and not header[-1]:
        header.pop()
    width = len(header)
    header_row = number

    def rows() -> Iterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        n, count = header_row, 0
        for cells in iterator:
            n += 1
            texts = [cell_text(c) for c in cells]
            if not any(texts):
                continue
            if len(texts) > width and any(texts[width:]):
                raise FileProblem("too_many_fields", row=n)
            texts = (texts + [""] * width)[:width]
            writer.writerow([n, *texts])
            count += 1
            if count % XLSX_BATCH == 0:
                yield buf.getvalue().encode("utf-8")
                buf.seek(0)
                buf.truncate()
        if buf.tell():
            yield buf.getvalue().encode("utf-8")

    return Source(header=header, delimiter=",", numbered=True, rows=rows())
