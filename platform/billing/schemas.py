"""Request and response schemas of the billing APIs. Amounts are integers in the currency's minor unit."""

from marshmallow import Schema, fields, validate

from schemehost.platform.billing.models import InvoiceStatus, PaymentMethod, Period

Amount = lambda **kw: fields.Integer(validate=validate.Range(min=0, max=10**15), **kw)  # noqa: E731


class TierSchema(Schema):
    up_to = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=1))
    unit_amount = fields.Decimal(required=True, as_string=True, places=None,
                                 metadata={"description": "price per unit in minor units (fractions allowed)"})


class PriceSchema(Schema):
    meter = fields.String(required=True)
    included = Amount(load_default=0)
    tiers = fields.List(fields.Nested(TierSchema), required=True, validate=validate.Length(min=1, max=20))


class PlanCreateSchema(Schema):
    partner = fields.String(required=True, metadata={"description": "partner slug"})
    code = fields.String(required=True, validate=validate.Length(min=1, max=40))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    currency = fields.String(required=True)
    period = fields.String(load_default="monthly", validate=validate.OneOf([p.value for p in Period]))
    fixed_fee = Amount(load_default=0)
    setup_fee = Amount(load_default=0)
    trial_days = fields.Integer(load_default=0)
    due_days = fields.Integer(load_default=14)
    reminder_days = fields.Integer(load_default=7)
    read_only_after_days = fields.Integer(load_default=30)
    suspend_after_days = fields.Integer(load_default=60)
    prices = fields.List(fields.Nested(PriceSchema), load_default=list)


class PlanSchema(Schema):
    id = fields.Integer()
    partner = fields.String()
    code = fields.String()
    name = fields.String()
    currency = fields.String()
    period = fields.String()
    fixed_fee = fields.Integer()
    setup_fee = fields.Integer()
    trial_days = fields.Integer()
    due_days = fields.Integer()
    reminder_days = fields.Integer()
    read_only_after_days = fields.Integer()
    suspend_after_days = fields.Integer()
    active = fields.Boolean()
    prices = fields.List(fields.Dict())


class PlanListQuerySchema(Schema):
    partner = fields.String()


class TaxRateSchema(Schema):
    country = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    rate = fields.Decimal(required=True, as_string=True, places=None, metadata={"description": "percent"})


class PlatformFeeSchema(Schema):
    partner = fields.String(dump_only=True, allow_none=True)
    kind = fields.String(required=True, validate=validate.OneOf(["percent", "fixed"]))
    percent = fields.Decimal(as_string=True, places=None, allow_none=True, load_default=None)
    amount = fields.Integer(allow_none=True, load_default=None)
    currency = fields.String(allow_none=True, load_default=None)


class ProfileSchema(Schema):
    legal_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    address = fields.String(allow_none=True, validate=validate.Length(max=2000))
    tax_id = fields.String(allow_none=True, validate=validate.Length(max=50))
    payment_instructions = fields.String(allow_none=True, validate=validate.Length(max=2000))
    invoice_prefix = fields.String(allow_none=True)
    stripe_account_id = fields.String(dump_only=True, allow_none=True)
    stripe_charges_enabled = fields.Boolean(dump_only=True)


class SubscribeSchema(Schema):
    plan = fields.Integer(required=True, metadata={"description": "plan id"})
    start = fields.Date(load_default=None, metadata={"description": "default: today"})
    country = fields.String(load_default=None, allow_none=True)
    billing_email = fields.Email(load_default=None, allow_none=True)


class ChangePlanSchema(Schema):
    plan = fields.Integer(required=True)
    on = fields.Date(load_default=None, metadata={"description": "default: today"})


class SubscriptionCancelSchema(Schema):
    undo = fields.Boolean(load_default=False)


class SubscriptionSchema(Schema):
    tenant = fields.String()
    plan = fields.Dict()
    status = fields.String()
    country = fields.String(allow_none=True)
    billing_email = fields.String(allow_none=True)
    started_on = fields.String()
    trial_ends_on = fields.String()
    current_period_start = fields.String()
    current_period_end = fields.String()
    cancel_at_period_end = fields.Boolean()
    canceled_on = fields.String(allow_none=True)


class UsageQuerySchema(Schema):
    start = fields.Date(load_default=None)
    end = fields.Date(load_default=None)


class UsageSchema(Schema):
    start = fields.String()
    end = fields.String()
    meters = fields.List(fields.Dict())


class RunSchema(Schema):
    today = fields.Date(load_default=None, metadata={"description": "the run's date (default: today, UTC)"})
    meter = fields.Boolean(load_default=True)
    invoice = fields.Boolean(load_default=True)
    dunning = fields.Boolean(load_default=True)


class RunResultSchema(Schema):
    today = fields.String()
    usage_rows = fields.Integer()
    invoices = fields.Integer()
    dunning = fields.Dict()


class InvoiceListQuerySchema(Schema):
    partner = fields.String()
    tenant = fields.String()
    status = fields.String(validate=validate.OneOf([s.value for s in InvoiceStatus]))


class InvoiceSchema(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True)
    kind = fields.String()
    status = fields.String()
    partner = fields.String()
    tenant = fields.String()
    currency = fields.String()
    period_start = fields.String(allow_none=True)
    period_end = fields.String(allow_none=True)
    tax_name = fields.String(allow_none=True)
    tax_rate = fields.String()
    subtotal = fields.Integer()
    tax = fields.Integer()
    total = fields.Integer()
    amount_paid = fields.Integer()
    amount_credited = fields.Integer()
    outstanding = fields.Integer()
    platform_fee = fields.Integer()
    issued_on = fields.String(allow_none=True)
    due_on = fields.String(allow_none=True)
    extended_to = fields.String(allow_none=True)
    credits_invoice = fields.Integer(allow_none=True)
    memo = fields.String(allow_none=True)
    lines = fields.List(fields.Dict())


class ReasonSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CreditLineSchema(Schema):
    description = fields.String(required=True, validate=validate.Length(min=1, max=300))
    amount = fields.Integer(required=True, validate=validate.Range(min=1, max=10**15))


class CreditNoteSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    lines = fields.List(fields.Nested(CreditLineSchema), load_default=None,
                        metadata={"description": "omit to credit the whole invoice"})


class PaymentCreateSchema(Schema):
    method = fields.String(required=True, validate=validate.OneOf([m.value for m in PaymentMethod
                                                                             if m not in ("card", "control_number")]))
    amount = fields.Integer(required=True, validate=validate.Range(min=1, max=10**15))
    reference = fields.String(required=True, validate=validate.Length(min=1, max=100))
    paid_on = fields.Date(required=True)
    proof = fields.String(load_default=None, metadata={"description": "base64 of the receipt (≤ 5 MB)"})
    proof_name = fields.String(load_default=None, validate=validate.Length(max=200))
    proof_type = fields.String(load_default=None, validate=validate.Length(max=100))


class PaymentSchema(Schema):
    id = fields.Integer()
    invoice = fields.Integer()
    method = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    reference = fields.String()
    paid_on = fields.String()
    recorded_by = fields.String()
    proof_name = fields.String(allow_none=True)
    refunded = fields.Integer()


class ExtendSchema(Schema):
    until = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class OnboardingSchema(Schema):
    refresh_url = fields.Url(required=True, require_tld=False)
    return_url = fields.Url(required=True, require_tld=False)


class LinkSchema(Schema):
    url = fields.String()


class CardPaymentSchema(Schema):
    id = fields.String()
    client_secret = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    account = fields.String()


class CostQuerySchema(Schema):
    month = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"),
                          metadata={"description": "YYYY-MM"})
    partner = fields.String()


class CostRowSchema(Schema):
    tenant = fields.String()
    partner = fields.String()
    status = fields.String()
    storage_mb = fields.Integer()
    rows = fields.Integer()
    job_seconds = fields.Float()
    requests = fields.Integer(metadata={"description": "requests answered under /t/<slug>/ in the month"})
    billed = fields.Integer()
    currency = fields.String(allow_none=True)


class GatewaySchema(Schema):
    """A partner's control-number gateway. ``secrets`` are written only: the answer says which are set."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    base_url = fields.String(required=True)
    sp_code = fields.String(required=True)
    signature = fields.String(load_default="rsa-sha256")
    timeout_s = fields.Integer(load_default=10)
    active = fields.Boolean(load_default=True)
    options = fields.Dict(load_default=dict)
    secrets = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), load_only=True,
                          load_default=dict)
    partner = fields.String(dump_only=True)
    has_hmac_secret = fields.Boolean(dump_only=True)
    has_private_key = fields.Boolean(dump_only=True)
    has_gateway_public_key = fields.Boolean(dump_only=True)
    public_key = fields.String(dump_only=True, allow_none=True)
    callback_url = fields.String(dump_only=True)


class ControlBillSchema(Schema):
    id = fields.Integer()
    invoice = fields.Integer()
    reference = fields.String()
    status = fields.String()
    control_number = fields.String(allow_none=True)
    amount = fields.Integer()
    paid_amount = fields.Integer()
    currency = fields.String()
    expires_at = fields.String()
    gateway_status = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
