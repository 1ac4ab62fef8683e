"""Billing services against PostgreSQL: plans, subscriptions, metering, invoices, credit notes, payments."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from schemehost.platform.billing import services as billing
from schemehost.platform.billing.meters import store_usage
from schemehost.platform.billing.models import Invoice, InvoiceCounter, Usage
from schemehost.platform.errors import Conflict, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.tenants.models import TenantEvent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from billing_support import add_people, new_partner, plan, tenant_row  # noqa: E402

pytestmark = pytest.mark.usefixtures("app_ctx")


def test_plan_validation_names_each_bad_field_and_stores_nothing():
    partner = new_partner()
    with pytest.raises(ValidationError) as err:
        billing.create_plan(db.session, partner, code="", name="", currency="XXQ", period="weekly", fixed_fee=-1,
                            read_only_after_days=30, suspend_after_days=10,
                            prices=[{"meter": "nope", "tiers": []},
                                    {"meter": "active_individuals", "tiers": [{"up_to": 5, "unit_amount": "1"}]}])
    errors = err.value.errors
    assert {"code", "name", "currency", "period", "fixed_fee", "suspend_after_days", "prices"} <= set(errors)
    assert set(errors["prices"]) == {"0", "1"}
    assert billing.list_plans(db.session, partner_id=partner.id) == []
    plan(partner)
    with pytest.raises(Conflict):
        plan(partner)


def test_subscription_with_trial_then_invoice_with_setup_fixed_metered_and_tax():
    partner = new_partner(country="CM")
    billing.set_tax_rate(db.session, partner, country="CM", rate="19.25", name="TVA")
    billing.set_platform_fee(db.session, partner, kind="percent", percent="10")
    tenant = tenant_row(partner)
    p = plan(partner, setup_fee=50000, trial_days=14)
    sub = billing.subscribe(db.session, tenant, p, start=date(2026, 1, 1), actor="test")
    assert (sub.current_period_start, sub.current_period_end) == (date(2026, 1, 15), date(2026, 2, 15))
    # usage before the period (trial) is not billed; the period's maximum daily count is
    store_usage(db.session, [(tenant.id, "active_individuals", date(2026, 1, 10), 9999),
                                 (tenant.id, "active_individuals", date(2026, 1, 20), 150),
                                 (tenant.id, "active_individuals", date(2026, 2, 1), 170),
                                 (tenant.id, "active_individuals", date(2026, 2, 14), 160)])
    assert billing.invoice_due_periods(db.session, today=date(2026, 2, 14), tenant_ids=[tenant.id]) == []
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 15), tenant_ids=[tenant.id])
    kinds = [(l.kind, l.amount) for l in invoice.lines]
    # 170 measured, 10 included: 100 × 50 + 60 × 25 = 6,500
    assert kinds == [("setup", 50000), ("fixed", 30000), ("metered", 6500)]
    metered = invoice.lines[2]
    assert metered.quantity == 170 and metered.detail["billable"] == 160
    assert invoice.subtotal == 86500
    assert invoice.tax == sum(l.tax for l in invoice.lines) == 9625 + 5775 + 1251
    assert invoice.total == invoice.subtotal + invoice.tax
    assert invoice.platform_fee == 8650
    assert invoice.status == "issued" and invoice.number == f"{partner.slug.upper()}-000001"
    assert invoice.due_on == date(2026, 3, 1)
    assert (sub.current_period_start, sub.current_period_end) == (date(2026, 2, 15), date(2026, 3, 15))
    # the next period has no setup fee
    [second] = billing.invoice_due_periods(db.session, today=date(2026, 3, 20), tenant_ids=[tenant.id])
    assert [l.kind for l in second.lines] == ["fixed", "metered"] and second.lines[1].quantity == 0
    assert second.number.endswith("-000002")


def test_plan_change_prorates_the_fixed_fee_and_cancel_ends_at_period_end():
    partner = new_partner(country=None)
    tenant = tenant_row(partner)
    basic = plan(partner, "basic", fixed_fee=31000, prices=[])
    plus = plan(partner, "plus", fixed_fee=62000, prices=[])
    billing.subscribe(db.session, tenant, basic, start=date(2026, 3, 1), actor="test")
    with pytest.raises(ValidationError):
        billing.change_plan(db.session, tenant, plan(partner, "usd", currency="USD", prices=[]),
                            on=date(2026, 3, 11), actor="test")
    billing.change_plan(db.session, tenant, plus, on=date(2026, 3, 11), actor="test")
    billing.cancel_subscription(db.session, tenant, actor="test")
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 5, 1), tenant_ids=[tenant.id])
    amounts = [(l.kind, l.amount) for l in invoice.lines]
    # 10 of 31 days of basic, 21 of 31 days of plus
    assert amounts == [("proration", 10000), ("fixed", 42000)]
    assert invoice.tax == 0
    assert billing.live_subscription(db.session, tenant.id) is None
    kinds = db.session.execute(select(TenantEvent.kind).where(TenantEvent.tenant_id == tenant.id)
                               .order_by(TenantEvent.id)).scalars().all()
    assert kinds == ["subscribed", "plan_changed", "subscription_canceling", "subscription_ended"]


def test_numbers_are_per_partner_without_gaps_and_credit_notes_have_their_own_series():
    a, b = new_partner(), new_partner()
    billing.update_partner_profile(db.session, a, invoice_prefix="ACME")
    tenants = [tenant_row(a), tenant_row(a), tenant_row(b)]
    for t in tenants:
        billing.subscribe(db.session, t, plan(a if t.partner_id == a.id else b, f"p{t.id}"),
                          start=date(2026, 1, 1), actor="test")
    invoices = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), issue=False,
                                            tenant_ids=[t.id for t in tenants])
    assert all(i.status == "draft" and i.number is None for i in invoices)
    # a draft deleted before issue takes no number
    billing.delete_draft(db.session, invoices[0])
    for invoice in invoices[1:]:
        billing.issue_invoice(db.session, invoice, today=date(2026, 2, 1))
    numbers = sorted(i.number for i in invoices[1:])
    assert numbers == sorted(["ACME-000001", f"{b.slug.upper()}-000001"])
    issued_a = next(i for i in invoices[1:] if i.partner_id == a.id)
    note = billing.create_credit_note(db.session, issued_a, today=date(2026, 2, 2), reason="wrong plan")
    assert note.number == "ACME-CN-000001" and note.total == issued_a.total
    assert [(l.amount, l.tax) for l in note.lines] == [(l.amount, l.tax) for l in issued_a.lines]
    assert issued_a.status == "paid" and billing.outstanding(issued_a) == 0
    with pytest.raises(ValidationError):
        billing.create_credit_note(db.session, issued_a, today=date(2026, 2, 2), reason="again",
                                   lines=[{"description": "x", "amount": 1}])
    counter = db.session.get(InvoiceCounter, (a.id, "invoice"))
    assert counter.next_number == 2


def test_partial_payments_then_the_settling_one_marks_it_paid():
    partner = new_partner()
    tenant = tenant_row(partner)
    billing.subscribe(db.session, tenant, plan(partner, prices=[]), start=date(2026, 1, 1), actor="test")
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=[tenant.id])
    assert invoice.total == 30000 and invoice.tax == 0
    billing.record_payment(db.session, invoice, method="mobile_money", amount=10000, reference="MP-1",
                           paid_on=date(2026, 2, 3), actor="test", proof=b"%PDF-1.4", proof_name="r.pdf",
                           proof_type="application/pdf")
    assert invoice.status == "issued" and billing.outstanding(invoice) == 20000
    with pytest.raises(Conflict):  # the same reference twice
        billing.record_payment(db.session, invoice, method="mobile_money", amount=1, reference="MP-1",
                               paid_on=date(2026, 2, 3), actor="test")
    with pytest.raises(ValidationError) as err:
        billing.record_payment(db.session, invoice, method="bank", amount=20001, reference="B-1",
                               paid_on=date(2026, 2, 4), actor="test")
    assert "amount" in err.value.errors
    billing.record_payment(db.session, invoice, method="bank", amount=20000, reference="B-1",
                           paid_on=date(2026, 2, 4), actor="test")
    assert invoice.status == "paid" and invoice.amount_paid == 30000
    assert len(billing.list_payments(db.session, invoice.id)) == 2
    with pytest.raises(Conflict):
        billing.void_invoice(db.session, invoice, reason="no")


def test_metering_counts_real_tenant_data_set_wise(make_tenant):
    handle = make_tenant("blank")
    add_people(handle, individuals=37, households=12)
    stored = billing.meter_usage(db.session, day=date(2026, 4, 1), tenant_ids=[handle.id])
    from schemehost.platform.billing.meters import METERS

    # every meter the daily run measures (the modules' too: their tables are in every tenant schema)
    assert stored == len([m for m in METERS.values() if not m.external])
    values = dict(db.session.execute(select(Usage.meter, Usage.value).where(Usage.tenant_id == handle.id)).all())
    assert values["active_individuals"] == 37 and values["active_households"] == 12
    assert values["storage_mb"] >= 1
    # measuring the same day again replaces the value
    add_people(handle, individuals=3)
    billing.meter_usage(db.session, day=date(2026, 4, 1), tenant_ids=[handle.id])
    db.session.expire_all()
    assert db.session.execute(select(Usage.value).where(Usage.tenant_id == handle.id,
                                                        Usage.meter == "active_individuals")).scalar() == 40
    usage = billing.tenant_usage(db.session, handle.id, start=date(2026, 4, 1), end=date(2026, 5, 1))
    people = next(m for m in usage["meters"] if m["meter"] == "active_individuals")
    assert people["max"] == 40 and people["days"] == [{"day": "2026-04-01", "value": 40}]


def test_concurrent_issues_get_consecutive_numbers_and_a_rollback_leaves_no_gap(app):
    """Two sessions issuing drafts of one partner at once wait on its counter row: numbers 1..n, no gap,
    no duplicate; an issue rolled back gives its number back."""
    import threading

    from sqlalchemy.orm import Session

    with app.app_context():
        partner = new_partner()
        tenants = [tenant_row(partner) for _n in range(6)]
        p = plan(partner, prices=[])
        for t in tenants:
            billing.subscribe(db.session, t, p, start=date(2026, 1, 1), actor="test")
        drafts = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), issue=False,
                                             tenant_ids=[t.id for t in tenants])
        ids = [d.id for d in drafts]
        db.session.commit()
        engine = db.engine

        # a rolled-back issue
        with Session(engine) as s:
            billing.issue_invoice(s, billing.get_invoice(s, ids[0]), today=date(2026, 2, 1))
            s.rollback()

        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def issue(chunk):
            try:
                with app.app_context(), Session(engine) as s:
                    barrier.wait()
                    for invoice_id in chunk:
                        billing.issue_invoice(s, billing.get_invoice(s, invoice_id), today=date(2026, 2, 1))
                    s.commit()
            except BaseException as exc:  # re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=issue, args=(ids[0::2],)), threading.Thread(target=issue, args=(ids[1::2],))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        seqs = sorted(db.session.execute(select(Invoice.seq).where(Invoice.id.in_(ids))).scalars())
        assert seqs == [1, 2, 3, 4, 5, 6]


def test_metering_and_invoicing_take_more_tenant_ids_than_a_statement_has_parameters(make_tenant):
    """70,000 ids, nearly all unknown (more than the 65,535 parameters a statement may have; some past
    the int4 range): metering, usage maxima and invoicing do exactly what the real ids alone do."""
    missing = list(range(2**31 - 35_000, 2**31 + 35_000))
    handle = make_tenant("blank")
    add_people(handle, individuals=5)
    alone = billing.meter_usage(db.session, day=date(2026, 4, 1), tenant_ids=[handle.id])
    assert billing.meter_usage(db.session, day=date(2026, 4, 1), tenant_ids=missing + [handle.id]) == alone > 0
    assert billing.meter_usage(db.session, day=date(2026, 4, 1), tenant_ids=missing) == 0

    partner = new_partner(country=None)
    tenant = tenant_row(partner)
    sub = billing.subscribe(db.session, tenant, plan(partner), start=date(2026, 1, 1), actor="test")
    store_usage(db.session, [(tenant.id, "active_individuals", date(2026, 1, 20), 150)])
    maxima = billing.usage_maxima(db.session, [sub.id])
    assert maxima == {sub.id: {"active_individuals": 150}}
    assert billing.usage_maxima(db.session, missing + [sub.id]) == maxima
    assert billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=missing) == []
    [invoice] = billing.invoice_due_periods(db.session, today=date(2026, 2, 1), tenant_ids=missing + [tenant.id])
    assert [(l.kind, l.quantity) for l in invoice.lines] == [("fixed", 1), ("metered", 150)]
