"""Request and response schemas of the vouchers API. Amounts are integers in minor units of the
programme's currency (decision 0101)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

MINOR = {"description": "integer amount in minor units of the currency (XAF 2500 = 2,500 FCFA)"}
CODE = {"description": "voucher code: 16 digits, the last a Damm check digit; spaces and dashes are ignored",
        "example": "4821 0937 5510 2846"}


class VoucherServiceSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    tariff = fields.Integer(required=True, strict=True, metadata=MINOR)
    count = fields.Integer(required=True, strict=True, metadata={"description": "uses one voucher allows"})
    requires_code = fields.String(allow_none=True, load_default=None, metadata={
        "description": "order constraint: the service that must be used first"})
    requires_count = fields.Integer(allow_none=True, load_default=None, strict=True, metadata={
        "description": "how many uses of requires_code must come first (default 1)"})


class VoucherProgrammeCreateSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    currency = fields.String(load_default=None, metadata={"description": "default: the scheme's currency"})
    validity_days = fields.Integer(required=True, strict=True, metadata={"description": "days a voucher stays valid"})
    services = fields.List(fields.Raw(), required=True, metadata={"description": "list of services (see VoucherServiceSchema)"})
    facilities = fields.List(fields.String(), load_default=None, metadata={
        "description": "codes of the facilities where vouchers may be redeemed (none: every facility)"})
    eligibility = fields.Raw(load_default=None, allow_none=True, metadata={
        "description": "eligibility filter over individuals (see /eligibility); none: everyone"})
    budget_ceiling = fields.Integer(load_default=None, allow_none=True, strict=True, metadata=MINOR)


class VoucherProgrammeUpdateSchema(Schema):
    name = fields.String()
    validity_days = fields.Integer(strict=True)
    services = fields.List(fields.Raw())
    facilities = fields.List(fields.String())
    eligibility = fields.Raw(allow_none=True)
    budget_ceiling = fields.Integer(allow_none=True, strict=True, metadata=MINOR)
    status = fields.String(validate=validate.OneOf(["active", "closed"]))


class VoucherBudgetSchema(Schema):
    currency = fields.String()
    ceiling = fields.Integer(allow_none=True, metadata=MINOR)
    issued = fields.Integer(metadata=MINOR)
    issued_count = fields.Integer()
    live_count = fields.Integer()
    redeemed = fields.Integer(metadata=MINOR)
    committed = fields.Integer(metadata=MINOR)
    available = fields.Integer(allow_none=True, metadata=MINOR)


class VoucherProgrammeSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    currency = fields.String()
    validity_days = fields.Integer()
    status = fields.String()
    eligibility = fields.Raw(allow_none=True)
    budget_ceiling = fields.Integer(allow_none=True, metadata=MINOR)
    package_value = fields.Integer(metadata=MINOR)
    services = fields.List(fields.Nested(VoucherServiceSchema))
    facilities = fields.List(fields.String())
    budget = fields.Nested(VoucherBudgetSchema)


class VoucherIssueSchema(Schema):
    individual_id = fields.Integer(required=True, strict=True)


class VoucherJobOutSchema(Schema):
    job_id = fields.Integer()
    status = fields.String()
    result = fields.Raw(allow_none=True)


class VoucherServiceUseSchema(VoucherServiceSchema):
    used = fields.Integer()
    remaining = fields.Integer()


class VoucherBeneficiarySchema(Schema):
    id = fields.Integer()
    given_name = fields.String()
    family_name = fields.String()
    birth_date = fields.Date()
    scheme_number = fields.String()


class VoucherProgrammeRefSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()


class VoucherSchema(Schema):
    id = fields.Integer()
    code = fields.String(metadata=CODE)
    status = fields.String(metadata={"description": "issued, partially_redeemed, redeemed, expired or cancelled"})
    programme = fields.Nested(VoucherProgrammeRefSchema)
    currency = fields.String()
    value = fields.Integer(metadata=MINOR)
    issued_at = fields.DateTime()
    expires_on = fields.Date(metadata={"description": "last day it may be used"})
    beneficiary = fields.Nested(VoucherBeneficiarySchema)
    services = fields.List(fields.Nested(VoucherServiceUseSchema))


class VoucherRedeemSchema(Schema):
    service = fields.String(required=True, metadata={"description": "code of the programme's service"})
    facility_id = fields.Integer(required=True, strict=True, metadata={"description": "where it is redeemed"})


class VoucherRedemptionSchema(Schema):
    id = fields.Integer()
    voucher_code = fields.String()
    voucher_status = fields.String()
    service = fields.String()
    occurrence = fields.Integer(metadata={"description": "the n-th use of this service by this voucher"})
    facility = fields.String()
    amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    redeemed_at = fields.DateTime()
    redeemed_by = fields.String(allow_none=True)


class VoucherCancelSchema(Schema):
    reason = fields.String(required=True)
    reissue = fields.Boolean(load_default=False, metadata={"description": "a lost card: the same entitlement under a new code"})


class VoucherBatchSchema(Schema):
    period_start = fields.Date(required=True)
    period_end = fields.Date(required=True)
    facility = fields.String(load_default=None, metadata={"description": "one facility's code (default: every facility)"})
    sample_percent = fields.Integer(load_default=10, strict=True, validate=validate.Range(0, 100), metadata={
        "description": "share of each claim's redemptions flagged for verification (at least one)"})


class VoucherClaimQuerySchema(Schema):
    facility = fields.String(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(["verifying", "approved", "paid"]))


class VoucherClaimLineSchema(Schema):
    redemption_id = fields.Integer()
    voucher_code = fields.String()
    service = fields.String()
    occurrence = fields.Integer()
    amount = fields.Integer(metadata=MINOR)
    redeemed_at = fields.DateTime()
    verification = fields.String(allow_none=True)


class VoucherClaimSchema(Schema):
    id = fields.Integer()
    facility = fields.String()
    facility_name = fields.String()
    period_start = fields.Date()
    period_end = fields.Date()
    currency = fields.String()
    claimed = fields.Integer(metadata=MINOR)
    redemptions = fields.Integer()
    approved_amount = fields.Integer(allow_none=True, metadata=MINOR)
    status = fields.String()
    verification = fields.Dict(keys=fields.String(), values=fields.Integer())
    created_at = fields.DateTime()
    approved_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    payment_reference = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(VoucherClaimLineSchema))


class VoucherVerifySchema(Schema):
    redemption_id = fields.Integer(required=True, strict=True)
    outcome = fields.String(required=True, validate=validate.OneOf(["confirmed", "rejected"]))


class VoucherPaySchema(Schema):
    reference = fields.String(required=True, metadata={"description": "the payment's reference"})


class VoucherReportQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    level = fields.String(load_default=None, metadata={"description": "areas: location level (index or name)"})


class VoucherReportRowSchema(Schema):
    """One row of a report; each report has some of these keys (see its description)."""

    service = fields.String()
    facility = fields.String()
    area = fields.String(allow_none=True)
    level = fields.String()
    name = fields.String(allow_none=True)
    entitled = fields.Integer(metadata={"description": "uses the issued vouchers entitle"})
    issued = fields.Integer(metadata={"description": "vouchers issued"})
    used = fields.Integer(metadata={"description": "vouchers used at least once"})
    vouchers = fields.Integer()
    redeemed = fields.Integer()
    redemptions = fields.Integer()
    amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    median_days = fields.Float(allow_none=True)
    p90_days = fields.Float(allow_none=True)


class VoucherReminderQuerySchema(Schema):
    service = fields.String(load_default=None)
    idle_days = fields.Integer(load_default=30, validate=validate.Range(0, 3660))


class VoucherReminderSchema(Schema):
    voucher_code = fields.String()
    expires_on = fields.Date()
    individual_id = fields.Integer()
    given_name = fields.String()
    family_name = fields.String()
    phone = fields.String(allow_none=True)
    village = fields.String()
    service = fields.String()
    used = fields.Integer()
    count = fields.Integer()
    last_visit = fields.DateTime()
