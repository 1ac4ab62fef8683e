"""The policy value: a pure function of a product's contribution terms, the household's composition,
the stage (new or renewal) and the dates (decision 0301). No database, no clock: the same inputs
always give the same value. docs/insurance.md has worked examples; tests check each of them.

Rules, in minor units of the product's currency (decision 0101):

* **Period.** Without enrolment cycles a policy starts on the day it is enrolled. With cycles
  (``"MM-DD"`` start dates of each year), it starts at the latest cycle start on or before the
  enrolment date when enrolled within ``grace_period_days`` of it, else at the next cycle start.
  It ends ``insurance_period_months`` later, the day before (1 Jan + 12 months -> 31 Dec).
* **Composition.** An adult is ``adult_age`` years old or more on the policy's start date.
* **Contribution.** ``lump_sum`` covers up to ``threshold`` members; each member above it pays
  ``premium_adult`` or ``premium_child``; adults fill the threshold first, so the members above it
  are the remaining adults, then the children. With no lump sum and a threshold of 0 every member
  pays a premium (per-member premiums).
* **Discount.** ``enrolment_discount_percent`` for a new policy enrolled at least
  ``enrolment_discount_days`` before its start; ``renewal_discount_percent`` for a renewal enrolled
  at least ``renewal_discount_days`` before its start. The discount applies to the contribution only
  (never to fees), once, rounded half-even to the minor unit.
* **Fees.** Registration (``registration_lump_sum`` + ``registration_fee`` per member) for a new
  policy only; general assembly (``assembly_lump_sum`` + ``assembly_fee`` per member) every period.

An employer's policy (:func:`employer_policy_value`, decision 0321) has the same period, discount and
fees, with workers for members; its contribution is the ``lump_sum`` plus, for each worker, a monthly
amount times the *policy months* the worker is covered in. Policy month *i* runs from the start date
plus *i* months to the day before the next one; a worker covered on any day of a month pays the whole
month. The monthly amount is ``wage_rate_percent`` of the worker's monthly wage, rounded half-even to
the minor unit once per worker, or ``premium_worker`` when the product has no wage rate.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Iterable

from schemehost.platform.money import round_minor

NEW = "new"
RENEWAL = "renewal"


@dataclass(frozen=True)
class Terms:
    """The parts of a product version that make a policy's dates and value."""

    insurance_period_months: int = 12
    lump_sum: int = 0
    threshold: int = 0
    premium_adult: int = 0
    premium_child: int = 0
    adult_age: int = 18
    registration_lump_sum: int = 0
    registration_fee: int = 0
    assembly_lump_sum: int = 0
    assembly_fee: int = 0
    enrolment_discount_percent: Decimal = Decimal(0)
    enrolment_discount_days: int = 0
    renewal_discount_percent: Decimal = Decimal(0)
    renewal_discount_days: int = 0
    cycle_starts: tuple[str, ...] = ()
    grace_period_days: int = 0
    wage_rate_percent: Decimal | None = None
    premium_worker: int = 0

    @classmethod
    def of(cls, product: Any) -> "Terms":
        """The terms of a product row (or anything with the same attributes)."""
        values = {name: getattr(product, name) for name in cls.__dataclass_fields__}
        values["cycle_starts"] = tuple(values["cycle_starts"] or ())
        for name in ("enrolment_discount_percent", "renewal_discount_percent"):
            values[name] = Decimal(values[name] or 0)
        if values["wage_rate_percent"] is not None:
            values["wage_rate_percent"] = Decimal(values["wage_rate_percent"])
        values["premium_worker"] = values["premium_worker"] or 0
        return cls(**values)


@dataclass(frozen=True)
class Composition:
    adults: int
    children: int

    @property
    def members(self) -> int:
        return self.adults + self.children


@dataclass(frozen=True)
class Worker:
    """A worker on an employer's policy: monthly wage (minor units; needed with a wage rate) and the
    days covered (None: from the policy's start, to its expiry)."""

    wage: int | None = None
    covered_from: date | None = None
    covered_to: date | None = None


@dataclass(frozen=True)
class Value:
    """A policy value and how it was made (every part in minor units)."""

    total: int
    start_date: date
    expiry_date: date
    parts: dict[str, int] = field(default_factory=dict)


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months (the 31st becomes the month's last day)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def cycle_dates(cycle_starts: Iterable[str], year: int) -> list[date]:
    return sorted(date(year, int(md[:2]), int(md[3:])) for md in cycle_starts)


def period_for(terms: Terms, enrol_date: date) -> tuple[date, date]:
    """(start, expiry) of a policy of ``terms`` enrolled on ``enrol_date``."""
    if not terms.cycle_starts:
        start = enrol_date
    else:
        starts = [d for y in (enrol_date.year - 1, enrol_date.year, enrol_date.year + 1)
                  for d in cycle_dates(terms.cycle_starts, y)]
        past = [d for d in starts if d <= enrol_date]
        if past and (enrol_date - past[-1]).days <= terms.grace_period_days:
            start = past[-1]
        else:
            start = next(d for d in starts if d > enrol_date)
    return start, expiry_for(terms, start)


def expiry_for(terms: Terms, start: date) -> date:
    return add_months(start, terms.insurance_period_months) - timedelta(days=1)


def age_on(birth_date: date, day: date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def composition(birth_dates: Iterable[date], start: date, adult_age: int) -> Composition:
    """Adults and children among members born on ``birth_dates``, counted on ``start``."""
    ages = [age_on(b, start) for b in birth_dates]
    adults = sum(1 for a in ages if a >= adult_age)
    return Composition(adults, len(ages) - adults)


def policy_value(terms: Terms, household: Composition, stage: str, enrol_date: date,
                 start_date: date | None = None) -> Value:
    """The value of a policy; ``start_date`` defaults to the one the enrolment cycles give (a renewal
    starts the day after the policy it renews)."""
    start_date, expiry = _period(terms, stage, enrol_date, start_date)
    members = household.members
    extra_adults = max(0, household.adults - terms.threshold)
    extra_children = max(0, household.children - max(0, terms.threshold - household.adults))
    premiums = extra_adults * terms.premium_adult + extra_children * terms.premium_child
    contribution = terms.lump_sum + premiums
    total, parts = _discount_and_fees(terms, contribution, members, stage, enrol_date, start_date)
    return Value(total=total, start_date=start_date, expiry_date=expiry, parts={
        "lump_sum": terms.lump_sum, "extra_adults": extra_adults, "extra_children": extra_children,
        "premiums": premiums, **parts})


def _period(terms: Terms, stage: str, enrol_date: date, start_date: date | None) -> tuple[date, date]:
    if stage not in (NEW, RENEWAL):
        raise ValueError("stage")
    if start_date is None:
        return period_for(terms, enrol_date)
    return start_date, expiry_for(terms, start_date)


def _discount_and_fees(terms: Terms, contribution: int, members: int, stage: str, enrol_date: date,
                       start_date: date) -> tuple[int, dict[str, int]]:
    if stage == NEW:
        percent, days = terms.enrolment_discount_percent, terms.enrolment_discount_days
    else:
        percent, days = terms.renewal_discount_percent, terms.renewal_discount_days
    discount = 0
    if percent > 0 and enrol_date <= start_date - timedelta(days=days):
        discount = min(contribution, round_minor(Decimal(contribution) * percent / 100))
    registration = terms.registration_lump_sum + terms.registration_fee * members if stage == NEW else 0
    assembly = terms.assembly_lump_sum + terms.assembly_fee * members
    total = contribution - discount + registration + assembly
    return total, {"contribution": contribution, "discount": discount, "registration": registration,
                   "assembly": assembly}


def monthly_cost(terms: Terms, wage: int | None) -> int:
    """What one worker costs per month: the wage rate of the wage (half-even), or the premium."""
    if terms.wage_rate_percent is None:
        return terms.premium_worker
    if wage is None or wage < 0:
        raise ValueError("wage")
    return round_minor(Decimal(wage) * terms.wage_rate_percent / 100)


def covered_months(start: date, expiry: date, covered_from: date | None, covered_to: date | None) -> int:
    """How many policy months (from ``start`` to ``expiry``) have a day in [covered_from, covered_to]."""
    first = max(start, covered_from or start)
    last = min(expiry, covered_to or expiry)
    if first > last:
        return 0
    months, i = 0, 0
    while True:
        month_start = add_months(start, i)
        if month_start > last or month_start > expiry:
            return months
        month_end = add_months(start, i + 1) - timedelta(days=1)
        if month_end >= first:
            months += 1
        i += 1


def employer_policy_value(terms: Terms, workers: Iterable[Worker], stage: str, enrol_date: date,
                          start_date: date | None = None) -> Value:
    """The value of an employer's policy for its workers (the rules above)."""
    start_date, expiry = _period(terms, stage, enrol_date, start_date)
    workers = list(workers)
    premiums = worker_months = 0
    for worker in workers:
        months = covered_months(start_date, expiry, worker.covered_from, worker.covered_to)
        worker_months += months
        premiums += months * monthly_cost(terms, worker.wage)
    contribution = terms.lump_sum + premiums
    total, parts = _discount_and_fees(terms, contribution, len(workers), stage, enrol_date, start_date)
    return Value(total=total, start_date=start_date, expiry_date=expiry, parts={
        "lump_sum": terms.lump_sum, "workers": len(workers), "worker_months": worker_months,
        "premiums": premiums, **parts})
