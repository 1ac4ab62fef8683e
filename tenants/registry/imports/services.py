"""Registry imports: keep the uploaded file, run it as a background job, and report.

``create_import`` stores the file (in chunks, in the tenant's schema: decision 0110) and a
``registry_imports`` row, and adds a control-plane job (flush only). After the commit, the job
(``registry.import``) runs :func:`run_import`: it writes ``running`` in its own transaction, then
stages, checks and writes the rows in one tenant transaction with the report and one audit entry
(``record_bulk``). A file that cannot be read at all (encoding, empty, broken row) is reported as
such and nothing else happens.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of, utcnow
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.identity.audit import record_bulk
from schemehost.tenants.registry.imports import engine
from schemehost.tenants.registry.imports.kinds import KINDS, extra_columns, spec_for
from schemehost.tenants.registry.imports.models import (ImportStatus, RegistryImport, RegistryImportChunk,
                                                        RegistryImportProblem)
from schemehost.tenants.registry.imports.reader import CHUNK, FileProblem, detect_format, open_source

log = logging.getLogger("schemehost.registry.imports")

JOB_KIND = "registry.import"
#: a rough size of a row in bytes, to guess a file's row count before reading it
ROW_BYTES = 80
#: the largest file accepted (bytes); ``REGISTRY_IMPORT_MAX_BYTES`` overrides it
MAX_BYTES = 512 * 1024 * 1024
#: audit entity type of each kind
ENTITY = {"locations": "location", "facilities": "health_facility", "households": "household",
          "individuals": "individual", "prices": "price_list_line"}

MESSAGES = {
    "required": _l("A value is needed."),
    "too_long": _l("Too long: at most %(max)s characters."),
    "invalid_code": _l("Not a code: letters, digits, '.', '_' or '-', starting with a letter or digit."),
    "invalid_date": _l("Not a date: write it YYYY-MM-DD (e.g. 1990-05-17)."),
    "future_date": _l("This date is in the future."),
    "invalid_boolean": _l("Write true or false."),
    "invalid_number": _l("Not a whole number of 0 or more."),
    "invalid_choice": _l("Not one of: %(choices)s."),
    "duplicate_in_file": _l("Same as row %(first_row)s of this file."),
    "unknown_location": _l("No location has this code."),
    "not_a_village": _l("This location is not at the lowest level of the tree (a village)."),
    "wrong_facility_level": _l("Facilities are placed at the two lowest levels of the tree."),
    "unknown_parent": _l("The parent is neither an existing location nor a row of this file."),
    "too_deep": _l("Below the lowest level: the tree has %(levels)s levels."),
    "cannot_move": _l("This location exists under %(current)s; an import never moves a location."),
    "wrong_level": _l("This location would be at level %(expected)s."),
    "end_before_start": _l("The contract ends before it starts."),
    "unknown_price_list": _l("No price list has this code."),
    "unknown_entry": _l("No item or service has this code."),
    "second_head": _l("The household already has its head on row %(first_row)s."),
    "household_has_head": _l("The household already has another head (%(head)s)."),
    "scheme_number_taken": _l("This scheme number belongs to another person (record %(id)s)."),
    "duplicate_national_id": _l("Same national identifier as row %(first_row)s of this file."),
    "national_id_taken": _l("This national identifier belongs to record %(id)s (scheme number %(scheme_number)s); "
                            "an exact duplicate is not imported."),
    "erased_record": _l("Record %(id)s with this external id was erased on request; it is not filled in again."),
    "invalid_phone": _l("Not a valid phone number."),
    "invalid_national_id": _l("Not a valid national identifier."),
    "unknown_column": _l("Unknown column; the columns are: %(columns)s."),
    "duplicate_column": _l("This column appears twice."),
    "missing_column": _l("This column is required and missing from the file."),
    "empty_file": _l("The file is empty."),
    "no_rows": _l("The file has a header but no rows."),
    "encoding": _l("The file is not valid %(encoding)s text here (bytes %(value)s). Save it as \"CSV UTF-8\", "
                   "or give its encoding."),
    "unknown_encoding": _l("Unknown encoding."),
    "unreadable_xlsx": _l("This is not a readable XLSX spreadsheet."),
    "too_many_fields": _l("This row has more fields than the header (%(expected)s)."),
    "too_few_fields": _l("This row has fewer fields than the header (%(expected)s)."),
    "unterminated_quote": _l("A quoted field is not closed."),
    "unreadable_row": _l("This row cannot be read as CSV."),
    "too_large": _l("The file is larger than the largest accepted (%(max)s bytes)."),
    "extra_schema_invalid": _l("The scheme's extra-field schema is invalid; ask an administrator."),
}


def problem_message(code: str, params: dict[str, Any] | None, value: str | None = None,
                    column: str | None = None, country: str | None = None) -> str:
    """A report row's message in the current language."""
    params = dict(params or {})
    if code == "extra_invalid":
        from schemehost.tenants.registry.validation import schema_message

        return schema_message(params.get("keyword", ""), params.get("expected"), params.get("fallback", ""))
    if code in ("invalid_phone", "invalid_national_id") and value:
        # the normalizer's own explanation, in the reader's language
        from schemehost.tenants.registry.validation import normalize_national_id, normalize_phone

        try:
            (normalize_phone if code == "invalid_phone" else normalize_national_id)(value, country)
        except ValueError as err:
            return str(err)
    for key in ("choices", "columns"):
        if isinstance(params.get(key), list):
            params[key] = ", ".join(params[key])
    params.setdefault("value", value or "")
    template = MESSAGES.get(code)
    if template is None:
        return code
    try:
        return str(template) % params
    except (KeyError, TypeError, ValueError):
        return str(template)


# ---- creating ---------------------------------------------------------------------------------------


def _clean_options(kind: str, mapping: dict[str, str] | None, encoding: str | None) -> dict[str, Any]:
    spec = spec_for(kind)
    options: dict[str, Any] = {}
    if mapping:
        if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in mapping.items()):
            message = _("A mapping is an object of file column names to field names.")
            raise ValidationError(message, errors={"mapping": [message]})
        # extra fields (``extra.<name>``) are checked against the tenant's schema when the file is read
        unknown = sorted(v for v in mapping.values() if engine._norm(v) not in spec.names
                         and not engine._norm(v).startswith("extra."))
        if unknown:
            message = _("Unknown fields in the mapping: %(names)s.", names=", ".join(unknown))
            raise ValidationError(message, errors={"mapping": [message]})
        options["mapping"] = mapping
    if encoding:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            message = _("Unknown encoding '%(encoding)s'.", encoding=encoding)
            raise ValidationError(message, errors={"encoding": [message]}) from None
        options["encoding"] = encoding
    return options


def create_import(session: Session, control: Session, tenant_id: int, *, kind: str, filename: str,
                  stream: IO[bytes], dry_run: bool = False, valid_only: bool = False,
                  mapping: dict[str, str] | None = None, encoding: str | None = None,
                  created_by: str | None = None, max_bytes: int = MAX_BYTES) -> RegistryImport:
    """Keep the file (read from ``stream`` in 1 MiB chunks) and queue its import job (flush only).

    ``session`` is the tenant's, ``control`` the control plane's (the job row). After both are
    committed, run the job (:func:`schemehost.platform.jobs.run_job`) or defer it."""
    from schemehost.platform.jobs import create_job

    options = _clean_options(kind, mapping, encoding)
    filename = (Path(filename or "upload").name or "upload")[:255]
    imp = RegistryImport(kind=kind, filename=filename, format="csv", size=0, sha256="", dry_run=bool(dry_run),
                         valid_only=bool(valid_only), options=options, status=ImportStatus.queued,
                         created_by=created_by, counts={})
    session.add(imp)
    session.flush()
    digest, size, seq, head = hashlib.sha256(), 0, 0, b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        if seq == 0:
            head = chunk[:8]
        size += len(chunk)
        if size > max_bytes:
            message = _("The file is larger than the largest accepted (%(max)s bytes).", max=max_bytes)
            raise ValidationError(message, errors={"file": [message]})
        digest.update(chunk)
        session.execute(insert(RegistryImportChunk).values(import_id=imp.id, seq=seq, data=chunk))
        seq += 1
    imp.size, imp.sha256, imp.format = size, digest.hexdigest(), detect_format(filename, head)
    job = create_job(control, JOB_KIND, tenant_id=tenant_id, actor=created_by,
                     params={"import_id": imp.id, "kind": kind, "dry_run": bool(dry_run)})
    imp.job_id = job.id
    session.flush()
    return imp


def rerun_import(session: Session, control: Session, tenant_id: int, import_id: int, *, valid_only: bool = False,
                 created_by: str | None = None) -> RegistryImport:
    """A real run of the file of dry run ``import_id`` (the file is copied in the database, not
    uploaded again); flush only, like :func:`create_import`."""
    from schemehost.platform.jobs import create_job

    old = get_import(session, import_id)
    if old.purged_at is not None:
        raise Conflict(_("The file of import %(id)s is no longer kept; upload it again.", id=import_id))
    imp = RegistryImport(kind=old.kind, filename=old.filename, format=old.format, size=old.size, sha256=old.sha256,
                         dry_run=False, valid_only=bool(valid_only), options=dict(old.options or {}),
                         status=ImportStatus.queued, created_by=created_by, counts={})
    session.add(imp)
    session.flush()
    session.execute(insert(RegistryImportChunk).from_select(
        ["import_id", "seq", "data"],
        select(imp.id, RegistryImportChunk.seq, RegistryImportChunk.data).where(RegistryImportChunk.import_id == import_id)))
    job = create_job(control, JOB_KIND, tenant_id=tenant_id, actor=created_by,
                     params={"import_id": imp.id, "kind": imp.kind, "dry_run": False})
    imp.job_id = job.id
    session.flush()
    return imp


# ---- reading ----------------------------------------------------------------------------------------


def get_import(session: Session, import_id: int) -> RegistryImport:
    imp = session.get(RegistryImport, import_id)
    if imp is None:
        raise NotFound(_("No import %(id)s.", id=import_id))
    return imp


def list_imports(session: Session, *, limit: int = 50, after_id: int | None = None) -> list[RegistryImport]:
    stmt = select(RegistryImport).order_by(RegistryImport.id.desc()).limit(limit)
    if after_id is not None:
        stmt = stmt.where(RegistryImport.id < after_id)
    return list(session.execute(stmt).scalars())


def list_problems(session: Session, import_id: int, *, limit: int = 100, after_id: int | None = None
                  ) -> list[RegistryImportProblem]:
    """The report's rows in file order (keyset on ``after_id``)."""
    stmt = (select(RegistryImportProblem).where(RegistryImportProblem.import_id == import_id)
            .order_by(RegistryImportProblem.id).limit(limit))
    if after_id is not None:
        stmt = stmt.where(RegistryImportProblem.id > after_id)
    return list(session.execute(stmt).scalars())


def count_problems(session: Session, import_id: int) -> int:
    return session.execute(select(func.count()).select_from(RegistryImportProblem)
                           .where(RegistryImportProblem.import_id == import_id)).scalar_one()


def problem_dict(p: RegistryImportProblem, country: str | None = None) -> dict[str, Any]:
    return {"row": p.row, "column": p.column, "value": p.value, "code": p.code,
            "message": problem_message(p.code, p.params, p.value, p.column, country)}


def report_csv(session: Session, import_id: int, *, batch: int = 5000) -> Iterator[bytes]:
    """The report as CSV (row, column, value, message), streamed in batches (UTF-8 with a BOM, so
    spreadsheet programs open it with the right characters)."""
    from schemehost.tenants.registry.validation import tenant_country

    get_import(session, import_id)
    country = tenant_country(session)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_("row"), _("column"), _("value"), _("message")])
    yield ("\ufeff" + buf.getvalue()).encode("utf-8")
    last = None
    while True:
        rows = list_problems(session, import_id, limit=batch, after_id=last)
        if not rows:
            return
        buf.seek(0)
        buf.truncate()
        for p in rows:
            writer.writerow([p.row, p.column or "", p.value or "", problem_message(p.code, p.params, p.value,
                                                                                    p.column, country)])
        yield buf.getvalue().encode("utf-8")
        last = rows[-1].id


def import_dict(imp: RegistryImport, *, job=None) -> dict[str, Any]:
    """The public view of an import (API and CLI ``--json``)."""
    out = {"id": imp.id, "kind": imp.kind, "filename": imp.filename, "format": imp.format, "size": imp.size,
           "sha256": imp.sha256, "dry_run": imp.dry_run, "valid_only": imp.valid_only, "status": imp.status,
           "counts": imp.counts or {}, "created_by": imp.created_by, "created_at": imp.created_at,
           "finished_at": imp.finished_at, "job_id": imp.job_id, "progress": None,
           "purged_at": imp.purged_at, "purge_reason": imp.purge_reason}
    if job is not None:
        out["progress"] = {"done": job.progress_done, "total": job.progress_total}
        out["job_status"] = job.status
        if job.error:
            out["error"] = job.error
    return out


def read_original(session: Session, import_id: int) -> Iterator[bytes]:
    """The original file, chunk by chunk."""
    last = -1
    while True:
        chunk = session.execute(select(RegistryImportChunk.seq, RegistryImportChunk.data).where(
            RegistryImportChunk.import_id == import_id, RegistryImportChunk.seq > last)
            .order_by(RegistryImportChunk.seq).limit(1)).first()
        if chunk is None:
            return
        last = chunk.seq
        yield bytes(chunk.data)


# ---- running ----------------------------------------------------------------------------------------


def run_import(session: Session, import_id: int, *, progress=None, actor=None) -> RegistryImport:
    """Run import ``import_id`` in ``session`` (the tenant's) and commit: report, rows (unless a dry
    run, or problems in all-or-nothing mode), status and counts, and one audit entry."""
    imp = get_import(session, import_id)
    if imp.status != ImportStatus.queued:
        return imp
    imp.status = ImportStatus.running
    session.commit()
    spec = spec_for(imp.kind)
    with tempfile.NamedTemporaryFile(prefix="schemehost-import-", suffix="." + imp.format) as tmp:
        for chunk in read_original(session, import_id):
            tmp.write(chunk)
        tmp.flush()
        session.commit()  # nothing written; the long transaction starts with the staging
        if not imp.dry_run:
            # one writing import per tenant at a time, whoever runs it (the worker or the CLI)
            session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                            {"key": f"registry-import:{session.info.get('tenant_schema')}"})
        try:
            source = open_source(Path(tmp.name), imp.format, encoding=(imp.options or {}).get("encoding", "utf-8"))
            outcome = engine.run(session, spec, import_id, source, mapping=(imp.options or {}).get("mapping"),
                                 dry_run=imp.dry_run, valid_only=imp.valid_only, progress=progress,
                                 expected_rows=imp.size // ROW_BYTES, extras=extra_columns(session, imp.kind))
        except FileProblem as problem:
            session.rollback()
            session.add(RegistryImportProblem(import_id=import_id, row=problem.row, column=problem.column,
                                              value=problem.value, code=problem.code,
                                              params={"value": problem.value, **problem.params}))
            outcome = engine.Outcome(counts={"rows": 0, "valid": 0, "invalid": 0})
    log.info("import %s (%s): %s rows, phases %s", import_id, imp.kind, outcome.counts.get("rows"), outcome.timings)
    imp = get_import(session, import_id)
    if imp.dry_run:
        status = ImportStatus.checked
    elif outcome.written:
        status = ImportStatus.done
    else:
        status = ImportStatus.rejected
    counts = dict(outcome.counts)
    counts["problems"] = count_problems(session, import_id)
    counts["seconds"] = outcome.timings
    session.execute(update(RegistryImport).where(RegistryImport.id == import_id)
                    .values(status=status, counts=counts, finished_at=utcnow()))
    if outcome.written:
        record_bulk(session, "import", ENTITY[imp.kind],
                    counts={k: v for k, v in counts.items() if isinstance(v, int)},
                    input_ref={"import_id": imp.id, "filename": imp.filename, "sha256": imp.sha256,
                               "size": imp.size},
                    details={"kind": imp.kind, "valid_only": imp.valid_only}, actor=actor)
    session.commit()
    session.expire_all()
    return get_import(session, import_id)


def fail_import(session: Session, import_id: int) -> None:
    """Mark an import ``failed`` (its job failed or was interrupted); nothing it did was kept."""
    session.execute(update(RegistryImport).where(RegistryImport.id == import_id,
                                                 RegistryImport.status.in_([ImportStatus.queued,
                                                                            ImportStatus.running]))
                    .values(status=ImportStatus.failed, finished_at=utcnow()))


# ---- personal data: erasure and retention (decision 0137) ----------------------------------------------

#: days an import's original file and report are kept (``registry.import_retention_days`` overrides)
IMPORT_RETENTION_DAYS = 180
#: personal values a report row's parameters may hold about an existing record
PERSONAL_PARAMS = ("value", "scheme_number", "external_id", "head")


def forget_people(session: Session, individual_ids: list[int]) -> int:
    """After individuals were pseudonymised: drop the original file of every finished import whose
    rows name them (by the hash of their external id; for households files, the households left with
    no unerased member), clear the values of their rows in every report, and the personal values the
    reports quote about the erased records. The import rows, counts and audit entries stay. Returns
    the number of files dropped."""
    if not individual_ids:
        return 0
    from sqlalchemy import Integer, cast
    from sqlalchemy.dialects.postgresql import ARRAY

    from schemehost.tenants.registry.people import Household, Individual, PersonStatus

    ind, hh = Individual.__table__, Household.__table__
    people = [k for k in session.execute(select(ind.c.external_id).where(
        any_of(ind.c.id, individual_ids), ind.c.external_id.is_not(None))).scalars()]
    member = ind.alias("m")
    homes = [k for k in session.execute(select(hh.c.external_id).where(
        hh.c.external_id.is_not(None),
        hh.c.id.in_(select(ind.c.household_id).where(any_of(ind.c.id, individual_ids))),
        ~select(member.c.id).where(member.c.household_id == hh.c.id,
                                   member.c.status != PersonStatus.erased).exists())).scalars()]
    imp = RegistryImport.__table__
    problems = RegistryImportProblem.__table__
    stripped = problems.c.params
    for key in PERSONAL_PARAMS:
        stripped = stripped.op("-")(key)

    def hashes(keys: list[str]):
        return cast([engine.key_hash_of(k) for k in keys], ARRAY(Integer))

    named = []
    for kind, keys in (("individuals", people), ("households", homes)):
        if not keys:
            continue
        # their rows in every report of that kind
        session.execute(update(problems).where(any_of(problems.c.key, keys),
                                               problems.c.import_id.in_(select(imp.c.id).where(imp.c.kind == kind)))
                        .values(value=None, params=stripped))
        named.append(and_(imp.c.kind == kind, imp.c.key_hashes.op("&&")(hashes(keys))))
    # report rows elsewhere quoting an erased record (its scheme number, on a refused duplicate)
    session.execute(update(problems).where(any_of(problems.c.params["id"].astext, [str(i) for i in individual_ids]))
                    .values(params=stripped))
    if not named:
        return 0
    dropped = session.execute(
        update(imp).where(or_(*named), imp.c.purged_at.is_(None),
                          imp.c.status.not_in([ImportStatus.queued, ImportStatus.running]))
        .values(purged_at=utcnow(), purge_reason="erasure", key_hashes=None).returning(imp.c.id)).scalars().all()
    if dropped:
        chunks = RegistryImportChunk.__table__
        session.execute(delete(chunks).where(any_of(chunks.c.import_id, dropped)))
    log.info("erasure: %s import file(s) dropped", len(dropped))
    return len(dropped)


def import_retention_days(session: Session) -> int:
    """Days the tenant keeps an import's original file and report (``registry.import_retention_days``,
    1 to 3650; default :data:`IMPORT_RETENTION_DAYS`)."""
    from schemehost.tenants.registry.validation import registry_settings

    days = registry_settings(session).get("import_retention_days")
    if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= 3650:
        return days
    return IMPORT_RETENTION_DAYS


def purge_old_imports(session: Session, *, now=None) -> int:
    """Drop the original files, reports and key hashes of the imports finished more than the tenant's
    period ago (the import row with its counts, and the audit entry, stay); returns how many."""
    from datetime import timedelta

    cutoff = (now or utcnow()) - timedelta(days=import_retention_days(session))
    imp = RegistryImport.__table__
    ids = session.execute(
        update(imp).where(imp.c.purged_at.is_(None), func.coalesce(imp.c.finished_at, imp.c.created_at) < cutoff,
                          imp.c.status.not_in([ImportStatus.queued, ImportStatus.running]))
        .values(purged_at=utcnow(), purge_reason="retention", key_hashes=None).returning(imp.c.id)).scalars().all()
    if ids:
        for table in (RegistryImportChunk.__table__, RegistryImportProblem.__table__):
            session.execute(delete(table).where(any_of(table.c.import_id, ids)))
        record_bulk(session, "retention.purge", "registry_import", counts={"imports": len(ids)},
                    input_ref={"cutoff": cutoff.isoformat(), "import_ids": ids}, actor=("system", "retention", None))
        log.info("retention: %s import file(s) and report(s) dropped", len(ids))
    return len(ids)


__all__ = ["KINDS", "JOB_KIND", "create_import", "get_import", "list_imports", "list_problems", "count_problems",
           "problem_dict", "problem_message", "report_csv", "import_dict", "read_original", "run_import",
           "fail_import", "forget_people", "purge_old_imports", "import_retention_days"]
