"""The vouchers module's part in the registry's personal-data rules: people holding a live voucher
are kept from the retention rule until it ends, and :func:`subject_vouchers` gives a person's
vouchers and redemptions for a subject-access export. Vouchers keep no copy of personal data (a
voucher refers to the individual by id), so there is no erasure handler: an erased person's vouchers
and redemptions stay as they are, for the claims and reports they back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from schemehost.tenants.vouchers.models import LIVE, ProgrammeService, Redemption, Voucher, VoucherProgramme


def subject_vouchers(session: Session, individual_id: int) -> dict[str, Any]:
    """The person's vouchers (programme, status, dates) with each service they used, where and when."""
    vouchers = session.execute(select(Voucher, VoucherProgramme.code).join(
        VoucherProgramme, VoucherProgramme.id == Voucher.programme_id)
        .where(Voucher.individual_id == individual_id, Voucher.value > 0).order_by(Voucher.id)).all()
    uses = session.execute(select(Redemption.voucher_id, ProgrammeService.code, Redemption.occurrence,
                                  Redemption.redeemed_at, Redemption.facility_id)
                           .join(ProgrammeService, ProgrammeService.id == Redemption.service_id)
                           .where(Redemption.voucher_id.in_([v.Voucher.id for v in vouchers]))
                           .order_by(Redemption.id)).all() if vouchers else []
    return {"vouchers": [{
        "programme": code, "code": v.code, "status": v.status, "issued_at": v.issued_at, "expires_on": v.expires_on,
        "cancelled_at": v.cancelled_at,
        "redemptions": [{"service": u.code, "occurrence": u.occurrence, "redeemed_at": u.redeemed_at,
                         "facility_id": u.facility_id} for u in uses if u.voucher_id == v.id]}
        for v, code in vouchers]}


def holders_of_live_vouchers(session: Session) -> Select:
    """Individuals the retention rule must keep for now: those holding a live voucher."""
    return select(Voucher.individual_id).where(Voucher.status.in_([s.value for s in LIVE]))


def init_app() -> None:
    from schemehost.tenants.registry.privacy import register_retention_hold, register_subject_provider

    register_subject_provider("vouchers", subject_vouchers)
    register_retention_hold("vouchers", holders_of_live_vouchers)
