"""Operator console pages for billing: overview (per partner: MRR, outstanding, overdue), plans, subscribe,
invoices with payments, credit notes, extensions, and the printable invoice.

Views parse the form, call one service and render; partner staff see only their partner (others 404),
support only reads (``operators.roles``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from schemehost.platform.billing import dunning
from schemehost.platform.billing import meters as meter_registry
from schemehost.platform.billing import services as billing
from schemehost.platform.billing.api import visible_invoice, visible_plan
from schemehost.platform.billing.forms import (CancelForm, ChangePlanForm, ExtendForm, PaymentForm, PlanForm,
                                                ReasonForm, SubscribeForm)
from schemehost.platform.billing.models import PERIOD_MONTHS, Payment, Subscription, SubscriptionStatus
from schemehost.platform.errors import AppError, Forbidden
from schemehost.platform.extensions import db
from schemehost.platform.money import to_minor
from schemehost.platform.operators import roles as operator_roles
from schemehost.platform.operators.auth import actor
from schemehost.platform.partners.services import list_partners

bp = Blueprint("console_billing", __name__, url_prefix="/console/billing")


def _require_change() -> None:
    if not current_user.can_manage_tenants:
        raise Forbidden(_("Your role may look at billing but not change it."))


def _partners():
    return operator_roles.visible_partners(list_partners(db.session))


def _scope_partner_id():
    scope = operator_roles.current_scope()
    return None if scope.all_tenants else scope.partner_id


def _attach(form, err: AppError) -> None:
    """A service's field errors next to the form's fields, the rest above the form."""
    leftover = []
    for name, messages in (err.errors or {}).items():
        messages = messages if isinstance(messages, list) else [str(messages)]
        target = getattr(form, name, None)
        if target is not None and hasattr(target, "errors") and name != "csrf_token":
            target.errors = list(target.errors) + [str(m) for m in messages]
        else:
            leftover.extend(f"{name}: {m}" for m in messages)
    form.form_errors = list(form.form_errors) + [str(err.detail)] + leftover


@bp.get("/")
def index():
    """Per partner: monthly recurring revenue, outstanding and overdue; the latest invoices."""
    today = billing.billing_today()
    partner_id = _scope_partner_id()
    invoices = billing.list_invoices(db.session, partner_id=partner_id, status=request.args.get("status") or None)
    subs = db.session.execute(select(Subscription).where(Subscription.status == SubscriptionStatus.active)
                              ).unique().scalars().all()
    stats: dict[int, dict] = defaultdict(lambda: defaultdict(int))
    for sub in subs:
        if partner_id is None or sub.plan.partner_id == partner_id:
            # monthly recurring revenue from fixed fees, per currency
            stats[sub.plan.partner_id][("mrr", sub.plan.currency)] += sub.plan.fixed_fee // PERIOD_MONTHS[sub.plan.period]
            stats[sub.plan.partner_id]["tenants"] += 1
    for inv in billing.list_invoices(db.session, partner_id=partner_id, status="issued", limit=100_000):
        stats[inv.partner_id][("outstanding", inv.currency)] += billing.outstanding(inv)
        if inv.due_on and dunning.effective_due(inv) < today:
            stats[inv.partner_id][("overdue", inv.currency)] += billing.outstanding(inv)
    meter = request.args.get("meter") or "active_individuals"
    if meter not in meter_registry.METERS:
        meter = "active_individuals"
    usage = billing.latest_usage(db.session, meter, since=today - timedelta(days=31), partner_id=partner_id)
    return render_template("billing/index.html", partners=_partners(), stats=stats, invoices=invoices,
                           status=request.args.get("status") or "", today=today, usage=usage, meter=meter,
                           meters=meter_registry.METERS, usage_max=max([u["value"] for u in usage] or [1]) or 1)


@bp.route("/plans", methods=["GET", "POST"])
def plans():
    form = PlanForm()
    form.partner.choices = [("", _("Choose a partner"))] + [(p.slug, p.name) for p in _partners()]
    form.meter.choices = [("", _("none"))] + [(m.code, str(m.label)) for m in meter_registry.METERS.values()]
    status = 200
    if request.method == "POST":
        _require_change()
        if form.validate_on_submit():
            from schemehost.platform.billing.api import visible_partner

            try:
                currency = form.currency.data.strip().upper()
                prices = []
                if form.meter.data:
                    prices = [{"meter": form.meter.data, "included": form.included.data or 0,
                               "tiers": [{"up_to": None,
                                          "unit_amount": str(to_minor(form.unit_price.data or "0", currency))}]}]
                plan = billing.create_plan(
                    db.session, visible_partner(form.partner.data), code=form.code.data, name=form.name.data,
                    currency=currency, period=form.period.data, fixed_fee=to_minor(form.fixed_fee.data or "0", currency),
                    setup_fee=to_minor(form.setup_fee.data or "0", currency), trial_days=form.trial_days.data or 0,
                    read_only_after_days=form.read_only_after_days.data,
                    suspend_after_days=form.suspend_after_days.data, prices=prices)
            except ValueError:
                db.session.rollback()
                form.form_errors = [_("Amounts are numbers in the currency, with at most its number of decimals.")]
                status = 422
            except AppError as err:
                db.session.rollback()
                _attach(form, err)
                status = err.status
            else:
                db.session.commit()
                flash(_("Plan %(code)s created.", code=plan.code), "success")
                return redirect(url_for(".plans"))
        else:
            status = 422
    rows = billing.list_plans(db.session, partner_id=_scope_partner_id())
    return render_template("billing/plans.html", form=form, plans=rows), status


@bp.route("/subscribe", methods=["GET", "POST"])
def subscribe():
    form = SubscribeForm()
    form.plan.choices = [("", _("Choose a plan"))] + [
        (str(p.id), f"{p.partner.slug} · {p.name} ({p.code})")
        for p in billing.list_plans(db.session, partner_id=_scope_partner_id()) if p.active]
    status = 200
    if request.method == "POST":
        _require_change()
        if form.validate_on_submit():
            try:
                tenant = operator_roles.visible_tenant(db.session, form.tenant.data.strip())
                sub = billing.subscribe(db.session, tenant, visible_plan(int(form.plan.data)),
                                        start=form.start.data or billing.billing_today(),
                                        billing_email=form.billing_email.data or None, actor=actor())
            except AppError as err:
                db.session.rollback()
                _attach(form, err)
                status = err.status
            else:
                slug = sub.tenant.slug
                db.session.commit()
                flash(_("Tenant %(slug)s subscribed.", slug=slug), "success")
                return redirect(url_for(".index"))
        else:
            status = 422
    return render_template("billing/subscribe.html", form=form), status


def _invoice_page(invoice, *, payment_form=None, reason_form=None, extend_form=None, status=200):
    from schemehost.platform.billing import control_numbers

    payments = billing.list_payments(db.session, invoice.id)
    gateway = control_numbers.get_gateway(db.session, invoice.partner_id)
    return render_template("billing/invoice.html", invoice=invoice, payments=payments,
                           control_bill=control_numbers.latest_bill(db.session, invoice.id),
                           has_gateway=gateway is not None and gateway.active,
                           outstanding=billing.outstanding(invoice),
                           payment_form=payment_form or PaymentForm(formdata=None),
                           reason_form=reason_form or ReasonForm(formdata=None),
                           extend_form=extend_form or ExtendForm(formdata=None)), status


@bp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int):
    return _invoice_page(visible_invoice(invoice_id))


@bp.post("/invoices/<int:invoice_id>/payments")
def record_payment(invoice_id: int):
    _require_change()
    inv = visible_invoice(invoice_id)
    form = PaymentForm()
    if form.validate_on_submit():
        proof = form.proof.data
        try:
            data = proof.read() if proof else None
            billing.record_payment(db.session, inv, method=form.method.data,
                                   amount=to_minor(form.amount.data, inv.currency), reference=form.reference.data,
                                   paid_on=form.paid_on.data, actor=actor(), today=billing.billing_today(),
                                   proof=data or None, proof_name=proof.filename if data else None,
                                   proof_type=proof.mimetype if data else None)
        except ValueError:
            db.session.rollback()
            form.amount.errors = [_("A number in %(currency)s with at most its number of decimals.", currency=inv.currency)]
        except AppError as err:
            db.session.rollback()
            _attach(form, err)
        else:
            db.session.commit()
            flash(_("Payment recorded."), "success")
            return redirect(url_for(".invoice", invoice_id=invoice_id))
    return _invoice_page(visible_invoice(invoice_id), payment_form=form, status=422)


@bp.post("/invoices/<int:invoice_id>/control-number")
def control_number(invoice_id: int):
    """Post a bill for the invoice to the partner's control-number gateway (decision 0506)."""
    from schemehost.platform.billing import control_numbers

    _require_change()
    try:
        bill = control_numbers.request_control_number(db.session, visible_invoice(invoice_id), actor=actor())
    except AppError as err:
        db.session.rollback()
        flash(str(err.detail), "error")
    else:
        db.session.commit()
        if bill.status == "rejected" or bill.last_error:
            flash(bill.last_error or _("The gateway refused the bill."), "error")
        else:
            flash(_("The bill is with the gateway; its control number arrives by callback."), "success")
    return redirect(url_for(".invoice", invoice_id=invoice_id))


@bp.post("/invoices/<int:invoice_id>/<action>")
def act(invoice_id: int, action: str):
    _require_change()
    inv = visible_invoice(invoice_id, for_update=True)
    form = ExtendForm() if action == "extend" else ReasonForm()
    if action not in ("credit", "void", "uncollectible", "extend"):
        return Response(status=404)
    if form.validate_on_submit():
        try:
            today = billing.billing_today()
            if action == "credit":
                billing.create_credit_note(db.session, inv, today=today, reason=form.reason.data)
            elif action == "void":
                billing.void_invoice(db.session, inv, reason=form.reason.data)
            elif action == "uncollectible":
                billing.mark_uncollectible(db.session, inv, reason=form.reason.data)
            else:
                dunning.extend(db.session, inv, until=form.until.data, today=today, actor=actor(),
                               reason=form.reason.data)
        except AppError as err:
            db.session.rollback()
            _attach(form, err)
        else:
            db.session.commit()
            flash(_("Done."), "success")
            return redirect(url_for(".invoice", invoice_id=invoice_id))
    kw = {"extend_form": form} if action == "extend" else {"reason_form": form}
    return _invoice_page(visible_invoice(invoice_id), status=422, **kw)


@bp.get("/invoices/<int:invoice_id>/print")
def print_invoice(invoice_id: int):
    return printable(visible_invoice(invoice_id))


@bp.get("/payments/<int:payment_id>/proof")
def proof(payment_id: int):
    payment = db.session.get(Payment, payment_id)
    if payment is None or payment.proof is None:
        return Response(status=404)
    visible_invoice(payment.invoice_id)
    return Response(payment.proof, mimetype=payment.proof_type or "application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="proof-{payment.id}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


def printable(invoice):
    """The invoice as one self-contained HTML page with the partner's details, laid out for printing
    (the browser's "Save as PDF" gives the PDF)."""
    profile = billing.partner_profile(db.session, invoice.partner)
    credits = None
    if invoice.credits_invoice_id:
        credits = billing.get_invoice(db.session, invoice.credits_invoice_id)
    sub = db.session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    return render_template("billing/invoice_print.html", invoice=invoice, profile=profile, credits=credits,
                           subscription=sub, outstanding=billing.outstanding(invoice))


def _month_arg():
    from schemehost.platform.billing.cost import month_window
    from schemehost.platform.billing.pricing import add_months

    month = request.args.get("month") or add_months(billing.billing_today().replace(day=1), -1).strftime("%Y-%m")
    try:
        start, end = month_window(month)
    except ValueError:
        month = billing.billing_today().strftime("%Y-%m")
        start, end = month_window(month)
    return month, start, end


@bp.get("/cost")
def cost():
    """Cost of service of a month: what each tenant consumed next to what it was billed."""
    from schemehost.platform.billing.cost import cost_of_service

    month, start, end = _month_arg()
    rows = cost_of_service(db.session, start=start, end=end, partner_id=_scope_partner_id())
    return render_template("billing/cost.html", rows=rows, month=month)


@bp.get("/cost.csv")
def cost_csv():
    from schemehost.platform.billing.cost import cost_of_service, to_csv

    month, start, end = _month_arg()
    body = to_csv(cost_of_service(db.session, start=start, end=end, partner_id=_scope_partner_id()))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="cost-of-service-{month}.csv"', "Cache-Control": "no-store"})


def _change_form(sub, form=None):
    form = form or ChangePlanForm(formdata=None)
    if sub is not None:
        form.plan.choices = [("", _("Choose a plan"))] + [
            (str(p.id), f"{p.name} ({p.code})") for p in billing.list_plans(db.session, partner_id=sub.plan.partner_id)
            if p.active and p.id != sub.plan_id and p.currency == sub.plan.currency and p.period == sub.plan.period]
    return form


@bp.get("/usage/<slug>")
def usage(slug: str, change_form=None, status: int = 200):
    """A tenant's subscription (change plan, cancel at period end) and its daily usage per meter in the
    current period (or ``?start=&end=``), as bars."""
    from datetime import date as date_

    from schemehost.platform.billing.api import usage_window

    tenant = operator_roles.visible_tenant(db.session, slug)
    try:
        start = date_.fromisoformat(request.args["start"]) if request.args.get("start") else None
        end = date_.fromisoformat(request.args["end"]) if request.args.get("end") else None
        start, end = usage_window(tenant, start, end)
    except (ValueError, AppError):
        start, end = usage_window(tenant, None, None)
    sub = billing.live_subscription(db.session, tenant.id)
    return render_template("billing/usage.html", tenant=tenant,
                           usage=billing.tenant_usage(db.session, tenant.id, start=start, end=end),
                           subscription=sub, change_form=_change_form(sub, change_form),
                           cancel_form=CancelForm(formdata=None)), status


@bp.post("/usage/<slug>/change-plan")
def change_plan(slug: str):
    _require_change()
    tenant = operator_roles.visible_tenant(db.session, slug)
    sub = billing.live_subscription(db.session, tenant.id)
    form = _change_form(sub, ChangePlanForm())
    if sub is not None and form.validate_on_submit():
        try:
            billing.change_plan(db.session, tenant, visible_plan(int(form.plan.data)),
                                on=form.on.data or billing.billing_today(), actor=actor())
        except AppError as err:
            db.session.rollback()
            _attach(form, err)
        else:
            db.session.commit()
            flash(_("Plan changed."), "success")
            return redirect(url_for(".usage", slug=slug))
    return usage(slug, change_form=form, status=422)


@bp.post("/usage/<slug>/<any(cancel, keep):what>")
def cancel_subscription(slug: str, what: str):
    _require_change()
    tenant = operator_roles.visible_tenant(db.session, slug)
    if not CancelForm().validate_on_submit():
        return Response(status=400)
    billing.cancel_subscription(db.session, tenant, actor=actor(), undo=what == "keep")
    db.session.commit()
    flash(_("The subscription ends with this period.") if what == "cancel" else _("The subscription goes on."),
          "success")
    return redirect(url_for(".usage", slug=slug))
