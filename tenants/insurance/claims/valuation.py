"""Claim valuation: a pure function of a claim's lines, its product's cost sharing and what the insuree
and the policy already used (decision 0315). No database, no clock: the same inputs always give the same
amounts. docs/insurance.md ("Claim valuation") has worked examples; tests check each of them, and the
set-based SQL of :func:`schemehost.tenants.insurance.claims.checks.valuate_claims` is checked against
this function on random claims.

Amounts are integers in minor units (decision 0101); percentages are ``Decimal``. In this order:

1. **Price.** A line's unit price is its approved price (else the claimed one), but never more than
   its list price when it has one; its *amount* is quantity × unit price, rounded half-even. A line
   that is not valued (rejected) counts for nothing.
2. **Co-payment**, per line, once: amount × the coverage's co-payment percent (else the product's) /
   100, rounded half-even. What is left is the line's *net*.
3. **Deductible**, per claim: the product's deductible for the claim's care (in-patient or
   out-patient) at one scope, the most specific one it names: ``treatment`` (each claim), else
   ``insuree`` (each insuree per policy period), else ``policy`` (all insurees of the policy per
   period). The claim pays what is left of it (the treatment deductible in full; the insuree's or the
   policy's less the deductibles already taken under the policy for that care), up to its net total,
   taken from the lines in line order.
4. **Ceilings**, per claim: what is left after the deductible is paid up to the product's ceilings
   for the care, *all* of those it names: ``treatment`` (each claim), ``insuree`` (less what the
   policy already paid for the insuree in that care), ``policy`` (less what it paid for all its
   insurees in that care). The paid total (*valuated*) is taken from the lines in line order; what is
   above a ceiling is the *excess* the facility cannot claim from the scheme.

So for every line ``amount = valuated + copayment + deductible + excess``, each part never negative,
and a claim never takes the scheme past a ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping

from schemehost.platform.money import round_minor

IN_PATIENT = "in_patient"
OUT_PATIENT = "out_patient"
#: deductible scopes, most specific first (the first one a product names for a care applies)
DEDUCTIBLE_SCOPES = ("treatment", "insuree", "policy")
CEILING_SCOPES = ("treatment", "insuree", "policy")
HUNDRED = Decimal(100)


def care_of(visit_type: str) -> str:
    """The care a claim's ceilings and deductibles count in: in-patient for an in-patient stay, else
    out-patient (emergencies and out-patient visits)."""
    return IN_PATIENT if visit_type == IN_PATIENT else OUT_PATIENT


@dataclass(frozen=True)
class Line:
    """One line of a claim as valuation sees it: approved quantity and unit price (the claimed ones
    when the review kept them), the list price on the day of care (None: no list prices it) and the
    co-payment percent of its coverage. ``valued`` is False for a rejected line."""

    line_no: int
    quantity: Decimal | int
    price: int
    list_price: int | None = None
    copayment_percent: Decimal = Decimal(0)
    valued: bool = True


@dataclass(frozen=True)
class Used:
    """What was already taken under the claim's policy in the claim's care before this claim:
    deductibles and paid (valuated) amounts, for the insuree and for the whole policy."""

    insuree_deductible: int = 0
    policy_deductible: int = 0
    insuree_valuated: int = 0
    policy_valuated: int = 0


@dataclass(frozen=True)
class LineValue:
    line_no: int
    amount: int  # quantity x unit price
    copayment: int
    deductible: int
    valuated: int  # what the scheme pays

    @property
    def excess(self) -> int:
        """The part above a ceiling."""
        return self.amount - self.copayment - self.deductible - self.valuated


@dataclass(frozen=True)
class ClaimValue:
    lines: tuple[LineValue, ...]
    deductible_scope: str | None
    amount: int = 0
    copayment: int = 0
    deductible: int = 0
    valuated: int = 0
    ceilings: dict[str, int] = field(default_factory=dict)

    @property
    def excess(self) -> int:
        return self.amount - self.copayment - self.deductible - self.valuated

    def used_after(self, used: Used, *, same_insuree: bool = True) -> Used:
        """``used`` as the next claim under the same policy and care sees it after this one
        (``same_insuree``: the next claim is the same insuree's)."""
        return Used(insuree_deductible=used.insuree_deductible + (self.deductible if same_insuree else 0),
                    policy_deductible=used.policy_deductible + self.deductible,
                    insuree_valuated=used.insuree_valuated + (self.valuated if same_insuree else 0),
                    policy_valuated=used.policy_valuated + self.valuated)


def deductible_rule(cost_sharing: Mapping[str, Any], care: str) -> tuple[str | None, int]:
    """The deductible that applies to a claim in ``care``: (scope, amount) of the most specific one
    the product names with an amount above 0, else (None, 0)."""
    for scope in DEDUCTIBLE_SCOPES:
        amount = int(cost_sharing.get(f"deductible_{scope}_{care}") or 0)
        if amount > 0:
            return scope, amount
    return None, 0


def ceiling_rules(cost_sharing: Mapping[str, Any], care: str) -> dict[str, int]:
    """The ceilings for ``care`` the product names, by scope."""
    out = {}
    for scope in CEILING_SCOPES:
        amount = cost_sharing.get(f"ceiling_{scope}_{care}")
        if amount is not None:
            out[scope] = max(0, int(amount))
    return out


def line_amount(line: Line) -> int:
    """Quantity x unit price, the unit price being the approved price capped by the list price."""
    if not line.valued:
        return 0
    unit = max(0, int(line.price))
    if line.list_price is not None:
        unit = min(unit, max(0, int(line.list_price)))
    return max(0, round_minor(Decimal(line.quantity) * unit))


def copayment(amount: int, percent: Decimal | int | str | None) -> int:
    """``amount`` x ``percent`` / 100 rounded half-even (the percent held between 0 and 100)."""
    rate = min(HUNDRED, max(Decimal(0), Decimal(percent or 0)))
    return round_minor(Decimal(amount) * rate / HUNDRED)


def _spread(total: int, parts: list[int]) -> list[int]:
    """``total`` taken from ``parts`` in order, each giving at most what it has."""
    out = []
    for part in parts:
        take = min(part, total)
        out.append(take)
        total -= take
    return out


def valuate_claim(lines: Iterable[Line], cost_sharing: Mapping[str, Any], care: str,
                  used: Used = Used()) -> ClaimValue:
    """Value one claim: per line its amount, co-payment, deductible and valuated amount, and the
    claim's totals (see the module's docstring for the order of the rules)."""
    ordered = sorted(lines, key=lambda line: line.line_no)
    amounts = [line_amount(line) for line in ordered]
    copays = [copayment(a, line.copayment_percent) if line.valued else 0 for a, line in zip(amounts, ordered)]
    nets = [a - c for a, c in zip(amounts, copays)]
    scope, deductible = deductible_rule(cost_sharing, care)
    before = {"treatment": 0, "insuree": used.insuree_deductible, "policy": used.policy_deductible}
    due = max(0, deductible - before[scope]) if scope else 0
    deductibles = _spread(min(due, sum(nets)), nets)
    payable = [n - d for n, d in zip(nets, deductibles)]
    ceilings = ceiling_rules(cost_sharing, care)
    paid_before = {"treatment": 0, "insuree": used.insuree_valuated, "policy": used.policy_valuated}
    room = sum(payable)
    for ceiling_scope, ceiling in ceilings.items():
        room = min(room, max(0, ceiling - paid_before[ceiling_scope]))
    valuated = _spread(room, payable)
    values = tuple(LineValue(line.line_no, a, c, d, v)
                   for line, a, c, d, v in zip(ordered, amounts, copays, deductibles, valuated))
    return ClaimValue(values, scope, amount=sum(amounts), copayment=sum(copays), deductible=sum(deductibles),
                      valuated=sum(valuated), ceilings=ceilings)
