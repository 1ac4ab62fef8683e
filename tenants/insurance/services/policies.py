"""Policies: enrol a household in a product (an employer's policies: :mod:`.employer_policies`), renew,
suspend and resume, renewal reminders, an insuree's coverage; contributions towards a policy and its
activation.

A policy insures the household's active members at enrolment (``insurance_policy_members``); its
value comes from :func:`schemehost.tenants.insurance.value.policy_value` and is stored with its parts.
Status: ``idle`` until contributions cover the value; then ``ready`` (coverage starts on a future
date) or ``active``; ``suspended`` by hand; ``expired`` after its expiry date. The stored status of a
``ready`` or ``active`` policy is read on a date with :func:`status_on` (and written back in bulk by
:func:`refresh_statuses`).

A contribution locks its policy row (``SELECT ... FOR UPDATE``), so two contributions completing the
same policy at once are applied one after the other: the policy is activated once, and the second is
recorded as overpayment (decision 0302). The receipt number is unique in the tenant (409, nothing saved).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, Forbidden, NotFound, ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import restrict_to_locations
from schemehost.tenants.insurance.models import (PAYER_LENGTH, RECEIPT_LENGTH, Contribution, Employer, Holder,
                                                 InsuranceProduct, PaymentMethod, Policy, PolicyMember, PolicyStatus,
                                                 Stage)
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.insurance.services.products import get_product, product_valid_on
from schemehost.tenants.insurance.value import Terms, composition, period_for, policy_value
from schemehost.tenants.registry.people import Household, Individual, PersonStatus
from schemehost.tenants.registry.services import people as reg_people

POLICY = "insurance_policy"
CONTRIBUTION = "insurance_contribution"
ACTIVATE = "insurance.policies.activate"
COVERING = (PolicyStatus.ready.value, PolicyStatus.active.value)


# ---- reading -----------------------------------------------------------------------------------------


def get_policy(session: Session, policy_id: Any, *, principal: Principal | None, lock: bool = False) -> Policy:
    """The policy with this id, of a household within the principal's area (404 otherwise)."""
    found = None
    if isinstance(policy_id, int) and not isinstance(policy_id, bool) and 0 < policy_id < 2**63:
        stmt = _with_holders(select(Policy)).where(Policy.id == policy_id)
        if principal is not None:
            stmt = restrict_to_locations(stmt, principal, HOLDER_LOCATION)
        if lock:
            stmt = stmt.with_for_update(of=Policy)
        found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No policy with id %(id)s.", id=policy_id), errors={"policy_id": [_("unknown policy")]})
    return found


def _with_holders(stmt):
    """``stmt`` over policies, outer-joined to their holder (a household or an employer) so that
    :data:`HOLDER_LOCATION` is the holder's location."""
    return (stmt.outerjoin(Household, Household.id == Policy.household_id)
            .outerjoin(Employer, Employer.id == Policy.employer_id))


#: the location of a policy's holder (in statements made with :func:`_with_holders`)
HOLDER_LOCATION = func.coalesce(Household.location_id, Employer.location_id)


def status_on(policy: Policy, day: date) -> str:
    """The policy's status on ``day``: a paid policy is ``ready`` before its coverage starts,
    ``active`` during it, ``expired`` after it."""
    if policy.status in COVERING or policy.status == PolicyStatus.expired:
        if day > policy.expiry_date:
            return PolicyStatus.expired.value
        if policy.effective_date is not None:
            return PolicyStatus.ready.value if day < policy.effective_date else PolicyStatus.active.value
    if policy.status == PolicyStatus.idle and day > policy.expiry_date:
        return PolicyStatus.expired.value
    return policy.status


def list_policies(session: Session, *, principal: Principal | None, household_id: int | None = None,
                  product_id: int | None = None, status: str | None = None, after_id: int | None = None,
                  limit: int = 100, employer_id: int | None = None, holder: str | None = None) -> list[Policy]:
    stmt = _with_holders(select(Policy)).order_by(Policy.id).limit(limit)
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, HOLDER_LOCATION)
    if household_id is not None:
        stmt = stmt.where(Policy.household_id == household_id)
    if employer_id is not None:
        stmt = stmt.where(Policy.employer_id == employer_id)
    if holder:
        stmt = stmt.where(Policy.holder == holder)
    if product_id is not None:
        stmt = stmt.where(Policy.product_id == product_id)
    if status:
        stmt = stmt.where(Policy.status == status)
    if after_id is not None:
        stmt = stmt.where(Policy.id > after_id)
    return list(session.execute(stmt).scalars())


def policy_members(session: Session, policy_id: int) -> list[int]:
    return list(session.execute(select(PolicyMember.individual_id).where(PolicyMember.policy_id == policy_id)
                                .order_by(PolicyMember.individual_id)).scalars())


def contributions(session: Session, policy_id: int) -> list[Contribution]:
    return list(session.execute(select(Contribution).where(Contribution.policy_id == policy_id)
                                .order_by(Contribution.paid_on, Contribution.id)).scalars())


def renewal_reminders(session: Session, *, principal: Principal | None, today: date | None = None,
                      limit: int = 500) -> list[tuple[Policy, InsuranceProduct]]:
    """Paid policies that expire within their product's ``renewal_reminder_days`` (or expired within
    its ``renewal_grace_days``) and have no renewal yet, soonest first."""
    today = today or date.today()
    later = Policy.__table__.alias("later")
    stmt = (_with_holders(select(Policy, InsuranceProduct)
                          .join(InsuranceProduct, InsuranceProduct.id == Policy.product_id))
            .where(Policy.status.in_([*COVERING, PolicyStatus.expired.value]), Policy.effective_date.is_not(None),
                   Policy.expiry_date - InsuranceProduct.renewal_reminder_days <= today,
                   Policy.expiry_date + InsuranceProduct.renewal_grace_days >= today,
                   ~exists().where(later.c.previous_id == Policy.id))
            .order_by(Policy.expiry_date, Policy.id).limit(limit))
    if principal is not None:
        stmt = restrict_to_locations(stmt, principal, HOLDER_LOCATION)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def insuree_coverage(session: Session, individual_id: Any, *, principal: Principal | None,
                     today: date | None = None) -> list[dict[str, Any]]:
    """The policies insuring an individual, latest first, with their dates and status on ``today``."""
    person = reg_people.get_individual(session, individual_id, principal=principal)
    today = today or date.today()
    rows = session.execute(
        select(Policy, InsuranceProduct).join(PolicyMember, PolicyMember.policy_id == Policy.id)
        .join(InsuranceProduct, InsuranceProduct.id == Policy.product_id)
        .where(PolicyMember.individual_id == person.id).order_by(Policy.start_date.desc(), Policy.id.desc()))
    return [{"policy_id": p.id, "product_id": pr.id, "product_code": pr.code, "product_version": pr.version,
             "stage": p.stage, "status": status_on(p, today), "start_date": p.start_date,
             "effective_date": p.effective_date, "expiry_date": p.expiry_date} for p, pr in rows]


# ---- enrolment -----------------------------------------------------------------------------------------


def enrol(session: Session, *, household_id: Any, product_id: Any = None, product_code: str | None = None,
          enrol_date: Any = None, principal: Principal | None) -> Policy:
    """A new policy (stage ``new``, status ``idle``) of a household in a product version valid on the
    enrolment date; 422 for a product not valid then or a household too large, 409 when the household
    already has a policy of the product overlapping the period."""
    p = c.Problems()
    day = c.day(enrol_date, p, "enrol_date") or date.today()
    p.raise_if_any(_("The household cannot be enrolled."))
    household = reg_people.get_household(session, household_id, principal=principal, lock=True)
    if product_code is not None:
        product = product_valid_on(session, product_code, day)
    else:
        product = get_product(session, product_id)
        if product.valid_from > day or (product.valid_to is not None and product.valid_to < day):
            raise ValidationError(_("This product version is not valid on %(day)s.", day=day.isoformat()),
                                  errors={"product_id": [_("not valid on the enrolment date")]})
    if product.holder != Holder.household:
        raise ValidationError(_("Product %(code)s insures the workers of employers: enrol an employer.",
                                code=product.code), errors={"product_id": [_("a product for employers")]})
    return _create(session, household, product, Stage.new.value, day, None, None)


def renew(session: Session, policy_id: Any, *, enrol_date: Any = None, principal: Principal | None) -> Policy:
    """The next policy of the same household and product code: stage ``renewal``, starting the day after
    the previous one expires, when enrolled before that or within the product's renewal grace days;
    later it is a ``new`` policy with the product's cycles (409 when already renewed)."""
    p = c.Problems()
    day = c.day(enrol_date, p, "enrol_date") or date.today()
    p.raise_if_any(_("The policy cannot be renewed."))
    previous = get_policy(session, policy_id, principal=principal, lock=True)
    if session.execute(select(exists().where(Policy.previous_id == previous.id))).scalar():
        raise Conflict(_("Policy %(id)s has already been renewed.", id=previous.id),
                       errors={"policy_id": [_("already renewed")]})
    if previous.effective_date is None:
        raise ValidationError(_("Only a policy that was paid can be renewed."),
                              errors={"policy_id": [_("this policy was never active")]})
    if previous.holder == Holder.employer:
        from schemehost.tenants.insurance.services.employer_policies import renew_employer_policy

        return renew_employer_policy(session, previous, day, principal=principal)
    household = reg_people.get_household(session, previous.household_id, principal=principal, lock=True)
    old = get_product(session, previous.product_id)
    start = previous.expiry_date + timedelta(days=1)
    in_time = day <= previous.expiry_date + timedelta(days=old.renewal_grace_days)
    product = product_valid_on(session, old.code, start if in_time else day)
    if in_time:
        return _create(session, household, product, Stage.renewal.value, day, start, previous.id)
    return _create(session, household, product, Stage.new.value, day, None, previous.id)


def _create(session: Session, household: Household, product: InsuranceProduct, stage: str, day: date,
            start: date | None, previous_id: int | None) -> Policy:
    people = [m for m in reg_people.members(session, household.id) if m.status == PersonStatus.active]
    if not people:
        raise ValidationError(_("The household has no active member to insure."),
                              errors={"household_id": [_("no active member")]})
    if product.max_members is not None and len(people) > product.max_members:
        raise ValidationError(
            _("The household has %(n)d members; product %(code)s insures at most %(max)d.", n=len(people),
              code=product.code, max=product.max_members),
            errors={"household_id": [_("more members than the product insures")]})
    terms = Terms.of(product)
    if start is None:
        start, _expiry = period_for(terms, day)
    household_is = composition([m.birth_date for m in people], start, product.adult_age)
    value = policy_value(terms, household_is, stage, day, start)
    codes = select(InsuranceProduct.id).where(InsuranceProduct.code == product.code)
    overlapping = session.execute(select(Policy.id).where(
        Policy.household_id == household.id, Policy.product_id.in_(codes),
        Policy.start_date <= value.expiry_date, Policy.expiry_date >= value.start_date).limit(1)).scalar()
    if overlapping is not None:
        raise Conflict(_("The household already has policy %(id)s of this product for this period.", id=overlapping),
                       errors={"household_id": [_("already insured by this product for the period")]})
    policy = Policy(product_id=product.id, household_id=household.id, previous_id=previous_id, stage=stage,
                    status=PolicyStatus.idle.value, enrol_date=day, start_date=value.start_date,
                    expiry_date=value.expiry_date, value=value.total, currency=product.currency, paid=0,
                    adults=household_is.adults, children=household_is.children, breakdown=value.parts)
    session.add(policy)
    session.flush()
    session.add_all(PolicyMember(policy_id=policy.id, individual_id=m.id) for m in people)
    session.flush()
    audit.record(session, "create", POLICY, policy.id, after=snapshot(policy),
                 details={"members": len(people), "product_code": product.code, "product_version": product.version})
    return policy


# ---- status changes ------------------------------------------------------------------------------------


def suspend(session: Session, policy_id: Any, *, principal: Principal | None, reason: str | None = None) -> Policy:
    policy = get_policy(session, policy_id, principal=principal, lock=True)
    if policy.status not in COVERING:
        raise Conflict(_("Only a ready or active policy can be suspended (this one is %(status)s).",
                         status=policy.status), errors={"status": [policy.status]})
    return _set_status(session, policy, PolicyStatus.suspended.value, "suspend", {"reason": reason})


def resume(session: Session, policy_id: Any, *, principal: Principal | None) -> Policy:
    policy = get_policy(session, policy_id, principal=principal, lock=True)
    if policy.status != PolicyStatus.suspended:
        raise Conflict(_("Only a suspended policy can be resumed."), errors={"status": [policy.status]})
    return _set_status(session, policy, PolicyStatus.active.value, "resume", None)


def _set_status(session: Session, policy: Policy, status: str, action: str, details: dict | None) -> Policy:
    before = snapshot(policy)
    policy.status = status
    session.flush()
    audit.record(session, action, POLICY, policy.id, before=before, after=snapshot(policy), details=details)
    return policy


def refresh_statuses(session: Session, today: date | None = None) -> dict[str, int]:
    """Write the statuses the dates give: ready -> active once coverage started, paid or idle policies
    past their expiry -> expired. Set-based; one audit entry for the run."""
    today = today or date.today()
    activated = session.execute(update(Policy).where(Policy.status == PolicyStatus.ready,
                                                     Policy.effective_date <= today, Policy.expiry_date >= today)
                                .values(status=PolicyStatus.active.value)).rowcount
    expired = session.execute(update(Policy).where(Policy.status.in_([*COVERING, PolicyStatus.idle.value]),
                                                   Policy.expiry_date < today)
                              .values(status=PolicyStatus.expired.value)).rowcount
    if activated or expired:
        audit.record_bulk(session, "refresh_status", POLICY, counts={"active": activated, "expired": expired},
                          input_ref={"date": today.isoformat()})
    return {"active": activated, "expired": expired}


def _activate(session: Session, policy: Policy, paid_on: date, *, forced: bool, today: date) -> None:
    """Coverage starts after the waiting period for a new policy (on its start date for a renewal),
    never before the start date; the policy is ``ready`` until then."""
    product = session.get(InsuranceProduct, policy.product_id)
    waiting = product.waiting_period_days if policy.stage == Stage.new else 0
    effective = max(policy.start_date, paid_on + timedelta(days=waiting))
    before = snapshot(policy)
    policy.effective_date = effective
    policy.status = PolicyStatus.ready.value if effective > today else PolicyStatus.active.value
    policy.activated_at = datetime.now(timezone.utc)
    policy.activation_forced = forced
    session.flush()
    audit.record(session, "activate", POLICY, policy.id, before=before, after=snapshot(policy),
                 details={"forced": forced, "paid": policy.paid, "value": policy.value})


def activate(session: Session, policy_id: Any, *, principal: Principal | None, on: Any = None) -> Policy:
    """Activate an idle policy that is not fully paid (needs ``insurance.policies.activate``)."""
    if principal is not None and not principal.can(ACTIVATE):
        raise Forbidden(_("This needs the permission '%(permission)s'.", permission=ACTIVATE),
                        errors={"permission": [ACTIVATE]}, missing_permission=ACTIVATE)
    p = c.Problems()
    day = c.day(on, p, "on") or date.today()
    p.raise_if_any(_("The policy cannot be activated."))
    policy = get_policy(session, policy_id, principal=principal, lock=True)
    if policy.status != PolicyStatus.idle:
        raise Conflict(_("Only an idle policy can be activated (this one is %(status)s).", status=policy.status),
                       errors={"status": [policy.status]})
    _activate(session, policy, day, forced=policy.paid < policy.value, today=date.today())
    return policy


# ---- contributions -------------------------------------------------------------------------------------


def record_contribution(session: Session, policy_id: Any, *, amount: Any, paid_on: Any, method: Any,
                        receipt_no: Any, payer: Any = None, activate: bool = False,
                        principal: Principal | None, today: date | None = None) -> Contribution:
    """A payment towards a policy. When the contributions reach the value, an idle policy is activated
    (once); a partial payment leaves it idle unless ``activate`` is asked by a principal holding
    ``insurance.policies.activate`` (403 otherwise). What is paid beyond the value is recorded as the
    contribution's ``overpayment``. 409 for a receipt number already used in this scheme."""
    today = today or date.today()
    p = c.Problems()
    clean_amount = c.amount(amount, p, "amount")
    if clean_amount == 0:
        p.add("amount", _("An amount above 0."))
    if amount is None:
        p.add("amount", _("An amount is needed."))
    day = c.day(paid_on, p, "paid_on", required=True)
    if day is not None and day > today:
        p.add("paid_on", _("A payment cannot be dated in the future."))
    clean_method = c.choice(method, tuple(m.value for m in PaymentMethod), p, "method")
    receipt = c.text(receipt_no, p, "receipt_no", limit=RECEIPT_LENGTH)
    clean_payer = c.text(payer, p, "payer", limit=PAYER_LENGTH, required=False)
    p.raise_if_any(_("The contribution cannot be recorded."))
    if activate and principal is not None and not principal.can(ACTIVATE):
        raise Forbidden(_("This needs the permission '%(permission)s'.", permission=ACTIVATE),
                        errors={"permission": [ACTIVATE]}, missing_permission=ACTIVATE)
    policy = get_policy(session, policy_id, principal=principal, lock=True)
    if policy.status in (PolicyStatus.suspended, PolicyStatus.expired) or day > policy.expiry_date:
        raise Conflict(_("Policy %(id)s is %(status)s: it takes no contribution.", id=policy.id,
                         status=status_on(policy, day)), errors={"policy_id": [_("the policy takes no contribution")]})
    if session.execute(select(exists().where(Contribution.receipt_no == receipt))).scalar():
        raise _receipt_taken(receipt)
    remaining = max(0, policy.value - policy.paid)
    contribution = Contribution(policy_id=policy.id, amount=clean_amount, currency=policy.currency, paid_on=day,
                                payer=clean_payer, method=clean_method, receipt_no=receipt,
                                overpayment=max(0, clean_amount - remaining),
                                recorded_by=principal.id if principal is not None else None)
    session.add(contribution)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _receipt_taken(receipt) from None
    before = snapshot(policy)
    policy.paid += clean_amount
    session.flush()
    audit.record(session, "create", CONTRIBUTION, contribution.id,
                 after={"policy_id": policy.id, "amount": clean_amount, "currency": policy.currency,
                        "paid_on": day.isoformat(), "method": clean_method, "receipt_no": receipt,
                        "overpayment": contribution.overpayment},
                 details={"payer_given": clean_payer is not None})
    audit.record(session, "contribution", POLICY, policy.id, before=before, after=snapshot(policy),
                 details={"contribution_id": contribution.id})
    if policy.status == PolicyStatus.idle and (policy.paid >= policy.value or activate):
        _activate(session, policy, day, forced=policy.paid < policy.value, today=today)
    return contribution


def _receipt_taken(receipt: str) -> Conflict:
    return Conflict(_("Receipt number '%(receipt)s' is already recorded.", receipt=receipt),
                    errors={"receipt_no": [_("This receipt number is already recorded.")]})


def snapshot(policy: Policy) -> dict[str, Any]:
    out = {}
    for f in ("product_id", "holder", "household_id", "employer_id", "previous_id", "stage", "status",
              "enrol_date", "start_date", "expiry_date", "effective_date", "value", "currency", "paid", "adults",
              "children", "activation_forced"):
        value = getattr(policy, f)
        out[f] = value.isoformat() if isinstance(value, date) else value
    return out
