"""Employers' policies (employment-injury insurance, decisions 0320 and 0321): an employer enrols in a
product for employers, then adds and removes its workers; the employer pays the contributions.

A worker is a registry individual, member of the employer's policy with a monthly wage (needed when
the product's contribution is a rate of wages) and the days they are covered: from the policy's start
(or the day they were added) until they leave. The policy's value is
:func:`schemehost.tenants.insurance.value.employer_policy_value` of its workers, made again at every
change of the workforce, and the policy row is locked while it changes (as for contributions,
decision 0302). Contributions are recorded as for any policy
(:func:`.policies.record_contribution`): when they cover the value, the policy is activated and every
worker covered on a day is covered for that day (eligibility reads the members' covered days). A
worker added to an active policy is covered at once; what the employer owes for them shows as the
policy's balance (value - paid). Removing a worker lowers the value by the months after they left; an
idle policy that is then fully paid is activated.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Iterable

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.insurance.models import (Employer, EmployerStatus, Holder, InsuranceProduct, Policy,
                                                 PolicyMember, PolicyStatus, Stage)
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.insurance.services.employers import get_employer
from schemehost.tenants.insurance.services.policies import (POLICY, _activate, get_policy, snapshot, status_on)
from schemehost.tenants.insurance.services.products import get_product, product_valid_on
from schemehost.tenants.insurance.value import Terms, Worker, employer_policy_value, period_for
from schemehost.tenants.registry.people import Individual, PersonStatus
from schemehost.tenants.registry.services import people as reg_people


def workers(session: Session, policy_id: int) -> list[dict[str, Any]]:
    """The workers of an employer's policy, by name: id, scheme number, names, wage and covered days."""
    rows = session.execute(
        select(PolicyMember, Individual).join(Individual, Individual.id == PolicyMember.individual_id)
        .where(PolicyMember.policy_id == policy_id)
        .order_by(Individual.family_name, Individual.given_name, Individual.id))
    return [{"individual_id": p.id, "scheme_number": p.scheme_number, "given_name": p.given_name,
             "family_name": p.family_name, "wage": m.wage, "covered_from": m.covered_from,
             "covered_to": m.covered_to} for m, p in rows]


def enrol_employer(session: Session, *, employer_id: Any, product_id: Any = None, product_code: str | None = None,
                   enrol_date: Any = None, workers: Iterable[dict[str, Any]] = (),
                   principal: Principal | None) -> Policy:
    """A new idle policy of an employer in a product for employers, with its first workers (each
    ``{"individual_id", "wage"}``); 422 naming every bad field, 409 when the employer already has a
    policy of the product overlapping the period."""
    p = c.Problems()
    day = c.day(enrol_date, p, "enrol_date") or date.today()
    p.raise_if_any(_("The employer cannot be enrolled."))
    employer = get_employer(session, employer_id, principal=principal, lock=True)
    _active_employer(employer)
    if product_code is not None:
        product = product_valid_on(session, product_code, day)
    else:
        product = get_product(session, product_id)
        if product.valid_from > day or (product.valid_to is not None and product.valid_to < day):
            raise ValidationError(_("This product version is not valid on %(day)s.", day=day.isoformat()),
                                  errors={"product_id": [_("not valid on the enrolment date")]})
    if product.holder != Holder.employer:
        raise ValidationError(_("Product %(code)s insures households: enrol a household.", code=product.code),
                              errors={"product_id": [_("a product for households")]})
    people = _workers_in(session, list(workers or []), product, principal)
    start, _expiry = period_for(Terms.of(product), day)
    return _create(session, employer, product, Stage.new.value, day, start, None, people)


def renew_employer_policy(session: Session, previous: Policy, day: date, *, principal: Principal | None) -> Policy:
    """The next policy of the same employer and product code, with the workers still covered at the
    previous one's expiry and their wages (called by :func:`.policies.renew`, which checked the rest)."""
    employer = get_employer(session, previous.employer_id, principal=principal, lock=True)
    _active_employer(employer)
    old = get_product(session, previous.product_id)
    start = previous.expiry_date + timedelta(days=1)
    in_time = day <= previous.expiry_date + timedelta(days=old.renewal_grace_days)
    product = product_valid_on(session, old.code, start if in_time else day)
    staying = session.execute(select(PolicyMember).where(
        PolicyMember.policy_id == previous.id,
        (PolicyMember.covered_to.is_(None)) | (PolicyMember.covered_to > previous.expiry_date))).scalars()
    people = [(m.individual_id, m.wage) for m in staying]
    if in_time:
        return _create(session, employer, product, Stage.renewal.value, day, start, previous.id, people)
    start, _expiry = period_for(Terms.of(product), day)
    return _create(session, employer, product, Stage.new.value, day, start, previous.id, people)


def add_worker(session: Session, policy_id: Any, *, individual_id: Any, wage: Any = None, covered_from: Any = None,
               principal: Principal | None, today: date | None = None) -> Policy:
    """Add a worker to an employer's policy, covered from ``covered_from`` (default today, or the
    policy's start when later); 409 for a worker already on it or a policy that takes no worker."""
    today = today or date.today()
    p = c.Problems()
    frm = c.day(covered_from, p, "covered_from")
    p.raise_if_any(_("The worker cannot be added."))
    policy = _employer_policy(session, policy_id, principal)
    _active_employer(get_employer(session, policy.employer_id, principal=None))
    if policy.status in (PolicyStatus.suspended, PolicyStatus.expired) or today > policy.expiry_date:
        raise Conflict(_("Policy %(id)s is %(status)s: it takes no new worker.", id=policy.id,
                         status=status_on(policy, today)), errors={"policy_id": [_("the policy takes no worker")]})
    frm = frm or max(today, policy.start_date)
    if not policy.start_date <= frm <= policy.expiry_date:
        p.add("covered_from", _("A day of the policy's period, %(start)s to %(end)s.",
                                start=policy.start_date.isoformat(), end=policy.expiry_date.isoformat()))
        p.raise_if_any(_("The worker cannot be added."))
    product = session.get(InsuranceProduct, policy.product_id)
    [(person_id, clean_wage)] = _workers_in(session, [{"individual_id": individual_id, "wage": wage}], product,
                                            principal, prefix="")
    if session.get(PolicyMember, (policy.id, person_id)) is not None:
        raise Conflict(_("This worker is already on policy %(id)s.", id=policy.id),
                       errors={"individual_id": [_("already on this policy")]})
    before = snapshot(policy)
    session.add(PolicyMember(policy_id=policy.id, individual_id=person_id, wage=clean_wage,
                             covered_from=None if frm == policy.start_date else frm))
    session.flush()
    _revalue(session, policy, product, today)
    audit.record(session, "add_worker", POLICY, policy.id, before=before, after=snapshot(policy),
                 details={"individual_id": person_id, "covered_from": frm.isoformat()})
    return policy


def remove_worker(session: Session, policy_id: Any, individual_id: Any, *, on: Any = None,
                  principal: Principal | None, today: date | None = None) -> Policy:
    """A worker leaves an employer's policy: covered until ``on`` (default today), then no more; the
    value drops by the months after. 409 for a worker who already left."""
    today = today or date.today()
    p = c.Problems()
    until = c.day(on, p, "on") or today
    p.raise_if_any(_("The worker cannot be removed."))
    policy = _employer_policy(session, policy_id, principal)
    member = session.get(PolicyMember, (policy.id, individual_id)) \
        if isinstance(individual_id, int) and not isinstance(individual_id, bool) and 0 < individual_id < 2**63 \
        else None
    if member is None:
        raise NotFound(_("No such worker on policy %(id)s.", id=policy.id),
                       errors={"individual_id": [_("not a worker on this policy")]})
    if member.covered_to is not None:
        raise Conflict(_("This worker left on %(day)s.", day=member.covered_to.isoformat()),
                       errors={"individual_id": [_("already left")]})
    first = member.covered_from or policy.start_date
    if until < first or until > policy.expiry_date:
        p.add("on", _("A day from %(start)s to %(end)s.", start=first.isoformat(),
                      end=policy.expiry_date.isoformat()))
        p.raise_if_any(_("The worker cannot be removed."))
    before = snapshot(policy)
    member.covered_to = until
    session.flush()
    _revalue(session, policy, session.get(InsuranceProduct, policy.product_id), today)
    audit.record(session, "remove_worker", POLICY, policy.id, before=before, after=snapshot(policy),
                 details={"individual_id": member.individual_id, "covered_to": until.isoformat()})
    return policy


# ---- inside ------------------------------------------------------------------------------------------


def _employer_policy(session: Session, policy_id: Any, principal: Principal | None) -> Policy:
    policy = get_policy(session, policy_id, principal=principal, lock=True)
    if policy.holder != Holder.employer:
        raise ValidationError(_("Policy %(id)s is a household's: its members are the household's.", id=policy.id),
                              errors={"policy_id": [_("not an employer's policy")]})
    return policy


def _active_employer(employer: Employer) -> None:
    if employer.status != EmployerStatus.active:
        raise Conflict(_("Employer %(code)s is inactive.", code=employer.code),
                       errors={"employer_id": [_("inactive employer")]})


def _workers_in(session: Session, given: list[Any], product: InsuranceProduct, principal: Principal | None,
                prefix: str = "workers.") -> list[tuple[int, int | None]]:
    """(individual id, wage) of each worker given, all problems at once: an active individual of the
    principal's area, not listed twice, with a wage when the product's contribution is a rate of wages."""
    p = c.Problems()
    out: list[tuple[int, int | None]] = []
    seen: set[int] = set()
    for i, item in enumerate(given):
        where = f"{prefix}{i}." if prefix else ""
        if not isinstance(item, dict):
            p.add(f"{prefix}{i}", _("A worker: individual_id and wage."))
            continue
        person = None
        try:
            person = reg_people.get_individual(session, item.get("individual_id"), principal=principal)
        except NotFound:
            p.add(f"{where}individual_id", _("No individual with id %(id)s.", id=item.get("individual_id")))
        if person is not None and person.status != PersonStatus.active:
            p.add(f"{where}individual_id", _("This person is not active in the registry."))
        elif person is not None and person.id in seen:
            p.add(f"{where}individual_id", _("This worker is listed twice."))
        wage = item.get("wage")
        clean = c.amount(wage, p, f"{where}wage") if wage is not None else None
        if wage is None and product.wage_rate_percent is not None:
            p.add(f"{where}wage", _("The monthly wage is needed: the contribution is a rate of wages."))
        if person is not None:
            seen.add(person.id)
            out.append((person.id, clean))
    p.raise_if_any(_("The workers cannot be enrolled."))
    return out


def _create(session: Session, employer: Employer, product: InsuranceProduct, stage: str, day: date, start: date,
            previous_id: int | None, people: list[tuple[int, int | None]]) -> Policy:
    terms = Terms.of(product)
    value = employer_policy_value(terms, [Worker(wage) for _id, wage in people], stage, day, start)
    codes = select(InsuranceProduct.id).where(InsuranceProduct.code == product.code)
    overlapping = session.execute(select(Policy.id).where(
        Policy.employer_id == employer.id, Policy.product_id.in_(codes),
        Policy.start_date <= value.expiry_date, Policy.expiry_date >= value.start_date).limit(1)).scalar()
    if overlapping is not None:
        raise Conflict(_("The employer already has policy %(id)s of this product for this period.", id=overlapping),
                       errors={"employer_id": [_("already insured by this product for the period")]})
    policy = Policy(product_id=product.id, holder=Holder.employer.value, employer_id=employer.id, household_id=None,
                    previous_id=previous_id, stage=stage, status=PolicyStatus.idle.value, enrol_date=day,
                    start_date=value.start_date, expiry_date=value.expiry_date, value=value.total,
                    currency=product.currency, paid=0, adults=len(people), children=0, breakdown=value.parts)
    session.add(policy)
    session.flush()
    session.add_all(PolicyMember(policy_id=policy.id, individual_id=person_id, wage=wage)
                    for person_id, wage in people)
    session.flush()
    audit.record(session, "create", POLICY, policy.id, after=snapshot(policy),
                 details={"workers": len(people), "product_code": product.code, "product_version": product.version})
    return policy


def _revalue(session: Session, policy: Policy, product: InsuranceProduct, today: date) -> None:
    """The policy's value made again from its workers; an idle policy the contributions now cover is
    activated."""
    members = list(session.execute(select(PolicyMember).where(PolicyMember.policy_id == policy.id)).scalars())
    value = employer_policy_value(Terms.of(product), [Worker(m.wage, m.covered_from, m.covered_to) for m in members],
                                  policy.stage, policy.enrol_date, policy.start_date)
    policy.value, policy.breakdown, policy.adults = value.total, value.parts, len(members)
    session.flush()
    if policy.status == PolicyStatus.idle and policy.paid > 0 and policy.paid >= policy.value:
        _activate(session, policy, today, forced=False, today=today)
