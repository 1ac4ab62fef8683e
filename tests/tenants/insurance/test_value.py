"""The policy value as a pure function: the worked examples of docs/insurance.md, and properties
(never negative, deterministic, a discount applied once) on random products and households."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemehost.tenants.insurance.value import (Composition, Terms, add_months, composition, period_for,
                                                policy_value)

CHF_BASIC = Terms(insurance_period_months=12, lump_sum=3_000_000, threshold=6, premium_adult=500_000,
                  premium_child=500_000)


def test_example_1_lump_sum_covers_the_household():
    value = policy_value(CHF_BASIC, Composition(adults=2, children=3), "new", date(2027, 3, 10))
    assert value.total == 3_000_000
    assert (value.start_date, value.expiry_date) == (date(2027, 3, 10), date(2028, 3, 9))


def test_example_2_members_above_the_threshold_pay_extra_adults_fill_it_first():
    value = policy_value(CHF_BASIC, Composition(adults=3, children=5), "new", date(2027, 3, 10))
    assert value.parts["extra_adults"] == 0 and value.parts["extra_children"] == 2
    assert value.total == 4_000_000


def test_example_3_per_member_premiums_and_registration_fees_only_when_new():
    terms = Terms(premium_adult=1_000_000, premium_child=400_000, registration_lump_sum=50_000,
                  registration_fee=100_000)
    household = Composition(adults=2, children=2)
    assert policy_value(terms, household, "new", date(2027, 1, 5)).total == 3_250_000
    assert policy_value(terms, household, "renewal", date(2027, 1, 5)).total == 2_800_000


def test_example_4_cycles_grace_and_enrolment_discount():
    terms = Terms(premium_adult=1_000_000, cycle_starts=("01-01",), grace_period_days=30,
                  enrolment_discount_percent=Decimal("10"), enrolment_discount_days=30, assembly_fee=20_000)
    early = policy_value(terms, Composition(2, 0), "new", date(2026, 11, 15))
    assert (early.start_date, early.expiry_date) == (date(2027, 1, 1), date(2027, 12, 31))
    assert early.parts["discount"] == 200_000 and early.total == 1_840_000
    late = policy_value(terms, Composition(2, 0), "new", date(2027, 1, 20))  # within the grace period
    assert late.start_date == date(2027, 1, 1) and late.parts["discount"] == 0 and late.total == 2_040_000
    too_late = period_for(terms, date(2027, 2, 5))  # after the grace period: the next cycle
    assert too_late == (date(2028, 1, 1), date(2028, 12, 31))


def test_example_5_adults_are_counted_on_the_start_date():
    born = [date(1990, 6, 1), date(2009, 3, 1)]
    assert composition(born, date(2027, 3, 1), 18) == Composition(2, 0)
    assert composition(born, date(2027, 2, 28), 18) == Composition(1, 1)


def test_months_end_on_the_last_day():
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


amounts = st.integers(min_value=0, max_value=10**9)
percents = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
days = st.integers(min_value=0, max_value=365)
cycles = st.lists(st.sampled_from(["01-01", "04-01", "07-01", "10-01", "03-15", "12-31"]), unique=True,
                  max_size=3).map(tuple)
terms_st = st.builds(Terms, insurance_period_months=st.integers(1, 36), lump_sum=amounts,
                     threshold=st.integers(0, 12), premium_adult=amounts, premium_child=amounts,
                     registration_lump_sum=amounts, registration_fee=amounts, assembly_lump_sum=amounts,
                     assembly_fee=amounts, enrolment_discount_percent=percents, enrolment_discount_days=days,
                     renewal_discount_percent=percents, renewal_discount_days=days, cycle_starts=cycles,
                     grace_period_days=days)
households = st.builds(Composition, adults=st.integers(0, 15), children=st.integers(0, 15))
dates = st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31))
stages = st.sampled_from(["new", "renewal"])


@settings(max_examples=300, deadline=None)
@given(terms_st, households, stages, dates)
def test_never_negative_and_deterministic(terms, household, stage, day):
    first = policy_value(terms, household, stage, day)
    assert first.total >= 0
    assert all(v >= 0 for v in first.parts.values())
    assert policy_value(terms, household, stage, day) == first
    assert first.start_date >= day - timedelta(days=terms.grace_period_days)
    assert first.expiry_date >= first.start_date


@settings(max_examples=300, deadline=None)
@given(terms_st, households, stages, dates)
def test_the_discount_is_applied_once_to_the_contribution_only(terms, household, stage, day):
    value = policy_value(terms, household, stage, day)
    without = policy_value(Terms(**{**terms.__dict__, "enrolment_discount_percent": Decimal(0),
                                    "renewal_discount_percent": Decimal(0)}), household, stage, day)
    discount = value.parts["discount"]
    assert value.total == without.total - discount
    assert 0 <= discount <= value.parts["contribution"]
    percent = terms.enrolment_discount_percent if stage == "new" else terms.renewal_discount_percent
    expected = Decimal(value.parts["contribution"]) * percent / 100
    assert abs(discount - expected) <= Decimal("0.5") or discount == 0
    fees = value.parts["registration"] + value.parts["assembly"]
    assert value.total == value.parts["contribution"] - discount + fees


@settings(max_examples=200, deadline=None)
@given(terms_st, households, dates)
def test_more_members_never_cost_less(terms, household, day):
    bigger = Composition(household.adults, household.children + 1)
    assert policy_value(terms, bigger, "new", day).total >= policy_value(terms, household, "new", day).total


@settings(max_examples=200, deadline=None)
@given(terms_st, dates)
def test_a_policy_runs_its_months(terms, day):
    start, expiry = period_for(terms, day)
    assert expiry == add_months(start, terms.insurance_period_months) - timedelta(days=1)
