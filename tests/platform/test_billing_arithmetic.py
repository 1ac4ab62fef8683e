"""Invoice arithmetic: tiers, allowances, proration, tax, totals and credit notes (no database)."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemehost.platform.billing import pricing

TIERS = [{"up_to": 100, "unit_amount": "50"}, {"up_to": 1000, "unit_amount": "30"},
         {"up_to": None, "unit_amount": "12.5"}]


def test_graduated_tiers_fill_in_turn_after_the_allowance():
    line = pricing.metered_line("active_individuals", "people", 1250, 50, TIERS)
    # 1,200 billable: 100 × 50 + 900 × 30 + 200 × 12.5
    assert line.amount == 5000 + 27000 + 2500
    assert line.detail["billable"] == 1200
    assert [t["units"] for t in line.detail["tiers"]] == [100, 900, 200]
    assert pricing.metered_line("m", "x", 40, 50, TIERS).amount == 0  # within the allowance


def test_a_fractional_unit_price_is_rounded_once_half_even():
    tiers = [{"up_to": None, "unit_amount": "0.5"}]
    assert pricing.metered_line("m", "x", 5, 0, tiers).amount == 2  # 2.5 -> 2
    assert pricing.metered_line("m", "x", 7, 0, tiers).amount == 4  # 3.5 -> 4


def test_tier_validation():
    assert pricing.validate_tiers(TIERS) == []
    assert pricing.validate_tiers([]) != []
    assert pricing.validate_tiers([{"up_to": 10, "unit_amount": "1"}]) != []  # last one must be open
    assert pricing.validate_tiers([{"up_to": 10, "unit_amount": "1"}, {"up_to": 5, "unit_amount": "1"},
                                   {"up_to": None, "unit_amount": "1"}]) != []
    assert pricing.validate_tiers([{"up_to": None, "unit_amount": "-1"}]) != []


def test_proration_and_periods():
    assert pricing.prorate(30000, 10, 30) == 10000
    assert pricing.prorate(10000, 1, 3) == 3333
    assert pricing.next_period_end(date(2026, 1, 31), "monthly") == date(2026, 2, 28)
    assert pricing.next_period_end(date(2026, 2, 28), "monthly", anchor=31) == date(2026, 3, 31)
    assert pricing.next_period_end(date(2026, 11, 15), "quarterly") == date(2027, 2, 15)
    assert pricing.next_period_end(date(2028, 2, 29), "yearly") == date(2029, 2, 28)


def test_tax_is_per_line_and_totals_are_sums():
    lines = [pricing.Line("fixed", "a", 1001), pricing.Line("metered", "b", 2999)]
    result = pricing.totals(lines, Decimal("19.25"))
    assert [l.tax for l in result.lines] == [193, 577]  # 192.6925 -> 193, 577.3075 -> 577
    assert result.subtotal == 4000 and result.tax == 770 and result.total == 4770


def test_platform_fee():
    assert pricing.platform_fee(10001, kind="percent", percent=Decimal("2.5"), amount=None) == 250
    assert pricing.platform_fee(1000, kind="fixed", percent=None, amount=5000) == 1000  # never above the subtotal
    assert pricing.platform_fee(1000, kind=None, percent=None, amount=None) == 0


amounts = st.integers(min_value=0, max_value=10**9)
tier_lists = st.lists(st.tuples(st.integers(1, 5000), st.decimals(min_value=0, max_value=1000, places=3)),
                      min_size=0, max_size=3).map(
    lambda parts: [{"up_to": up, "unit_amount": str(price)} for up, price in
                   zip(sorted({sum(p[0] for p in parts[:i + 1]) for i in range(len(parts))}), (p[1] for p in parts))]
    + [{"up_to": None, "unit_amount": "1.5"}])


@settings(max_examples=400, deadline=None)
@given(fixed=amounts, days=st.integers(1, 31), measured=st.integers(0, 10**6), included=st.integers(0, 10**4),
       tiers=tier_lists, rate=st.decimals(min_value=0, max_value=Decimal("99.9999"), places=4),
       extra=st.lists(st.integers(-10**7, 10**7), max_size=4))
def test_totals_equal_the_sum_of_lines_and_a_full_credit_note_cancels_exactly(fixed, days, measured, included,
                                                                             tiers, rate, extra):
    assert pricing.validate_tiers(tiers) == []
    lines = [pricing.Line("fixed", "fee", pricing.prorate(fixed, days, 31)),
             pricing.metered_line("m", "usage", measured, included, tiers)]
    lines += [pricing.Line("proration", "adj", a) for a in extra]
    result = pricing.totals(lines, rate)
    assert result.subtotal == sum(l.amount for l in result.lines)
    assert result.tax == sum(l.tax for l in result.lines)
    assert result.total == result.subtotal + result.tax
    # each rounding is at most half a minor unit away from the exact figure
    for line in result.lines:
        assert abs(Decimal(line.amount) * rate / 100 - line.tax) <= Decimal("0.5")
    exact_metered, _used = pricing.graduated(max(0, measured - included), tiers)
    assert abs(exact_metered - lines[1].amount) <= Decimal("0.5")


def test_no_rounding_drift_across_10000_random_invoices():
    rng = random.Random(20261203)
    grand_lines = grand_totals = credited = 0
    for _n in range(10_000):
        rate = Decimal(rng.choice(["0", "5.5", "7.5", "18", "19.25", "20"]))
        tiers = [{"up_to": rng.randint(1, 500), "unit_amount": str(Decimal(rng.randint(0, 9999)) / 100)},
                 {"up_to": None, "unit_amount": str(Decimal(rng.randint(0, 999)) / 1000)}]
        lines = [pricing.Line("fixed", "fee", pricing.prorate(rng.randint(0, 10**7), rng.randint(1, 92), 92)),
                 pricing.metered_line("m", "usage", rng.randint(0, 10**5), rng.randint(0, 100), tiers)]
        if rng.random() < 0.3:
            lines.append(pricing.Line("proration", "credit", -rng.randint(0, 10**6)))
        result = pricing.totals(lines, rate)
        grand_lines += sum(l.amount + l.tax for l in result.lines)
        grand_totals += result.total
        # a full credit note copies the lines and their taxes: the balance is exactly zero
        note = pricing.totals([pricing.Line("credit", l.description, l.amount) for l in result.lines], rate)
        credited += result.total - note.total
    assert grand_totals == grand_lines
    assert credited == 0
