"""Invoice arithmetic, free of the database: periods, tiers, proration, tax and totals.

Every amount is an ``int`` of minor units. Unit prices may hold fractions of a minor unit (``Decimal``);
each line is rounded once, half-even (``money.round_minor``), and so is each line's tax. An invoice's
totals are then sums of integers: ``subtotal = Σ amount``, ``tax = Σ line tax``, ``total = subtotal + tax``,
so totals always equal the sum of the lines and nothing drifts however many invoices are made.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from schemehost.platform.billing.models import PERIOD_MONTHS
from schemehost.platform.money import round_minor


def add_months(day: date, months: int, *, anchor: int | None = None) -> date:
    """``day`` moved by ``months``, on the ``anchor`` day of the month (default ``day.day``), clamped to
    the month's last day: 31 Jan + 1 month is 28/29 Feb, and the next period ends 31 Mar again."""
    anchor = anchor or day.day
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(anchor, calendar.monthrange(year, month)[1]))


def next_period_end(start: date, period: str, *, anchor: int | None = None) -> date:
    """The (exclusive) end of the billing period starting ``start``."""
    return add_months(start, PERIOD_MONTHS[period], anchor=anchor)


def validate_tiers(tiers: list[dict[str, Any]]) -> list[str]:
    """Problems of a tier list (empty when it is valid): ascending ``up_to``, the last one open."""
    problems: list[str] = []
    if not tiers:
        return ["at least one tier"]
    previous = 0
    for i, tier in enumerate(tiers):
        up_to = tier.get("up_to")
        try:
            price = Decimal(str(tier.get("unit_amount")))
        except ArithmeticError:
            problems.append(f"tier {i + 1}: unit_amount is not a number")
            continue
        if not price.is_finite() or price < 0:
            problems.append(f"tier {i + 1}: unit_amount must be zero or more")
        if up_to is None:
            if i != len(tiers) - 1:
                problems.append(f"tier {i + 1}: only the last tier may be open (up_to null)")
        elif not isinstance(up_to, int) or isinstance(up_to, bool) or up_to <= previous:
            problems.append(f"tier {i + 1}: up_to must be a whole number above {previous}")
        else:
            previous = up_to
    if tiers[-1].get("up_to") is not None:
        problems.append("the last tier must be open (up_to null)")
    return problems


def graduated(units: int, tiers: list[dict[str, Any]]) -> tuple[Decimal, list[dict[str, Any]]]:
    """The exact price of ``units`` filling ``tiers`` in turn (graduated pricing), and the breakdown."""
    total, lower, used = Decimal(0), 0, []
    for tier in tiers:
        if units <= lower:
            break
        upper = tier.get("up_to")
        n = units - lower if upper is None else min(units, upper) - lower
        price = Decimal(str(tier["unit_amount"]))
        total += price * n
        used.append({"from": lower + 1, "to": lower + n, "units": n, "unit_amount": str(price)})
        lower = upper if upper is not None else units
    return total, used


@dataclass
class Line:
    """An invoice line before it is stored."""

    kind: str
    description: str
    amount: int
    quantity: int | None = None
    meter: str | None = None
    detail: dict[str, Any] | None = None
    tax: int = 0


def metered_line(meter: str, description: str, measured: int, included: int, tiers) -> Line:
    """The line of one meter: the billable quantity is the period's maximum daily count; the allowance
    is free, the rest is priced by the tiers and rounded once."""
    billable = max(0, measured - included)
    exact, used = graduated(billable, tiers)
    return Line("metered", description, round_minor(exact), quantity=measured, meter=meter,
                detail={"measured_max": measured, "included": included, "billable": billable, "tiers": used})


def prorate(amount: int, days: int, period_days: int) -> int:
    """``amount`` for ``days`` of a ``period_days``-day period, rounded once."""
    if period_days <= 0:
        return 0
    return round_minor(Decimal(amount) * days / period_days)


def tax_of(amount: int, rate: Decimal) -> int:
    """Tax on one line at ``rate`` percent, rounded once (negative on a credit line)."""
    return round_minor(Decimal(amount) * Decimal(rate) / 100)


@dataclass
class Totals:
    subtotal: int
    tax: int
    total: int
    lines: list[Line] = field(default_factory=list)


def totals(lines: Iterable[Line], rate: Decimal) -> Totals:
    """Tax each line and sum: the invoice's totals are exactly the sums of its lines."""
    lines = list(lines)
    for line in lines:
        line.tax = tax_of(line.amount, rate)
    subtotal = sum(line.amount for line in lines)
    tax = sum(line.tax for line in lines)
    return Totals(subtotal, tax, subtotal + tax, lines)


def platform_fee(subtotal: int, *, kind: str | None, percent: Decimal | None, amount: int | None) -> int:
    """The operator's share of an invoice: a percentage of its subtotal (rounded once) or a fixed amount,
    never more than the subtotal nor below zero."""
    if kind == "percent" and percent is not None:
        fee = round_minor(Decimal(subtotal) * Decimal(percent) / 100)
    elif kind == "fixed" and amount is not None:
        fee = amount
    else:
        fee = 0
    return max(0, min(fee, subtotal))
