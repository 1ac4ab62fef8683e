"""Request and response schemas of the claims API.

Request shapes are loose on purpose (``Raw`` where a value may be wrong): the claims services check
every field and report all problems of a request at once (422, ``errors`` by field). Amounts are
integers in minor units of the claim's currency (decision 0101).
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from schemehost.tenants.insurance.claims.models import ClaimStatus, Selection

MINOR = {"description": "integer amount in minor units of the currency (TZS 150000 = 1,500.00)"}


class ClaimLineInSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    item = fields.Raw(metadata={"description": "code of an item of the catalogue"})
    service = fields.Raw(metadata={"description": "code of a service of the catalogue"})
    code = fields.Raw(metadata={"description": "code of an item or a service"})
    quantity = fields.Raw(metadata={"description": "whole number, 1 or more"})
    price = fields.Raw(allow_none=True, metadata={
        "description": "claimed unit price in minor units; left out: the facility's price list gives it"})


class ClaimInSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    code = fields.Raw(metadata={"description": "the facility's claim number (unique per facility)"})
    facility = fields.Raw(metadata={"description": "the facility's code"})
    facility_id = fields.Raw()
    insuree = fields.Raw(metadata={"description": "the insuree's scheme number"})
    individual_id = fields.Raw()
    visit_type = fields.Raw(metadata={"description": "out_patient, in_patient or emergency"})
    date_from = fields.Raw(metadata={"description": "first day of the visit (not in the future)"})
    date_to = fields.Raw(allow_none=True, metadata={"description": "last day of the visit"})
    date_claimed = fields.Raw(allow_none=True, metadata={"description": "default: today"})
    icd_code = fields.Raw(metadata={"description": "main diagnosis, ICD-10 (GET /claims/icd10)"})
    icd_codes = fields.Raw(metadata={"description": "other diagnoses, ICD-10 codes"})
    incident_id = fields.Raw(allow_none=True, metadata={"description": "work incident (employment injury)"})
    lines = fields.List(fields.Nested(ClaimLineInSchema), metadata={"description": "items and services"})


class ClaimUpdateSchema(ClaimInSchema):
    version = fields.Raw(required=True, metadata={"description": "the claim's version you changed"})


class ClaimLineSchema(Schema):
    line_no = fields.Integer()
    entry_id = fields.Integer()
    code = fields.String()
    kind = fields.String()
    name = fields.String()
    quantity = fields.Integer()
    price = fields.Integer(metadata=MINOR)
    amount = fields.Integer(metadata=MINOR)
    status = fields.String()
    rejection_reason = fields.String(allow_none=True)
    approved_quantity = fields.Integer(allow_none=True)
    approved_price = fields.Integer(allow_none=True)
    list_price = fields.Integer(allow_none=True)
    valuated = fields.Integer(allow_none=True)
    copayment = fields.Integer(allow_none=True)
    deductible = fields.Integer(allow_none=True)


class ClaimRefSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    scheme_number = fields.String()


class ClaimSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    facility_id = fields.Integer()
    facility = fields.Nested(ClaimRefSchema)
    individual_id = fields.Integer()
    insuree = fields.Nested(ClaimRefSchema)
    policy_id = fields.Integer(allow_none=True)
    product_id = fields.Integer(allow_none=True)
    visit_type = fields.String()
    date_from = fields.Date()
    date_to = fields.Date(allow_none=True)
    date_claimed = fields.Date()
    icd_code = fields.String()
    icd_codes = fields.List(fields.String())
    status = fields.String()
    currency = fields.String()
    claimed = fields.Integer(metadata=MINOR)
    approved = fields.Integer(allow_none=True)
    valuated = fields.Integer(allow_none=True)
    rejection_reason = fields.String(allow_none=True)
    review_status = fields.String()
    feedback_status = fields.String()
    review_note = fields.String(allow_none=True)
    incident_id = fields.Integer(allow_none=True)
    statement_id = fields.Integer(allow_none=True)
    version = fields.Integer()
    entered_by = fields.String(allow_none=True)
    processed_by = fields.String(allow_none=True)
    checked_at = fields.DateTime(allow_none=True)
    processed_at = fields.DateTime(allow_none=True)
    valuated_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    lines = fields.List(fields.Nested(ClaimLineSchema))


class ClaimQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf([s.value for s in ClaimStatus]))
    facility = fields.String(metadata={"description": "facility code"})
    facility_id = fields.Integer()
    individual_id = fields.Integer()
    code = fields.String(metadata={"description": "claim number"})
    date_from = fields.Date(metadata={"description": "visits starting on or after"})
    date_to = fields.Date(metadata={"description": "visits starting on or before"})
    review_status = fields.String(validate=validate.OneOf([s.value for s in Selection]))
    feedback_status = fields.String(validate=validate.OneOf([s.value for s in Selection]))
    after_id = fields.Integer(metadata={"description": "the last id of the previous page (keyset pagination)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ClaimQueueQuerySchema(Schema):
    selected = fields.Boolean(load_default=False, metadata={"description": "only claims selected for review"})
    after_id = fields.Integer()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class ClaimDecisionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    line_no = fields.Raw()
    decision = fields.Raw(metadata={"description": "approve, adjust or reject"})
    quantity = fields.Raw(metadata={"description": "adjust: the approved quantity (at most the claimed)"})
    price = fields.Raw(metadata={"description": "adjust: the approved unit price (at most the claimed)"})
    reason = fields.Raw(allow_none=True, metadata={
        "description": "review reason: not_justified, not_provided, wrong_price, other (needed to reject)"})


class ClaimReviewSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    version = fields.Raw(required=True, metadata={"description": "the claim's version the reviewer saw"})
    lines = fields.List(fields.Nested(ClaimDecisionSchema), load_default=list,
                        metadata={"description": "decisions; lines the checks passed and not named are approved"})
    note = fields.Raw(allow_none=True)


class ClaimIdsSchema(Schema):
    ids = fields.List(fields.Integer(strict=True), allow_none=True, validate=validate.Length(max=10_000),
                      metadata={"description": "claim ids; left out: every pending claim"})


class ClaimRulesSchema(Schema):
    percent = fields.Raw(metadata={"description": "percentage of claims drawn at random (0-100)"})
    above = fields.Raw(allow_none=True, metadata={"description": "claims above this amount (minor units)"})
    items = fields.List(fields.String(), metadata={"description": "claims with one of these items or services"})


class ClaimSelectionSchema(Schema):
    review = fields.Nested(ClaimRulesSchema)
    feedback = fields.Nested(ClaimRulesSchema)


class ClaimDeadlineSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    days = fields.Raw(allow_none=True, metadata={
        "description": "days after the visit's end (date_to, else date_from) within which a claim must be "
                       "entered, 1 to 3650; null: no deadline (the submitted_late check is off)"})


class ClaimBatchQuerySchema(Schema):
    partial = fields.Boolean(load_default=False, metadata={
        "description": "save the good claims and report the bad rows (default: all or nothing)"})


class ClaimBatchSchema(Schema):
    rows = fields.Integer()
    created = fields.Integer()
    skipped = fields.Integer(metadata={"description": "claims the facility had already entered"})
    claim_ids = fields.List(fields.Integer())
    problems = fields.List(fields.Dict())


class IcdCodeSchema(Schema):
    code = fields.String()
    title = fields.String()


class IcdCodeQuerySchema(Schema):
    q = fields.String(required=True, validate=validate.Length(1, 40))
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class ClaimReasonSchema(Schema):
    code = fields.String()
    kind = fields.String()
    label = fields.String()
