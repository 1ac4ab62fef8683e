"""The transfers module's part in the registry's personal-data rules (docs/registry.md, personal data).

Transfers keeps no copy of a person's data in its own tables: a beneficiary and its payroll lines refer
to the registry's individual (or household) by id. The copies it makes are the phone numbers it sends
to the payments module for mobile-money payouts (the beneficiary's, or the household head's):
:func:`person_payout_lines` tells payments whose payout each line is, so that the payments erasure
handler pseudonymises them and the payments section of a subject-access export lists them.

- **Subject access**: the programmes the person benefits from, directly or through their household
  (the household by id only), and the payroll lines paid for them (amount, status, dates, reference).
- **Retention**: an individual who is an active or suspended beneficiary, or heads a household that is
  one, is kept (their payouts and phone are still needed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select, union_all
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of
from schemehost.tenants.transfers.models import (Beneficiary, BeneficiaryStatus, PaymentCycle, PayrollLine,
                                                 Programme)

#: Beneficiary statuses that keep the person from the retention rule.
KEPT_STATUSES = (BeneficiaryStatus.active, BeneficiaryStatus.suspended)


def subject_transfers(session: Session, individual_id: int) -> dict[str, Any]:
    from schemehost.tenants.registry.people import Individual

    household_id = session.execute(select(Individual.household_id).where(Individual.id == individual_id)) \
        .scalar_one_or_none()
    target = [Beneficiary.individual_id == individual_id]
    if household_id is not None:
        target.append(Beneficiary.household_id == household_id)
    rows = session.execute(select(Beneficiary, Programme.code).join(Programme, Programme.id == Beneficiary.programme_id)
                           .where(or_(*target)).order_by(Beneficiary.id)).all()
    lines = session.execute(
        select(PayrollLine, PaymentCycle.period_start, PaymentCycle.period_end)
        .join(PaymentCycle, PaymentCycle.id == PayrollLine.cycle_id)
        .where(PayrollLine.beneficiary_id.in_([b.id for b, _ in rows])).order_by(PayrollLine.id)).all() \
        if rows else []
    return {"beneficiaries": [{
        "id": b.id, "programme": code, "target": "individual" if b.individual_id is not None else "household",
        "household_id": b.household_id, "status": b.status, "status_reason": b.status_reason,
        "status_changed_at": b.status_changed_at, "enrolled_at": b.enrolled_at,
        "payment_point_id": b.payment_point_id,
        "payroll_lines": [{"id": ln.id, "payroll_id": ln.payroll_id, "period_start": start, "period_end": end,
                           "amount": ln.amount, "children": ln.children, "status": ln.status,
                           "paid_at": ln.paid_at, "reference": ln.reference, "failure": ln.failure}
                          for ln, start, end in lines if ln.beneficiary_id == b.id]}
        for b, code in rows]}


def person_payout_lines(session: Session, individual_ids: list[int] | None) -> Select:
    """(individual_id, payroll line id) of the payouts whose phone number is the person's: their own
    beneficiary lines, and those of the households they head."""
    from schemehost.tenants.registry.people import Household

    own = select(Beneficiary.individual_id, PayrollLine.id).join(
        PayrollLine, PayrollLine.beneficiary_id == Beneficiary.id).where(Beneficiary.individual_id.is_not(None))
    headed = select(Household.head_id, PayrollLine.id).join(
        Beneficiary, Beneficiary.household_id == Household.id).join(
        PayrollLine, PayrollLine.beneficiary_id == Beneficiary.id).where(Household.head_id.is_not(None))
    if individual_ids is not None:
        own = own.where(any_of(Beneficiary.individual_id, individual_ids))
        headed = headed.where(any_of(Household.head_id, individual_ids))
    return union_all(own, headed)


def kept_beneficiaries(session: Session) -> Select:
    """Individuals the retention rule must keep: active or suspended beneficiaries and household heads."""
    from schemehost.tenants.registry.people import Household

    statuses = [s.value for s in KEPT_STATUSES]
    return union_all(
        select(Beneficiary.individual_id).where(Beneficiary.status.in_(statuses),
                                                Beneficiary.individual_id.is_not(None)),
        select(Household.head_id).join(Beneficiary, Beneficiary.household_id == Household.id)
        .where(Beneficiary.status.in_(statuses), Household.head_id.is_not(None)))


def init_app() -> None:
    from schemehost.tenants.payments.privacy import register_person_payables
    from schemehost.tenants.registry.privacy import register_retention_hold, register_subject_provider
    from schemehost.tenants.transfers.services import PAYOUT_KIND

    register_subject_provider("transfers", subject_transfers)
    register_retention_hold("transfers", kept_beneficiaries)
    register_person_payables(PAYOUT_KIND, person_payout_lines)
