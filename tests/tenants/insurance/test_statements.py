"""Facility statements: made from the valuated claims of a facility and period (tenant's calendar),
approved by another person, paid once; bad input changes nothing; a claim is in one statement only,
even when two statements of the same facility and period are made at once; cancelling frees the
claims; CSV and XLSX exports; a location-restricted user sees only their facilities."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date

import pytest
from sqlalchemy import func, select, text

from schemehost.platform.errors import ValidationError
from schemehost.platform.extensions import db
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance.claims.models import InsuranceClaim
from schemehost.tenants.insurance.statements import services as st
from schemehost.tenants.insurance.statements.models import ClaimStatement

from tests.tenants.test_audit import sign_in_tenant_user

from _console_support import csrf_from  # noqa: E402,I001  (test_audit puts tests/platform on sys.path)

from .payment_data import CLAIMS, add_claims, build_payment_world
from .test_products_api import Api

BASE = "/t/{slug}/api/v1/insurance/statements"


@pytest.fixture(scope="module")
def world(make_module_tenant):
    return build_payment_world(make_module_tenant("health-insurance", prefix="fp"))


@pytest.fixture
def maker(client, client_token, world):
    return Api(client, client_token(world.tenant, scopes=("claims.pay",)))


@pytest.fixture
def checker(client, client_token, world):
    return Api(client, client_token(world.tenant, scopes=("claims.pay",)))


def _count(world, model=ClaimStatement) -> int:
    with world.tenant.session() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def _statement_of(world, *codes: str) -> list:
    with world.tenant.session() as s:
        return list(s.execute(select(InsuranceClaim.statement_id).where(
            InsuranceClaim.id.in_([world.claims[c] for c in codes])).order_by(InsuranceClaim.code)).scalars())


def test_a_statement_is_made_approved_by_another_person_and_paid_once(world, maker, checker):
    base = BASE.format(slug=world.slug)
    made = maker.post(base, json={"facility_id": world.facilities["FN"], "period_start": "2026-10-01",
                                  "period_end": "2026-10-31"})
    assert made.status_code == 201, made.json
    body = made.json
    # N-1 and N-2 were valuated in October; N-3 at 01:30 on 1 November in Dar es Salaam (22:30 UTC on
    # 31 October) belongs to November; entered and rejected claims are never paid
    assert [c["claim"] for c in body["claims"]] == ["N-1", "N-2"]
    assert (body["total"], body["claim_count"], body["status"], body["currency"]) == (140_000, 2, "draft", "TZS")
    assert body["reference"] == f"ST-{body['id']:06d}" and body["facility"] == "FN"
    assert made.headers["Location"].endswith(f"/insurance/statements/{body['id']}")
    item = f"{base}/{body['id']}"

    # maker-checker: whoever made it cannot approve it; paying needs approval first
    assert maker.post(f"{item}/approval").status_code == 403
    early = checker.post(f"{item}/payment", json={"paid_on": "2026-11-05", "payment_reference": "TRF-1"})
    assert early.status_code == 409 and early.json["reason"] == "not_approved"
    approved = checker.post(f"{item}/approval")
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert checker.post(f"{item}/approval").status_code == 409

    bad = checker.post(f"{item}/payment", json={"paid_on": "2999-01-01", "payment_reference": " "})
    assert bad.status_code == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")
    assert set(bad.json["errors"]) == {"paid_on", "payment_reference"}
    paid = maker.post(f"{item}/payment", json={"paid_on": "2026-11-05", "payment_reference": "TRF-1"})
    assert paid.status_code == 200, paid.json
    assert (paid.json["status"], paid.json["paid_on"], paid.json["payment_reference"]) == ("paid", "2026-11-05",
                                                                                          "TRF-1")
    again = maker.post(f"{item}/payment", json={"paid_on": "2026-11-06", "payment_reference": "TRF-2"})
    assert again.status_code == 409
    assert maker.get(item).json["payment_reference"] == "TRF-1"
    # a paid statement cannot be cancelled
    assert maker.post(f"{item}/cancellation", json={"reason": "late"}).status_code == 409

    listed = maker.get(base, query_string={"status": "paid"}).json
    assert [s["id"] for s in listed] == [body["id"]]
    with world.tenant.session() as s:
        actions = s.execute(select(AuditEntry.action).where(AuditEntry.entity_type == "claim_statement")
                            .order_by(AuditEntry.id)).scalars().all()
    assert actions[-3:] == ["insurance.statements.create", "insurance.statements.approve",
                            "insurance.statements.pay"]


def test_bad_input_is_422_with_field_errors_and_changes_nothing(world, maker):
    base = BASE.format(slug=world.slug)
    before = _count(world)
    cases = [
        ({"facility_id": world.facilities["FN"], "period_start": "2026-10-31", "period_end": "2026-10-01"},
         "period_end"),
        ({"facility_id": 999_999, "period_start": "2026-10-01", "period_end": "2026-10-31"}, "facility_id"),
        # nothing valuated at the southern facility in November: an empty statement is refused
        ({"facility_id": world.facilities["FS"], "period_start": "2026-11-01", "period_end": "2026-11-30"}, "period"),
        ({"facility_id": world.facilities["FS"], "period_start": "2026-10-01"}, "period_end"),
        ({"facility_id": "FS", "period_start": "2026-10-01", "period_end": "2026-10-31"}, "facility_id"),
    ]
    for payload, field in cases:
        resp = maker.post(base, json=payload)
        assert resp.status_code == 422, (payload, resp.json)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert field in resp.json["errors"], resp.json
    empty = maker.post(base, json=cases[2][0]).json
    assert empty["detail"] == "No valuated claim of this facility in this period is left to pay."
    assert _count(world) == before
    assert maker.get(f"{base}/424242").status_code == 404


def test_a_claim_is_in_one_statement_only_and_cancelling_frees_it(world, maker, checker):
    base = BASE.format(slug=world.slug)
    body = {"facility_id": world.facilities["FN"], "period_start": "2026-11-01", "period_end": "2026-11-30"}
    first = maker.post(base, json=body)
    assert first.status_code == 201
    assert [c["claim"] for c in first.json["claims"]] == ["N-3", "N-4"] and first.json["total"] == 65_000
    # the same period again: nothing left
    assert maker.post(base, json=body).status_code == 422
    with world.tenant.session() as s:
        with pytest.raises(Exception):  # the foreign key: a statement id that does not exist
            with s.begin_nested():
                s.execute(text("UPDATE claims SET statement_id = 987654321 WHERE code = 'N-5'"))
    cancel = checker.post(f"{base}/{first.json['id']}/cancellation", json={"reason": "wrong period"})
    assert cancel.status_code == 200 and cancel.json["status"] == "cancelled"
    assert _statement_of(world, "N-3", "N-4") == [None, None]
    assert maker.get(f"{base}/{first.json['id']}").json["claims"] == []
    second = maker.post(base, json=body)
    assert second.status_code == 201 and second.json["total"] == 65_000
    assert _statement_of(world, "N-3", "N-4") == [second.json["id"]] * 2
    assert checker.post(f"{base}/{first.json['id']}/cancellation", json={"reason": "again"}).status_code == 409
    assert checker.post(f"{base}/{second.json['id']}/cancellation", json={"reason": ""}).status_code == 422


def test_two_statements_of_the_same_facility_and_period_at_once_share_no_claim(world, app):
    rows = [("C-1", "FS", "valuated", date(2025, 3, 1), 10_000, 9_000, "2025-03-04T08:00:00+00:00"),
            ("C-2", "FS", "valuated", date(2025, 3, 2), 20_000, 20_000, "2025-03-05T08:00:00+00:00")]
    made = add_claims(world, rows)
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            with world.tenant.session() as s:
                s.execute(text("SELECT set_config('application_name', 'statement-second', true)"))
                outcome["second"] = st.create_statement(s, facility_id=world.facilities["FS"],
                                                        period_start=date(2025, 3, 1), period_end=date(2025, 3, 31),
                                                        principal=None).id
        except ValidationError as exc:
            outcome["second"] = exc

    with world.tenant.session() as first:
        statement = st.create_statement(first, facility_id=world.facilities["FS"], period_start=date(2025, 3, 1),
                                        period_end=date(2025, 3, 31), principal=None)
        outcome["first"] = statement.id
        thread = threading.Thread(target=second)
        thread.start()
        # wait until the second statement is blocked on the claims the first one holds
        with app.app_context():
            for _ in range(600):
                waiting = db.session.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'statement-second' "
                    "AND wait_event_type = 'Lock'")).scalar()
                db.session.rollback()
                if waiting:
                    break
                threading.Event().wait(0.05)
            assert waiting, "the second statement never waited for the first"
    thread.join(30)
    assert isinstance(outcome["second"], ValidationError), outcome
    assert outcome["second"].errors == {"period": ["no valuated claim left to pay"]}
    with world.tenant.session() as s:
        linked = s.execute(select(InsuranceClaim.statement_id).where(
            InsuranceClaim.id.in_(made.values()))).scalars().all()
        assert linked == [outcome["first"]] * 2
        total = s.execute(select(ClaimStatement.total, ClaimStatement.claim_count)
                          .where(ClaimStatement.id == outcome["first"])).one()
        assert tuple(total) == (29_000, 2)
        assert s.execute(select(func.count()).select_from(ClaimStatement).where(
            ClaimStatement.period_start == date(2025, 3, 1))).scalar_one() == 1


def test_exports_stream_the_claims_as_csv_and_xlsx(world, maker):
    import openpyxl

    base = BASE.format(slug=world.slug)
    made = maker.post(base, json={"facility_id": world.facilities["FS"], "period_start": "2026-10-01",
                                  "period_end": "2026-10-31"}).json
    resp = maker.get(f"{base}/{made['id']}/claims.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == [{"statement": made["reference"], "facility": "FS", "claim": "S-1",
                     "insuree": made["claims"][0]["insuree"], "date_from": "2026-10-07", "date_to": "2026-10-07",
                     "visit_type": "out_patient", "claimed": "70000", "approved": "70000", "valuated": "60000",
                     "currency": "TZS", "valuated_on": "2026-10-12"}]
    xlsx = maker.get(f"{base}/{made['id']}/claims.xlsx")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.get_data())).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][:3] == ("statement", "facility", "claim") and values[1][2] == "S-1" and values[1][9] == 60_000
    assert maker.get(f"{base}/{made['id']}/claims.pdf").status_code == 422


def test_a_user_restricted_to_a_district_sees_only_its_facilities(world, app, tenant_user, client):
    from schemehost.tenants.identity.models import UserLocation

    uid, email, password = tenant_user(world.tenant, roles=("payment_officer",))
    # a statement of each district's facility, of claims of its own (whichever tests ran before on
    # this worker)
    add_claims(world, [row for row in CLAIMS if row[0] in ("N-1", "S-1")], prefix="R")
    with world.tenant.session() as s:
        s.add(UserLocation(user_id=uid, location_id=world.locations["DS"]))
        for facility in ("FN", "FS"):
            st.create_statement(s, facility_id=world.facilities[facility], period_start=date(2026, 1, 1),
                                period_end=date(2026, 12, 31))
    officer = app.test_client()
    sign_in_tenant_user(officer, world.tenant, email, password)
    base = f"/t/{world.slug}/insurance/statements"
    page = officer.get(base)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with world.tenant.session() as s:
        rows = s.execute(select(ClaimStatement.id, ClaimStatement.facility_id)).all()
    south = [i for i, f in rows if f == world.facilities["FS"]]
    north = [i for i, f in rows if f == world.facilities["FN"]]
    assert south and north
    assert all(f'data-statement="{i}"' in html for i in south)
    assert not any(f'data-statement="{i}"' in html for i in north)
    assert officer.get(f"{base}/{south[0]}").status_code == 200
    assert officer.get(f"{base}/{north[0]}").status_code == 404
    assert officer.get(f"{base}/{north[0]}/claims.csv").status_code == 404
    assert officer.get(f"{base}/{south[0]}/claims.csv").status_code == 200
    # making a statement for a facility outside the district: unknown facility
    form = officer.get(base).get_data(as_text=True)
    resp = officer.post(base, data={"csrf_token": csrf_from(form), "facility": "FN", "period_start": "2026-01-01",
                                    "period_end": "2026-12-31"})
    assert resp.status_code == 422 and "unknown health facility" in resp.get_data(as_text=True)


def test_claims_entered_checked_processed_and_valuated_by_the_claims_engine_are_paid(make_tenant):
    """The whole way, with the claims module's own services: entry, checks, processing, valuation,
    then a statement of the valuation day."""
    from schemehost.tenants.insurance.claims import services as claims
    from schemehost.tenants.insurance.claims.checks import check_claims, valuate_claims
    from schemehost.tenants.insurance.claims.review import process_claims
    from schemehost.tenants.registry.eligibility import tenant_today
    from schemehost.tenants.registry.models import HealthFacility

    from .claims_world import build_world

    world = build_world(make_tenant("health-insurance", prefix="fe"))
    with world.tenant.session() as s:
        ids = [claims.create_claim(s, world.body(code, insuree=world.numbers[i]), principal=None).id
               for i, code in enumerate(("E-1", "E-2"))]
        check_claims(s, ids)
        process_claims(s, ids, principal=None)
        valuate_claims(s, ids)
        valuated = s.execute(select(InsuranceClaim.status, InsuranceClaim.valuated)
                             .where(InsuranceClaim.id.in_(ids))).all()
        assert [r.status for r in valuated] == ["valuated", "valuated"]
        facility = s.execute(select(HealthFacility.id).where(HealthFacility.code == world.facility)).scalar_one()
        today = tenant_today(s)
    with world.tenant.session() as s:
        statement = st.create_statement(s, facility_id=facility, period_start=today, period_end=today, principal=None)
        assert (statement.claim_count, statement.total) == (2, sum(r.valuated for r in valuated))
        assert [c["claim"] for c in st.statement_claims(s, statement)] == ["E-1", "E-2"]
