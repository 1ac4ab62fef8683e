"""Control API for billing under ``/api/v1`` (operator bearer token).

Roles (``operators.roles``): platform admins everything; partner staff only their partner's plans,
tenants and invoices (another partner's answers 404), never the platform fee nor a billing run;
support reads only.
"""

from __future__ import annotations

import base64
import binascii

from flask import request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.billing import dunning
from schemehost.platform.billing import schemas as s
from schemehost.platform.billing import services as billing
from schemehost.platform.errors import NotFound, ValidationError
from schemehost.platform.extensions import db
from schemehost.platform.operators import roles as operator_roles
from schemehost.platform.operators.auth import actor
from schemehost.platform.partners import services as partners

bp = Blueprint("billing", __name__, url_prefix="/api/v1", description="Billing: plans, usage, invoices, payments")


@bp.before_request
def _support_only_reads():
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        operator_roles.require_change()


def visible_partner(slug: str):
    """Partner ``slug`` if the request's operator may see it (404 like an unknown one otherwise)."""
    partner = partners.get_partner(db.session, slug)
    scope = operator_roles.current_scope()
    if not scope.all_tenants and partner.id != scope.partner_id:
        raise NotFound(_("No partner '%(slug)s'.", slug=slug), errors={"partner": [_("unknown partner '%(slug)s'", slug=slug)]})
    return partner


def visible_plan(plan_id: int):
    plan = billing.get_plan(db.session, plan_id)
    scope = operator_roles.current_scope()
    if not scope.all_tenants and plan.partner_id != scope.partner_id:
        raise NotFound(_("No plan %(id)s.", id=plan_id), errors={"plan": [_("unknown plan")]})
    return plan


def visible_invoice(invoice_id: int, *, for_update: bool = False):
    invoice = billing.get_invoice(db.session, invoice_id, for_update=for_update)
    scope = operator_roles.current_scope()
    if not scope.all_tenants and invoice.partner_id != scope.partner_id:
        raise NotFound(_("No invoice %(id)s.", id=invoice_id), errors={"invoice": [_("unknown invoice")]})
    return invoice


@bp.route("/billing/plans")
class Plans(MethodView):
    @bp.arguments(s.PlanListQuerySchema, location="query")
    @bp.response(200, s.PlanSchema(many=True))
    def get(self, query):
        """Plans, of one partner or of every partner the operator sees."""
        scope = operator_roles.current_scope()
        partner_id = visible_partner(query["partner"]).id if query.get("partner") else (
            None if scope.all_tenants else scope.partner_id)
        return [billing.plan_dict(p) for p in billing.list_plans(db.session, partner_id=partner_id)]

    @bp.arguments(s.PlanCreateSchema)
    @bp.response(201, s.PlanSchema)
    def post(self, body):
        """Create a plan of a partner (amounts in minor units)."""
        partner = visible_partner(body.pop("partner"))
        for price in body["prices"]:
            for tier in price["tiers"]:
                tier["unit_amount"] = str(tier["unit_amount"])
        return billing.plan_dict(billing.create_plan(db.session, partner, **body))


@bp.route("/billing/plans/<int:plan_id>")
class PlanItem(MethodView):
    @bp.response(200, s.PlanSchema)
    def get(self, plan_id):
        """One plan."""
        return billing.plan_dict(visible_plan(plan_id))


@bp.route("/billing/plans/<int:plan_id>/retire", methods=["POST"])
@bp.response(200, s.PlanSchema)
def retire_plan(plan_id):
    """Retire a plan: no new subscriptions; running ones go on."""
    return billing.plan_dict(billing.set_plan_active(db.session, visible_plan(plan_id), False))


@bp.route("/billing/partners/<slug>/tax-rates")
class TaxRates(MethodView):
    @bp.response(200, s.TaxRateSchema(many=True))
    def get(self, slug):
        """A partner's tax rates by country."""
        return [{"country": t.country, "name": t.name, "rate": t.rate}
                for t in billing.list_tax_rates(db.session, visible_partner(slug))]


@bp.route("/billing/partners/<slug>/tax-rates/<country>", methods=["PUT"])
@bp.arguments(s.TaxRateSchema)
@bp.response(200, s.TaxRateSchema)
def put_tax_rate(body, slug, country):
    """Set the partner's tax rate (percent) for tenants billed in ``country``."""
    row = billing.set_tax_rate(db.session, visible_partner(slug), country=country, rate=body["rate"], name=body["name"])
    return {"country": row.country, "name": row.name, "rate": row.rate}


def _fee_out(row, partner_slug):
    return {"partner": partner_slug, "kind": row.kind, "percent": row.percent, "amount": row.amount,
            "currency": row.currency}


@bp.route("/billing/platform-fee", methods=["PUT"])
@bp.arguments(s.PlatformFeeSchema)
@bp.response(200, s.PlatformFeeSchema)
def put_default_fee(body):
    """The operator's default platform fee (platform admins)."""
    operator_roles.require_admin()
    return _fee_out(billing.set_platform_fee(db.session, None, **body), None)


@bp.route("/billing/partners/<slug>/platform-fee", methods=["PUT"])
@bp.arguments(s.PlatformFeeSchema)
@bp.response(200, s.PlatformFeeSchema)
def put_partner_fee(body, slug):
    """The operator's platform fee for one partner (platform admins)."""
    operator_roles.require_admin()
    partner = visible_partner(slug)
    return _fee_out(billing.set_platform_fee(db.session, partner, **body), slug)


@bp.route("/billing/partners/<slug>/profile")
class Profile(MethodView):
    @bp.response(200, s.ProfileSchema)
    def get(self, slug):
        """The details printed on the partner's invoices."""
        return billing.partner_profile(db.session, visible_partner(slug))

    @bp.arguments(s.ProfileSchema)
    @bp.response(200, s.ProfileSchema)
    def put(self, body, slug):
        """Change the details printed on the partner's invoices."""
        return billing.update_partner_profile(db.session, visible_partner(slug), **body)


def _subscription(tenant):
    sub = billing.live_subscription(db.session, tenant.id)
    if sub is None:
        raise NotFound(_("Tenant %(slug)s has no subscription.", slug=tenant.slug),
                       errors={"tenant": [_("not subscribed")]})
    return sub


@bp.route("/tenants/<slug>/subscription")
class SubscriptionItem(MethodView):
    @bp.response(200, s.SubscriptionSchema)
    def get(self, slug):
        """The tenant's running subscription."""
        return billing.subscription_dict(_subscription(operator_roles.visible_tenant(db.session, slug)))

    @bp.arguments(s.SubscribeSchema)
    @bp.response(201, s.SubscriptionSchema)
    def post(self, body, slug):
        """Subscribe the tenant to a plan of its partner."""
        tenant = operator_roles.visible_tenant(db.session, slug)
        plan = visible_plan(body["plan"])
        return billing.subscription_dict(billing.subscribe(
            db.session, tenant, plan, start=body["start"] or billing.billing_today(), country=body["country"],
            billing_email=body["billing_email"], actor=actor()))

    @bp.arguments(s.ChangePlanSchema)
    @bp.response(200, s.SubscriptionSchema)
    def patch(self, body, slug):
        """Change the plan from a date (the fixed fee is prorated)."""
        tenant = operator_roles.visible_tenant(db.session, slug)
        plan = visible_plan(body["plan"])
        return billing.subscription_dict(billing.change_plan(
            db.session, tenant, plan, on=body["on"] or billing.billing_today(), actor=actor()))


@bp.route("/tenants/<slug>/subscription/cancel", methods=["POST"])
@bp.arguments(s.SubscriptionCancelSchema)
@bp.response(200, s.SubscriptionSchema)
def cancel(body, slug):
    """Cancel at the end of the current period (``undo`` to keep it)."""
    tenant = operator_roles.visible_tenant(db.session, slug)
    return billing.subscription_dict(billing.cancel_subscription(db.session, tenant, actor=actor(), undo=body["undo"]))


@bp.route("/tenants/<slug>/usage")
@bp.arguments(s.UsageQuerySchema, location="query")
@bp.response(200, s.UsageSchema)
def usage(query, slug):
    """Daily usage per meter (default: the current period) with each meter's maximum."""
    tenant = operator_roles.visible_tenant(db.session, slug)
    start, end = usage_window(tenant, query.get("start"), query.get("end"))
    return billing.tenant_usage(db.session, tenant.id, start=start, end=end)


def usage_window(tenant, start, end):
    """``[start, end)`` asked for, else the current period, else the last 31 days."""
    from datetime import timedelta

    if start and end:
        if end <= start or (end - start).days > 400:
            raise ValidationError(_("The window is not valid."), errors={"end": [_("after start, at most 400 days")]})
        return start, end
    sub = billing.live_subscription(db.session, tenant.id)
    if sub is not None:
        return sub.current_period_start, sub.current_period_end
    today = billing.billing_today()
    return today - timedelta(days=30), today + timedelta(days=1)


@bp.route("/billing/run", methods=["POST"])
@bp.arguments(s.RunSchema)
@bp.response(200, s.RunResultSchema)
def run(body):
    """The daily billing run (platform admins): meter, invoice ended periods, dunning."""
    operator_roles.require_admin()
    return billing.run_billing(db.session, today=body["today"] or billing.billing_today(), meter=body["meter"],
                               invoice=body["invoice"], dunning_pass=body["dunning"])


@bp.route("/billing/invoices")
@bp.arguments(s.InvoiceListQuerySchema, location="query")
@bp.response(200, s.InvoiceSchema(many=True))
def invoices(query):
    """Invoices and credit notes, newest first (at most 200)."""
    scope = operator_roles.current_scope()
    partner_id = visible_partner(query["partner"]).id if query.get("partner") else (
        None if scope.all_tenants else scope.partner_id)
    tenant_id = operator_roles.visible_tenant(db.session, query["tenant"]).id if query.get("tenant") else None
    return [billing.invoice_dict(i) for i in billing.list_invoices(
        db.session, partner_id=partner_id, tenant_id=tenant_id, status=query.get("status"))]


@bp.route("/billing/invoices/<int:invoice_id>")
@bp.response(200, s.InvoiceSchema)
def invoice(invoice_id):
    """One invoice with its lines."""
    return billing.invoice_dict(visible_invoice(invoice_id))


@bp.route("/billing/invoices/<int:invoice_id>/issue", methods=["POST"])
@bp.response(200, s.InvoiceSchema)
def issue(invoice_id):
    """Issue a draft: it gets the partner's next number."""
    return billing.invoice_dict(billing.issue_invoice(db.session, visible_invoice(invoice_id, for_update=True),
                                                      today=billing.billing_today()))


@bp.route("/billing/invoices/<int:invoice_id>/void", methods=["POST"])
@bp.arguments(s.ReasonSchema)
@bp.response(200, s.InvoiceSchema)
def void(body, invoice_id):
    """Void an issued invoice without payments."""
    return billing.invoice_dict(billing.void_invoice(db.session, visible_invoice(invoice_id, for_update=True),
                                                     reason=body["reason"]))


@bp.route("/billing/invoices/<int:invoice_id>/uncollectible", methods=["POST"])
@bp.arguments(s.ReasonSchema)
@bp.response(200, s.InvoiceSchema)
def uncollectible(body, invoice_id):
    """Mark an issued invoice uncollectible (a later payment still settles it)."""
    return billing.invoice_dict(billing.mark_uncollectible(db.session, visible_invoice(invoice_id, for_update=True),
                                                           reason=body["reason"]))


@bp.route("/billing/invoices/<int:invoice_id>/credit-notes", methods=["POST"])
@bp.arguments(s.CreditNoteSchema)
@bp.response(201, s.InvoiceSchema)
def credit_note(body, invoice_id):
    """Issue a credit note for the whole invoice or for given lines."""
    note = billing.create_credit_note(db.session, visible_invoice(invoice_id, for_update=True),
                                      today=billing.billing_today(), reason=body["reason"], lines=body["lines"])
    return billing.invoice_dict(note)


@bp.route("/billing/invoices/<int:invoice_id>/extend", methods=["POST"])
@bp.arguments(s.ExtendSchema)
@bp.response(200, s.InvoiceSchema)
def extend(body, invoice_id):
    """Grant more time: overdue days count from ``until`` (lifts a dunning restriction that no longer applies)."""
    invoice = visible_invoice(invoice_id, for_update=True)
    return billing.invoice_dict(dunning.extend(db.session, invoice, until=body["until"], today=billing.billing_today(),
                                               actor=actor(), reason=body["reason"]))


@bp.route("/billing/invoices/<int:invoice_id>/payments")
class Payments(MethodView):
    @bp.response(200, s.PaymentSchema(many=True))
    def get(self, invoice_id):
        """Payments recorded against the invoice."""
        return [billing.payment_dict(p) for p in billing.list_payments(db.session, visible_invoice(invoice_id).id)]

    @bp.arguments(s.PaymentCreateSchema)
    @bp.response(201, s.PaymentSchema)
    def post(self, body, invoice_id):
        """Record a bank, cash or mobile-money payment (partial payments allowed; proof as base64)."""
        proof = None
        if body["proof"]:
            try:
                proof = base64.b64decode(body["proof"], validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError(_("The payment cannot be recorded."), errors={"proof": [_("not base64")]}) from None
        payment = billing.record_payment(
            db.session, visible_invoice(invoice_id), method=body["method"], amount=body["amount"],
            reference=body["reference"], paid_on=body["paid_on"], actor=actor(), today=billing.billing_today(),
            proof=proof, proof_name=body["proof_name"], proof_type=body["proof_type"])
        return billing.payment_dict(payment)


@bp.route("/billing/partners/<slug>/stripe/onboarding", methods=["POST"])
@bp.arguments(s.OnboardingSchema)
@bp.response(200, s.LinkSchema)
def stripe_onboarding(body, slug):
    """The partner's Stripe Connect onboarding address (creates its connected account the first time)."""
    from schemehost.platform.billing import stripe_connect

    return {"url": stripe_connect.onboarding_link(db.session, visible_partner(slug), **body)}


@bp.route("/billing/invoices/<int:invoice_id>/card-payment", methods=["POST"])
@bp.response(200, s.CardPaymentSchema)
def card_payment(invoice_id):
    """A Stripe PaymentIntent for what is outstanding, on the partner's account with the platform fee."""
    from schemehost.platform.billing import stripe_connect

    return stripe_connect.start_card_payment(db.session, visible_invoice(invoice_id))


@bp.route("/billing/cost-of-service")
@bp.arguments(s.CostQuerySchema, location="query")
@bp.response(200, s.CostRowSchema(many=True))
def cost_of_service(query):
    """Per tenant, a month's database size, rows and job time next to what it was billed."""
    from schemehost.platform.billing.cost import cost_of_service as report, month_window

    scope = operator_roles.current_scope()
    partner_id = visible_partner(query["partner"]).id if query.get("partner") else (
        None if scope.all_tenants else scope.partner_id)
    start, end = month_window(query["month"])
    return report(db.session, start=start, end=end, partner_id=partner_id)


def _callback_url(partner_slug: str) -> str:
    from flask import url_for

    return url_for("billing_webhooks.gateway_callback", partner=partner_slug, _external=True)


@bp.route("/billing/partners/<slug>/gateway")
class Gateway(MethodView):
    @bp.response(200, s.GatewaySchema)
    def get(self, slug):
        """The partner's control-number gateway (keys never shown: which are set, our public key, the
        callback address to give the gateway)."""
        from schemehost.platform.billing import control_numbers

        partner = visible_partner(slug)
        gw = control_numbers.get_gateway(db.session, partner.id)
        if gw is None:
            raise NotFound(_("The partner has no control-number gateway."), errors={"gateway": [_("not configured")]})
        return control_numbers.gateway_out(gw, _callback_url(partner.slug))

    @bp.arguments(s.GatewaySchema)
    @bp.response(200, s.GatewaySchema)
    def put(self, body, slug):
        """Set the partner's control-number gateway (keys encrypted with the key ring)."""
        from schemehost.platform.billing import control_numbers

        partner = visible_partner(slug)
        gw = control_numbers.save_gateway(db.session, partner, **body)
        return control_numbers.gateway_out(gw, _callback_url(partner.slug))


@bp.route("/billing/invoices/<int:invoice_id>/control-number")
class ControlNumber(MethodView):
    @bp.response(200, s.ControlBillSchema)
    def get(self, invoice_id):
        """The invoice's latest bill on the partner's gateway, with its control number once issued."""
        from schemehost.platform.billing import control_numbers

        bill = control_numbers.latest_bill(db.session, visible_invoice(invoice_id).id)
        if bill is None:
            raise NotFound(_("The invoice has no control number."), errors={"invoice": [_("no control number")]})
        return control_numbers.bill_dict(bill)

    @bp.response(200, s.ControlBillSchema)
    def post(self, invoice_id):
        """Post a bill for what the invoice has outstanding to the partner's gateway (its control number
        comes by callback); an open bill is answered as it is."""
        from schemehost.platform.billing import control_numbers

        bill = control_numbers.request_control_number(db.session, visible_invoice(invoice_id), actor=actor())
        return control_numbers.bill_dict(bill)
