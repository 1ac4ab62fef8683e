"""Claim review: selection of checked claims for review and for beneficiary feedback, the review of a
claim line by line, and the processing of claims nobody needs to look at.

**Selection** (:func:`select_for_review`, called by the checks on the claims they just checked): a
claim is selected for review when a random draw falls within the tenant's percentage, when it claims
more than a threshold, or when it has a line of a listed item or service; the same three rules, with
their own values, select claims for beneficiary feedback. The rules are the tenant setting ``claims``
(:func:`selection_rules`, changed with :func:`set_selection_rules`). One UPDATE per purpose.

**Review** (:func:`review_claim`): a reviewer approves, adjusts (a lower quantity or price) or rejects
(with a review reason) each line the checks passed; lines not named are approved as claimed. The
claim becomes ``processed`` (``approved`` = Σ approved quantity × approved price) or ``rejected`` when
no line is left. The request names the claim's ``version``: the claim row is moved by one
compare-and-set UPDATE (``WHERE version = :v AND status = 'checked'``), so of two reviewers of the
same claim one wins and the other gets 409 — the loser's UPDATE waits for the winner's row lock and
then finds the version changed (decision 0311).

**Processing without review** (:func:`process_claims`): checked claims not selected for review are
processed with every passed line approved as claimed, in one statement per table.

Every transition is audited: one entry per reviewed claim, one per processing run.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, case, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from schemehost.platform.db import any_of
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.insurance.claims.models import (NOTE_LENGTH, ClaimLine, ClaimStatus, InsuranceClaim,
                                                        LineStatus, Selection)
from schemehost.tenants.insurance.claims.reasons import REVIEW
from schemehost.tenants.insurance.claims.services import (ENTITY, _scoped, check_version, get_claim, snapshot,
                                                          stale)
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.registry.models import CatalogueEntry

SETTING = "claims"
PURPOSES = ("review", "feedback")
DECISIONS = ("approve", "adjust", "reject")
#: the rules when the tenant set none: nothing is selected
NO_RULES = {"percent": 0, "above": None, "items": []}


# ---- selection rules -----------------------------------------------------------------------------------


def selection_rules(session: Session) -> dict[str, dict[str, Any]]:
    """``{"review": {"percent", "above", "items"}, "feedback": {...}}`` from the tenant's settings."""
    value = session.execute(select(Setting.value).where(Setting.key == SETTING)).scalar_one_or_none()
    value = value if isinstance(value, dict) else {}
    out = {}
    for purpose in PURPOSES:
        rules = value.get(purpose) if isinstance(value.get(purpose), dict) else {}
        out[purpose] = {**NO_RULES, **{k: v for k, v in rules.items() if k in NO_RULES}}
    return out


def set_selection_rules(session: Session, rules: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Replace the selection rules (422 naming every bad field: ``review.percent``, ...): ``percent``
    0–100, ``above`` an amount in minor units or None, ``items`` catalogue codes."""
    p = c.Problems()
    clean: dict[str, dict[str, Any]] = {}
    for purpose in PURPOSES:
        given = rules.get(purpose) or {}
        if not isinstance(given, dict):
            p.add(purpose, _("An object with percent, above and items."))
            continue
        percent = c.percent(given.get("percent", 0), p, f"{purpose}.percent")
        above = c.amount(given.get("above"), p, f"{purpose}.above")
        items = given.get("items") or []
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            p.add(f"{purpose}.items", _("A list of item or service codes."))
            items = []
        items = sorted({i.strip() for i in items})
        known = set(session.execute(select(CatalogueEntry.code).where(CatalogueEntry.code.in_(items))).scalars())
        for code in items:
            if code not in known:
                p.add(f"{purpose}.items", _("No item or service of the catalogue has the code %(code)s.", code=code))
        clean[purpose] = {"percent": float(percent or 0), "above": above, "items": items}
    p.raise_if_any(_("The selection rules cannot be saved."))
    before = selection_rules(session)
    session.execute(insert(Setting).values(key=SETTING, value=clean)
                    .on_conflict_do_update(index_elements=["key"], set_={"value": clean}))
    audit.record(session, "update", "setting", SETTING, before={"value": before}, after={"value": clean})
    session.flush()
    return clean


def select_for_review(session: Session, claim_ids: list[int]) -> dict[str, int]:
    """Mark which of these ``checked`` claims go to review and which to beneficiary feedback, by the
    tenant's rules (random percentage, claimed above a threshold, a listed item or service); claims
    already selected keep their mark. Any number of ids (bound as one array). Returns ``{"review": n,
    "feedback": m}`` (newly selected)."""
    ids = [i for i in claim_ids if isinstance(i, int) and not isinstance(i, bool)]
    out = {"review": 0, "feedback": 0}
    if not ids:
        return out
    rules = selection_rules(session)
    for purpose, column in (("review", InsuranceClaim.review_status), ("feedback", InsuranceClaim.feedback_status)):
        rule = rules[purpose]
        conditions = []
        if rule["percent"]:
            conditions.append(func.random() * 100 < float(rule["percent"]))
        if rule["above"] is not None:
            conditions.append(InsuranceClaim.claimed > int(rule["above"]))
        if rule["items"]:
            conditions.append(exists(
                select(1).select_from(ClaimLine).join(CatalogueEntry, CatalogueEntry.id == ClaimLine.entry_id)
                .where(ClaimLine.claim_id == InsuranceClaim.id, CatalogueEntry.code.in_(rule["items"]))))
        if not conditions:
            continue
        result = session.execute(
            update(InsuranceClaim)
            .where(any_of(InsuranceClaim.id, ids), InsuranceClaim.status == ClaimStatus.checked.value,
                   column == Selection.not_selected.value, or_(*conditions))
            .values({column.key: Selection.selected.value})
            .execution_options(synchronize_session=False))
        out[purpose] = result.rowcount or 0
    session.flush()
    return out


def review_queue(session: Session, *, principal: Principal | None, selected_only: bool = False,
                 after_id: int | None = None, limit: int = 100) -> list[InsuranceClaim]:
    """Checked claims waiting for a decision, oldest first (those selected for review only, when asked)."""
    stmt = _scoped(select(InsuranceClaim), principal).where(InsuranceClaim.status == ClaimStatus.checked.value)
    if selected_only:
        stmt = stmt.where(InsuranceClaim.review_status == Selection.selected.value)
    if after_id is not None:
        stmt = stmt.where(InsuranceClaim.id > after_id)
    return list(session.execute(stmt.order_by(InsuranceClaim.id).limit(limit)).scalars())


# ---- review --------------------------------------------------------------------------------------------


def _clean_decisions(raw: Any, lines: dict[int, ClaimLine], p: c.Problems) -> dict[int, dict[str, Any]]:
    """line_no -> {status, approved_quantity, approved_price, rejection_reason}, for every line the
    checks passed (lines not named are approved as claimed)."""
    out: dict[int, dict[str, Any]] = {}
    given = raw if isinstance(raw, list) else None
    if given is None:
        p.add("lines", _("A list of line decisions."))
        given = []
    seen: set[int] = set()
    for i, item in enumerate(given):
        item = item if isinstance(item, dict) else {}
        no = item.get("line_no")
        line = lines.get(no) if isinstance(no, int) and not isinstance(no, bool) else None
        if line is None:
            p.add(f"lines.{i}.line_no", _("The claim has no line %(n)s.", n=no))
            continue
        if no in seen:
            p.add(f"lines.{i}.line_no", _("Line %(n)s is named twice.", n=no))
            continue
        seen.add(no)
        if line.status != LineStatus.passed.value:
            p.add(f"lines.{i}.line_no", _("Line %(n)s was rejected by the checks.", n=no))
            continue
        decision = c.choice(item.get("decision"), DECISIONS, p, f"lines.{i}.decision")
        reason = item.get("reason") or None
        if reason is not None and reason not in REVIEW:
            p.add(f"lines.{i}.reason", _("One of: %(values)s.", values=", ".join(REVIEW)))
            reason = None
        if decision == "approve":
            out[no] = {"status": LineStatus.approved.value, "approved_quantity": line.quantity,
                       "approved_price": line.price, "rejection_reason": None}
        elif decision == "reject":
            if reason is None and f"lines.{i}.reason" not in p:
                p.add(f"lines.{i}.reason", _("A rejected line needs a reason."))
            out[no] = {"status": LineStatus.rejected.value, "approved_quantity": None, "approved_price": None,
                       "rejection_reason": reason}
        elif decision == "adjust":
            quantity, price = item.get("quantity", line.quantity), item.get("price", line.price)
            if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= line.quantity:
                p.add(f"lines.{i}.quantity", _("A whole number from 1 to the claimed %(n)d.", n=line.quantity))
            if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price <= line.price:
                p.add(f"lines.{i}.price", _("An amount from 0 to the claimed %(n)d.", n=line.price))
            if quantity == line.quantity and price == line.price and f"lines.{i}.quantity" not in p:
                p.add(f"lines.{i}.quantity", _("An adjustment changes the quantity or the price."))
            out[no] = {"status": LineStatus.adjusted.value, "approved_quantity": quantity, "approved_price": price,
                       "rejection_reason": reason}
    for no, line in lines.items():
        if no not in out and line.status == LineStatus.passed.value:
            out[no] = {"status": LineStatus.approved.value, "approved_quantity": line.quantity,
                       "approved_price": line.price, "rejection_reason": None}
    return out


def review_claim(session: Session, claim_id: int, *, version: Any, lines: Any, note: Any = None,
                 principal: Principal | None) -> InsuranceClaim:
    """Decide a ``checked`` claim line by line (see the module's docstring): 422 naming every bad
    decision, 409 when ``version`` is not the claim's current one or the claim is no longer ``checked``
    (another reviewer won). Returns the claim, ``processed`` or ``rejected``."""
    claim = get_claim(session, claim_id, principal=principal)
    p = c.Problems()
    check_version(version, p)
    note = c.text(note, p, "note", limit=NOTE_LENGTH, required=False)
    current = {line.line_no: line for line in session.execute(
        select(ClaimLine).where(ClaimLine.claim_id == claim.id)).scalars()}
    decisions = _clean_decisions(lines, current, p)
    if "version" in p:
        p.raise_if_any(_("The review cannot be saved."))
    if p.errors:
        # the lines were read after the claim: a reviewer who committed in between changed both, and
        # that is a 409 (the claim moved on), not a 422 about lines the other reviewer decided
        session.refresh(claim)
    if claim.status != ClaimStatus.checked.value or claim.version != version:
        raise stale(claim, version)
    p.raise_if_any(_("The review cannot be saved."))
    before = snapshot(claim)
    kept = [d for d in decisions.values() if d["status"] != LineStatus.rejected.value]
    approved = sum(d["approved_quantity"] * d["approved_price"] for d in kept)
    first_rejected = next((decisions[no]["rejection_reason"] for no in sorted(decisions)
                           if decisions[no]["status"] == LineStatus.rejected.value), None)
    status = ClaimStatus.processed.value if kept else ClaimStatus.rejected.value
    now = datetime.now(timezone.utc)
    who = None if principal is None else (principal.name or principal.id)[:254]
    # the compare-and-set: waits for a concurrent reviewer's row lock, then sees its new version
    moved = session.execute(
        update(InsuranceClaim)
        .where(InsuranceClaim.id == claim.id, InsuranceClaim.version == version,
               InsuranceClaim.status == ClaimStatus.checked.value)
        .values(status=status, approved=approved if kept else None,
                rejection_reason=None if kept else (first_rejected or "other"),
                review_note=note, processed_by=who, processed_at=now, updated_at=now,
                review_status=case((InsuranceClaim.review_status == Selection.selected.value,
                                    Selection.reviewed.value), else_=InsuranceClaim.review_status),
                version=InsuranceClaim.version + 1)
        .returning(InsuranceClaim.id).execution_options(synchronize_session=False)).first()
    if moved is None:
        session.expire(claim)
        raise stale(session.get(InsuranceClaim, claim.id), version)
    if decisions:
        session.execute(
            update(ClaimLine.__table__)
            .where(ClaimLine.claim_id == claim.id, ClaimLine.line_no == bindparam("no"))
            .values(status=bindparam("st"), approved_quantity=bindparam("aq"), approved_price=bindparam("ap"),
                    rejection_reason=bindparam("rr")),
            [{"no": no, "st": d["status"], "aq": d["approved_quantity"], "ap": d["approved_price"],
              "rr": d["rejection_reason"]} for no, d in sorted(decisions.items())])
    session.flush()
    session.expire(claim)
    claim = session.get(InsuranceClaim, claim.id)
    audit.record(session, "claims.review", ENTITY, claim.id, before=before, after=snapshot(claim),
                 details={"lines": {str(no): {"status": d["status"], "quantity": d["approved_quantity"],
                                              "price": d["approved_price"], "reason": d["rejection_reason"]}
                                    for no, d in sorted(decisions.items())}})
    return claim


def process_claims(session: Session, claim_ids: list[int] | None = None, *,
                   principal: Principal | None) -> dict[str, int]:
    """Process ``checked`` claims not selected for review (all, or those of ``claim_ids``): every passed
    line approved as claimed, the claim ``processed``. One audit entry for the run."""
    where = [InsuranceClaim.status == ClaimStatus.checked.value,
             InsuranceClaim.review_status != Selection.selected.value]
    if claim_ids is not None:
        where.append(any_of(InsuranceClaim.id, [i for i in claim_ids
                                                if isinstance(i, int) and not isinstance(i, bool)]))
    who = None if principal is None else (principal.name or principal.id)[:254]
    ids = list(session.execute(select(InsuranceClaim.id).where(*where).with_for_update(skip_locked=True)).scalars())
    if ids:
        session.execute(update(ClaimLine)
                        .where(any_of(ClaimLine.claim_id, ids), ClaimLine.status == LineStatus.passed.value)
                        .values(status=LineStatus.approved.value, approved_quantity=ClaimLine.quantity,
                                approved_price=ClaimLine.price)
                        .execution_options(synchronize_session=False))
        approved = (select(func.coalesce(func.sum(ClaimLine.approved_quantity * ClaimLine.approved_price), 0))
                    .where(ClaimLine.claim_id == InsuranceClaim.id, ClaimLine.status == LineStatus.approved.value)
                    .scalar_subquery())
        session.execute(update(InsuranceClaim).where(any_of(InsuranceClaim.id, ids))
                        .values(status=ClaimStatus.processed.value, approved=approved, processed_by=who,
                                processed_at=func.now(), updated_at=func.now(), version=InsuranceClaim.version + 1)
                        .execution_options(synchronize_session=False))
    audit.record_bulk(session, "claims.process", ENTITY, counts={"processed": len(ids)},
                      input_ref={"claims": "all checked" if claim_ids is None else len(set(claim_ids))})
    session.flush()
    return {"processed": len(ids)}
