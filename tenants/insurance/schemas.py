"""Request and response schemas of the insurance API.

Shapes are checked here (types, dates); the insurance services check values and answer with field
errors. Amounts are integers in minor units of the currency shown beside them (decision 0101);
percentages are decimal strings ("12.50").
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemehost.tenants.insurance.models import PaymentMethod, PolicyStatus
from schemehost.tenants.insurance.services.products import AMOUNT_FIELDS, COST_KEYS, DAY_FIELDS, PERCENT_FIELDS

MINOR = {"description": "integer amount in minor units of the currency (TZS 150000 = 1,500.00)"}
PERCENT = {"description": "percentage from 0 to 100, at most 2 decimals, as a string or number"}


class PageQuerySchema(Schema):
    after_id = fields.Integer(metadata={"description": "the last id of the previous page (keyset pagination)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class CoverageLineSchema(Schema):
    entry_id = fields.Integer(strict=True)
    code = fields.String(metadata={"description": "code of an item or service of the registry catalogue"})
    item = fields.String(metadata={"description": "code of an item (the entry must be an item)"})
    service = fields.String(metadata={"description": "code of a service (the entry must be a service)"})
    limit_count = fields.Integer(strict=True, allow_none=True,
                                 metadata={"description": "times per insuree and policy period"})
    limit_amount = fields.Integer(strict=True, allow_none=True, metadata=MINOR)
    copayment_percent = fields.Raw(allow_none=True, metadata=PERCENT)


class CoverageOutSchema(Schema):
    entry_id = fields.Integer()
    kind = fields.String()
    code = fields.String()
    name = fields.String()
    limit_count = fields.Integer(allow_none=True)
    limit_amount = fields.Integer(allow_none=True)
    copayment_percent = fields.Decimal(as_string=True, allow_none=True)


def _product_fields() -> dict:
    out = {
        "name": fields.String(),
        "valid_from": fields.Date(),
        "valid_to": fields.Date(allow_none=True),
        "insurance_period_months": fields.Integer(strict=True),
        "max_members": fields.Integer(strict=True, allow_none=True),
        "threshold": fields.Integer(strict=True, metadata={"description": "members covered by the lump sum"}),
        "adult_age": fields.Integer(strict=True),
        "cycle_starts": fields.List(fields.String(), metadata={"description": 'enrolment cycle starts, "MM-DD"'}),
        "cost_sharing": fields.Dict(keys=fields.String(), values=fields.Integer(strict=True, allow_none=True),
                                    metadata={"description": "deductibles and ceilings: " + ", ".join(COST_KEYS)}),
        "coverage": fields.List(fields.Nested(CoverageLineSchema)),
        "holder": fields.String(metadata={"description": "whom the policies insure: household (default) or "
                                                         "employer (its workers); cannot change"}),
        "wage_rate_percent": fields.Raw(allow_none=True, metadata={
            "description": "employers' products: contribution per worker and month as a percentage of the "
                           "worker's monthly wage (up to 3 decimals)"}),
        "requires_incident": fields.Boolean(metadata={
            "description": "claims need an accepted work incident of the insuree"}),
    }
    out.update({f: fields.Integer(strict=True, allow_none=True, metadata=MINOR) for f in AMOUNT_FIELDS})
    out.update({f: fields.Raw(allow_none=True, metadata=PERCENT) for f in PERCENT_FIELDS})
    out.update({f: fields.Integer(strict=True, allow_none=True) for f in DAY_FIELDS})
    return out


ProductUpdateSchema = Schema.from_dict(_product_fields(), name="ProductUpdate")
ProductCreateSchema = Schema.from_dict({**_product_fields(), "code": fields.String(required=True),
                                        "name": fields.String(required=True),
                                        "valid_from": fields.Date(required=True),
                                        "insurance_period_months": fields.Integer(strict=True, required=True)},
                                       name="ProductCreate")


def _product_out() -> dict:
    out = {
        "id": fields.Integer(), "code": fields.String(), "version": fields.Integer(), "name": fields.String(),
        "currency": fields.String(), "valid_from": fields.Date(), "valid_to": fields.Date(allow_none=True),
        "insurance_period_months": fields.Integer(), "max_members": fields.Integer(allow_none=True),
        "threshold": fields.Integer(), "adult_age": fields.Integer(), "cycle_starts": fields.List(fields.String()),
        "cost_sharing": fields.Dict(), "in_use": fields.Boolean(), "holder": fields.String(),
        "wage_rate_percent": fields.Decimal(as_string=True, allow_none=True), "requires_incident": fields.Boolean(),
        "coverage": fields.List(fields.Nested(CoverageOutSchema)),
        "created_at": fields.DateTime(), "updated_at": fields.DateTime(),
    }
    out.update({f: fields.Integer(metadata=MINOR) for f in AMOUNT_FIELDS})
    out.update({f: fields.Decimal(as_string=True) for f in PERCENT_FIELDS})
    out.update({f: fields.Integer() for f in DAY_FIELDS})
    return out


ProductSchema = Schema.from_dict(_product_out(), name="Product")


class ProductQuerySchema(PageQuerySchema):
    code = fields.String()
    valid_on = fields.Date()
    latest = fields.Boolean(metadata={"description": "only the latest version of each product"})


class PolicySchema(Schema):
    id = fields.Integer()
    product_id = fields.Integer()
    holder = fields.String(metadata={"description": "household or employer"})
    household_id = fields.Integer(allow_none=True)
    employer_id = fields.Integer(allow_none=True)
    previous_id = fields.Integer(allow_none=True)
    stage = fields.String()
    status = fields.String(metadata={"description": "status today (" + ", ".join(s.value for s in PolicyStatus)
                                     + ")"})
    stored_status = fields.String()
    enrol_date = fields.Date()
    start_date = fields.Date()
    effective_date = fields.Date(allow_none=True, metadata={"description": "coverage starts (after waiting)"})
    expiry_date = fields.Date()
    value = fields.Integer(metadata=MINOR)
    paid = fields.Integer(metadata=MINOR)
    currency = fields.String()
    adults = fields.Integer()
    children = fields.Integer()
    breakdown = fields.Dict()
    members = fields.List(fields.Integer(), metadata={"description": "ids of the insured individuals"})
    activation_forced = fields.Boolean()
    created_at = fields.DateTime()


class PolicyQuerySchema(PageQuerySchema):
    household_id = fields.Integer()
    product_id = fields.Integer()
    status = fields.String(validate=validate.OneOf([s.value for s in PolicyStatus]))


class EnrolSchema(Schema):
    household_id = fields.Integer(strict=True, required=True)
    product_id = fields.Integer(strict=True)
    product_code = fields.String(metadata={"description": "the product's version valid on the enrolment date"})
    enrol_date = fields.Date()


class RenewSchema(Schema):
    enrol_date = fields.Date()


class SuspendSchema(Schema):
    reason = fields.String(validate=validate.Length(max=500))


class ActivateSchema(Schema):
    on = fields.Date(metadata={"description": "the date coverage is counted from (default today)"})


class ContributionCreateSchema(Schema):
    amount = fields.Integer(strict=True, required=True, metadata=MINOR)
    paid_on = fields.Date(required=True)
    method = fields.String(required=True, metadata={"description": ", ".join(m.value for m in PaymentMethod)})
    receipt_no = fields.String(required=True)
    payer = fields.String(allow_none=True)
    activate = fields.Boolean(load_default=False, metadata={
        "description": "activate a policy this does not fully pay (needs insurance.policies.activate)"})


class ContributionSchema(Schema):
    id = fields.Integer()
    policy_id = fields.Integer()
    amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    paid_on = fields.Date()
    payer = fields.String(allow_none=True)
    method = fields.String()
    receipt_no = fields.String()
    overpayment = fields.Integer(metadata=MINOR)
    created_at = fields.DateTime()


class CoverageDatesSchema(Schema):
    policy_id = fields.Integer()
    product_id = fields.Integer()
    product_code = fields.String()
    product_version = fields.Integer()
    stage = fields.String()
    status = fields.String()
    start_date = fields.Date()
    effective_date = fields.Date(allow_none=True)
    expiry_date = fields.Date()


class RenewalDueSchema(Schema):
    policy_id = fields.Integer()
    household_id = fields.Integer(allow_none=True)
    employer_id = fields.Integer(allow_none=True)
    product_code = fields.String()
    expiry_date = fields.Date()
    status = fields.String()


class EligibilityQuerySchema(Schema):
    insuree = fields.String(required=True, validate=validate.Length(1, 50),
                            metadata={"description": "the insuree's scheme number (on the card), or id"})
    item = fields.String(validate=validate.Length(1, 50))
    service = fields.String(validate=validate.Length(1, 50))
    date = fields.Date(metadata={"description": "default today"})


class EligibilitySchema(Schema):
    covered = fields.Boolean()
    reason = fields.String(allow_none=True)
    date = fields.Date()
    insuree = fields.Dict(allow_none=True)
    item = fields.Dict(allow_none=True)
    policy = fields.Dict(allow_none=True)
    limits = fields.Dict()


# ---- employment injury: employers, their workers, work incidents ---------------------------------------


class EmployerCreateSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    registration_no = fields.String(allow_none=True, metadata={"description": "unique when given"})
    sector = fields.String(allow_none=True)
    location_id = fields.Integer(strict=True, required=True)
    address = fields.String(allow_none=True)
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True, metadata={"description": "E.164, or national for the country"})
    contact_email = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "active (default) or inactive"})


EmployerUpdateSchema = Schema.from_dict({name: f for name, f in EmployerCreateSchema().declared_fields.items()
                                         if name not in ("code", "name", "location_id")} | {
    "code": fields.String(), "name": fields.String(), "location_id": fields.Integer(strict=True)},
    name="EmployerUpdate")


class EmployerSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    registration_no = fields.String(allow_none=True)
    sector = fields.String(allow_none=True)
    location_id = fields.Integer()
    address = fields.String(allow_none=True)
    contact_name = fields.String(allow_none=True)
    contact_phone = fields.String(allow_none=True)
    contact_email = fields.String(allow_none=True)
    status = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class EmployerQuerySchema(PageQuerySchema):
    q = fields.String(metadata={"description": "part of the code, name or registration number"})
    status = fields.String(validate=validate.OneOf(["active", "inactive"]))
    location_id = fields.Integer()


class WorkerInSchema(Schema):
    individual_id = fields.Integer(strict=True, required=True)
    wage = fields.Integer(strict=True, allow_none=True, metadata={
        "description": "monthly wage in minor units (needed when the product's contribution is a rate of wages)"})


class WorkerAddSchema(WorkerInSchema):
    covered_from = fields.Date(metadata={"description": "default today (or the policy's start when later)"})


class WorkerLeaveSchema(Schema):
    on = fields.Date(metadata={"description": "the last day covered (default today)"})


class WorkerSchema(Schema):
    individual_id = fields.Integer()
    scheme_number = fields.String(allow_none=True)
    given_name = fields.String()
    family_name = fields.String()
    wage = fields.Integer(allow_none=True, metadata=MINOR)
    covered_from = fields.Date(allow_none=True, metadata={"description": "None: from the policy's start"})
    covered_to = fields.Date(allow_none=True, metadata={"description": "None: until the policy's expiry"})


class EmployerEnrolSchema(Schema):
    product_id = fields.Integer(strict=True)
    product_code = fields.String(metadata={"description": "the product's version valid on the enrolment date"})
    enrol_date = fields.Date()
    workers = fields.List(fields.Nested(WorkerInSchema), load_default=list)


class IncidentCreateSchema(Schema):
    employer_id = fields.Integer(strict=True, required=True)
    individual_id = fields.Integer(strict=True, required=True)
    incident_date = fields.Date(required=True)
    reported_on = fields.Date(metadata={"description": "default today"})
    kind = fields.String(required=True, metadata={"description": "accident, commuting or disease"})
    place = fields.String(required=True)
    description = fields.String(required=True)


class IncidentDecisionSchema(Schema):
    note = fields.String(allow_none=True, metadata={"description": "the reason (needed to reject)"})


class IncidentSchema(Schema):
    id = fields.Integer()
    employer_id = fields.Integer()
    individual_id = fields.Integer()
    incident_date = fields.Date()
    reported_on = fields.Date()
    kind = fields.String()
    place = fields.String()
    description = fields.String()
    status = fields.String(metadata={"description": "reported, accepted or rejected"})
    decided_on = fields.Date(allow_none=True)
    decision_note = fields.String(allow_none=True)
    reported_late = fields.Boolean(metadata={
        "description": "reported more days after it happened than the scheme's incident_report_days setting"})
    created_at = fields.DateTime()


class IncidentQuerySchema(Schema):
    employer_id = fields.Integer()
    individual_id = fields.Integer()
    status = fields.String(validate=validate.OneOf(["reported", "accepted", "rejected"]))
    after_id = fields.Integer(metadata={"description": "the last id of the previous page (newest first)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))
