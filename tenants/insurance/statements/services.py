"""Facility payment (decision 0325): a statement takes every valuated claim of one facility whose
valuation day (tenant's calendar) lies in a period and that no statement holds yet, set-wise, in one
transaction; a second person approves it (maker-checker); it is marked paid once, with the payment's
date and reference; a statement not yet paid can be cancelled, which frees its claims.

Every function takes the tenant session first, only flushes, and records changes in the audit log.
Facilities outside a location-restricted principal's area are unknown to it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Date, Select, cast, func, select, update
from sqlalchemy.orm import Session

from schemehost.platform.db import utcnow
from schemehost.platform.errors import Conflict, Forbidden, NotFound, ValidationError
from schemehost.tenants.core.services import tenant_zone
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.insurance.claims.models import ClaimStatus, InsuranceClaim
from schemehost.tenants.insurance.statements.models import (PAYMENT_REFERENCE_LENGTH, REASON_LENGTH, ClaimStatement,
                                                            StatementStatus)
from schemehost.tenants.registry.eligibility import tenant_today
from schemehost.tenants.registry.models import HealthFacility
from schemehost.tenants.registry.people import Individual

ENTITY = "claim_statement"
#: the longest period a statement may cover (a payment cycle is a month or a quarter)
MAX_PERIOD_DAYS = 366
#: columns of a statement's CSV and XLSX export, in order
EXPORT_COLUMNS = ["statement", "facility", "claim", "insuree", "date_from", "date_to", "visit_type", "claimed",
                  "approved", "valuated", "currency", "valuated_on"]


def _actor(principal: Principal | None) -> tuple[str, str | None]:
    return ("system:-", None) if principal is None else (f"{principal.kind}:{principal.id}", principal.name)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2 ** 62


def _facility(session: Session, facility_id: Any, principal: Principal | None) -> HealthFacility | None:
    if not _is_id(facility_id):
        return None
    stmt = select(HealthFacility).where(HealthFacility.id == facility_id)
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, HealthFacility.location_id)
    return session.execute(stmt).scalar_one_or_none()


def valuation_day(session: Session):
    """SQL: the day (tenant's calendar) on which a claim was valuated."""
    return cast(func.timezone(tenant_zone(session), InsuranceClaim.valuated_at), Date)


def _due(session: Session, facility_id: int, period_start: date, period_end: date) -> list:
    day = valuation_day(session)
    return [InsuranceClaim.facility_id == facility_id, InsuranceClaim.status == ClaimStatus.valuated.value,
            InsuranceClaim.statement_id.is_(None), InsuranceClaim.valuated_at.is_not(None),
            day >= period_start, day <= period_end]


def create_statement(session: Session, *, facility_id: Any, period_start: date | None, period_end: date | None,
                     currency: str | None = None, principal: Principal | None = None) -> ClaimStatement:
    """A ``draft`` statement of every valuated claim of the facility valuated in the period and in no
    statement yet. 422 for a bad period, an unknown facility, several currencies without ``currency``,
    or nothing to pay (also when a statement made at the same moment took the claims: a claim is only
    ever linked by one ``UPDATE ... WHERE statement_id IS NULL``, so concurrent statements share none)."""
    problems: dict[str, list[str]] = {}
    if period_start is None:
        problems["period_start"] = [_("required")]
    if period_end is None:
        problems["period_end"] = [_("required")]
    if period_start is not None and period_end is not None:
        if period_end < period_start:
            problems["period_end"] = [_("before the start of the period")]
        elif (period_end - period_start).days >= MAX_PERIOD_DAYS:
            problems["period_end"] = [_("a period of at most %(n)d days", n=MAX_PERIOD_DAYS)]
    facility = _facility(session, facility_id, principal)
    if facility is None:
        problems["facility_id"] = [_("unknown health facility")]
    if currency is not None and not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
        problems["currency"] = [_("a currency code of 3 letters")]
    if problems:
        raise ValidationError(_("The statement cannot be made."), errors=problems)
    currency = currency.upper() if currency else None
    due = _due(session, facility.id, period_start, period_end)
    found = dict(session.execute(select(InsuranceClaim.currency, func.count()).where(*due)
                                 .group_by(InsuranceClaim.currency)).all())
    if currency is None and len(found) > 1:
        raise ValidationError(_("The claims of this period are in several currencies: choose one."),
                              errors={"currency": [_("one of: %(values)s", values=", ".join(sorted(found)))]})
    currency = currency or next(iter(found), None)
    if not found.get(currency):
        raise ValidationError(_("No valuated claim of this facility in this period is left to pay."),
                              errors={"period": [_("no valuated claim left to pay")]}, reason="empty")
    maker, maker_name = _actor(principal)
    statement = ClaimStatement(reference=f"new-{uuid.uuid4().hex[:32]}", facility_id=facility.id,
                               period_start=period_start, period_end=period_end, currency=currency,
                               status=StatementStatus.draft.value, total=0, claim_count=found[currency],
                               created_by=maker, created_by_name=maker_name)
    session.add(statement)
    session.flush()
    # the link itself: a claim another transaction linked first is skipped once its lock is released
    linked = session.execute(update(InsuranceClaim).where(*due, InsuranceClaim.currency == currency)
                             .values(statement_id=statement.id)
                             .returning(InsuranceClaim.valuated)).scalars().all()
    if not linked:
        raise ValidationError(_("No valuated claim of this facility in this period is left to pay."),
                              errors={"period": [_("no valuated claim left to pay")]}, reason="empty")
    statement.total, statement.claim_count = sum(int(v or 0) for v in linked), len(linked)
    statement.reference = f"ST-{statement.id:06d}"
    session.flush()
    audit.record_bulk(session, "insurance.statements.create", ENTITY,
                      counts={"claims": statement.claim_count, "total": statement.total},
                      input_ref={"statement": statement.id, "facility_id": facility.id,
                                 "period": [period_start.isoformat(), period_end.isoformat()], "currency": currency})
    return statement


def _restricted(stmt: Select, principal: Principal | None) -> Select:
    if principal is None:
        return stmt
    return restrict_to_locations(stmt.join(HealthFacility, HealthFacility.id == ClaimStatement.facility_id),
                                 principal, HealthFacility.location_id)


def get_statement(session: Session, statement_id: Any, *, principal: Principal | None = None,
                  lock: bool = False) -> ClaimStatement:
    """The statement (404 when unknown, or of a facility outside the principal's locations)."""
    found = None
    if _is_id(statement_id):
        stmt = _restricted(select(ClaimStatement).where(ClaimStatement.id == statement_id), principal)
        found = session.execute(stmt.with_for_update(of=ClaimStatement) if lock else stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No statement with id %(id)s.", id=statement_id), errors={"id": [_("unknown statement")]})
    return found


def list_statements(session: Session, *, facility_id: int | None = None, status: str | None = None,
                    principal: Principal | None = None, limit: int = 200) -> list[ClaimStatement]:
    """Statements newest first, by facility and status, within the principal's locations."""
    stmt = select(ClaimStatement).order_by(ClaimStatement.id.desc()).limit(limit)
    if facility_id is not None:
        stmt = stmt.where(ClaimStatement.facility_id == facility_id)
    if status:
        if status not in StatementStatus.__members__:
            raise ValidationError(_("Unknown status."), errors={"status": [
                _("one of: %(values)s", values=", ".join(StatementStatus))]})
        stmt = stmt.where(ClaimStatement.status == status)
    return list(session.execute(_restricted(stmt, principal)).scalars())


def _guarded(session: Session, statement: ClaimStatement, allowed: tuple[StatementStatus, ...],
             *extra, **values) -> bool:
    """One ``UPDATE ... WHERE status IN (allowed)``: a second click waits for the first's lock and then
    finds nothing to change."""
    done = session.execute(update(ClaimStatement).where(
        ClaimStatement.id == statement.id, ClaimStatement.status.in_([s.value for s in allowed]), *extra)
        .values(updated_at=utcnow(), **values).returning(ClaimStatement.id)).first()
    session.refresh(statement)
    return done is not None


def approve_statement(session: Session, statement_id: Any, *, principal: Principal | None) -> ClaimStatement:
    """Approve a draft statement: by anyone but who made it (403), once (409)."""
    statement = get_statement(session, statement_id, principal=principal)
    checker, checker_name = _actor(principal)
    if statement.created_by == checker:
        raise Forbidden(_("Whoever made a statement cannot approve it: another person must."),
                        errors={"approver": [_("the same person made it")]})
    if not _guarded(session, statement, (StatementStatus.draft,), ClaimStatement.created_by != checker,
                    status=StatementStatus.approved.value, approved_by=checker, approved_by_name=checker_name,
                    approved_at=utcnow()):
        raise Conflict(_("Only a draft statement can be approved; this one is %(status)s.", status=statement.status),
                       reason="not_draft")
    audit.record(session, "insurance.statements.approve", ENTITY, statement.id,
                 before={"status": StatementStatus.draft.value}, after={"status": statement.status})
    return statement


def pay_statement(session: Session, statement_id: Any, *, paid_on: date | None, reference: str | None,
                  principal: Principal | None) -> ClaimStatement:
    """Mark an approved statement paid on ``paid_on`` with the payment's reference (bank transfer,
    mobile money...): once — a second time answers 409."""
    problems: dict[str, list[str]] = {}
    reference = (reference or "").strip()
    if not reference or len(reference) > PAYMENT_REFERENCE_LENGTH:
        problems["payment_reference"] = [_("1 to %(n)d characters", n=PAYMENT_REFERENCE_LENGTH)]
    if paid_on is None:
        problems["paid_on"] = [_("required")]
    elif paid_on > tenant_today(session):
        problems["paid_on"] = [_("not in the future")]
    statement = get_statement(session, statement_id, principal=principal)
    if problems:
        raise ValidationError(_("The payment cannot be recorded."), errors=problems)
    _maker, name = _actor(principal)
    if not _guarded(session, statement, (StatementStatus.approved,), status=StatementStatus.paid.value,
                    paid_on=paid_on, payment_reference=reference, paid_by_name=name, paid_at=utcnow()):
        raise Conflict(_("Only an approved statement can be marked paid; this one is %(status)s.",
                         status=statement.status), reason="not_approved")
    audit.record(session, "insurance.statements.pay", ENTITY, statement.id,
                 before={"status": StatementStatus.approved.value},
                 after={"status": statement.status, "paid_on": paid_on.isoformat(), "payment_reference": reference},
                 details={"total": statement.total, "currency": statement.currency})
    return statement


def cancel_statement(session: Session, statement_id: Any, *, reason: str | None,
                     principal: Principal | None) -> ClaimStatement:
    """Cancel a statement not yet paid, saying why; its claims are free for another statement."""
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_LENGTH:
        raise ValidationError(_("Say why the statement is cancelled."),
                              errors={"reason": [_("1 to %(n)d characters", n=REASON_LENGTH)]})
    statement = get_statement(session, statement_id, principal=principal)
    before = statement.status
    _maker, name = _actor(principal)
    if not _guarded(session, statement, (StatementStatus.draft, StatementStatus.approved),
                    status=StatementStatus.cancelled.value, cancelled_by_name=name, cancelled_at=utcnow(),
                    cancel_reason=reason):
        raise Conflict(_("A %(status)s statement cannot be cancelled.", status=statement.status),
                       reason="not_cancellable")
    freed = session.execute(update(InsuranceClaim).where(InsuranceClaim.statement_id == statement.id)
                            .values(statement_id=None)).rowcount
    audit.record(session, "insurance.statements.cancel", ENTITY, statement.id, before={"status": before},
                 after={"status": statement.status}, details={"reason": reason, "claims_freed": freed})
    return statement


def claims_select(session: Session, statement_id: int) -> Select:
    """The statement's claims in claim-number order, as rows of :data:`EXPORT_COLUMNS`."""
    return (select(ClaimStatement.reference.label("statement"), HealthFacility.code.label("facility"),
                   InsuranceClaim.code.label("claim"), Individual.scheme_number.label("insuree"),
                   InsuranceClaim.date_from, InsuranceClaim.date_to, InsuranceClaim.visit_type,
                   InsuranceClaim.claimed, InsuranceClaim.approved, InsuranceClaim.valuated,
                   InsuranceClaim.currency, valuation_day(session).label("valuated_on"))
            .select_from(InsuranceClaim)
            .join(ClaimStatement, ClaimStatement.id == InsuranceClaim.statement_id)
            .join(HealthFacility, HealthFacility.id == InsuranceClaim.facility_id)
            .join(Individual, Individual.id == InsuranceClaim.individual_id)
            .where(InsuranceClaim.statement_id == statement_id)
            .order_by(InsuranceClaim.code, InsuranceClaim.id))


def statement_claims(session: Session, statement: ClaimStatement) -> list[dict[str, Any]]:
    """The claims a statement pays (none once cancelled: cancelling frees them)."""
    stmt = claims_select(session, statement.id).add_columns(InsuranceClaim.id.label("id"))
    return [dict(r._mapping) for r in session.execute(stmt)]


def statement_dict(session: Session, statement: ClaimStatement, *, claims: bool = False) -> dict[str, Any]:
    facility = session.get(HealthFacility, statement.facility_id)
    out = {f: getattr(statement, f) for f in (
        "id", "reference", "facility_id", "period_start", "period_end", "currency", "status", "total", "claim_count",
        "created_by_name", "approved_by_name", "approved_at", "paid_on", "payment_reference", "paid_by_name",
        "paid_at", "cancelled_by_name", "cancelled_at", "cancel_reason", "created_at", "updated_at")}
    out["facility"], out["facility_name"] = facility.code, facility.name
    if claims:
        out["claims"] = statement_claims(session, statement)
    return out


__all__ = ["EXPORT_COLUMNS", "create_statement", "get_statement", "list_statements", "approve_statement",
           "pay_statement", "cancel_statement", "claims_select", "statement_claims", "statement_dict",
           "valuation_day"]
