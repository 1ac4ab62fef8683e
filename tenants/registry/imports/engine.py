"""The set-based import: ``COPY`` into a staging table, checks in SQL (and phones/national ids on
every core in Python), then ``INSERT ... SELECT`` / ``UPDATE ... FROM`` into the registry tables.

Everything runs in the caller's tenant transaction with ``search_path`` set to the tenant's
schema for that transaction only (``SET LOCAL``); staging tables are temporary and dropped at the
end. Problems are collected in ``pg_temp.imp_err`` (row, column, value, code, params) and copied
into ``registry_import_problems``. Rows are never held as Python objects: only batches of
phones and national ids travel to Python and back.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from schemehost.platform.tenancy import quote_ident
from schemehost.tenants.registry.imports import bulk, checks
from schemehost.tenants.registry.imports.kinds import EXTRA_KINDS, Column, ExtraColumn, KindSpec, extra_value
from schemehost.tenants.registry.imports.reader import FileProblem, Source
from schemehost.tenants.registry.services._common import level_names
from schemehost.tenants.registry.services.facilities import facility_levels_allowed
from schemehost.tenants.registry.validation import (name_search_sql, national_id_module, scheme_number_sql,
                                                    scheme_pattern, tenant_country)

#: work_mem of an import's transaction (one backend, one job at a time per tenant)
WORK_MEM_MB = int(os.environ.get("SCHEMEHOST_IMPORT_WORK_MEM_MB", "128"))
#: print each statement's duration to stderr (benchmarks, diagnosis); ``explain``: run the writing
#: statements under ``EXPLAIN ANALYZE`` and print the plans of those over a second (diagnosis only: the
#: import's counts are then not recorded)
PROFILE = os.environ.get("SCHEMEHOST_IMPORT_PROFILE", "")
TRUE = ("true", "yes", "y", "t", "1", "oui", "o", "vrai")
FALSE = ("false", "no", "n", "f", "0", "non", "faux")
CODE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
TEMP_TABLES = "pg_temp.imp_raw, pg_temp.imp_err, pg_temp.imp_py, pg_temp.imp_ok, pg_temp.imp_ids, pg_temp.imp_xo"
#: rows of extra fields read back from PostgreSQL per batch for the schema check
EXTRA_BATCH = 5000


@dataclass
class Outcome:
    """What a run found and did: counts and whether the rows were written."""

    counts: dict[str, int] = field(default_factory=dict)
    written: bool = False
    #: seconds spent in each phase (staging, checks, python_checks, writing)
    timings: dict[str, float] = field(default_factory=dict)


def key_hash(expr: str) -> str:
    """SQL: a stable 32-bit hash of a key (the first 8 hex digits of its MD5, as an int): what
    ``registry_imports.key_hashes`` holds. Equal keys, equal hashes; a collision only drops a file
    that did not name the erased person (decision 0137)."""
    return f"('x' || substr(md5({expr}), 1, 8))::bit(32)::int"


def key_hash_of(key: str) -> int:
    """:func:`key_hash` in Python: the first four bytes of the key's MD5 as a signed 32-bit integer."""
    return int.from_bytes(hashlib.md5(key.encode("utf-8")).digest()[:4], "big", signed=True)


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _norm(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip().lower())


def map_header(spec: KindSpec, header: list[str], mapping: dict[str, str] | None,
               extras: list[ExtraColumn] | tuple = ()) -> tuple[dict[str, int], list[tuple]]:
    """Which file column holds each field (``{field: index}``; extra fields as ``extra.<name>``)
    and the header's problems (unknown, repeated or missing columns) as report rows."""
    mapping = {_norm(k): _norm(v) for k, v in (mapping or {}).items()}
    by_norm = {_norm(x.column): x.column for x in extras}
    names = spec.names + [x.column for x in extras]
    known = set(spec.names) | set(by_norm)
    columns: dict[str, int] = {}
    problems: list[tuple] = []
    for i, raw in enumerate(header):
        name = _norm(raw)
        if not name:
            continue  # an empty header cell (a trailing separator): the column is ignored
        target = mapping.get(name, name)
        if target not in known:
            problems.append((1, raw, raw, "unknown_column", {"columns": names}))
            continue
        target = by_norm.get(target, target)
        if target in columns:
            problems.append((1, raw, raw, "duplicate_column", {}))
        else:
            columns[target] = i
    for col in spec.columns:
        if col.required and col.name not in columns:
            problems.append((1, col.name, None, "missing_column", {}))
    return columns, problems


class Staging:
    """The staged file of one import run in the current transaction."""

    def __init__(self, session: Session, spec: KindSpec, import_id: int, *, progress=None,
                 extras: list[ExtraColumn] | tuple = ()) -> None:
        self.session, self.spec, self.import_id = session, spec, import_id
        self.present: set[str] = set()
        #: the tenant's extra-field columns for this kind, and those the file has (SQL name ``x<n>``)
        self.extras = list(extras)
        self.extras_present: list[tuple[ExtraColumn, str]] = []
        #: whether ``pg_temp.imp_xo`` (row, extra) holds the checked extra fields of the rows
        self.has_extra = False
        #: whether the staging view ``pg_temp.imp`` exists (the header was usable)
        self.view_ready = False
        self.progress = progress or (lambda done, total=None: None)
        self.total = 0
        self.python_seconds = 0.0
        #: whether national ids are checked in Python (the country has a rule) or taken as trimmed
        self.nid_in_python = False
        self.laps: dict[str, float] = {}
        #: worker processes started before the staging when the file is large (see run)
        self.pool = None
        #: the phone and national-id checks running beside the SQL checks (individuals)
        self.python: PythonChecks | None = None
        self.mark = 0.0

    # ---- plumbing ---------------------------------------------------------------------------------

    def sql(self, statement: str, params: dict[str, Any] | None = None):
        if not PROFILE:
            return self.session.execute(text(statement), params or {})
        started = time.perf_counter()
        if PROFILE == "explain" and re.match(r"\s*(INSERT|UPDATE|CREATE TEMP TABLE \w+ AS )", statement):
            plan = self.session.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement), params or {}).scalars().all()
            if time.perf_counter() - started > 1:
                print("\n".join(plan), file=sys.stderr)
            result = SimpleNamespace(rowcount=0)
        else:
            result = self.session.execute(text(statement), params or {})
        print(f"import sql {time.perf_counter() - started:8.3f} s  {' '.join(statement.split())[:110]}",
              file=sys.stderr)
        return result

    @property
    def raw(self):
        """The psycopg connection under the session (for COPY and server-side cursors)."""
        return self.session.connection().connection.driver_connection

    def begin(self) -> None:
        schema = self.session.info["tenant_schema"]
        quote_ident(schema)
        self.session.connection()  # begins the transaction (and switches to the tenant's role)
        self.sql(f"SET LOCAL search_path TO {quote_ident(schema)}")
        self.sql("SET LOCAL synchronous_commit = off")
        # sorts, hash joins and the trigram index's pending-list merges of a bulk import stay in memory
        self.sql(f"SET LOCAL work_mem = '{int(WORK_MEM_MB)}MB'")
        self.sql(f"DROP TABLE IF EXISTS {TEMP_TABLES} CASCADE")
        self.sql("CREATE TEMP TABLE imp_err (row int NOT NULL, col text, value text, code text NOT NULL, "
                 "params jsonb NOT NULL DEFAULT '{}')")

    def finish(self) -> None:
        self.sql(f"DROP TABLE IF EXISTS {TEMP_TABLES} CASCADE")
        self.sql("SET LOCAL search_path TO DEFAULT")

    def problem(self, row: int, column: str | None, value: str | None, code: str, params: dict | None = None) -> None:
        self.sql("INSERT INTO pg_temp.imp_err (row, col, value, code, params) VALUES (:r, :c, :v, :code, "
                 "CAST(:p AS jsonb))", {"r": row, "c": column, "v": value, "code": code,
                                         "p": json.dumps(params or {})})

    # ---- loading ----------------------------------------------------------------------------------

    def load(self, source: Source, mapping: dict[str, str] | None) -> bool:
        """COPY the file into ``pg_temp.imp_raw`` and define ``pg_temp.imp`` (one row per data row,
        fields trimmed, empty cells NULL). False when the header already makes the file unusable."""
        columns, problems = map_header(self.spec, source.header, mapping, self.extras)
        for row, column, value, code, params in problems:
            self.problem(row, column, value, code, params)
        if problems:
            return False
        self.present = {c for c in columns if not c.startswith("extra.")}
        self.extras_present = [(x, f"x{n}") for n, x in enumerate(self.extras) if x.column in columns]
        width = len(source.header)
        cols = ", ".join(f"c{i} text" for i in range(width))
        self.sql(f"CREATE TEMP TABLE imp_raw (rn bigserial, src int, {cols})")
        target = ", ".join(([] if not source.numbered else ["src"]) + [f"c{i}" for i in range(width)])
        delim = "E'\\t'" if source.delimiter == "\t" else _lit(source.delimiter)
        copy = f"COPY pg_temp.imp_raw ({target}) FROM STDIN (FORMAT csv, DELIMITER {delim})"
        import psycopg

        try:
            with self.raw.cursor() as cur, cur.copy(copy) as cp:
                for block in source.rows:
                    cp.write(block)
        except psycopg.errors.DataError as err:
            raise _copy_problem(err, source) from None
        self.sql("ANALYZE pg_temp.imp_raw")
        self.total = self.sql("SELECT count(*) FROM pg_temp.imp_raw").scalar_one()
        if not self.total:
            raise FileProblem("no_rows")
        fields = []
        for col in self.spec.columns:
            if col.name in columns:
                fields.append(f"nullif(btrim(c{columns[col.name]}), '') AS {col.name}")
            else:
                fields.append(f"NULL::text AS {col.name}")
        for extra, alias in self.extras_present:
            fields.append(f"nullif(btrim(c{columns[extra.column]}), '') AS {alias}")
        self.sql(f"CREATE TEMP VIEW imp AS SELECT COALESCE(src, rn + 1)::int AS row, {', '.join(fields)} "
                 "FROM pg_temp.imp_raw")
        self.view_ready = True
        return True

    # ---- checks -----------------------------------------------------------------------------------

    def check_columns(self) -> None:
        """One pass over the rows: required values, lengths, codes, dates, booleans, numbers, choices.
        Each cell's problem code is computed once; only rows with a problem are expanded to report rows."""
        checks: list[tuple[str, str, str]] = []  # column, SQL of its problem code, params
        for col in self.spec.columns:
            if col.name not in self.present:
                continue
            code = _column_check(col)
            if code is None:
                continue
            params = {"max": col.max_length} if col.max_length else {}
            if col.choices:
                params["choices"] = list(col.choices)
            checks.append((col.name, code, json.dumps(params)))
        if not checks:
            return
        codes = ", ".join(f"{code} AS k{n}" for n, (_c, code, _p) in enumerate(checks))
        expand = ", ".join(f"({_lit(name)}, {name}, k{n}, CAST({_lit(params)} AS jsonb))"
                           for n, (name, _code, params) in enumerate(checks))
        any_problem = " OR ".join(f"k{n} IS NOT NULL" for n in range(len(checks)))
        names = ", ".join(col.name for col in self.spec.columns)
        self.sql("INSERT INTO pg_temp.imp_err (row, col, value, code, params) "
                 "SELECT b.row, c.col, c.value, c.code, c.params FROM ("
                 # OFFSET 0: each trimmed cell and each code computed once per row, not once per use
                 f"SELECT * FROM (SELECT row, {names}, {codes} FROM (SELECT * FROM pg_temp.imp OFFSET 0) i "
                 f"OFFSET 0) a WHERE {any_problem}) b "
                 f"CROSS JOIN LATERAL (VALUES {expand}) AS c(col, value, code, params) "
                 "WHERE c.code IS NOT NULL")

    def check_duplicates(self, columns: tuple[str, ...], report: str) -> None:
        """Rows repeating an earlier row's key (``columns``) inside the file."""
        if not all(c in self.present for c in columns):
            return
        key = ", ".join(columns)
        not_null = " AND ".join(f"{c} IS NOT NULL" for c in columns)
        self.sql(
            "INSERT INTO pg_temp.imp_err (row, col, value, code, params) "
            f"SELECT row, {_lit(report)}, {report}, 'duplicate_in_file', jsonb_build_object('first_row', first) "
            f"FROM (SELECT row, {report}, min(row) OVER (PARTITION BY {key}) AS first FROM pg_temp.imp "
            f"WHERE {not_null}) d WHERE row <> first")

    def check_location(self, column: str, levels: list[int] | range, code: str) -> None:
        """``column`` names an existing location at one of ``levels``."""
        if column not in self.present:
            return
        allowed = ", ".join(str(n) for n in levels) or "-1"
        self.sql(
            "INSERT INTO pg_temp.imp_err (row, col, value, code, params) "
            f"SELECT i.row, {_lit(column)}, i.{column}, "
            f"CASE WHEN l.id IS NULL THEN 'unknown_location' ELSE {_lit(code)} END, '{{}}' "
            f"FROM pg_temp.imp i LEFT JOIN locations l ON l.code = i.{column} "
            f"WHERE i.{column} IS NOT NULL AND i.{column} ~ {_lit(CODE_PATTERN)} "
            f"AND (l.id IS NULL OR l.level NOT IN ({allowed}))")

    def bad_rows(self) -> int:
        return self.sql("SELECT count(DISTINCT row) FROM pg_temp.imp_err").scalar_one()

    def save_problems(self) -> int:
        """Copy the collected problems into the import's report (with each row's key, for erasure);
        returns how many."""
        if self.keyed and self.view_ready:
            return self.sql(
                "INSERT INTO registry_import_problems (import_id, row, \"column\", value, code, params, key) "
                "SELECT :id, e.row, e.col, left(e.value, 500), e.code, e.params, left(i.external_id, 100) "
                "FROM pg_temp.imp_err e LEFT JOIN pg_temp.imp i ON i.row = e.row "
                "ORDER BY e.row, e.col NULLS FIRST", {"id": self.import_id}).rowcount
        return self.sql(
            "INSERT INTO registry_import_problems (import_id, row, \"column\", value, code, params) "
            "SELECT :id, row, col, left(value, 500), code, params FROM pg_temp.imp_err "
            "ORDER BY row, col NULLS FIRST", {"id": self.import_id}).rowcount

    @property
    def keyed(self) -> bool:
        """Whether this file's rows are people's or households' records (keyed by external id)."""
        return self.spec.kind in EXTRA_KINDS and "external_id" in self.present

    def save_keys(self) -> None:
        """Keep a hash of each row's external id on the import (one array) for the kinds that hold
        people's data, so that erasing a person finds this file (decision 0137)."""
        if self.keyed and not (self.python is not None and self.python.keys):
            self.sql(f"UPDATE registry_imports SET key_hashes = (SELECT array_agg({key_hash('external_id')}) "
                     "FROM pg_temp.imp WHERE external_id IS NOT NULL) WHERE id = :id", {"id": self.import_id})

    def ok_filter(self, alias: str = "i") -> str:
        return f"NOT EXISTS (SELECT 1 FROM pg_temp.imp_err e WHERE e.row = {alias}.row)"


def _valid_date(v: str) -> str:
    """SQL: ``v`` (text) is an existing calendar date written YYYY-MM-DD (nested CASEs: SQL does
    not promise to evaluate AND from left to right, and a cast of a non-date would fail)."""
    return (f"(CASE WHEN {v} ~ '{DATE_PATTERN}' THEN CASE WHEN substr({v}, 6, 2)::int BETWEEN 1 AND 12 "
            f"AND substr({v}, 1, 4)::int >= 1 THEN CASE WHEN substr({v}, 9, 2)::int BETWEEN 1 AND 28 THEN true "
            f"ELSE substr({v}, 9, 2)::int BETWEEN 1 AND "
            f"extract(day FROM make_date(substr({v}, 1, 4)::int, substr({v}, 6, 2)::int, 1) "
            f"+ interval '1 month - 1 day')::int END ELSE false END ELSE false END)")


def _date_after(a: str, b: str) -> str:
    """SQL: both are valid dates and ``a`` is after ``b`` (``b`` may be an SQL date expression)."""
    b_ok = _valid_date(b) if not b.startswith("current_") else "true"
    b_val = f"{b}::date" if not b.startswith("current_") else b
    return f"(CASE WHEN {_valid_date(a)} AND {b_ok} THEN {a}::date > {b_val} ELSE false END)"


def _choices(col: Column) -> list[str]:
    return [str(c) for c in col.choices] + list(col.synonyms)


def _column_check(col: Column) -> str | None:
    """SQL: the problem code of one cell of ``col`` (NULL when it is fine)."""
    v = col.name
    # an empty cell is a problem only in a required column (the checks below must never see NULL:
    # the date check's CASE would read it as a bad date)
    whens = [f"WHEN {v} IS NULL THEN {_lit('required') if col.required else 'NULL'}"]
    if col.max_length and col.type in ("text", "code"):
        whens.append(f"WHEN length({v}) > {col.max_length} THEN 'too_long'")
    if col.type == "code":
        whens.append(f"WHEN {v} !~ {_lit(CODE_PATTERN)} THEN 'invalid_code'")
    elif col.type == "date":
        whens.append(f"WHEN NOT {_valid_date(v)} THEN 'invalid_date'")
        if col.name == "birth_date":  # CASE branches run in order: the cast only meets valid dates
            whens.append(f"WHEN {v}::date > current_date THEN 'future_date'")
    elif col.type == "bool":
        whens.append(f"WHEN lower({v}) NOT IN ({', '.join(map(_lit, TRUE + FALSE))}) THEN 'invalid_boolean'")
    elif col.type == "int":
        digits = 15 if col.name == "price" else 9
        whens.append(f"WHEN {v} !~ '^[0-9]{{1,{digits}}}$' THEN 'invalid_number'")
    elif col.type == "enum":
        whens.append(f"WHEN lower({v}) NOT IN ({', '.join(map(_lit, _choices(col)))}) THEN 'invalid_choice'")
    if len(whens) == 1 and not col.required:
        return None
    return f"CASE {' '.join(whens)} END"


def value_sql(col: Column, expr: str | None = None) -> str:
    """SQL: the checked cell of ``col`` converted to its column's type."""
    v = expr or col.name
    if col.type == "date":
        return f"({v})::date"
    if col.type == "bool":
        return f"(lower({v}) IN ({', '.join(map(_lit, TRUE))}))"
    if col.type == "int":
        return f"({v})::bigint"
    if col.type == "enum":
        cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(val)}" for k, val in col.synonyms.items())
        return f"(CASE lower({v}) {cases} ELSE lower({v}) END)" if cases else f"lower({v})"
    return v


def _copy_problem(err, source: Source) -> FileProblem:
    """A row PostgreSQL's CSV reader refused, as a report row (its spreadsheet row number)."""
    context = getattr(err.diag, "context", None) or ""
    primary = getattr(err.diag, "message_primary", None) or ""
    match = re.search(r"line (\d+)", context)
    row = int(match.group(1)) + (0 if source.numbered else 1) if match else 0
    if "extra data" in primary:
        code = "too_many_fields"
    elif "missing data" in primary:
        code = "too_few_fields"
    elif "unterminated" in primary:
        code = "unterminated_quote"
    else:
        code = "unreadable_row"
    return FileProblem(code, row=row, expected=len(source.header))


# ---- the kinds ----------------------------------------------------------------------------------------


def run(session: Session, spec: KindSpec, import_id: int, source: Source, *, mapping: dict[str, str] | None,
        dry_run: bool, valid_only: bool, progress=None, expected_rows: int = 0,
        extras: list[ExtraColumn] | tuple = ()) -> Outcome:
    """Stage, check and (unless ``dry_run``, or problems in all-or-nothing mode) write the rows.

    Raises :class:`FileProblem` when the file cannot be read; the caller rolls back and reports it."""
    st = Staging(session, spec, import_id, progress=progress, extras=extras)
    st.begin()
    outcome = Outcome()
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        outcome.timings[name] = round(now - clock[0], 3)
        clock[0] = now

    if spec.kind == "individuals" and expected_rows >= checks.PARALLEL_FROM and checks.workers() > 1:
        st.pool = checks.start_pool()
    try:
        loaded = st.load(source, mapping)
        lap("staging")
        return _run(st, outcome, lap, loaded, dry_run=dry_run, valid_only=valid_only)
    finally:
        if st.pool is not None:
            st.pool.shutdown(cancel_futures=True)
        if st.python is not None:
            st.python.abandon()


def _run(st: Staging, outcome: Outcome, lap, loaded: bool, *, dry_run: bool, valid_only: bool) -> Outcome:
    spec = st.spec
    if not loaded:
        st.save_problems()
        outcome.counts = {"rows": 0, "valid": 0, "invalid": 0}
        st.finish()
        return outcome
    st.progress(0, st.total)
    if spec.kind == "individuals":
        st.python = PythonChecks(st).start()  # runs while the SQL checks below do
    st.save_keys()
    st.check_columns()
    CHECKS[spec.kind](st)
    check_extra(st)
    invalid = st.bad_rows()
    lap("checks")
    outcome.timings["python_checks"] = st.python_seconds
    outcome.counts = {"rows": st.total, "valid": st.total - invalid, "invalid": invalid}
    st.save_problems()
    if dry_run or (invalid and not valid_only):
        st.finish()
        return outcome
    outcome.counts.update(APPLY[spec.kind](st))
    lap("writing")
    outcome.timings.update(st.laps)
    outcome.written = True
    outcome.counts["unchanged"] = outcome.counts["valid"] - outcome.counts.get("created", 0) \
        - outcome.counts.get("updated", 0)
    st.progress(st.total, st.total)
    st.finish()
    return outcome


def _lowest(session: Session) -> int:
    return len(level_names(session)) - 1


# locations -----------------------------------------------------------------------------------------


def _check_locations(st: Staging) -> None:
    names = level_names(st.session)
    st.check_duplicates(("code",), "code")
    # depth of every row: from rows under an existing location (or at the top) down through the file
    st.sql("""
        CREATE TEMP TABLE imp_ok AS
        WITH RECURSIVE good AS (
            SELECT i.* FROM pg_temp.imp i WHERE NOT EXISTS (SELECT 1 FROM pg_temp.imp_err e WHERE e.row = i.row)
        ), t AS (
            SELECT g.row, g.code, COALESCE(p.level + 1, 0) AS depth, 0 AS steps
              FROM good g LEFT JOIN locations p ON p.code = g.parent
             WHERE g.parent IS NULL OR p.id IS NOT NULL
            UNION ALL
            SELECT g.row, g.code, t.depth + 1, t.steps + 1
              FROM good g JOIN t ON g.parent = t.code
             WHERE NOT EXISTS (SELECT 1 FROM locations x WHERE x.code = g.parent) AND t.steps < 16
        )
        SELECT DISTINCT ON (row) row, code, depth FROM t ORDER BY row, depth
    """)
    st.sql("""
        INSERT INTO pg_temp.imp_err (row, col, value, code, params)
        SELECT i.row, 'parent', i.parent, 'unknown_parent', '{}' FROM pg_temp.imp i
         WHERE i.parent IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_temp.imp_ok o WHERE o.row = i.row)
           AND NOT EXISTS (SELECT 1 FROM pg_temp.imp_err e WHERE e.row = i.row)
    """)
    st.sql(f"""
        INSERT INTO pg_temp.imp_err (row, col, value, code, params)
        SELECT i.row, 'parent', i.parent, 'too_deep', jsonb_build_object('levels', {len(names)})
          FROM pg_temp.imp i JOIN pg_temp.imp_ok o ON o.row = i.row WHERE o.depth >= {len(names)}
    """)
    # an existing location keeps its place: importing never moves one
    st.sql("""
        INSERT INTO pg_temp.imp_err (row, col, value, code, params)
        SELECT i.row, 'parent', i.parent, 'cannot_move', jsonb_build_object('current', p.code)
          FROM pg_temp.imp i JOIN locations l ON l.code = i.code LEFT JOIN locations p ON p.id = l.parent_id
         WHERE p.code IS DISTINCT FROM i.parent AND %s
    """ % ("true" if "parent" in st.present else "false"))
    if "level" in st.present:
        cases = " ".join(f"WHEN {n} THEN {_lit(name)}" for n, name in enumerate(names))
        st.sql(f"""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT i.row, 'level', i.level, 'wrong_level', jsonb_build_object('expected', CASE o.depth {cases} END)
              FROM pg_temp.imp i JOIN pg_temp.imp_ok o ON o.row = i.row
             WHERE i.level IS NOT NULL AND o.depth < {len(names)}
               AND lower(i.level) IS DISTINCT FROM lower(CASE o.depth {cases} END)
               AND i.level IS DISTINCT FROM o.depth::text
        """)


def _apply_locations(st: Staging) -> dict[str, int]:
    spec = st.spec
    pop = [c for c in ("male_population", "female_population", "other_population", "families") if c in st.present]
    sets = ", ".join(["name = v.name"] + [f"{c} = v.{c}" for c in pop] + ["updated_at = now()"])
    vals = ", ".join(["i.name"] + [f"{value_sql(spec.column(c), 'i.' + c)} AS {c}" for c in pop])
    distinct = " OR ".join(["l.name IS DISTINCT FROM v.name"] + [f"l.{c} IS DISTINCT FROM v.{c}" for c in pop])
    updated = st.sql(f"""
        UPDATE locations l SET {sets}
          FROM (SELECT i.code, {vals} FROM pg_temp.imp i WHERE {st.ok_filter()}) v
         WHERE l.code = v.code AND ({distinct})
    """).rowcount
    created = 0
    max_depth = st.sql("SELECT coalesce(max(depth), -1) FROM pg_temp.imp_ok").scalar_one()
    pop_cols = "".join(f", {c}" for c in pop)
    pop_vals = "".join(f", {value_sql(spec.column(c), 'i.' + c)} AS {c}" for c in pop)
    for depth in range(max_depth + 1):  # parents before children
        created += st.sql(f"""
            INSERT INTO locations (id, code, name, level, parent_id, path{pop_cols})
            SELECT n.id, n.code, n.name, {depth}, n.parent_id, n.parent_path || n.id{pop_cols}
              FROM (SELECT nextval('locations_id_seq')::int AS id, i.code, i.name, p.id AS parent_id,
                           COALESCE(p.path, ARRAY[]::int[]) AS parent_path{pop_vals}
                      FROM pg_temp.imp i
                      JOIN pg_temp.imp_ok o ON o.row = i.row AND o.depth = {depth}
                      LEFT JOIN locations p ON p.code = i.parent
                     WHERE {st.ok_filter()} AND NOT EXISTS (SELECT 1 FROM locations x WHERE x.code = i.code)
                     ORDER BY i.row) n
        """).rowcount
    return {"created": created, "updated": updated}


# facilities ----------------------------------------------------------------------------------------


def _check_facilities(st: Staging) -> None:
    st.check_duplicates(("code",), "code")
    st.check_location("location", facility_levels_allowed(level_names(st.session)), "wrong_facility_level")
    if {"contract_start", "contract_end"} <= st.present:
        st.sql(f"""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT row, 'contract_end', contract_end, 'end_before_start', '{{}}' FROM pg_temp.imp
             WHERE {_date_after('contract_start', 'contract_end')}
        """)


def _upsert(st: Staging, table: str, key: str, fields: dict[str, str], *, insert_only: dict[str, str] | None = None,
            join: str = "", source_filter: str = "") -> dict[str, int]:
    """Update the existing rows (matched on ``key``) whose values differ, insert the others.
    ``fields``: column -> SQL over ``i`` (the staged row) and whatever ``join`` brings."""
    cols = list(fields)
    select_list = ", ".join(f"{expr} AS {col}" for col, expr in fields.items())
    src = f"SELECT i.row, {select_list} FROM pg_temp.imp i {join} WHERE {st.ok_filter()} {source_filter}"
    sets = ", ".join(f"{c} = v.{c}" for c in cols if c != key)
    distinct = " OR ".join(f"t.{c} IS DISTINCT FROM v.{c}" for c in cols if c != key)
    updated = st.sql(f"UPDATE {table} t SET {sets}, updated_at = now() FROM ({src}) v "
                     f"WHERE t.{key} = v.{key} AND ({distinct})").rowcount
    extra = insert_only or {}
    all_cols = cols + list(extra)
    created = st.sql(
        f"INSERT INTO {table} ({', '.join(all_cols)}) SELECT {', '.join(['v.' + c for c in cols] + list(extra.values()))} "
        f"FROM ({src}) v WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE x.{key} = v.{key}) ORDER BY v.row"
    ).rowcount
    return {"created": created, "updated": updated}


def _field(st: Staging, name: str, default: str | None = None, expr: str | None = None) -> str | None:
    """SQL for a field in the upsert: the converted cell, or ``default`` when the column is absent
    (None: leave the column out, so updates keep what is stored)."""
    if name not in st.present:
        return default
    return expr or value_sql(st.spec.column(name), "i." + name)


def _fields(st: Staging, items: dict[str, tuple[str | None, str | None]]) -> dict[str, str]:
    out = {}
    for name, (default, expr) in items.items():
        sql = _field(st, name, default, expr)
        if sql is not None:
            out[name] = sql
    return out


def _apply_facilities(st: Staging) -> dict[str, int]:
    fields = _fields(st, {
        "code": (None, "i.code"), "name": (None, "i.name"), "level": (None, None), "care_type": (None, None),
        "location_id": (None, "l.id"), "contract_start": (None, None), "contract_end": (None, None),
        "status": (None, "COALESCE(lower(i.status), 'active')"),
    })
    fields["location_id"] = "l.id"
    return _upsert(st, "health_facilities", "code", fields, join="JOIN locations l ON l.code = i.location")


# households ----------------------------------------------------------------------------------------


def _check_households(st: Staging) -> None:
    st.check_duplicates(("external_id",), "external_id")
    st.check_location("village", [_lowest(st.session)], "not_a_village")


def _apply_households(st: Staging) -> dict[str, int]:
    fields = _fields(st, {"external_id": (None, "i.external_id"), "address": (None, None),
                          "status": (None, "COALESCE(lower(i.status), 'active')")})
    fields["location_id"] = "l.id"
    join = "JOIN locations l ON l.code = i.village"
    if st.has_extra:
        fields["extra"] = "x.extra"
        join += " JOIN pg_temp.imp_xo x ON x.row = i.row"
    return _upsert(st, "households", "external_id", fields, join=join)


# prices --------------------------------------------------------------------------------------------


def _check_prices(st: Staging) -> None:
    st.check_duplicates(("price_list", "entry"), "entry")
    for column, table, code in (("price_list", "price_lists", "unknown_price_list"),
                                ("entry", "catalogue_entries", "unknown_entry")):
        st.sql(f"""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT i.row, {_lit(column)}, i.{column}, {_lit(code)}, '{{}}' FROM pg_temp.imp i
             WHERE i.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.code = i.{column})
        """)


def _apply_prices(st: Staging) -> dict[str, int]:
    src = (f"SELECT i.row, p.id AS price_list_id, c.id AS entry_id, i.price::bigint AS price FROM pg_temp.imp i "
           f"JOIN price_lists p ON p.code = i.price_list JOIN catalogue_entries c ON c.code = i.entry "
           f"WHERE {st.ok_filter()}")
    updated = st.sql(f"UPDATE price_list_lines t SET price = v.price FROM ({src}) v WHERE "
                     "t.price_list_id = v.price_list_id AND t.entry_id = v.entry_id AND t.price <> v.price").rowcount
    created = st.sql(f"INSERT INTO price_list_lines (price_list_id, entry_id, price) SELECT v.price_list_id, "
                     f"v.entry_id, v.price FROM ({src}) v WHERE NOT EXISTS (SELECT 1 FROM price_list_lines t "
                     "WHERE t.price_list_id = v.price_list_id AND t.entry_id = v.entry_id) ORDER BY v.row").rowcount
    return {"created": created, "updated": updated}


# extra fields (individuals, households) ------------------------------------------------------------


def check_extra(st: Staging) -> None:
    """Convert the ``extra.<name>`` cells to typed JSON values and check each row's extra fields
    (what is stored, minus emptied cells, plus the file's values) against the tenant's JSON Schema.

    The cells are read back from PostgreSQL in batches (server-side cursor); each distinct object
    is validated once (a bounded cache: files repeat the same few values). The checked objects go
    to ``pg_temp.imp_xo`` (row, extra) for the writes; problems to the report, one per field, with
    the column ``extra.<name>`` and the cell's value. For a known record only the file's columns
    are reported (a stored value the file does not touch is not the file's problem)."""
    from functools import lru_cache

    from schemehost.tenants.registry.validation import extra_schema, extra_validator, schema_problems

    kind = EXTRA_KINDS.get(st.spec.kind)
    schema = extra_schema(st.session, kind) if kind else None
    if not schema or not (st.extras_present or schema.get("required")):
        return
    validator = extra_validator(schema)
    if validator is None:
        st.problem(0, None, None, "extra_schema_invalid")
        return
    table = "individuals" if st.spec.kind == "individuals" else "households"
    cells = "jsonb_build_array(" + ", ".join(alias for _x, alias in st.extras_present) + ")" \
        if st.extras_present else "'[]'::jsonb"
    st.sql("CREATE TEMP TABLE imp_xo (row int PRIMARY KEY, extra jsonb NOT NULL)")
    st.has_extra = bool(st.extras_present)
    columns = [x for x, _alias in st.extras_present]
    in_file = {x.column for x in columns}

    @lru_cache(maxsize=4096)
    def problems_of(key: str) -> tuple:
        obj = json.loads(key)
        found = []
        for error in validator.iter_errors(obj):
            where = ".".join(["extra", *(str(p) for p in error.absolute_path)])
            for path, keyword, expected, fallback in schema_problems(error, where):
                column = ".".join(path.split(".")[:2])
                found.append((column, keyword, expected, fallback))
        return tuple(found)

    raw = st.raw
    reader = raw.cursor(name="imp_extra_checks")
    reader.itersize = EXTRA_BATCH
    reader.execute(f"SELECT i.row, {cells}, t.extra FROM pg_temp.imp i "
                   f"LEFT JOIN {table} t ON t.external_id = i.external_id ORDER BY i.row")
    try:
        with raw.cursor() as cur:
            while True:
                rows = reader.fetchmany(EXTRA_BATCH)
                if not rows:
                    break
                out, bad = [], []
                for row, values, stored in rows:
                    obj = dict(stored) if isinstance(stored, dict) else {}
                    texts = {}
                    for col, cell in zip(columns, values):
                        if cell is None:
                            obj.pop(col.name, None)
                        else:
                            obj[col.name] = extra_value(cell, col)
                            texts[col.column] = cell
                    key = json.dumps(obj, sort_keys=True, ensure_ascii=False)
                    for column, keyword, expected, fallback in problems_of(key):
                        if stored is None or column in in_file:
                            bad.append((row, column, texts.get(column), "extra_invalid",
                                        json.dumps({"keyword": keyword, "expected": expected,
                                                    "fallback": fallback}, default=str)))
                    if st.has_extra:
                        out.append((row, key))
                if out:
                    with cur.copy("COPY pg_temp.imp_xo (row, extra) FROM STDIN") as cp:
                        for item in out:
                            cp.write_row(item)
                if bad:
                    with cur.copy("COPY pg_temp.imp_err (row, col, value, code, params) FROM STDIN") as cp:
                        for item in bad:
                            cp.write_row(item)
    finally:
        reader.close()
    st.sql("ANALYZE pg_temp.imp_xo")


# individuals ---------------------------------------------------------------------------------------


class PythonChecks:
    """Phones to E.164 and national ids to their compact form, on every core, **while the SQL checks
    run** (decision 0139): :meth:`start` reads the cells to check into a temporary file and hands
    them to a thread that feeds the worker processes (and hashes the external ids); the connection goes on with the SQL checks;
    :meth:`finish` waits for the thread and copies the results into ``pg_temp.imp_py`` (refusals into
    ``pg_temp.imp_err``). Batches travel through temporary files (``marshal``), so memory stays
    bounded whatever the file's size."""

    def __init__(self, st: Staging) -> None:
        self.st = st
        #: whether the thread also hashes the rows' external ids for ``registry_imports.key_hashes``
        #: (instead of :meth:`Staging.save_keys` in SQL, where MD5 costs ~1.5 s a million rows)
        self.keys = st.keyed
        self.hashes = array("i")
        self.hashes_text: str | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.cells = self.results = None
        self.seconds = 0.0

    def start(self) -> "PythonChecks":
        st = self.st
        country = tenant_country(st.session)
        # without a rule for the country a national id is only trimmed (done by the staging view)
        st.nid_in_python = national_id_module(country) is not None
        wanted = [c for c in ("phone", "national_id") if c in st.present and (c == "phone" or st.nid_in_python)]
        if not wanted and not self.keys:
            return self
        started = time.perf_counter()
        phone = "phone" if "phone" in wanted else "NULL"
        nid = "national_id" if "national_id" in wanted else "NULL"
        key = "external_id" if self.keys else "NULL"
        where = "true" if self.keys else " OR ".join(f"{c} IS NOT NULL" for c in wanted)
        self.cells, self.results = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        with st.raw.cursor(name="imp_python_checks") as reader:
            reader.itersize = checks.BATCH
            reader.execute(f"SELECT row, {phone}, {nid}, {key} FROM pg_temp.imp WHERE {where}")
            while rows := reader.fetchmany(checks.BATCH):
                marshal.dump(rows, self.cells)
        self.cells.seek(0)
        self.thread = threading.Thread(target=self._work, args=(country, st.total), name="import-python-checks",
                                       daemon=True)
        self.thread.start()
        self.seconds = time.perf_counter() - started
        return self

    def _work(self, country: str | None, count: int) -> None:
        def batches():
            while True:
                try:
                    chunk = marshal.load(self.cells)
                except EOFError:
                    return
                if self.keys:
                    self.hashes.extend(key_hash_of(r[3]) for r in chunk if r[3] is not None)
                rows = [r[:3] for r in chunk if r[1] is not None or r[2] is not None]
                if rows:
                    yield rows

        try:
            for rows, problems in checks.run_checks(country, batches(), total=count, pool=self.st.pool):
                marshal.dump((rows, problems), self.results)
            # the array's text form, made here rather than by the driver in the import's thread
            self.hashes_text = "{" + ",".join(map(str, self.hashes)) + "}" if self.hashes else None
            self.hashes = array("i")
        except BaseException as err:  # re-raised by finish, in the import's thread
            self.error = err

    def finish(self) -> None:
        st = self.st
        st.sql("CREATE TEMP TABLE imp_py (row int PRIMARY KEY, phone text, national_id text)")
        if self.thread is None:
            return
        started = time.perf_counter()
        self.thread.join()
        self.close()
        if self.error is not None:
            raise self.error
        self.results.seek(0)
        with st.raw.cursor() as cur:
            while True:
                try:
                    rows, problems = marshal.load(self.results)
                except EOFError:
                    break
                with cur.copy("COPY pg_temp.imp_py (row, phone, national_id) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
                if problems:
                    with cur.copy("COPY pg_temp.imp_err (row, col, value, code, params) FROM STDIN") as cp:
                        for row, column, value, code, reason in problems:
                            cp.write_row((row, column, value, code, json.dumps({"reason": reason})))
        self.results.close()
        if self.keys:
            st.sql("UPDATE registry_imports SET key_hashes = CAST(:hashes AS int[]) WHERE id = :id",
                   {"hashes": self.hashes_text, "id": st.import_id})
            self.hashes_text = None
        st.sql("ANALYZE pg_temp.imp_py")
        # the wait for the workers and the copy back (their work overlapped the SQL checks)
        st.python_seconds = round(self.seconds + time.perf_counter() - started, 3)

    def close(self) -> None:
        if self.cells is not None:
            self.cells.close()

    def abandon(self) -> None:
        """The import stopped before :meth:`finish`: let the thread end (the pool is shut down)."""
        if self.thread is not None:
            self.thread.join(timeout=30)
        self.close()
        if self.results is not None:
            self.results.close()


def _check_individuals(st: Staging) -> None:
    lowest = _lowest(st.session)
    st.check_duplicates(("external_id",), "external_id")
    # an erased person keeps its external id so that a re-import finds it: it must then be refused,
    # never filled in again with the personal data that was erased
    st.sql("""
        INSERT INTO pg_temp.imp_err (row, col, value, code, params)
        SELECT i.row, 'external_id', i.external_id, 'erased_record', jsonb_build_object('id', t.id)
          FROM pg_temp.imp i JOIN individuals t ON t.external_id = i.external_id
         WHERE t.status = 'erased'
    """)
    st.check_location("village", [lowest], "not_a_village")
    if {"household_external_id", "relationship"} <= st.present:
        st.sql("""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT row, 'relationship', relationship, 'second_head', jsonb_build_object('first_row', first)
              FROM (SELECT row, relationship, min(row) OVER (PARTITION BY household_external_id) AS first
                      FROM pg_temp.imp WHERE lower(relationship) = 'head' AND household_external_id IS NOT NULL) d
             WHERE row <> first
        """)
        st.sql("""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT i.row, 'relationship', i.relationship, 'household_has_head', jsonb_build_object('head', o.external_id)
              FROM pg_temp.imp i JOIN households h ON h.external_id = i.household_external_id
              JOIN individuals o ON o.id = h.head_id
             WHERE lower(i.relationship) = 'head' AND o.external_id IS DISTINCT FROM i.external_id
        """)
    if "scheme_number" in st.present:
        st.check_duplicates(("scheme_number",), "scheme_number")
        st.sql("""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT i.row, 'scheme_number', i.scheme_number, 'scheme_number_taken',
                   jsonb_build_object('id', t.id, 'external_id', t.external_id)
              FROM pg_temp.imp i JOIN individuals t ON t.scheme_number = i.scheme_number
             WHERE t.external_id IS DISTINCT FROM i.external_id
        """)
    st.python.finish()
    if "national_id" in st.present:
        # exact duplicates: one national id, one person (inside the file, and against the registry)
        source = "pg_temp.imp_py" if st.nid_in_python else "pg_temp.imp"
        st.sql(f"""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT d.row, 'national_id', i.national_id, 'duplicate_national_id', jsonb_build_object('first_row', first)
              FROM (SELECT row, min(row) OVER (PARTITION BY national_id) AS first
                      FROM {source} WHERE national_id IS NOT NULL) d JOIN pg_temp.imp i ON i.row = d.row
             WHERE d.row <> first
        """)
        st.sql(f"""
            INSERT INTO pg_temp.imp_err (row, col, value, code, params)
            SELECT i.row, 'national_id', i.national_id, 'national_id_taken',
                   jsonb_build_object('id', t.id, 'scheme_number', t.scheme_number, 'external_id', t.external_id)
              FROM {source} p JOIN pg_temp.imp i ON i.row = p.row
              JOIN individuals t ON t.national_id = p.national_id
             WHERE t.external_id IS DISTINCT FROM i.external_id
        """)


def _apply_individuals(st: Staging) -> dict[str, int]:
    spec = st.spec
    present = st.present
    has_hh = "household_external_id" in present
    # the checked rows, converted once (every later step reads this table)
    cols = {
        "external_id": "i.external_id",
        "hh": "i.household_external_id" if has_hh else "NULL::text",
        "given_name": "i.given_name", "family_name": "i.family_name", "other_names": "i.other_names",
        "sex": value_sql(spec.column("sex"), "i.sex"),
        "birth_date": "i.birth_date::date",
        "location_id": "l.id",
        "phone": "p.phone", "national_id": "p.national_id" if st.nid_in_python else "i.national_id",
        "relationship": value_sql(spec.column("relationship"), "i.relationship"),
        "birth_date_estimated": value_sql(spec.column("birth_date_estimated"), "i.birth_date_estimated"),
        "status": "lower(i.status)", "scheme_number": "i.scheme_number",
        "extra": "x.extra" if st.has_extra else "NULL::jsonb",
    }
    extra_join = "LEFT JOIN pg_temp.imp_xo x ON x.row = i.row " if st.has_extra else ""
    st.mark = time.perf_counter()
    st.sql("DROP TABLE IF EXISTS pg_temp.imp_ok")
    # each row's id: the stored person's, or a new one from the identity sequence (drawn only for new
    # people: COALESCE stops at the first value), so later steps never look people up again
    # (drawn in file order: the sorted subquery's rows reach nextval in that order)
    # a new person without a scheme number draws the next number of the scheme's sequence here too, once
    # (the pattern may use the value twice) and in file order
    st.sql(f"CREATE TEMP TABLE imp_ok AS SELECT s.*, COALESCE(s.known_id, nextval('individuals_id_seq')) AS id, "
           f"CASE WHEN s.known_id IS NULL AND s.scheme_number IS NULL THEN nextval('scheme_number_seq') END AS number_seq "
           f"FROM (SELECT i.row, {', '.join(f'{e} AS {c}' for c, e in cols.items())}, t.id AS known_id "
           f"FROM pg_temp.imp i JOIN locations l ON l.code = i.village LEFT JOIN pg_temp.imp_py p ON p.row = i.row {extra_join}"
           f"LEFT JOIN individuals t ON t.external_id = i.external_id WHERE {st.ok_filter()} ORDER BY i.row) s")
    st.sql("ANALYZE pg_temp.imp_ok")
    # a large first import: indexes and foreign keys are built after the rows (decision 0138)
    deferred = []
    if bulk.is_empty(st.session, "individuals") and st.sql(
            "SELECT count(*) FROM pg_temp.imp_ok WHERE known_id IS NULL").scalar_one() >= bulk.BULK_FROM:
        if has_hh and bulk.is_empty(st.session, "households"):
            deferred.append(bulk.drop_for_bulk(st.session, "households"))
        deferred.append(bulk.drop_for_bulk(st.session, "individuals"))
    households = 0
    head_fk_deferred = has_hh and not any(d.table == "households" for d in deferred)
    if has_hh:
        # households named by the file and not known yet: in the head's village (else the first member's),
        # with their head's id already (drawn while staging; the foreign key is checked at commit, when
        # the people exist: no second pass over the households, decision 0126)
        if head_fk_deferred:
            st.sql("SET CONSTRAINTS fk_households_head_id_individuals DEFERRED")
        households = st.sql("""
            INSERT INTO households (external_id, location_id, head_id)
            SELECT DISTINCT ON (o.hh) o.hh, o.location_id, CASE WHEN o.relationship = 'head' THEN o.id END
              FROM pg_temp.imp_ok o
             WHERE o.hh IS NOT NULL AND NOT EXISTS (SELECT 1 FROM households h WHERE h.external_id = o.hh)
             ORDER BY o.hh, (o.relationship = 'head') DESC NULLS LAST, o.row
        """).rowcount
        if not head_fk_deferred:
            bulk.analyze(st.session, "households", st.sql)  # the people's INSERT joins them
    st.progress(st.total // 2, st.total)
    st.laps["households"] = round(time.perf_counter() - st.mark, 3)
    st.mark = time.perf_counter()
    name_search = name_search_sql("v.given_name", "v.family_name", "v.other_names")
    # what the file sets on an existing person: every column it has (absent ones stay as stored)
    keep = {"household_id": has_hh, "relationship": "relationship" in present,
            "other_names": "other_names" in present, "phone": "phone" in present,
            "national_id": "national_id" in present,
            "birth_date_estimated": "birth_date_estimated" in present, "status": "status" in present,
            "extra": st.has_extra}
    values = {"given_name": "v.given_name", "family_name": "v.family_name", "sex": "v.sex",
              "birth_date": "v.birth_date", "location_id": "v.location_id", "household_id": "h.id",
              "relationship": "v.relationship", "other_names": "v.other_names", "phone": "v.phone",
              "national_id": "v.national_id", "birth_date_estimated": "COALESCE(v.birth_date_estimated, false)",
              "status": "COALESCE(v.status, 'active')", "extra": "COALESCE(v.extra, '{}'::jsonb)"}
    updating = {c: e for c, e in values.items() if keep.get(c, True)}
    set_sql = ", ".join(f"{c} = {e}" for c, e in updating.items())
    differs = " OR ".join(f"t.{c} IS DISTINCT FROM {e}" for c, e in updating.items())
    updated = st.sql(f"""
        UPDATE individuals t SET {set_sql}, name_search = {name_search}, updated_at = now()
          FROM pg_temp.imp_ok v LEFT JOIN households h ON h.external_id = v.hh
         WHERE t.id = v.known_id AND ({differs})
    """).rowcount
    number = scheme_number_sql(scheme_pattern(st.session), "v.number_seq")
    created = st.sql(f"""
        INSERT INTO individuals (id, external_id, household_id, relationship, given_name, family_name, other_names,
                                 name_search, sex, birth_date, birth_date_estimated, national_id, scheme_number,
                                 phone, location_id, status, extra)
        SELECT v.id, v.external_id, h.id, v.relationship, v.given_name, v.family_name, v.other_names, {name_search},
               v.sex, v.birth_date, COALESCE(v.birth_date_estimated, false), v.national_id,
               COALESCE(v.scheme_number, {number}), v.phone, v.location_id, COALESCE(v.status, 'active'),
               COALESCE(v.extra, '{{}}'::jsonb)
          FROM pg_temp.imp_ok v LEFT JOIN households h ON h.external_id = v.hh
         WHERE v.known_id IS NULL
    """).rowcount
    if head_fk_deferred:
        st.sql("SET CONSTRAINTS fk_households_head_id_individuals IMMEDIATE")  # the heads exist now
    for table in deferred:
        bulk.rebuild(st.session, table, st.sql)
        st.laps[f"indexes_{table.table}"] = table.seconds
    if head_fk_deferred and "relationship" in present:
        # households known before this file whose head changes (new ones got theirs when created;
        # on the bulk path every household is new)
        st.sql("""
            UPDATE households h SET head_id = v.id, updated_at = now()
              FROM pg_temp.imp_ok v
             WHERE v.relationship = 'head' AND h.external_id = v.hh AND h.head_id IS DISTINCT FROM v.id
        """)
    st.laps["people"] = round(time.perf_counter() - st.mark, 3)
    st.mark = time.perf_counter()
    _flag_duplicates(st, everyone=any(d.table == "individuals" for d in deferred))
    st.laps["duplicate_flags"] = round(time.perf_counter() - st.mark, 3)
    return {"created": created, "updated": updated, "households_created": households}


def _flag_duplicates(st: Staging, *, everyone: bool = False) -> None:
    """Flag probable duplicates of the imported people, set-wise: the rules of
    ``services.duplicates`` (similar name, same birth date, same village or phone; threshold from
    the tenant's settings; a pair once, never one already flagged), found with hash joins on
    (birth date, village) and (birth date, phone) against a temporary table of the imported ids.

    ``everyone``: the registry was empty before this file (the bulk path), so the registry's table
    itself is the set of imported people.

    ``flag_probable_duplicates(session, ids)`` takes the ids as an array compared with
    ``= ANY(...)`` on every candidate pair, which grows with the square of the batch; at import
    sizes this statement does the same work in one pass."""
    from schemehost.tenants.registry.validation import registry_settings

    if registry_settings(st.session).get("deduplication", "flag") != "flag":
        return  # the tenant turned probable-duplicate flags off
    try:
        from schemehost.tenants.registry.services.duplicates import threshold
    except ImportError:
        return  # the deduplication service is not installed in this build
    if everyone:
        # every person of the registry came with this file (the bulk path): pairs among them, each once
        imported, pair, once = "individuals", "c.id < n.id", "c.status = 'active' AND n.status = 'active'"
    else:
        st.sql("""
            CREATE TEMP TABLE imp_ids AS
            SELECT t.id, t.birth_date, t.location_id, t.phone, t.name_search
              FROM pg_temp.imp_ok v JOIN individuals t ON t.id = v.id WHERE t.status = 'active'
        """)
        st.sql("ALTER TABLE pg_temp.imp_ids ADD PRIMARY KEY (id)")
        st.sql("ANALYZE pg_temp.imp_ids")
        imported, pair = "pg_temp.imp_ids", "c.id <> n.id"
        once = ("c.status = 'active' AND NOT (c.id > n.id AND EXISTS (SELECT 1 FROM pg_temp.imp_ids x "
                "WHERE x.id = c.id))")
    # the registry table has no statistics yet after a large insert (only its owner may ANALYZE it):
    # keep the planner on hash joins for this statement
    st.sql("SET LOCAL enable_nestloop = off")
    st.sql(f"""
        INSERT INTO duplicate_flags (individual_id, candidate_id, reasons, score, status)
        SELECT n.id, c.id,
               jsonb_build_object('name_similarity', round(s.sim::numeric, 2),
                                  'same', to_jsonb(array_remove(ARRAY['birth_date',
                                       CASE WHEN c.location_id = n.location_id THEN 'village' END,
                                       CASE WHEN c.phone = n.phone THEN 'phone' END], NULL))),
               s.sim, 'open'
          FROM (SELECT n.id AS nid, c.id AS cid FROM {imported} n
                  JOIN individuals c ON c.birth_date = n.birth_date AND c.location_id = n.location_id AND {pair}
                UNION
                SELECT n.id, c.id FROM {imported} n
                  JOIN individuals c ON c.birth_date = n.birth_date AND c.phone = n.phone AND {pair}) p
          JOIN {imported} n ON n.id = p.nid
          JOIN individuals c ON c.id = p.cid
          CROSS JOIN LATERAL (SELECT shared.similarity(c.name_search, n.name_search) AS sim) s
         WHERE {once} AND s.sim >= :threshold
           AND NOT EXISTS (SELECT 1 FROM duplicate_flags f WHERE f.individual_id = c.id AND f.candidate_id = n.id)
        ON CONFLICT (individual_id, candidate_id) DO NOTHING
    """, {"threshold": threshold(st.session)})
    st.sql("SET LOCAL enable_nestloop = on")
    st.sql("DROP TABLE IF EXISTS pg_temp.imp_ids")


CHECKS = {"locations": _check_locations, "facilities": _check_facilities, "households": _check_households,
          "individuals": _check_individuals, "prices": _check_prices}
APPLY = {"locations": _apply_locations, "facilities": _apply_facilities, "households": _apply_households,
         "individuals": _apply_individuals, "prices": _apply_prices}
