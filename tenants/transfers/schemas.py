"""Request and response schemas of the cash-transfers API (amounts in minor units, decision 0101)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemehost.tenants.transfers.models import (BeneficiaryStatus, BenefitKind, Frequency, PaymentPointKind,
                                                 ProgrammeStatus, Target)

MINOR = {"description": "integer amount in minor units of the programme's currency"}


def _choice(enum, **kw):
    return fields.String(validate=validate.OneOf([e.value for e in enum]), **kw)


class ProgrammeInSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    target = _choice(Target, required=True)
    eligibility = fields.Raw(load_default=None, metadata={"description": "a registry eligibility filter"})
    benefit_kind = _choice(BenefitKind, load_default=None)
    base_amount = fields.Integer(required=True, metadata=MINOR)
    per_child_amount = fields.Integer(load_default=None, metadata=MINOR)
    child_max_age = fields.Integer(load_default=None)
    max_children = fields.Integer(load_default=None)
    cap_amount = fields.Integer(load_default=None, metadata=MINOR)
    currency = fields.String(required=True)
    frequency = _choice(Frequency, load_default=None)
    budget_ceiling = fields.Integer(load_default=None, metadata={"description": "most a cycle's payroll may total"})
    max_beneficiaries = fields.Integer(load_default=None)
    district_level = fields.Integer(load_default=None)
    status = _choice(ProgrammeStatus, load_default=None)


class ProgrammePatchSchema(Schema):
    code = fields.String()
    name = fields.String()
    target = _choice(Target)
    eligibility = fields.Raw()
    benefit_kind = _choice(BenefitKind)
    base_amount = fields.Integer(metadata=MINOR)
    per_child_amount = fields.Integer(metadata=MINOR)
    child_max_age = fields.Integer()
    max_children = fields.Integer(allow_none=True)
    cap_amount = fields.Integer(allow_none=True, metadata=MINOR)
    currency = fields.String()
    frequency = _choice(Frequency)
    budget_ceiling = fields.Integer(allow_none=True)
    max_beneficiaries = fields.Integer(allow_none=True)
    district_level = fields.Integer()
    status = _choice(ProgrammeStatus)


class ProgrammeOutSchema(ProgrammePatchSchema):
    id = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PreviewInSchema(Schema):
    eligibility = fields.Raw(load_default=None, metadata={"description": "a rule being edited (default: the programme's)"})
    by_level = fields.Raw(load_default=None)


class EnrolInSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           metadata={"description": "why, kept in the audit entry"})


class EnrolOutSchema(Schema):
    eligible = fields.Integer()
    enrolled = fields.Integer()
    room_left = fields.Integer()


class BeneficiaryOutSchema(Schema):
    id = fields.Integer()
    programme_id = fields.Integer()
    individual_id = fields.Integer(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    status = fields.String()
    payment_point_id = fields.Integer(allow_none=True)
    status_reason = fields.String(allow_none=True)
    status_changed_at = fields.DateTime(allow_none=True)
    enrolled_at = fields.DateTime()


class BeneficiaryQuerySchema(Schema):
    status = _choice(BeneficiaryStatus)
    after_id = fields.Integer()
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class StatusChangeSchema(Schema):
    ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=100_000))
    status = fields.String(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class AssignPointSchema(Schema):
    ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=100_000))
    payment_point_id = fields.Integer(required=True, allow_none=True)


class CountSchema(Schema):
    count = fields.Integer()


class PaymentPointInSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = _choice(PaymentPointKind, required=True)
    location_id = fields.Integer(required=True)
    manager_user_id = fields.Integer(load_default=None)


class PaymentPointOutSchema(PaymentPointInSchema):
    id = fields.Integer()
    active = fields.Boolean()


class CycleInSchema(Schema):
    period_start = fields.Date(required=True)


class CycleOutSchema(Schema):
    id = fields.Integer()
    programme_id = fields.Integer()
    period_start = fields.Date()
    period_end = fields.Date()
    status = fields.String()


class PayrollOutSchema(Schema):
    id = fields.Integer()
    cycle_id = fields.Integer()
    status = fields.String()
    generated_by = fields.String()
    generated_by_name = fields.String(allow_none=True)
    approved_by = fields.String(allow_none=True)
    approved_by_name = fields.String(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    rejected_reason = fields.String(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    paid_via = fields.String(allow_none=True)
    lines = fields.Integer()
    total = fields.Integer(metadata=MINOR)
    currency = fields.String()
    created_at = fields.DateTime()


class RejectSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class PayInSchema(Schema):
    via = fields.String(load_default="offline", metadata={
        "description": "'offline' (export the file, payment points upload what they paid) or a mobile-money gateway code"})


class ExportQuerySchema(Schema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class UploadOutSchema(Schema):
    rows = fields.Integer()
    paid = fields.Integer()
    failed = fields.Integer()
    unchanged = fields.Integer()
    payroll_status = fields.String()


class CarryInSchema(Schema):
    into_payroll_id = fields.Integer(required=True)


class CarryOutSchema(Schema):
    carried = fields.Integer()
    amount = fields.Integer(metadata=MINOR)


class BeneficiaryFilterSchema(Schema):
    status = _choice(BeneficiaryStatus)
    location_id = fields.Integer(metadata={"description": "beneficiaries living within this location's subtree"})
    payment_point_id = fields.Integer(metadata={"description": "assigned to this payment point (0: to none)"})


class BulkEnrolInSchema(EnrolInSchema):
    """The same as enrolling at once: the reason."""


class BulkStatusInSchema(Schema):
    status = fields.String(required=True, metadata={"description": "the status to move them to"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    filter = fields.Nested(BeneficiaryFilterSchema, required=True)


class FilterCountInSchema(Schema):
    filter = fields.Nested(BeneficiaryFilterSchema, load_default=dict)


class AssignFilterSchema(Schema):
    payment_point_id = fields.Integer(required=True, allow_none=True)
    filter = fields.Nested(BeneficiaryFilterSchema, load_default=dict)


class JobProgressSchema(Schema):
    done = fields.Integer()
    total = fields.Integer(allow_none=True)


class TransfersJobOutSchema(Schema):
    job_id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    progress = fields.Nested(JobProgressSchema)
    result = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)


class PaymentPointPatchSchema(Schema):
    code = fields.String()
    name = fields.String()
    kind = _choice(PaymentPointKind)
    location_id = fields.Integer()
    manager_user_id = fields.Integer(allow_none=True)
    active = fields.Boolean()


class ReportQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    level = fields.String(load_default=None)
