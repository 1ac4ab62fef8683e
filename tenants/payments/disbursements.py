"""Mobile-money disbursements: one payment per line (e.g. a payroll line), sent with an idempotency
key, retried with backoff after transient failures, finished by a signed result callback.

Lifecycle: ``pending`` → (sent) ``accepted`` → ``succeeded`` / ``failed``; a synchronous answer may
finish it at once. A line is *claimed* before each send (attempts + 1 and a short lease in
``next_attempt_at``, committed), so two workers never send it at the same moment, and the provider
answers a repeated idempotency key with its first result, so a line is never paid twice. A final
status is never changed again: a late or repeated callback only counts ``callbacks``.

Modules learn final statuses through :func:`register_payout` (e.g. transfers marks its payroll
line paid or failed), called once per line, in the transaction that finishes it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from schemehost.platform.db import utcnow
from schemehost.platform.errors import NotFound, ValidationError
from schemehost.platform.money import is_currency
from schemehost.tenants.identity import audit
from schemehost.tenants.payments.adapters import Callback, GatewayRefused, GatewayUnavailable, adapter_for
from schemehost.tenants.payments.models import Disbursement, DisbursementStatus, GatewayKind, PaymentGateway

log = logging.getLogger("schemehost.payments")

PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")
FINAL = (DisbursementStatus.succeeded, DisbursementStatus.failed)
#: how long a claimed line is left alone while it is being sent (longer than any gateway timeout)
LEASE_S = 180
DEFAULT_MAX_ATTEMPTS = 6

PayoutHandler = Callable[[Session, Disbursement], None]
_PAYOUTS: dict[str, PayoutHandler] = {}


def register_payout(kind: str, handler: PayoutHandler) -> None:
    """Let lines of ``kind`` (e.g. ``transfers.payroll_line``) learn their final status through ``handler``."""
    other = _PAYOUTS.get(kind)
    if other is not None and (other.__module__, other.__qualname__) != (handler.__module__, handler.__qualname__):
        raise RuntimeError(f"payout kind {kind!r} already has a handler")
    _PAYOUTS[kind] = handler


@dataclass(frozen=True)
class DisbursementLine:
    idempotency_key: str
    recipient_phone: str
    amount: int
    currency: str
    recipient_name: str | None = None
    payable_kind: str | None = None
    payable_ref: str | None = None


def _line_problems(n: int, line: DisbursementLine) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(line.idempotency_key, str) or not KEY_RE.match(line.idempotency_key):
        errors[f"lines[{n}].idempotency_key"] = [_("1-80 letters, digits, '.', '_', ':' or '-'.")]
    if not isinstance(line.recipient_phone, str) or not PHONE_RE.match(line.recipient_phone):
        errors[f"lines[{n}].recipient_phone"] = [_("A phone number in international form (+255...).")]
    if not isinstance(line.amount, int) or isinstance(line.amount, bool) or line.amount <= 0:
        errors[f"lines[{n}].amount"] = [_("A positive amount in minor units.")]
    if not is_currency(line.currency):
        errors[f"lines[{n}].currency"] = [_("An ISO 4217 currency code.")]
    if line.payable_kind is not None and line.payable_kind not in _PAYOUTS:
        errors[f"lines[{n}].payable_kind"] = [_("No module takes payouts of this kind.")]
    return errors


def request_disbursements(session: Session, gateway_code: str, lines: list[DisbursementLine], *,
                          actor=None) -> list[int]:
    """Record payments to send through a mobile-money gateway, set-wise; returns the ids of the new
    lines. A line whose idempotency key is already recorded is left as it is (asking twice pays once).
    The caller commits, then defers the sends (``tasks.defer_sends``)."""
    gw = session.execute(select(PaymentGateway).where(PaymentGateway.code == gateway_code)).scalar_one_or_none()
    errors: dict[str, list[str]] = {}
    if gw is None:
        raise NotFound(_("No payment gateway '%(code)s'.", code=gateway_code))
    if gw.kind != GatewayKind.mobile_money:
        errors["gateway"] = [_("This gateway does not send payments.")]
    elif not gw.active:
        errors["gateway"] = [_("This gateway is switched off.")]
    for n, line in enumerate(lines):
        errors.update(_line_problems(n, line))
    if len({line.idempotency_key for line in lines}) != len(lines):
        errors["lines"] = [_("An idempotency key appears twice.")]
    if errors:
        raise ValidationError(_("The payments cannot be recorded."), errors=errors)
    if not lines:
        return []
    table = Disbursement.__table__
    now = utcnow()
    ids: list[int] = []
    for start in range(0, len(lines), 5000):
        rows = [{**asdict(line), "gateway_id": gw.id, "status": DisbursementStatus.pending, "created_at": now,
                 "updated_at": now} for line in lines[start:start + 5000]]
        ids += session.execute(pg_insert(table).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
                               .returning(table.c.id)).scalars().all()
    audit.record_bulk(session, "payments.disbursements.requested", "payment_disbursement",
                      counts={"lines": len(lines), "new": len(ids)}, input_ref={"gateway": gw.code},
                      actor=actor)
    return ids


def claim(session: Session, disbursement_id: int, *, now: datetime | None = None) -> Disbursement | None:
    """Take a pending, due line for one send (attempts + 1, leased); None when another worker has it,
    it is not due, or it is no longer pending. Commit before sending."""
    now = now or utcnow()
    table = Disbursement.__table__
    claimed = session.execute(
        update(table).where(table.c.id == disbursement_id, table.c.status == DisbursementStatus.pending,
                            or_(table.c.next_attempt_at.is_(None), table.c.next_attempt_at <= now))
        .values(attempts=table.c.attempts + 1, next_attempt_at=now + timedelta(seconds=LEASE_S), updated_at=now)
        .returning(table.c.id)).scalar_one_or_none()
    if claimed is None:
        return None
    line = session.get(Disbursement, claimed)
    session.refresh(line)
    return line


def backoff_s(attempts: int, base_s: float) -> float:
    """Seconds before the next try after ``attempts`` sends: base, 2×base, 4×base, ..."""
    return base_s * (2 ** max(attempts - 1, 0))


def send_claimed(session: Session, line: Disbursement, *, max_attempts: int, base_s: float) -> str:
    """Send a claimed line and record the answer. Transient failure: back to ``pending`` with the next
    try after a backoff, and :class:`GatewayUnavailable` is raised for the job to retry — unless the
    attempts ran out, then ``failed``. Refusal: ``failed``. Returns the line's status."""
    gw = session.get(PaymentGateway, line.gateway_id)
    from schemehost.tenants.payments.services import gateway_config

    try:
        answer = adapter_for(gw.kind).send(gateway_config(gw), {
            "idempotency_key": line.idempotency_key, "recipient_phone": line.recipient_phone,
            "recipient_name": line.recipient_name, "amount": line.amount, "currency": line.currency})
    except GatewayUnavailable as err:
        line = _locked(session, line.id)
        if line.status != DisbursementStatus.pending:  # a callback finished it meanwhile
            return line.status
        line.last_error = _("The gateway could not be reached (%(reason)s).", reason=str(err))[:300]
        if line.attempts >= max_attempts:
            _finish(session, line, DisbursementStatus.failed, code="attempts-exhausted", actor=None)
            return line.status
        line.next_attempt_at = utcnow() + timedelta(seconds=backoff_s(line.attempts, base_s))
        session.flush()
        raise
    except GatewayRefused as err:
        line = _locked(session, line.id)
        if line.status not in FINAL:
            line.last_error = _("The gateway refused the payment (code %(code)s).", code=err.code)[:300]
            _finish(session, line, DisbursementStatus.failed, code=err.code, actor=None)
        return line.status
    line = _locked(session, line.id)
    if line.status in FINAL:  # the result callback came before the answer
        return line.status
    if answer["provider_txn_id"] and not line.provider_txn_id:
        line.provider_txn_id = answer["provider_txn_id"]
    line.last_error, line.next_attempt_at = None, None
    if answer["status"] in ("succeeded", "failed"):
        _finish(session, line, DisbursementStatus(answer["status"]), code=answer["code"], actor=None)
    else:
        line.status = DisbursementStatus.accepted
        session.flush()
    return line.status


def _locked(session: Session, disbursement_id: int) -> Disbursement:
    line = session.execute(select(Disbursement).where(Disbursement.id == disbursement_id).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one()
    return line


def _finish(session: Session, line: Disbursement, status: DisbursementStatus, *, code: str | None, actor) -> None:
    """Give a line its final status (once) and tell the module it pays."""
    before = line.status
    line.status, line.result_code, line.finished_at, line.next_attempt_at = status, code, utcnow(), None
    session.flush()
    audit.record(session, f"payments.disbursement.{status.value}", "payment_disbursement", line.id, actor=actor,
                 before={"status": before}, after={"status": line.status, "code": code},
                 details={"key": line.idempotency_key, "amount": line.amount, "currency": line.currency})
    if line.payable_kind is not None:
        handler = _PAYOUTS.get(line.payable_kind)
        if handler is None:
            raise RuntimeError(f"no payout handler for {line.payable_kind!r}")
        handler(session, line)


def apply_result(session: Session, gw: PaymentGateway, cb: Callback, actor) -> str:
    """A verified result callback: the line's final status (once); later deliveries only count."""
    f = cb.fields
    line = session.execute(select(Disbursement).where(Disbursement.idempotency_key == f["reference"],
                                                      Disbursement.gateway_id == gw.id).with_for_update()
                           ).scalar_one_or_none()
    if line is None:
        log.warning("gateway %s: result for an unknown payment", gw.code)
        return "unknown"
    line.callbacks += 1
    if f["provider_txn_id"] and not line.provider_txn_id:
        line.provider_txn_id = f["provider_txn_id"]
    if line.status in FINAL:
        if line.status != f["status"]:
            log.warning("gateway %s: payment %s already %s; a later result %s is ignored", gw.code, line.id,
                        line.status, f["status"])
        session.flush()
        return "ok"
    line.last_error = None
    _finish(session, line, DisbursementStatus(f["status"]), code=f["code"], actor=actor)
    return "ok"


def get_disbursement(session: Session, disbursement_id: int) -> Disbursement:
    line = session.get(Disbursement, disbursement_id)
    if line is None:
        raise NotFound(_("No payment %(id)s.", id=disbursement_id))
    return line


def list_disbursements(session: Session, *, status: str | None = None, payable_kind: str | None = None,
                       after_id: int | None = None, limit: int = 50) -> list[Disbursement]:
    query = select(Disbursement)
    if status is not None:
        query = query.where(Disbursement.status == status)
    if payable_kind is not None:
        query = query.where(Disbursement.payable_kind == payable_kind)
    if after_id is not None:
        query = query.where(Disbursement.id > after_id)
    return list(session.execute(query.order_by(Disbursement.id).limit(limit)).scalars())


def due_ids(session: Session, *, now: datetime | None = None, limit: int = 10_000) -> list[int]:
    """Pending lines whose next try is due (for the periodic sweep that re-defers lost sends)."""
    now = now or utcnow()
    return list(session.execute(
        select(Disbursement.id).where(Disbursement.status == DisbursementStatus.pending,
                                      or_(Disbursement.next_attempt_at.is_(None), Disbursement.next_attempt_at <= now))
        .order_by(Disbursement.id).limit(limit)).scalars())


def summary(session: Session) -> dict[str, Any]:
    from sqlalchemy import func

    rows = session.execute(select(Disbursement.status, Disbursement.currency, func.count(), func.sum(Disbursement.amount))
                           .group_by(Disbursement.status, Disbursement.currency)).all()
    return {"disbursements": [{"status": s, "currency": c, "count": n, "amount": int(a or 0)} for s, c, n, a in rows]}
