"""Claims' part in the registry's personal-data rules (docs/registry.md, personal data).

A claim refers to its insuree by id; the one free text it keeps is the reviewer's ``review_note``.

- **Subject access** (``modules["claims"]``): the person's claims — facility, visit, diagnoses,
  status, amounts, reasons — with their lines (item or service, quantities, prices, decisions).
- **Erasure**: the reviewer's note on the person's claims is cleared; dates, diagnoses, amounts and
  reasons stay, so what a facility was paid still adds up (decision 0310).
- **Retention**: a person with a claim still in progress (entered, checked, processed, or valuated
  and not yet in a facility statement) is kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of
from schemehost.tenants.insurance.claims.models import ClaimStatus, InsuranceClaim
from schemehost.tenants.insurance.claims.services import claim_lines
from schemehost.tenants.registry.models import HealthFacility

IN_PROGRESS = (ClaimStatus.entered.value, ClaimStatus.checked.value, ClaimStatus.processed.value)


def subject_claims(session: Session, individual_id: int) -> dict[str, Any]:
    rows = session.execute(select(InsuranceClaim, HealthFacility.code)
                           .join(HealthFacility, HealthFacility.id == InsuranceClaim.facility_id)
                           .where(InsuranceClaim.individual_id == individual_id)
                           .order_by(InsuranceClaim.id)).all()
    return {"claims": [{
        "id": c.id, "code": c.code, "facility": facility, "visit_type": c.visit_type, "date_from": c.date_from,
        "date_to": c.date_to, "date_claimed": c.date_claimed, "icd_code": c.icd_code,
        "icd_codes": list(c.icd_codes or []), "status": c.status, "currency": c.currency, "claimed": c.claimed,
        "approved": c.approved, "valuated": c.valuated, "rejection_reason": c.rejection_reason,
        "review_note": c.review_note,
        "lines": [{k: line[k] for k in ("line_no", "code", "quantity", "price", "status", "rejection_reason",
                                        "approved_quantity", "approved_price", "valuated", "copayment")}
                  for line in claim_lines(session, c.id)]}
        for c, facility in rows]}


def erase_notes(session: Session, individual_ids: list[int]) -> None:
    """Clear the reviewer's free-text note on the erased people's claims."""
    table = InsuranceClaim.__table__
    session.execute(update(table).where(any_of(table.c.individual_id, individual_ids),
                                        table.c.review_note.is_not(None))
                    .values(review_note=None))


def claimants(session: Session) -> Select:
    """Insurees with a claim in progress: kept from the retention rule."""
    return select(InsuranceClaim.individual_id).where(
        InsuranceClaim.status.in_(IN_PROGRESS)
        | ((InsuranceClaim.status == ClaimStatus.valuated.value) & InsuranceClaim.statement_id.is_(None)))


def init_app() -> None:
    from schemehost.tenants.registry.privacy import (register_erasure_handler, register_retention_hold,
                                                     register_subject_provider)

    register_subject_provider("claims", subject_claims)
    register_erasure_handler("claims", erase_notes)
    register_retention_hold("claims", claimants)
