"""The ICD-10 reference list: the shipped subset (valid codes, loaded by c0006), the CSV reader's
problems, and the operator's loader command (dry run, then a load that adds and retitles codes)."""

from __future__ import annotations

from sqlalchemy import delete, select

from schemehost.platform.extensions import db
from schemehost.tenants.insurance.claims import icd10


def test_the_shipped_subset_is_valid_and_loaded(app):
    codes = icd10.subset()
    assert len(codes) > 300 and len({c for c, _t in codes}) == len(codes)
    assert all(icd10.CODE_RE.match(c) and 0 < len(t) <= 255 for c, t in codes)
    with app.app_context(), db.engine.connect() as conn:
        loaded = dict(conn.execute(select(icd10.CODES.c.code, icd10.CODES.c.title)).all())
    assert loaded["B54"] == "Unspecified malaria" and set(dict(codes)) <= set(loaded)


def test_the_reader_reports_bad_lines():
    rows, problems = icd10.read_csv("code,title\nu071,COVID-19, virus identified\nB54,Malaria\n12,Bad\nA00,\n")
    assert rows == [("U07.1", "COVID-19"), ("B54", "Malaria")]
    assert problems == ["line 4: '12' is not an ICD-10 code", "line 5: a title of 1 to 255 characters is needed"]


def test_the_operator_loads_a_file(app, runner, tmp_path):
    path = tmp_path / "icd.csv"
    path.write_text('code,title\nU07.1,"COVID-19, virus identified"\nB54,Malaria (unspecified)\n', encoding="utf-8")
    dry = runner("claims", "icd10-load", str(path), "--dry-run")
    assert dry.exit_code == 0 and "2 codes would be loaded" in dry.output
    bad = tmp_path / "bad.csv"
    bad.write_text("code,title\nnope,Nothing\n", encoding="utf-8")
    refused = runner("claims", "icd10-load", str(bad))
    assert refused.exit_code != 0 and "nothing loaded" in refused.output
    try:
        done = runner("claims", "icd10-load", str(path))
        assert done.exit_code == 0, done.output
        with app.app_context(), db.engine.connect() as conn:
            loaded = dict(conn.execute(select(icd10.CODES.c.code, icd10.CODES.c.title)
                                       .where(icd10.CODES.c.code.in_(["U07.1", "B54"]))).all())
        assert loaded == {"U07.1": "COVID-19, virus identified", "B54": "Malaria (unspecified)"}
    finally:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(delete(icd10.CODES).where(icd10.CODES.c.code == "U07.1"))
            icd10.load(conn, [("B54", "Unspecified malaria")])


def test_unknown_codes_of_a_large_file_in_one_query(app):
    """70,000 codes asked at once (more than the 65,535 parameters a statement may have) give the
    same answer as the real ones asked alone."""
    made_up = [f"Z{i:07d}" for i in range(70_000)]
    with app.app_context(), db.engine.connect() as conn:
        assert icd10.unknown(conn, ["B54", "B54XXXXXXXXXXX"]) == {"B54XXXXXXXXXXX"}
        assert icd10.unknown(conn, made_up + ["B54", "B54XXXXXXXXXXX", ""]) == set(made_up) | {"B54XXXXXXXXXXX"}
