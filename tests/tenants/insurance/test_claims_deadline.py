"""The claim submission deadline: the setting (the template's 90 days, changed and switched off through
the API, bad values refused field by field, audited) and the ``submitted_late`` check — days counted
from the visit's end to the day the claim was entered on the tenant's calendar, whatever date the
facility wrote on it."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select, text, update

from schemehost.tenants.core.services import tenant_zone
from schemehost.tenants.identity.models import AuditEntry
from schemehost.tenants.insurance.claims import services as svc
from schemehost.tenants.insurance.claims.models import InsuranceClaim

from .claims_world import api, world  # noqa: F401  (fixtures)
from .test_products_api import Api

PARA = [{"item": "PARA", "quantity": 1, "price": 200}]


@pytest.fixture
def local_today(world) -> date:
    """Today on the tenant's calendar (its time zone), the calendar the check counts entry days on."""
    with world.tenant.session() as s:
        zone = tenant_zone(s)
        return s.execute(text("SELECT (now() AT TIME ZONE CAST(:z AS text))::date"), {"z": zone}).scalar_one()


_CODES = itertools.count(1)


def _check(api, world, *, date_from: date, date_to: date | None = None, **over) -> dict:
    """A claim entered now for a visit on ``date_from`` (to ``date_to``), checked; the claim as the API
    shows it, with the run's counts under ``run``."""
    body = world.body(f"D-{next(_CODES)}", date_from=date_from.isoformat(), lines=PARA, **over)
    if date_to is not None:
        body.update(date_to=date_to.isoformat(), visit_type="in_patient")
    made = api.post(world.base, json=body)
    assert made.status_code == 201, made.json
    run = api.post(f"{world.base}/check", json={"ids": [made.json["id"]]})
    assert run.status_code == 200, run.json
    claim = api.get(f"{world.base}/{made.json['id']}").json
    return {**claim, "run": run.json}


def _deadline(api, world, days) -> None:
    put = api.put(f"{world.base}/deadline", json={"days": days})
    assert put.status_code == 200 and put.json == {"days": days}, put.json


def test_the_template_sets_ninety_days_and_the_setting_is_changed_through_the_api(api, world):
    assert api.get(f"{world.base}/deadline").json == {"days": 90}
    _deadline(api, world, 30)
    assert api.get(f"{world.base}/deadline").json == {"days": 30}
    with world.tenant.session() as s:
        entry = s.execute(select(AuditEntry).where(AuditEntry.entity_type == "setting",
                                                   AuditEntry.entity_id == "insurance")
                          .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
        # the scheme's other insurance settings are kept beside the deadline
        assert entry.before["value"]["claim_submission_days"] == 90
        assert entry.after["value"] == {**entry.before["value"], "claim_submission_days": 30}
        assert entry.after["value"]["grace_period_days"] == 30
    _deadline(api, world, None)
    assert api.get(f"{world.base}/deadline").json == {"days": None}
    _deadline(api, world, 90)


@pytest.mark.parametrize("days", [0, -5, 3651, 1.5, 90.0, "90", True, [], {"days": 9}])
def test_a_bad_deadline_is_refused_on_its_field(api, world, days):
    put = api.put(f"{world.base}/deadline", json={"days": days})
    assert put.status_code == 422, put.json
    assert put.headers["Content-Type"].startswith("application/problem+json")
    assert list(put.json["errors"]) == ["days"]
    assert api.get(f"{world.base}/deadline").json == {"days": 90}


def test_the_days_are_needed_and_only_settings_managers_change_them(api, client, client_token, world):
    missing = api.put(f"{world.base}/deadline", json={})
    assert missing.status_code == 422 and list(missing.json["errors"]) == ["days"]
    reviewer = Api(client, client_token(world.tenant, scopes=("claims.review",)))
    assert reviewer.get(f"{world.base}/deadline").json == {"days": 90}
    assert reviewer.put(f"{world.base}/deadline", json={"days": 10}).status_code == 403


def test_a_claim_entered_after_the_deadline_is_rejected_submitted_late(api, world, local_today):
    _deadline(api, world, 30)
    try:
        on_time = _check(api, world, date_from=local_today - timedelta(days=3))
        assert (on_time["status"], on_time["rejection_reason"]) == ("checked", None)
        # the last day of the deadline still counts, the day after does not
        last_day = _check(api, world, date_from=local_today - timedelta(days=30), insuree=world.numbers[1])
        assert (last_day["status"], last_day["rejection_reason"]) == ("checked", None)
        late = _check(api, world, date_from=local_today - timedelta(days=31), insuree=world.numbers[1])
        assert (late["status"], late["rejection_reason"]) == ("rejected", "submitted_late")
        assert [(l["status"], l["rejection_reason"]) for l in late["lines"]] == [("rejected", "submitted_late")]
        assert late["run"]["claim_reasons"] == {"submitted_late": 1}
        assert late["run"]["rejected"] == 1
        # a date on the claim within the deadline does not help: the day it was entered counts
        backdated = _check(api, world, date_from=local_today - timedelta(days=40),
                           date_claimed=(local_today - timedelta(days=35)).isoformat(), insuree=world.numbers[2])
        assert backdated["date_claimed"] == (local_today - timedelta(days=35)).isoformat()
        assert (backdated["status"], backdated["rejection_reason"]) == ("rejected", "submitted_late")
        # an in-patient stay counts from its discharge, not its admission
        stay = _check(api, world, date_from=local_today - timedelta(days=50),
                      date_to=local_today - timedelta(days=20))
        assert (stay["status"], stay["rejection_reason"]) == ("checked", None)
        long_ago = _check(api, world, date_from=local_today - timedelta(days=60),
                          date_to=local_today - timedelta(days=45))
        assert (long_ago["status"], long_ago["rejection_reason"]) == ("rejected", "submitted_late")
        # the reason has its label among the automatic ones
        reasons = {r["code"]: r for r in api.get(f"{world.base}/reasons").json}
        assert reasons["submitted_late"]["kind"] == "automatic"
    finally:
        _deadline(api, world, 90)


def test_a_claim_rejected_for_the_insuree_keeps_that_reason_when_also_late(api, world, local_today):
    _deadline(api, world, 10)
    try:
        claim = _check(api, world, date_from=local_today - timedelta(days=12), insuree=world.uninsured)
        assert (claim["status"], claim["rejection_reason"]) == ("rejected", "not_insured")
    finally:
        _deadline(api, world, 90)


def test_without_a_deadline_no_claim_is_late(api, world, local_today):
    _deadline(api, world, None)
    try:
        old = _check(api, world, date_from=local_today - timedelta(days=65), insuree=world.numbers[1])
        assert (old["status"], old["rejection_reason"]) == ("checked", None)
        assert old["run"]["claim_reasons"] == {}
    finally:
        _deadline(api, world, 90)


def test_the_deadline_counts_on_the_tenants_calendar(api, world, local_today):
    """A claim entered late in the evening, in the tenant's zone, was entered that day: one entered at
    21:30 UTC in Dar es Salaam (UTC+3) was entered the next day there."""
    _deadline(api, world, 5)
    try:
        body = world.body(f"D-{next(_CODES)}", date_from=(local_today - timedelta(days=10)).isoformat(),
                          lines=PARA, insuree=world.numbers[2])
        made = api.post(world.base, json=body)
        assert made.status_code == 201, made.json
        visit_end = local_today - timedelta(days=10)
        with world.tenant.session() as s:
            assert tenant_zone(s) == "Africa/Dar_es_Salaam"
            # entered at 21:30 UTC on the deadline's last day: 00:30 the next day in Dar es Salaam
            entered = datetime.combine(visit_end + timedelta(days=5), time(21, 30), tzinfo=timezone.utc)
            s.execute(update(InsuranceClaim).where(InsuranceClaim.id == made.json["id"]).values(created_at=entered))
        run = api.post(f"{world.base}/check", json={"ids": [made.json["id"]]})
        assert run.json["claim_reasons"] == {"submitted_late": 1}
    finally:
        _deadline(api, world, 90)
