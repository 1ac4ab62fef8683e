"""Claim valuation as a pure function: the worked examples of docs/insurance.md ("Claim valuation"), and
properties on random claims and products (never negative, ceilings never exceeded, co-payment applied
once, deterministic)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemehost.tenants.insurance.claims.valuation import (Line, Used, care_of, copayment, deductible_rule,
                                                           valuate_claim)

TEN = Decimal("10")


def test_example_1_list_prices_and_co_payment():
    lines = [Line(1, 1, 1_500_000, list_price=1_200_000, copayment_percent=TEN),
             Line(2, 20, 5_000, list_price=6_000, copayment_percent=TEN)]
    value = valuate_claim(lines, {}, "out_patient")
    assert [(v.amount, v.copayment, v.deductible, v.valuated) for v in value.lines] == [
        (1_200_000, 120_000, 0, 1_080_000), (100_000, 10_000, 0, 90_000)]
    assert (value.amount, value.copayment, value.valuated, value.excess) == (1_300_000, 130_000, 1_170_000, 0)


def test_example_2_what_is_left_of_the_insurees_deductible():
    lines = [Line(1, 1, 1_500_000, list_price=1_200_000, copayment_percent=TEN),
             Line(2, 20, 5_000, list_price=6_000, copayment_percent=TEN)]
    value = valuate_claim(lines, {"deductible_insuree_out_patient": 200_000}, "out_patient",
                          Used(insuree_deductible=150_000, policy_deductible=400_000))
    assert value.deductible_scope == "insuree"
    assert [(v.deductible, v.valuated) for v in value.lines] == [(50_000, 1_030_000), (0, 90_000)]
    assert value.valuated == 1_120_000
    # the deductible met: nothing more to pay
    assert valuate_claim(lines, {"deductible_insuree_out_patient": 200_000}, "out_patient",
                         Used(insuree_deductible=200_000)).deductible == 0


def test_example_3_treatment_and_policy_ceilings_of_an_in_patient_stay():
    costs = {"ceiling_treatment_in_patient": 5_000_000, "ceiling_policy_in_patient": 8_000_000,
             "ceiling_policy_out_patient": 100}
    lines = [Line(1, 1, 4_000_000, list_price=4_000_000, copayment_percent=Decimal(0)),
             Line(2, 5, 300_000, list_price=250_000, copayment_percent=TEN)]
    value = valuate_claim(lines, costs, care_of("in_patient"), Used(policy_valuated=6_500_000))
    assert [(v.amount, v.copayment, v.valuated, v.excess) for v in value.lines] == [
        (4_000_000, 0, 1_500_000, 2_500_000), (1_250_000, 125_000, 0, 1_125_000)]
    assert (value.valuated, value.excess) == (1_500_000, 3_625_000)
    # a fresh policy: the treatment ceiling alone
    fresh = valuate_claim(lines, costs, "in_patient")
    assert (fresh.valuated, fresh.excess) == (5_000_000, 125_000)


def test_example_4_co_payment_rounds_half_even_once_per_line():
    assert copayment(12_345, TEN) == 1_234  # 1,234.5 -> the even 1,234
    assert copayment(12_355, TEN) == 1_236  # 1,235.5 -> 1,236
    value = valuate_claim([Line(1, 1, 12_345, copayment_percent=TEN), Line(2, 1, 12_345, copayment_percent=TEN)],
                          {}, "out_patient")
    assert value.copayment == 2_468  # per line, not 2,469 on the claim's 24,690


def test_example_5_the_most_specific_deductible_applies():
    costs = {"deductible_treatment_out_patient": 30_000, "deductible_insuree_out_patient": 500_000,
             "deductible_policy_in_patient": 1_000_000}
    assert deductible_rule(costs, "out_patient") == ("treatment", 30_000)
    assert deductible_rule(costs, "in_patient") == ("policy", 1_000_000)
    value = valuate_claim([Line(1, 2, 10_000), Line(2, 1, 50_000)], costs, care_of("emergency"),
                          Used(insuree_deductible=500_000))
    assert [(v.deductible, v.valuated) for v in value.lines] == [(20_000, 0), (10_000, 40_000)]


def test_rejected_lines_count_for_nothing():
    value = valuate_claim([Line(1, 3, 1_000, valued=False), Line(2, 1, 2_000)], {"ceiling_treatment_out_patient": 0},
                          "out_patient")
    assert value.lines[0] == value.lines[0].__class__(1, 0, 0, 0, 0)
    assert value.valuated == 0 and value.excess == 2_000


# ---- properties ------------------------------------------------------------------------------------

money = st.integers(min_value=0, max_value=10**9)
percent = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)
quantity = st.one_of(st.integers(0, 50), st.decimals(min_value=0, max_value=50, places=2, allow_nan=False,
                                                     allow_infinity=False))
cares = st.sampled_from(["in_patient", "out_patient"])
COST_KEYS = [f"{k}_{s}_{c}" for k in ("deductible", "ceiling") for s in ("insuree", "policy", "treatment")
             for c in ("in_patient", "out_patient")]
cost_sharing = st.dictionaries(st.sampled_from(COST_KEYS), st.integers(0, 5 * 10**7), max_size=8)


@st.composite
def claim_lines(draw):
    n = draw(st.integers(0, 6))
    numbers = draw(st.lists(st.integers(1, 99), min_size=n, max_size=n, unique=True))
    return [Line(no, draw(quantity), draw(money), draw(st.one_of(st.none(), money)), draw(percent),
                 draw(st.sampled_from([True, True, False]))) for no in numbers]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), claim_lines(), cares), max_size=8), cost_sharing)
def test_a_sequence_of_claims_never_negative_never_past_a_ceiling(claims, costs):
    """Claims of three insurees of one policy valued one after the other, each seeing what the ones
    before took: every part is >= 0, the parts add up to the amount, co-payment is taken once per line,
    and no ceiling is passed, in a claim, for an insuree or for the policy."""
    used: dict[tuple[str, int | None], dict[str, int]] = {}
    for insuree, lines, care in claims:
        mine = used.setdefault((care, insuree), {"deductible": 0, "valuated": 0})
        policy = used.setdefault((care, None), {"deductible": 0, "valuated": 0})
        value = valuate_claim(lines, costs, care, Used(mine["deductible"], policy["deductible"],
                                                       mine["valuated"], policy["valuated"]))
        for v, line in zip(value.lines, sorted(lines, key=lambda x: x.line_no)):
            assert min(v.amount, v.copayment, v.deductible, v.valuated, v.excess) >= 0
            assert v.amount == v.copayment + v.deductible + v.valuated + v.excess
            assert v.copayment == (copayment(v.amount, line.copayment_percent) if line.valued else 0)
            if line.list_price is not None and line.valued:
                assert v.amount <= round(Decimal(line.quantity) * line.list_price) + 1
        assert value.valuated == sum(v.valuated for v in value.lines)
        assert value.copayment == sum(v.copayment for v in value.lines)
        if f"ceiling_treatment_{care}" in costs:
            assert value.valuated <= costs[f"ceiling_treatment_{care}"]
        for bucket in (mine, policy):
            bucket["deductible"] += value.deductible
            bucket["valuated"] += value.valuated
        if f"ceiling_insuree_{care}" in costs:
            assert mine["valuated"] <= costs[f"ceiling_insuree_{care}"]
        if f"ceiling_policy_{care}" in costs:
            assert policy["valuated"] <= costs[f"ceiling_policy_{care}"]
        scope, deductible = deductible_rule(costs, care)
        if scope in ("insuree", "policy"):
            assert (mine if scope == "insuree" else policy)["deductible"] <= deductible
        elif scope == "treatment":
            assert value.deductible <= deductible


@settings(max_examples=200, deadline=None)
@given(claim_lines(), cost_sharing, cares, st.builds(Used, money, money, money, money), st.randoms())
def test_deterministic_whatever_the_order_of_the_lines(lines, costs, care, used, rnd):
    first = valuate_claim(lines, costs, care, used)
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    assert valuate_claim(shuffled, dict(reversed(list(costs.items()))), care, used) == first
    # without cost sharing the scheme pays every amount less its co-payment
    plain = valuate_claim(lines, {}, care)
    assert plain.valuated == plain.amount - plain.copayment and plain.deductible == 0
