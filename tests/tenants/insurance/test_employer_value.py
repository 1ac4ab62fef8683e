"""An employer policy's value as a pure function: the worked examples of docs/insurance.md
("Employment-injury insurance"), and properties on random products and workforces."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemehost.tenants.insurance.value import (Terms, Worker, add_months, covered_months, employer_policy_value,
                                                monthly_cost)

EII = Terms(insurance_period_months=12, wage_rate_percent=Decimal("1.4"))


def test_example_1_a_rate_of_each_workers_wage_for_every_month():
    value = employer_policy_value(EII, [Worker(2_500_000), Worker(3_000_000)], "new", date(2027, 1, 1))
    assert (value.start_date, value.expiry_date) == (date(2027, 1, 1), date(2027, 12, 31))
    assert value.parts["worker_months"] == 24
    assert value.total == 12 * 35_000 + 12 * 42_000 == 924_000


def test_example_2_a_started_month_counts_whole():
    joined = Worker(2_500_000, covered_from=date(2027, 3, 15))  # March to December: 10 months
    left = Worker(3_000_000, covered_to=date(2027, 6, 10))  # January to June: 6 months
    value = employer_policy_value(EII, [joined, left], "new", date(2027, 1, 1))
    assert value.parts["worker_months"] == 16
    assert value.total == 10 * 35_000 + 6 * 42_000


def test_example_3_a_premium_per_worker_and_month_and_a_registration_fee_when_new():
    terms = Terms(premium_worker=50_000, registration_lump_sum=100_000)
    workers = [Worker(), Worker(), Worker()]
    assert employer_policy_value(terms, workers, "new", date(2027, 1, 1)).total == 36 * 50_000 + 100_000
    assert employer_policy_value(terms, workers, "renewal", date(2027, 1, 1)).total == 36 * 50_000


def test_example_4_the_monthly_amount_is_rounded_half_even_once_per_worker():
    assert monthly_cost(EII, 250) == 4  # 3.5 -> 4
    assert monthly_cost(EII, 750) == 10  # 10.5 -> 10
    assert monthly_cost(EII, 1_234_567) == 17_284


def test_a_wage_rate_needs_the_wage():
    with pytest.raises(ValueError):
        employer_policy_value(EII, [Worker(None)], "new", date(2027, 1, 1))


def test_policy_months_follow_the_start_day():
    # a policy from 31 January: its second month starts 28 February
    assert covered_months(date(2027, 1, 31), date(2028, 1, 30), date(2027, 2, 27), date(2027, 2, 27)) == 1
    assert covered_months(date(2027, 1, 31), date(2028, 1, 30), date(2027, 2, 27), date(2027, 2, 28)) == 2
    assert covered_months(date(2027, 1, 1), date(2027, 12, 31), date(2028, 1, 1), None) == 0


amounts = st.integers(min_value=0, max_value=10**8)
rates = st.one_of(st.none(), st.decimals(min_value=Decimal("0.001"), max_value=100, places=3, allow_nan=False,
                                         allow_infinity=False))
terms_st = st.builds(Terms, insurance_period_months=st.integers(1, 24), lump_sum=amounts,
                     wage_rate_percent=rates, premium_worker=amounts, registration_lump_sum=amounts,
                     registration_fee=amounts, assembly_fee=amounts,
                     enrolment_discount_percent=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False,
                                                            allow_infinity=False))
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))
offsets = st.one_of(st.none(), st.integers(-40, 800))


@st.composite
def workers(draw, start: date):
    out = []
    for _ in range(draw(st.integers(0, 6))):
        a, b = draw(offsets), draw(offsets)
        frm = start + timedelta(days=a) if a is not None else None
        to = start + timedelta(days=b) if b is not None else None
        if frm and to and to < frm:
            frm, to = to, frm
        out.append(Worker(draw(amounts), frm, to))
    return out


@settings(max_examples=200, deadline=None)
@given(terms_st, dates, st.data())
def test_never_negative_deterministic_and_at_most_every_month_of_every_worker(terms, day, data):
    staff = data.draw(workers(day))
    value = employer_policy_value(terms, staff, "new", day)
    assert value.total >= 0 and all(v >= 0 for v in value.parts.values())
    assert employer_policy_value(terms, staff, "new", day) == value
    assert 0 <= value.parts["worker_months"] <= len(staff) * terms.insurance_period_months
    assert value.parts["premiums"] == sum(
        covered_months(value.start_date, value.expiry_date, w.covered_from, w.covered_to) * monthly_cost(terms, w.wage)
        for w in staff)


@settings(max_examples=200, deadline=None)
@given(terms_st, dates, st.data(), amounts)
def test_another_worker_never_costs_less(terms, day, data, wage):
    staff = data.draw(workers(day))
    more = employer_policy_value(terms, [*staff, Worker(wage)], "new", day)
    assert more.total >= employer_policy_value(terms, staff, "new", day).total


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 36), dates, offsets, offsets)
def test_covered_months_count_the_policy_months_a_cover_touches(months, start, a, b):
    expiry = add_months(start, months) - timedelta(days=1)
    frm = start + timedelta(days=a) if a is not None else None
    to = start + timedelta(days=b) if b is not None else None
    counted = covered_months(start, expiry, frm, to)
    brute = sum(1 for i in range(months)
                if max(add_months(start, i), frm or start) <= min(add_months(start, i + 1) - timedelta(days=1),
                                                                  to or expiry))
    assert counted == brute
