"""The insurance module's part in the registry's personal-data rules (docs/registry.md, personal data).

A policy insures a household; its members are registry individuals referred to by id. The one copy of
personal data the module keeps is the free-text ``payer`` of a contribution (who paid, as written on
the receipt): erasure clears it on the contributions of every policy the erased person is a member of,
and keeps amounts, dates, methods and receipt numbers (the policy's paid total stays consistent).

- **Subject access**: the policies the person is a member of (product, period, status, value, paid),
  the other members of a household's policy by id only (a worker sees their own wage and covered days,
  not their co-workers), the policies' contributions, and the person's work incidents.
- **Erasure**: the payer's name on a household's contributions (an employer's policy is paid by the
  employer: its contributions keep the employer's name); the place, description and decision note of
  the person's work incidents (their dates, kind and status stay for the claims that reference them).
- **Retention**: a member of a policy that is not expired (enrolled, paid, active or suspended) is kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of
from schemehost.tenants.insurance.models import (Contribution, Holder, InsuranceProduct, Policy, PolicyMember,
                                                 PolicyStatus, WorkIncident)

#: what an erased person's work incidents keep of their free text
ERASED = "-"

#: Policy statuses that keep their members from the retention rule.
KEPT_STATUSES = (PolicyStatus.idle, PolicyStatus.ready, PolicyStatus.active, PolicyStatus.suspended)


def subject_insurance(session: Session, individual_id: int) -> dict[str, Any]:
    policies = session.execute(
        select(Policy, InsuranceProduct.code).join(InsuranceProduct, InsuranceProduct.id == Policy.product_id)
        .where(Policy.id.in_(select(PolicyMember.policy_id).where(PolicyMember.individual_id == individual_id)))
        .order_by(Policy.id)).all()
    ids = [p.id for p, _ in policies]
    members = session.execute(select(PolicyMember).where(PolicyMember.policy_id.in_(ids))
                              .order_by(PolicyMember.individual_id)).scalars().all() if ids else []
    own = {m.policy_id: m for m in members if m.individual_id == individual_id}
    incidents = session.execute(select(WorkIncident).where(WorkIncident.individual_id == individual_id)
                                .order_by(WorkIncident.id)).scalars().all()
    paid = list(session.execute(select(Contribution).where(Contribution.policy_id.in_(ids))
                                .order_by(Contribution.id)).scalars()) if ids else []
    return {"policies": [{
        "id": p.id, "product": code, "holder": p.holder, "household_id": p.household_id,
        "employer_id": p.employer_id, "stage": p.stage, "status": p.status,
        "enrol_date": p.enrol_date, "start_date": p.start_date, "expiry_date": p.expiry_date,
        "effective_date": p.effective_date, "value": p.value, "paid": p.paid, "currency": p.currency,
        "member_ids": [m.individual_id for m in members if m.policy_id == p.id] if p.holder == Holder.household
        else [individual_id],
        "wage": own[p.id].wage, "covered_from": own[p.id].covered_from, "covered_to": own[p.id].covered_to,
        "contributions": [{"id": c.id, "amount": c.amount, "currency": c.currency, "paid_on": c.paid_on,
                           "payer": c.payer, "method": c.method, "receipt_no": c.receipt_no,
                           "overpayment": c.overpayment} for c in paid if c.policy_id == p.id]}
        for p, code in policies],
        "work_incidents": [{"id": i.id, "employer_id": i.employer_id, "incident_date": i.incident_date,
                            "reported_on": i.reported_on, "kind": i.kind, "place": i.place,
                            "description": i.description, "status": i.status, "decided_on": i.decided_on,
                            "decision_note": i.decision_note} for i in incidents]}


def erase_payers(session: Session, individual_ids: list[int]) -> None:
    """Clear the payer's name on the contributions of the erased people's household policies, and the
    free text of their work incidents."""
    policies = (select(PolicyMember.policy_id).join(Policy, Policy.id == PolicyMember.policy_id)
                .where(any_of(PolicyMember.individual_id, individual_ids), Policy.holder == Holder.household.value))
    session.execute(update(Contribution.__table__)
                    .where(Contribution.__table__.c.policy_id.in_(policies),
                           Contribution.__table__.c.payer.is_not(None))
                    .values(payer=None))
    session.execute(update(WorkIncident.__table__)
                    .where(any_of(WorkIncident.__table__.c.individual_id, individual_ids))
                    .values(place=ERASED, description=ERASED, decision_note=None))


def insured_members(session: Session) -> Select:
    """Members of a policy that has not expired: kept from the retention rule."""
    return select(PolicyMember.individual_id).join(Policy, Policy.id == PolicyMember.policy_id) \
        .where(Policy.status.in_([s.value for s in KEPT_STATUSES]))


def init_app() -> None:
    from schemehost.tenants.registry.privacy import (register_erasure_handler, register_retention_hold,
                                                     register_subject_provider)

    register_subject_provider("insurance", subject_insurance)
    register_erasure_handler("insurance", erase_payers)
    register_retention_hold("insurance", insured_members)
