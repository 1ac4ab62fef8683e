"""Reimbursement of facilities (decision 0204): the unclaimed redemptions of a period are batched
into one claim per facility, set-wise; a random sample of each claim is flagged for verification;
once every flagged redemption is confirmed or rejected the claim is approved for its amount less the
rejected ones, then marked paid with the payment's reference. A statement lists a facility's claims.

Periods are days of the tenant's calendar (its time zone). Every function takes the tenant session
first, only flushes, and records changes in the audit log.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Date, String, cast, func, insert, literal, select, update
from sqlalchemy.orm import Session

from schemehost.platform.db import utcnow
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.core.services import tenant_zone
from schemehost.tenants.identity import audit
from schemehost.tenants.registry import services as reg
from schemehost.tenants.vouchers.models import Claim, ClaimStatus, ProgrammeService, Redemption, Verification, Voucher

DEFAULT_SAMPLE = Decimal("0.10")


def get_claim(session: Session, claim_id: Any, *, lock: bool = False) -> Claim:
    found = None
    if isinstance(claim_id, int) and not isinstance(claim_id, bool) and 0 < claim_id < 2 ** 62:
        stmt = select(Claim).where(Claim.id == claim_id)
        found = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No reimbursement claim with id %(id)s.", id=claim_id), errors={"id": [_("unknown claim")]})
    return found


def batch_claims(session: Session, *, period_start: date, period_end: date, facility_id: int | None = None,
                 sample: Decimal = DEFAULT_SAMPLE, created_by: str | None = None) -> list[Claim]:
    """One claim per facility (and currency) for its redemptions of the period not claimed yet, and a
    random sample of each (``sample`` of its redemptions, at least one) flagged for verification.
    422 for a period that ends before it starts or a sample outside 0–1; an empty list when nothing is due."""
    problems: dict[str, list[str]] = {}
    if period_end < period_start:
        problems["period_end"] = [_("before the start of the period")]
    if not Decimal(0) <= Decimal(sample) <= Decimal(1):
        problems["sample"] = [_("between 0 and 1")]
    if facility_id is not None:
        reg.get_facility(session, facility_id)
    if problems:
        raise ValidationError(_("The claims cannot be batched."), errors=problems)
    day = cast(func.timezone(tenant_zone(session), Redemption.redeemed_at), Date)
    due = [Redemption.claim_id.is_(None), day >= period_start, day <= period_end]
    if facility_id is not None:
        due.append(Redemption.facility_id == facility_id)
    groups = (select(Redemption.facility_id, Redemption.currency, func.sum(Redemption.amount), func.count(),
                     literal(period_start, Date), literal(period_end, Date), literal(created_by, String))
              .where(*due).group_by(Redemption.facility_id, Redemption.currency))
    ids = session.execute(insert(Claim).from_select(
        ["facility_id", "currency", "claimed", "redemptions", "period_start", "period_end", "created_by"], groups)
        .returning(Claim.id)).scalars().all()
    if not ids:
        return []
    session.execute(update(Redemption).where(*due, Claim.id.in_(ids), Claim.facility_id == Redemption.facility_id,
                                             Claim.currency == Redemption.currency)
                    .values(claim_id=Claim.id))
    ranked = (select(Redemption.id, func.row_number().over(partition_by=Redemption.claim_id,
                                                           order_by=func.random()).label("k"),
                     func.count().over(partition_by=Redemption.claim_id).label("n"))
              .where(Redemption.claim_id.in_(ids)).subquery())
    rate = float(sample)
    if rate > 0:
        session.execute(update(Redemption).where(
            Redemption.id.in_(select(ranked.c.id).where(ranked.c.k <= func.ceil(ranked.c.n * rate))))
            .values(verification=Verification.flagged.value))
    session.flush()
    claims = list(session.execute(select(Claim).where(Claim.id.in_(ids)).order_by(Claim.id)).scalars())
    audit.record_bulk(session, "vouchers.claims.batch", "voucher_claim", counts={"claims": len(claims),
                      "redemptions": sum(c.redemptions for c in claims)},
                      input_ref={"period": [period_start.isoformat(), period_end.isoformat()], "facility_id": facility_id,
                                 "sample": str(sample)})
    return claims


def list_claims(session: Session, *, facility_id: int | None = None, status: str | None = None,
                limit: int = 200) -> list[Claim]:
    stmt = select(Claim).order_by(Claim.id.desc()).limit(limit)
    if facility_id is not None:
        stmt = stmt.where(Claim.facility_id == facility_id)
    if status:
        stmt = stmt.where(Claim.status == status)
    return list(session.execute(stmt).scalars())


def claim_lines(session: Session, claim_id: int) -> list[dict[str, Any]]:
    """The claim's redemptions: voucher code, service, occurrence, amount, date, verification."""
    rows = session.execute(select(Redemption, Voucher.code, ProgrammeService.code.label("service"))
                           .join(Voucher, Voucher.id == Redemption.voucher_id)
                           .join(ProgrammeService, ProgrammeService.id == Redemption.service_id)
                           .where(Redemption.claim_id == claim_id).order_by(Redemption.id)).all()
    return [{"redemption_id": r.Redemption.id, "voucher_code": r.code, "service": r.service,
             "occurrence": r.Redemption.occurrence, "amount": r.Redemption.amount,
             "redeemed_at": r.Redemption.redeemed_at, "verification": r.Redemption.verification} for r in rows]


def verify_redemption(session: Session, claim_id: int, redemption_id: Any, *, confirmed: bool) -> Redemption:
    """Record the check of a redemption flagged in a claim under verification: confirmed or rejected."""
    claim = get_claim(session, claim_id, lock=True)
    if claim.status != ClaimStatus.verifying:
        raise Conflict(_("This claim is no longer under verification."), reason="not_verifying")
    entry = session.execute(select(Redemption).where(Redemption.id == redemption_id,
                                                     Redemption.claim_id == claim.id)).scalar_one_or_none()
    if entry is None or entry.verification is None:
        raise ValidationError(_("This redemption is not flagged for verification in this claim."),
                              errors={"redemption_id": [_("not flagged in this claim")]})
    before = entry.verification
    entry.verification = (Verification.confirmed if confirmed else Verification.rejected).value
    session.flush()
    audit.record(session, "vouchers.claims.verify", "voucher_claim", claim.id,
                 before={"verification": before}, after={"verification": entry.verification},
                 details={"redemption_id": entry.id})
    return entry


def approve_claim(session: Session, claim_id: int, *, approved_by: str | None = None) -> Claim:
    """Approve a claim whose flagged redemptions are all checked; its amount leaves out the rejected ones."""
    claim = get_claim(session, claim_id, lock=True)
    if claim.status != ClaimStatus.verifying:
        raise Conflict(_("Only a claim under verification can be approved."), reason="not_verifying")
    pending = session.execute(select(func.count()).where(Redemption.claim_id == claim.id,
                                                         Redemption.verification == Verification.flagged)).scalar_one()
    if pending:
        raise Conflict(_("%(n)s flagged redemptions are not verified yet.", n=pending),
                       errors={"verification": [_("%(n)s left to verify", n=pending)]}, reason="unverified")
    amount = session.execute(select(func.coalesce(func.sum(Redemption.amount), 0)).where(
        Redemption.claim_id == claim.id,
        Redemption.verification.is_distinct_from(Verification.rejected.value))).scalar_one()
    claim.status, claim.approved_amount = ClaimStatus.approved, int(amount)
    claim.approved_at, claim.approved_by = utcnow(), approved_by
    session.flush()
    audit.record(session, "vouchers.claims.approve", "voucher_claim", claim.id,
                 after={"status": claim.status, "approved_amount": claim.approved_amount})
    return claim


def pay_claim(session: Session, claim_id: int, *, reference: str, paid_by: str | None = None) -> Claim:
    """Mark an approved claim paid, with the payment's reference (bank transfer, mobile money...)."""
    reference = (reference or "").strip()
    if not reference or len(reference) > 100:
        raise ValidationError(_("Give the payment's reference."), errors={"reference": [_("1 to 100 characters")]})
    claim = get_claim(session, claim_id, lock=True)
    if claim.status != ClaimStatus.approved:
        raise Conflict(_("Only an approved claim can be marked paid."), reason="not_approved")
    claim.status, claim.paid_at, claim.paid_by, claim.payment_reference = ClaimStatus.paid, utcnow(), paid_by, reference
    session.flush()
    audit.record(session, "vouchers.claims.pay", "voucher_claim", claim.id,
                 after={"status": claim.status, "payment_reference": reference})
    return claim


def claim_dict(session: Session, claim: Claim, *, lines: bool = False) -> dict[str, Any]:
    facility = reg.get_facility(session, claim.facility_id)
    flagged = dict(session.execute(select(Redemption.verification, func.count()).where(
        Redemption.claim_id == claim.id, Redemption.verification.is_not(None)).group_by(Redemption.verification)).all())
    out = {"id": claim.id, "facility": facility.code, "facility_name": facility.name,
           "period_start": claim.period_start, "period_end": claim.period_end, "currency": claim.currency,
           "claimed": claim.claimed, "redemptions": claim.redemptions, "approved_amount": claim.approved_amount,
           "status": claim.status, "verification": {v.value: flagged.get(v.value, 0) for v in Verification},
           "created_at": claim.created_at, "approved_at": claim.approved_at, "paid_at": claim.paid_at,
           "payment_reference": claim.payment_reference}
    if lines:
        out["lines"] = claim_lines(session, claim.id)
    return out


def sample_size(n: int, rate: Decimal) -> int:
    """How many of ``n`` redemptions a claim flags at ``rate`` (at least one when the rate is not 0)."""
    return 0 if rate <= 0 or n == 0 else min(n, max(1, math.ceil(n * float(rate))))


__all__ = ["batch_claims", "list_claims", "claim_lines", "verify_redemption", "approve_claim", "pay_claim",
           "claim_dict", "get_claim", "sample_size"]
