"""How a period's daily values make a metered line: the highest day (people), the increase of a running
total (redemptions, transfers paid) or the sum of daily amounts (requests); the modules' meters."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from schemehost.platform.billing import services as billing
from schemehost.platform.billing.meters import METERS, store_usage
from schemehost.platform.billing.models import Usage
from schemehost.platform.extensions import db

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import new_partner, plan, tenant_row  # noqa: E402

pytestmark = pytest.mark.usefixtures("app_ctx")
FLAT = [{"up_to": None, "unit_amount": "10"}]


def test_each_meter_is_billed_by_its_aggregate():
    assert (METERS["active_insurees"].aggregate, METERS["vouchers_redeemed"].aggregate,
            METERS["transfers_paid"].aggregate, METERS["api_requests"].aggregate) == ("max", "increase", "increase", "sum")
    partner = new_partner(country=None)
    tenant = tenant_row(partner)
    p = plan(partner, fixed_fee=0, prices=[{"meter": m, "included": 0, "tiers": FLAT}
                                           for m in ("active_insurees", "vouchers_redeemed", "api_requests")])
    billing.subscribe(db.session, tenant, p, start=date(2026, 1, 1), actor="test")
    store_usage(db.session, [
        # readings of the redemptions' running total: 40 before the period, 55 then 90 in it
        (tenant.id, "vouchers_redeemed", date(2025, 12, 30), 40),
        (tenant.id, "vouchers_redeemed", date(2026, 1, 10), 55),
        (tenant.id, "vouchers_redeemed", date(2026, 1, 31), 90),
        # people covered: the busiest day
        (tenant.id, "active_insurees", date(2026, 1, 5), 300),
        (tenant.id, "active_insurees", date(2026, 1, 20), 280),
        # requests: each day its own amount (and the day before the period is not billed)
        (tenant.id, "api_requests", date(2025, 12, 31), 1000),
        (tenant.id, "api_requests", date(2026, 1, 2), 120),
        (tenant.id, "api_requests", date(2026, 1, 3), 80),
    ])
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant.id])
    metered = {l.detail.get("meter") or l.description.split(":")[0]: l for l in invoice.lines if l.kind == "metered"}
    quantities = sorted(l.quantity for l in metered.values())
    assert quantities == sorted([300, 90 - 40, 120 + 80])
    assert sum(l.amount for l in metered.values()) == (300 + 50 + 200) * 10
    wording = " | ".join(l.description for l in invoice.lines)
    assert "highest daily count 300" in wording and "50 in the period" in wording and "200 in the period" in wording


def test_a_running_total_without_an_earlier_reading_counts_from_zero():
    partner = new_partner(country=None)
    tenant = tenant_row(partner)
    p = plan(partner, fixed_fee=0, prices=[{"meter": "transfers_paid", "included": 5, "tiers": FLAT}])
    billing.subscribe(db.session, tenant, p, start=date(2026, 3, 1), actor="test")
    store_usage(db.session, [(tenant.id, "transfers_paid", date(2026, 3, 31), 12)])
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 4, 1), tenant_ids=[tenant.id])
    [line] = [l for l in invoice.lines if l.kind == "metered"]
    assert line.quantity == 12 and line.amount == (12 - 5) * 10


def test_module_meters_count_real_tenant_data(make_tenant):
    handle = make_tenant("health-insurance")
    billing.meter_usage(db.session, day=date(2026, 4, 1), tenant_ids=[handle.id])
    values = dict(db.session.execute(select(Usage.meter, Usage.value).where(Usage.tenant_id == handle.id)).all())
    assert {"active_insurees", "vouchers_redeemed", "active_beneficiaries", "transfers_paid"} <= set(values)
    assert values["vouchers_redeemed"] == values["transfers_paid"] == values["active_beneficiaries"] == 0
    assert values["active_insurees"] == 0  # no policy yet
    assert "api_requests" not in values  # counted by the web processes, not by the daily run
