"""Billing operations: plans, subscriptions, metering, invoices, payments. They ``flush()``, never commit.

Who may call what (partner staff only for their partner, support only reads) is checked by the API and
console through ``operators.roles``; these functions take the partner or tenant they act on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import func, literal_column, select, text, update
from sqlalchemy.orm import Session

from schemehost.platform.billing import meters as meter_registry
from schemehost.platform.billing import pricing
from schemehost.platform.billing.models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    LineKind,
    PartnerBilling,
    Payment,
    PaymentMethod,
    PendingLine,
    Period,
    Plan,
    PlanPrice,
    PlatformFee,
    Subscription,
    SubscriptionStatus,
    TaxRate,
    Usage,
)
from schemehost.platform.db import any_of
from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.money import is_currency
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import Tenant, TenantStatus
from schemehost.platform.tenants.services import record_event

MAX_AMOUNT = 10**15


def _amount_problem(value: Any, *, allow_zero: bool = True) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return _("a whole number of minor units")
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_AMOUNT:
        return _("out of range")
    return None


# ---- plans, tax rates, platform fee, partner profile -------------------------------------------------

def create_plan(session: Session, partner: Partner, *, code: str, name: str, currency: str,
                period: str = Period.monthly, fixed_fee: int = 0, setup_fee: int = 0, trial_days: int = 0,
                due_days: int = 14, reminder_days: int = 7, read_only_after_days: int = 30,
                suspend_after_days: int = 60, prices: Iterable[dict[str, Any]] = ()) -> Plan:
    """A new plan of ``partner``; amounts in minor units of ``currency``, metered prices by meter code."""
    errors: dict[str, Any] = {}
    code = (code or "").strip()
    if not code or len(code) > 40:
        errors["code"] = [_("A plan needs a code of at most 40 characters.")]
    if not name or not name.strip():
        errors["name"] = [_("A plan needs a name.")]
    if not is_currency(currency):
        errors["currency"] = [_("Use an ISO 4217 currency code, e.g. 'XAF'.")]
    if period not in Period.__members__:
        errors["period"] = [_("One of: monthly, quarterly, yearly.")]
    for field, value in (("fixed_fee", fixed_fee), ("setup_fee", setup_fee)):
        if (problem := _amount_problem(value)):
            errors[field] = [problem]
    for field, value in (("trial_days", trial_days), ("due_days", due_days),
                         ("read_only_after_days", read_only_after_days)):
        if not isinstance(value, int) or not 0 <= value <= 3650:
            errors[field] = [_("between 0 and 3650 days")]
    if not isinstance(reminder_days, int) or not 1 <= reminder_days <= 365:
        errors["reminder_days"] = [_("between 1 and 365 days")]
    if not isinstance(suspend_after_days, int) or not isinstance(read_only_after_days, int) \
            or not read_only_after_days <= suspend_after_days <= 3650:
        errors["suspend_after_days"] = [_("at least the days before read-only, at most 3650")]
    price_rows, price_errors = [], {}
    seen: set[str] = set()
    for i, price in enumerate(prices):
        problems = []
        meter = price.get("meter")
        if meter not in meter_registry.METERS:
            problems.append(_("unknown meter '%(meter)s'; known: %(known)s", meter=meter,
                              known=", ".join(sorted(meter_registry.METERS))))
        elif meter in seen:
            problems.append(_("meter '%(meter)s' is priced twice", meter=meter))
        seen.add(meter)
        included = price.get("included", 0)
        if (problem := _amount_problem(included)):
            problems.append(_("included: %(problem)s", problem=problem))
        tiers = price.get("tiers") or []
        problems.extend(pricing.validate_tiers(tiers))
        if problems:
            price_errors[str(i)] = problems
        else:
            price_rows.append(PlanPrice(meter=meter, included=included,
                                        tiers=[{"up_to": t.get("up_to"), "unit_amount": str(Decimal(str(t["unit_amount"])))}
                                               for t in tiers]))
    if price_errors:
        errors["prices"] = price_errors
    if errors:
        raise ValidationError(_("The plan cannot be created."), errors=errors)
    if session.execute(select(Plan.id).where(Plan.partner_id == partner.id, Plan.code == code)).first():
        raise Conflict(_("Partner %(partner)s already has a plan '%(code)s'.", partner=partner.slug, code=code),
                       errors={"code": [_("already taken")]})
    plan = Plan(partner_id=partner.id, code=code, name=name.strip(), currency=currency, period=period,
                fixed_fee=fixed_fee, setup_fee=setup_fee, trial_days=trial_days, due_days=due_days,
                reminder_days=reminder_days, read_only_after_days=read_only_after_days,
                suspend_after_days=suspend_after_days, prices=price_rows)
    session.add(plan)
    session.flush()
    return plan


def get_plan(session: Session, plan_id: int) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound(_("No plan %(id)s.", id=plan_id), errors={"plan": [_("unknown plan")]})
    return plan


def list_plans(session: Session, *, partner_id: int | None = None) -> list[Plan]:
    stmt = select(Plan).order_by(Plan.partner_id, Plan.code)
    if partner_id is not None:
        stmt = stmt.where(Plan.partner_id == partner_id)
    return list(session.execute(stmt).unique().scalars())


def set_plan_active(session: Session, plan: Plan, active: bool) -> Plan:
    """Retire (or offer again) a plan: a retired plan takes no new subscriptions; running ones go on."""
    plan.active = active
    session.flush()
    return plan


def set_tax_rate(session: Session, partner: Partner, *, country: str, rate: str | Decimal, name: str) -> TaxRate:
    """The partner's tax rate (percent) for tenants billed in ``country``; replaces an earlier one."""
    errors: dict[str, list[str]] = {}
    country = (country or "").upper()
    if not (len(country) == 2 and country.isalpha()):
        errors["country"] = [_("Use the two-letter ISO 3166 country code, e.g. 'CM'.")]
    try:
        value = Decimal(str(rate))
        if not value.is_finite() or not 0 <= value < 100 or value.as_tuple().exponent < -4:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors["rate"] = [_("a percentage from 0 to under 100, at most 4 decimals")]
    if not name or not name.strip():
        errors["name"] = [_("Name the tax, e.g. 'VAT'.")]
    if errors:
        raise ValidationError(_("The tax rate cannot be saved."), errors=errors)
    row = session.execute(select(TaxRate).where(TaxRate.partner_id == partner.id, TaxRate.country == country)
                          ).scalar_one_or_none()
    if row is None:
        row = TaxRate(partner_id=partner.id, country=country)
        session.add(row)
    row.rate, row.name = value, name.strip()
    session.flush()
    return row


def list_tax_rates(session: Session, partner: Partner) -> list[TaxRate]:
    return list(session.execute(select(TaxRate).where(TaxRate.partner_id == partner.id)
                                .order_by(TaxRate.country)).scalars())


def set_platform_fee(session: Session, partner: Partner | None, *, kind: str, percent: str | None = None,
                     amount: int | None = None, currency: str | None = None) -> PlatformFee:
    """The operator's fee for ``partner`` (None: the default for partners without their own)."""
    errors: dict[str, list[str]] = {}
    value = None
    if kind == "percent":
        try:
            value = Decimal(str(percent))
            if not value.is_finite() or not 0 <= value <= 100 or value.as_tuple().exponent < -4:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors["percent"] = [_("a percentage from 0 to 100, at most 4 decimals")]
        amount, currency = None, None
    elif kind == "fixed":
        if (problem := _amount_problem(amount)):
            errors["amount"] = [problem]
        if not is_currency(currency):
            errors["currency"] = [_("Use an ISO 4217 currency code, e.g. 'XAF'.")]
    else:
        errors["kind"] = [_("One of: percent, fixed.")]
    if errors:
        raise ValidationError(_("The platform fee cannot be saved."), errors=errors)
    partner_id = partner.id if partner else None
    row = session.execute(select(PlatformFee).where(
        PlatformFee.partner_id.is_(None) if partner_id is None else PlatformFee.partner_id == partner_id)
    ).scalar_one_or_none()
    if row is None:
        row = PlatformFee(partner_id=partner_id)
        session.add(row)
    row.kind, row.percent, row.amount, row.currency = kind, value, amount, currency
    session.flush()
    return row


def platform_fee_for(session: Session, partner_id: int) -> PlatformFee | None:
    """The partner's own platform fee, else the default one, else None (no fee)."""
    rows = session.execute(select(PlatformFee).where(
        (PlatformFee.partner_id == partner_id) | PlatformFee.partner_id.is_(None))).scalars().all()
    return next((r for r in rows if r.partner_id == partner_id), rows[0] if rows else None)


PROFILE_FIELDS = ("legal_name", "address", "tax_id", "payment_instructions", "invoice_prefix")


def partner_profile(session: Session, partner: Partner) -> PartnerBilling:
    profile = session.get(PartnerBilling, partner.id)
    if profile is None:
        profile = PartnerBilling(partner_id=partner.id)
        session.add(profile)
        session.flush()
    return profile


def update_partner_profile(session: Session, partner: Partner, **values: Any) -> PartnerBilling:
    """The details printed on the partner's invoices."""
    profile = partner_profile(session, partner)
    prefix = values.get("invoice_prefix")
    if prefix is not None and not (prefix.replace("-", "").isalnum() and 1 <= len(prefix) <= 12):
        raise ValidationError(_("The billing details cannot be saved."),
                              errors={"invoice_prefix": [_("1 to 12 letters, digits or hyphens")]})
    for key in PROFILE_FIELDS:
        if key in values:
            value = values[key]
            setattr(profile, key, value.strip() if isinstance(value, str) and value.strip() else None)
    session.flush()
    return profile


# ---- subscriptions -----------------------------------------------------------------------------------

def _tenant(session: Session, slug: str) -> Tenant:
    tenant = session.execute(select(Tenant).where(Tenant.slug == slug)).unique().scalar_one_or_none()
    if tenant is None:
        raise NotFound(_("No tenant '%(slug)s'.", slug=slug), errors={"slug": [_("unknown tenant '%(slug)s'", slug=slug)]})
    return tenant


def live_subscription(session: Session, tenant_id: int, *, for_update: bool = False) -> Subscription | None:
    stmt = select(Subscription).where(Subscription.tenant_id == tenant_id,
                                      Subscription.status == SubscriptionStatus.active)
    if for_update:
        stmt = stmt.with_for_update(of=Subscription)
    return session.execute(stmt).unique().scalar_one_or_none()


def subscribe(session: Session, tenant: Tenant, plan: Plan, *, start: date, country: str | None = None,
              billing_email: str | None = None, actor: str) -> Subscription:
    """Put ``tenant`` on ``plan`` from ``start``: a trial first (if the plan has one), then periods billed
    in arrears."""
    if plan.partner_id != tenant.partner_id:
        raise ValidationError(_("The plan belongs to another partner than the tenant's."),
                              errors={"plan": [_("not a plan of the tenant's partner")]})
    if not plan.active:
        raise ValidationError(_("This plan is retired."), errors={"plan": [_("retired")]})
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise ValidationError(_("The subscription cannot be created."),
                              errors={"country": [_("Use the two-letter ISO 3166 country code, e.g. 'CM'.")]})
    if billing_email and ("@" not in billing_email or len(billing_email) > 254):
        raise ValidationError(_("The subscription cannot be created."),
                              errors={"billing_email": [_("an e-mail address")]})
    if live_subscription(session, tenant.id, for_update=True) is not None:
        raise Conflict(_("Tenant %(slug)s already has a subscription; change its plan instead.", slug=tenant.slug),
                       errors={"tenant": [_("already subscribed")]})
    first = start + timedelta(days=plan.trial_days)
    sub = Subscription(tenant_id=tenant.id, plan_id=plan.id, plan=plan, status=SubscriptionStatus.active,
                       country=country.upper() if country else None, billing_email=billing_email or None,
                       started_on=start, trial_ends_on=first,
                       current_period_start=first, current_period_end=pricing.next_period_end(first, plan.period),
                       segment_start=first)
    session.add(sub)
    session.flush()
    record_event(session, tenant, "subscribed", actor=actor,
                 data={"plan": plan.code, "start": start.isoformat(), "trial_ends_on": first.isoformat()})
    return sub


def change_plan(session: Session, tenant: Tenant, plan: Plan, *, on: date, actor: str) -> Subscription:
    """Move the tenant to ``plan`` from ``on``. The old plan's fixed fee for the days of this period it
    ran becomes a pending line of the period's invoice; the new plan's fee covers the rest of the period.
    Metered prices of the period are those of the plan in force when the period ends."""
    sub = live_subscription(session, tenant.id, for_update=True)
    if sub is None:
        raise NotFound(_("Tenant %(slug)s has no subscription.", slug=tenant.slug), errors={"tenant": [_("not subscribed")]})
    old = sub.plan
    problems = []
    if plan.id == old.id:
        problems.append(_("already on this plan"))
    if plan.partner_id != old.partner_id:
        problems.append(_("not a plan of the tenant's partner"))
    if plan.currency != old.currency or plan.period != old.period:
        problems.append(_("a plan change keeps the currency and the billing period"))
    if not plan.active:
        problems.append(_("retired"))
    if problems:
        raise ValidationError(_("The plan cannot be changed."), errors={"plan": problems})
    if on >= sub.current_period_end:
        raise ValidationError(_("The plan cannot be changed."),
                              errors={"on": [_("bill the ended period first (it ended %(end)s)", end=sub.current_period_end)]})
    if on > sub.segment_start:
        period_days = (sub.current_period_end - sub.current_period_start).days
        days = (on - sub.segment_start).days
        session.add(PendingLine(
            subscription_id=sub.id, kind=LineKind.proration,
            description=_("%(plan)s, %(start)s to %(end)s (%(days)s of %(total)s days)", plan=old.name,
                          start=sub.segment_start.isoformat(), end=(on - timedelta(days=1)).isoformat(),
                          days=days, total=period_days),
            amount=pricing.prorate(old.fixed_fee, days, period_days),
            data={"plan": old.code, "days": days, "period_days": period_days}))
        sub.segment_start = on
    sub.plan_id, sub.plan = plan.id, plan
    session.flush()
    record_event(session, tenant, "plan_changed", actor=actor,
                 data={"from": old.code, "to": plan.code, "on": on.isoformat()})
    return sub


def cancel_subscription(session: Session, tenant: Tenant, *, actor: str, undo: bool = False) -> Subscription:
    """Cancel at the end of the current period (the period is still invoiced); ``undo`` keeps it running."""
    sub = live_subscription(session, tenant.id, for_update=True)
    if sub is None:
        raise NotFound(_("Tenant %(slug)s has no subscription.", slug=tenant.slug), errors={"tenant": [_("not subscribed")]})
    sub.cancel_at_period_end = not undo
    session.flush()
    record_event(session, tenant, "subscription_cancel_undone" if undo else "subscription_canceling", actor=actor,
                 data={"period_end": sub.current_period_end.isoformat()})
    return sub


# ---- metering ----------------------------------------------------------------------------------------

METERED_STATUSES = (TenantStatus.active, TenantStatus.read_only, TenantStatus.suspended)


def local_day(tz: str, now: datetime | None = None) -> date:
    """Today in the tenant's time zone (usage days and billing periods follow it)."""
    now = now or datetime.now(timezone.utc)
    try:
        return now.astimezone(ZoneInfo(tz)).date()
    except (KeyError, ValueError):
        return now.date()


def meter_usage(session: Session, *, day: date | None = None, now: datetime | None = None,
                tenant_ids: list[int] | None = None) -> int:
    """Record today's count of every meter for every live tenant (or ``tenant_ids``); returns rows stored.
    ``day`` forces the usage day (the controllable clock of tests and back-filling); otherwise each
    tenant's local date at ``now``."""
    from schemehost.platform.tenancy import server_engine
    from schemehost.platform.tenants.models import DatabaseServer

    stmt = (select(Tenant.id, Tenant.schema_name, Tenant.timezone, DatabaseServer.dsn)
            .join(DatabaseServer, DatabaseServer.id == Tenant.server_id)
            .where(Tenant.status.in_([str(s) for s in METERED_STATUSES])).order_by(Tenant.id))
    if tenant_ids is not None:
        stmt = stmt.where(any_of(Tenant.id, tenant_ids))
    by_server: dict[str | None, list] = {}
    for row in session.execute(stmt):
        by_server.setdefault(row.dsn, []).append(row)
    stored = 0
    for dsn, tenants in by_server.items():
        pairs = [(t.id, t.schema_name) for t in tenants]
        # reads on their own autocommit connection: each statement's locks end with it (decision 0503)
        with server_engine(dsn).connect() as conn:
            values = meter_registry.measure_tenants(conn.execution_options(isolation_level="AUTOCOMMIT"), pairs)
        days = {t.id: day or local_day(t.timezone, now) for t in tenants}
        stored += meter_registry.store_usage(session, [(t, m, days[t], v) for t, m, v in values])
    session.flush()
    return stored


def usage_maxima(session: Session, subscription_ids: list[int]) -> dict[int, dict[str, int]]:
    """Each meter's quantity in each subscription's current period (one query): the highest daily value,
    the increase of a running total over the period, or the sum of daily amounts, as the meter says."""
    period = (Usage.day >= Subscription.current_period_start) & (Usage.day < Subscription.current_period_end)
    before = Usage.day < Subscription.current_period_start
    rows = session.execute(
        select(Subscription.id, Usage.meter, func.max(Usage.value).filter(period),
               func.sum(Usage.value).filter(period), func.max(Usage.value).filter(before))
        .join(Usage, (Usage.tenant_id == Subscription.tenant_id) & (Usage.day < Subscription.current_period_end)
              # the reading before the period: a running total is looked up at most a year back
              & (Usage.day >= Subscription.current_period_start - literal_column("interval '366 days'")))
        .where(any_of(Subscription.id, subscription_ids)).group_by(Subscription.id, Usage.meter)).all()
    out: dict[int, dict[str, int]] = {}
    for sub_id, meter, highest, total, earlier in rows:
        if highest is None:  # readings before the period only
            continue
        out.setdefault(sub_id, {})[meter] = meter_registry.period_quantity(
            meter_registry.METERS.get(meter), highest=int(highest), total=int(total),
            before=None if earlier is None else int(earlier))
    return out


def latest_usage(session: Session, meter: str, *, since: date, partner_id: int | None = None) -> list[dict[str, Any]]:
    """Each tenant's latest value of ``meter`` measured since ``since`` (of one partner when given),
    largest first: the partner overview's usage chart (one query)."""
    from schemehost.platform.tenants.models import Tenant

    latest = (select(Usage.tenant_id, Usage.value, Usage.day)
              .where(Usage.meter == meter, Usage.day >= since)
              .distinct(Usage.tenant_id).order_by(Usage.tenant_id, Usage.day.desc()).subquery())
    stmt = (select(Tenant.slug, Tenant.partner_id, latest.c.value, latest.c.day)
            .join(latest, latest.c.tenant_id == Tenant.id).order_by(latest.c.value.desc(), Tenant.slug))
    if partner_id is not None:
        stmt = stmt.where(Tenant.partner_id == partner_id)
    return [{"tenant": slug, "partner_id": pid, "value": int(value), "day": day}
            for slug, pid, value, day in session.execute(stmt)]


def tenant_usage(session: Session, tenant_id: int, *, start: date, end: date) -> dict[str, Any]:
    """A tenant's daily values per meter in ``[start, end)`` and each meter's maximum (the billable
    quantity if the period were those days)."""
    rows = session.execute(select(Usage.meter, Usage.day, Usage.value)
                           .where(Usage.tenant_id == tenant_id, Usage.day >= start, Usage.day < end)
                           .order_by(Usage.meter, Usage.day)).all()
    meters: dict[str, dict[str, Any]] = {}
    for meter, day, value in rows:
        entry = meters.setdefault(meter, {"meter": meter, "days": [], "max": 0})
        entry["days"].append({"day": day.isoformat(), "value": int(value)})
        entry["max"] = max(entry["max"], int(value))
    for code, entry in meters.items():
        known = meter_registry.METERS.get(code)
        entry["label"] = str(known.label) if known else code
        entry["aggregate"] = known.aggregate if known else "max"
        values = [d["value"] for d in entry["days"]]
        # no reading before the window here: a running total counts from the window's first day
        quantity = meter_registry.period_quantity(known, highest=entry["max"], total=sum(values), before=min(values))
        entry["billable"] = known.billable(quantity) if known else quantity
    return {"start": start.isoformat(), "end": end.isoformat(), "meters": list(meters.values())}


# ---- invoices ----------------------------------------------------------------------------------------

def _tax_for(session: Session, partner: Partner, country: str | None) -> TaxRate | None:
    country = country or partner.country
    if not country:
        return None
    return session.execute(select(TaxRate).where(TaxRate.partner_id == partner.id, TaxRate.country == country)
                           ).scalar_one_or_none()


def _store_invoice(session: Session, invoice: Invoice, lines: list[pricing.Line]) -> Invoice:
    result = pricing.totals(lines, invoice.tax_rate)
    invoice.subtotal, invoice.tax, invoice.total = result.subtotal, result.tax, result.total
    invoice.lines = [InvoiceLine(position=i, kind=l.kind, meter=l.meter, description=l.description[:300],
                                 quantity=l.quantity, amount=l.amount, tax=l.tax, detail=l.detail)
                     for i, l in enumerate(result.lines, 1)]
    return invoice


def _period_lines(sub: Subscription, maxima: dict[str, int], pending: list[PendingLine]) -> list[pricing.Line]:
    plan = sub.plan
    lines: list[pricing.Line] = []
    if not sub.setup_billed and plan.setup_fee:
        lines.append(pricing.Line(LineKind.setup, _("Setup fee"), plan.setup_fee, quantity=1))
    for p in pending:
        lines.append(pricing.Line(p.kind, p.description, p.amount, detail=p.data))
    start, end = sub.current_period_start, sub.current_period_end
    period_days = (end - start).days
    days = (end - sub.segment_start).days
    last = (end - timedelta(days=1)).isoformat()
    if days == period_days:
        description = _("%(plan)s, %(start)s to %(end)s", plan=plan.name, start=start.isoformat(), end=last)
    else:
        description = _("%(plan)s, %(start)s to %(end)s (%(days)s of %(total)s days)", plan=plan.name,
                        start=sub.segment_start.isoformat(), end=last, days=days, total=period_days)
    lines.append(pricing.Line(LineKind.fixed, description, pricing.prorate(plan.fixed_fee, days, period_days),
                              quantity=1, detail={"days": days, "period_days": period_days}))
    for price in plan.prices:
        meter = meter_registry.METERS.get(price.meter)
        measured = maxima.get(price.meter, 0)
        quantity = meter.billable(measured) if meter else measured
        label = str(meter.label) if meter else price.meter
        aggregate = meter.aggregate if meter else "max"
        wording = (_("%(meter)s: %(n)s in the period, %(included)s included", meter=label, n=quantity,
                     included=price.included) if aggregate != "max" else
                   _("%(meter)s: highest daily count %(n)s, %(included)s included", meter=label, n=quantity,
                     included=price.included))
        line = pricing.metered_line(price.meter, wording,
                                    quantity, price.included, price.tiers)
        if meter and quantity != measured:
            line.detail["measured_value"] = measured
        lines.append(line)
    return lines


def invoice_due_periods(session: Session, *, today: date, tenant_ids: list[int] | None = None,
                        issue: bool = True) -> list[Invoice]:
    """Invoice every period that has ended by ``today`` (each tenant's periods in turn), move the
    subscriptions on, end those cancelled at period end; issue the invoices unless ``issue`` is False."""
    made: list[Invoice] = []
    while True:
        stmt = (select(Subscription).where(Subscription.status == SubscriptionStatus.active,
                                           Subscription.current_period_end <= today)
                .order_by(Subscription.id).with_for_update(of=Subscription))
        if tenant_ids is not None:
            stmt = stmt.where(any_of(Subscription.tenant_id, tenant_ids))
        subs = list(session.execute(stmt).unique().scalars())
        if not subs:
            return made
        ids = [s.id for s in subs]
        maxima = usage_maxima(session, ids)
        pending: dict[int, list[PendingLine]] = {}
        for p in session.execute(select(PendingLine).where(any_of(PendingLine.subscription_id, ids),
                                                           PendingLine.invoice_id.is_(None))
                                 .order_by(PendingLine.id)).scalars():
            pending.setdefault(p.subscription_id, []).append(p)
        partners = {p.id: p for p in session.execute(
            select(Partner).where(Partner.id.in_({s.plan.partner_id for s in subs}))).scalars()}
        taxes: dict[tuple[int, str | None], TaxRate | None] = {}
        fees: dict[int, PlatformFee | None] = {}
        batch: list[Invoice] = []
        for sub in subs:
            plan, partner = sub.plan, partners[sub.plan.partner_id]
            key = (partner.id, sub.country)
            if key not in taxes:
                taxes[key] = _tax_for(session, partner, sub.country)
            if partner.id not in fees:
                fees[partner.id] = platform_fee_for(session, partner.id)
            tax, fee = taxes[key], fees[partner.id]
            invoice = Invoice(partner_id=partner.id, partner=partner, tenant_id=sub.tenant_id, subscription_id=sub.id,
                              kind=InvoiceKind.invoice, status=InvoiceStatus.draft, currency=plan.currency,
                              period_start=sub.current_period_start, period_end=sub.current_period_end,
                              tax_name=tax.name if tax else None, tax_rate=tax.rate if tax else Decimal(0),
                              amount_paid=0, amount_credited=0, reminders_sent=0)
            _store_invoice(session, invoice, _period_lines(sub, maxima.get(sub.id, {}), pending.get(sub.id, [])))
            same_currency = fee is None or fee.kind == "percent" or fee.currency == plan.currency
            invoice.platform_fee = pricing.platform_fee(
                invoice.subtotal, kind=fee.kind if fee and same_currency else None,
                percent=fee.percent if fee else None, amount=fee.amount if fee else None)
            batch.append(invoice)
            sub.setup_billed = True
            ended = sub.current_period_end
            sub.current_period_start = sub.segment_start = ended
            sub.current_period_end = pricing.next_period_end(ended, plan.period, anchor=sub.trial_ends_on.day)
            if sub.cancel_at_period_end:
                sub.status, sub.canceled_on = SubscriptionStatus.canceled, ended
        if issue:
            issue_invoices(session, batch, today=today, flush=False)
        session.add_all(batch)
        session.flush()
        for sub, invoice in zip(subs, batch):
            for p in pending.get(sub.id, []):
                p.invoice_id = invoice.id
        for sub in subs:
            if sub.status == SubscriptionStatus.canceled:
                record_event(session, sub.tenant, "subscription_ended", actor="billing",
                             data={"on": sub.canceled_on.isoformat()})
        session.flush()
        made.extend(batch)


def _take_numbers(session: Session, partner: Partner, kind: str, count: int) -> tuple[int, str]:
    """Take ``count`` consecutive numbers of the partner's series ``kind`` under a row lock held until the
    transaction ends: concurrent issues wait, and a rolled-back issue leaves no gap. Returns the first
    number and the prefix of the series."""
    session.execute(text("INSERT INTO control.billing_invoice_counters (partner_id, kind, next_number) "
                         "VALUES (:p, :k, 1) ON CONFLICT DO NOTHING"), {"p": partner.id, "k": kind})
    first = session.execute(
        update(InvoiceCounter).where(InvoiceCounter.partner_id == partner.id, InvoiceCounter.kind == kind)
        .values(next_number=InvoiceCounter.next_number + count).returning(InvoiceCounter.next_number - count)
    ).scalar_one()
    profile = session.get(PartnerBilling, partner.id)
    prefix = (profile.invoice_prefix if profile and profile.invoice_prefix else partner.slug.upper())
    if kind == InvoiceKind.credit_note:
        prefix += "-CN"
    return first, prefix


def get_invoice(session: Session, invoice_id: int, *, for_update: bool = False) -> Invoice:
    stmt = select(Invoice).where(Invoice.id == invoice_id)
    if for_update:
        stmt = stmt.with_for_update(of=Invoice)
    invoice = session.execute(stmt).unique().scalar_one_or_none()
    if invoice is None:
        raise NotFound(_("No invoice %(id)s.", id=invoice_id), errors={"invoice": [_("unknown invoice")]})
    return invoice


def list_invoices(session: Session, *, partner_id: int | None = None, tenant_id: int | None = None,
                  status: str | None = None, limit: int = 200) -> list[Invoice]:
    stmt = select(Invoice).order_by(Invoice.id.desc()).limit(limit)
    if partner_id is not None:
        stmt = stmt.where(Invoice.partner_id == partner_id)
    if tenant_id is not None:
        stmt = stmt.where(Invoice.tenant_id == tenant_id)
    if status is not None:
        if status not in InvoiceStatus.__members__:
            raise ValidationError(_("Unknown status '%(status)s'.", status=status),
                                  errors={"status": [", ".join(InvoiceStatus.__members__)]})
        stmt = stmt.where(Invoice.status == status)
    return list(session.execute(stmt).unique().scalars())


def outstanding(invoice: Invoice) -> int:
    return invoice.total - invoice.amount_paid - invoice.amount_credited


def _transition_problem(invoice: Invoice, allowed: tuple[str, ...]) -> None:
    if invoice.status not in allowed:
        raise Conflict(_("A %(status)s invoice cannot do this.", status=invoice.status),
                       errors={"status": [invoice.status]})


def issue_invoice(session: Session, invoice: Invoice, *, today: date) -> Invoice:
    """Number a draft (the partner's next number, no gaps) and set its due date; an invoice with nothing
    to pay is paid at once."""
    issue_invoices(session, [invoice], today=today)
    return invoice


def issue_invoices(session: Session, invoices: list[Invoice], *, today: date, flush: bool = True) -> None:
    """Issue drafts together: each partner's series is locked once and numbered in the given order
    (``flush=False`` for drafts not yet inserted: they are inserted issued, in one pass)."""
    for invoice in invoices:
        _transition_problem(invoice, (InvoiceStatus.draft,))
    groups: dict[tuple[int, str], list[Invoice]] = {}
    for invoice in invoices:
        groups.setdefault((invoice.partner_id, invoice.kind), []).append(invoice)
    for (_partner_id, kind), group in sorted(groups.items(), key=lambda item: item[0]):
        first, prefix = _take_numbers(session, group[0].partner, kind, len(group))
        for offset, invoice in enumerate(group):
            invoice.seq = first + offset
            invoice.number = f"{prefix}-{invoice.seq:06d}"
            invoice.status = InvoiceStatus.issued
            invoice.issued_on = today
            if invoice.kind == InvoiceKind.invoice:
                sub = session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
                invoice.due_on = today + timedelta(days=sub.plan.due_days if sub else 14)
                if outstanding(invoice) <= 0:
                    invoice.status, invoice.paid_at = InvoiceStatus.paid, datetime.now(timezone.utc)
    if flush:
        session.flush()


def delete_draft(session: Session, invoice: Invoice) -> None:
    """A draft is deleted rather than voided (it has no number); its pending lines wait for the next one."""
    _transition_problem(invoice, (InvoiceStatus.draft,))
    session.execute(update(PendingLine).where(PendingLine.invoice_id == invoice.id).values(invoice_id=None))
    session.delete(invoice)
    session.flush()


def void_invoice(session: Session, invoice: Invoice, *, reason: str) -> Invoice:
    """Void an issued invoice nothing was paid on (its number stays used: the series keeps no gap)."""
    _transition_problem(invoice, (InvoiceStatus.issued,))
    if invoice.amount_paid:
        raise Conflict(_("Payments were recorded on this invoice: issue a credit note instead."),
                       errors={"status": [_("has payments")]})
    invoice.status, invoice.closed_at = InvoiceStatus.void, datetime.now(timezone.utc)
    invoice.memo = "\n".join(filter(None, [invoice.memo, reason]))
    session.flush()
    return invoice


def mark_uncollectible(session: Session, invoice: Invoice, *, reason: str) -> Invoice:
    _transition_problem(invoice, (InvoiceStatus.issued,))
    invoice.status, invoice.closed_at = InvoiceStatus.uncollectible, datetime.now(timezone.utc)
    invoice.memo = "\n".join(filter(None, [invoice.memo, reason]))
    session.flush()
    return invoice


def create_credit_note(session: Session, invoice: Invoice, *, today: date, reason: str,
                       lines: list[dict[str, Any]] | None = None) -> Invoice:
    """Issue a credit note against ``invoice``: all of it (its lines and taxes exactly), or the given
    ``lines`` (``description``, ``amount`` in minor units, taxed at the invoice's rate). The credited
    amounts never exceed the invoice's total."""
    _transition_problem(invoice, (InvoiceStatus.issued, InvoiceStatus.paid, InvoiceStatus.uncollectible))
    if invoice.kind != InvoiceKind.invoice:
        raise Conflict(_("A credit note cannot be credited."), errors={"invoice": [_("is a credit note")]})
    if not reason or not reason.strip():
        raise ValidationError(_("The credit note cannot be issued."), errors={"reason": [_("Give the reason.")]})
    note = Invoice(partner_id=invoice.partner_id, tenant_id=invoice.tenant_id, partner=invoice.partner,
                   kind=InvoiceKind.credit_note, credits_invoice_id=invoice.id, status=InvoiceStatus.draft,
                   currency=invoice.currency, period_start=invoice.period_start, period_end=invoice.period_end,
                   tax_name=invoice.tax_name, tax_rate=invoice.tax_rate, memo=reason.strip(), amount_paid=0,
                   amount_credited=0, reminders_sent=0)
    if lines is None:
        note.lines = [InvoiceLine(position=l.position, kind=LineKind.credit, meter=l.meter,
                                  description=l.description, quantity=l.quantity, amount=l.amount, tax=l.tax,
                                  detail=l.detail) for l in invoice.lines]
        note.subtotal, note.tax, note.total = invoice.subtotal, invoice.tax, invoice.total
    else:
        problems: dict[str, list[str]] = {}
        parsed = []
        for i, line in enumerate(lines):
            amount = line.get("amount")
            if (problem := _amount_problem(amount, allow_zero=False)):
                problems[str(i)] = [problem]
            elif not (line.get("description") or "").strip():
                problems[str(i)] = [_("a description")]
            else:
                parsed.append(pricing.Line(LineKind.credit, line["description"].strip(), amount))
        if problems or not parsed:
            raise ValidationError(_("The credit note cannot be issued."),
                                  errors={"lines": problems or [_("at least one line")]})
        _store_invoice(session, note, parsed)
    if invoice.amount_credited + note.total > invoice.total:
        raise ValidationError(_("The credit note cannot be issued."),
                              errors={"lines": [_("credits would exceed the invoice's total")]})
    session.add(note)
    session.flush()
    issue_invoice(session, note, today=today)
    invoice.amount_credited += note.total
    if invoice.status == InvoiceStatus.issued and outstanding(invoice) <= 0:
        _settled(session, invoice, today)
    session.flush()
    return note


# ---- payments ----------------------------------------------------------------------------------------

def _settled(session: Session, invoice: Invoice, today: date) -> None:
    invoice.status, invoice.paid_at = InvoiceStatus.paid, datetime.now(timezone.utc)
    session.flush()
    from schemehost.platform.billing import dunning

    dunning.lift_if_clear(session, invoice.tenant, today=today, actor="billing")


def record_payment(session: Session, invoice: Invoice, *, method: str, amount: int, reference: str,
                   paid_on: date, actor: str, today: date | None = None, proof: bytes | None = None, proof_name: str | None = None,
                   proof_type: str | None = None) -> Payment:
    """Record money received against an issued (or uncollectible) invoice; a partial payment leaves it
    open, the payment that settles it marks it paid (and lifts a dunning restriction of the tenant)."""
    errors: dict[str, list[str]] = {}
    if method not in PaymentMethod.__members__:
        errors["method"] = [_("One of: %(methods)s.", methods=", ".join(PaymentMethod.__members__))]
    if (problem := _amount_problem(amount, allow_zero=False)):
        errors["amount"] = [problem]
    if not reference or not reference.strip() or len(reference) > 100:
        errors["reference"] = [_("The bank, receipt or mobile-money reference (at most 100 characters).")]
    if proof is not None and len(proof) > 5 * 1024 * 1024:
        errors["proof"] = [_("at most 5 MB")]
    if errors:
        raise ValidationError(_("The payment cannot be recorded."), errors=errors)
    locked = get_invoice(session, invoice.id, for_update=True)
    _transition_problem(locked, (InvoiceStatus.issued, InvoiceStatus.uncollectible))
    if locked.kind != InvoiceKind.invoice:
        raise Conflict(_("Payments are recorded against invoices, not credit notes."),
                       errors={"invoice": [_("is a credit note")]})
    if amount > outstanding(locked):
        raise ValidationError(_("The payment cannot be recorded."),
                              errors={"amount": [_("more than the %(n)s outstanding", n=outstanding(locked))]})
    reference = reference.strip()
    if session.execute(select(Payment.id).where(Payment.method == method, Payment.reference == reference)).first():
        raise Conflict(_("A %(method)s payment with reference %(ref)s is already recorded.", method=method, ref=reference),
                       errors={"reference": [_("already recorded")]})
    payment = Payment(invoice_id=locked.id, method=method, amount=amount, currency=locked.currency,
                      reference=reference, paid_on=paid_on, recorded_by=actor, proof=proof,
                      proof_name=proof_name, proof_type=proof_type, refunded=0)
    session.add(payment)
    locked.amount_paid += amount
    session.flush()
    if outstanding(locked) <= 0:
        _settled(session, locked, today or paid_on)
    return payment


def list_payments(session: Session, invoice_id: int) -> list[Payment]:
    return list(session.execute(select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.id)).scalars())


# ---- the clock and plain-data views of the models (APIs, console, CLI) -------------------------------

def billing_today() -> date:
    """Today for billing (UTC), or the app's ``BILLING_TODAY`` (an ISO date: a controllable clock for
    tests and rehearsals)."""
    from flask import current_app, has_app_context

    forced = current_app.config.get("BILLING_TODAY") if has_app_context() else None
    return date.fromisoformat(str(forced)) if forced else datetime.now(timezone.utc).date()


def run_billing(session: Session, *, today: date, meter: bool = True, invoice: bool = True,
                dunning_pass: bool = True) -> dict[str, Any]:
    """The daily billing run: meter usage, invoice ended periods, then dunning — in that order."""
    from schemehost.platform.billing import dunning

    result: dict[str, Any] = {"today": today.isoformat(), "usage_rows": 0, "invoices": 0, "dunning": {}}
    if meter:
        result["usage_rows"] = meter_usage(session, day=today)
    if invoice:
        result["invoices"] = len(invoice_due_periods(session, today=today))
    if dunning_pass:
        result["dunning"] = dunning.run_dunning(session, today=today)
    return result


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {"id": plan.id, "partner": plan.partner.slug, "code": plan.code, "name": plan.name,
            "currency": plan.currency, "period": plan.period, "fixed_fee": plan.fixed_fee, "setup_fee": plan.setup_fee,
            "trial_days": plan.trial_days, "due_days": plan.due_days, "reminder_days": plan.reminder_days,
            "read_only_after_days": plan.read_only_after_days, "suspend_after_days": plan.suspend_after_days,
            "active": plan.active,
            "prices": [{"meter": p.meter, "included": p.included, "tiers": p.tiers} for p in plan.prices]}


def subscription_dict(sub: Subscription) -> dict[str, Any]:
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {"tenant": sub.tenant.slug, "plan": {"id": sub.plan.id, "code": sub.plan.code, "name": sub.plan.name},
            "status": sub.status, "country": sub.country, "billing_email": sub.billing_email,
            "started_on": iso(sub.started_on), "trial_ends_on": iso(sub.trial_ends_on),
            "current_period_start": iso(sub.current_period_start), "current_period_end": iso(sub.current_period_end),
            "cancel_at_period_end": sub.cancel_at_period_end, "canceled_on": iso(sub.canceled_on)}


def invoice_dict(invoice: Invoice) -> dict[str, Any]:
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {"id": invoice.id, "number": invoice.number, "kind": invoice.kind, "status": invoice.status,
            "partner": invoice.partner.slug, "tenant": invoice.tenant.slug, "currency": invoice.currency,
            "period_start": iso(invoice.period_start), "period_end": iso(invoice.period_end),
            "tax_name": invoice.tax_name, "tax_rate": str(invoice.tax_rate), "subtotal": invoice.subtotal,
            "tax": invoice.tax, "total": invoice.total, "amount_paid": invoice.amount_paid,
            "amount_credited": invoice.amount_credited, "outstanding": outstanding(invoice),
            "platform_fee": invoice.platform_fee, "issued_on": iso(invoice.issued_on), "due_on": iso(invoice.due_on),
            "extended_to": iso(invoice.extended_to), "credits_invoice": invoice.credits_invoice_id,
            "memo": invoice.memo,
            "lines": [{"position": l.position, "kind": l.kind, "meter": l.meter, "description": l.description,
                       "quantity": l.quantity, "amount": l.amount, "tax": l.tax, "detail": l.detail}
                      for l in invoice.lines]}


def payment_dict(p: Payment) -> dict[str, Any]:
    return {"id": p.id, "invoice": p.invoice_id, "method": p.method, "amount": p.amount, "currency": p.currency,
            "reference": p.reference, "paid_on": p.paid_on.isoformat(), "recorded_by": p.recorded_by,
            "proof_name": p.proof_name, "refunded": p.refunded}
