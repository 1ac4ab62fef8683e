"""Request and response schemas of the payments API. Amounts are integers in minor units of the
currency beside them (decision 0101); secrets are write-only."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemehost.tenants.payments.models import (BillStatus, GatewayKind, NotificationStatus, PaymentOption,
                                                SignatureAlgorithm)

MINOR = {"description": "integer amount in minor units of the currency"}


def _choice(enum, **kw):
    return fields.String(validate=validate.OneOf([e.value for e in enum]), **kw)


class PaymentPageQuerySchema(Schema):
    after_id = fields.Integer(metadata={"description": "the last id of the previous page (keyset pagination)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class GatewaySecretsSchema(Schema):
    hmac_secret = fields.String(allow_none=True, load_only=True)
    private_key = fields.String(allow_none=True, load_only=True,
                                metadata={"description": "our RSA private key (PEM, unencrypted): signs what we send"})
    gateway_public_key = fields.String(allow_none=True, load_only=True,
                                       metadata={"description": "the gateway's RSA public key (PEM): verifies callbacks"})


class GatewayInSchema(Schema):
    name = fields.String(required=True)
    kind = _choice(GatewayKind, required=True)
    base_url = fields.String(required=True)
    sp_code = fields.String(required=True, metadata={"description": "our service-provider code at the gateway"})
    signature = _choice(SignatureAlgorithm, load_default=SignatureAlgorithm.rsa_sha256.value)
    timeout_s = fields.Integer(load_default=10)
    active = fields.Boolean(load_default=True)
    options = fields.Dict(load_default=dict, metadata={
        "description": "timezone, bill_prefix, sub_sp_code, gfs_code, tolerance_s, max_attempts"})
    secrets = fields.Nested(GatewaySecretsSchema, load_default=dict,
                            metadata={"description": "keys to set (an empty value removes one; others are kept)"})


class GatewayOutSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    kind = fields.String()
    base_url = fields.String()
    sp_code = fields.String()
    signature = fields.String()
    timeout_s = fields.Integer()
    active = fields.Boolean()
    options = fields.Dict()
    has_hmac_secret = fields.Boolean()
    has_private_key = fields.Boolean()
    has_gateway_public_key = fields.Boolean()
    public_key = fields.String(allow_none=True, metadata={"description": "our public key, to give to the gateway"})
    callback_url = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class BillItemSchema(Schema):
    code = fields.String(validate=validate.Length(max=40))
    description = fields.String(validate=validate.Length(max=200))
    amount = fields.Integer(required=True, metadata=MINOR)
    gfs_code = fields.String(validate=validate.Length(max=20))


class BillInSchema(Schema):
    gateway = fields.String(required=True)
    payer_name = fields.String(required=True)
    payer_phone = fields.String(validate=validate.Length(max=20))
    payer_email = fields.Email()
    description = fields.String(required=True)
    amount = fields.Integer(required=True, metadata=MINOR)
    currency = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    payment_option = _choice(PaymentOption, load_default=PaymentOption.exact.value)
    items = fields.List(fields.Nested(BillItemSchema), required=True)
    payable_kind = fields.String(metadata={"description": "what the bill pays, as registered by a module"})
    payable_ref = fields.String(validate=validate.Length(max=100))


class BillOutSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    gateway = fields.String()
    status = fields.String()
    control_number = fields.String(allow_none=True)
    payer_name = fields.String()
    payer_phone = fields.String(allow_none=True)
    payer_email = fields.String(allow_none=True)
    description = fields.String()
    amount = fields.Integer(metadata=MINOR)
    paid_amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    payment_option = fields.String()
    expires_at = fields.DateTime()
    items = fields.List(fields.Dict())
    payable_kind = fields.String(allow_none=True)
    payable_ref = fields.String(allow_none=True)
    gateway_status = fields.String(allow_none=True)
    submit_attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    issued_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class BillQuerySchema(PaymentPageQuerySchema):
    status = _choice(BillStatus)
    payable_kind = fields.String()
    payable_ref = fields.String()


class BillCancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class NotificationOutSchema(Schema):
    id = fields.Integer()
    gateway_txn_id = fields.String()
    bill_id = fields.Integer(allow_none=True)
    bill_reference = fields.String(allow_none=True)
    control_number = fields.String(allow_none=True)
    amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    paid_at = fields.DateTime()
    channel = fields.String(allow_none=True)
    receipt = fields.String(allow_none=True)
    status = fields.String()
    deliveries = fields.Integer()
    received_at = fields.DateTime()


class NotificationQuerySchema(PaymentPageQuerySchema):
    status = _choice(NotificationStatus)


class ReconcileInSchema(Schema):
    gateway = fields.String(required=True)
    day = fields.Date(required=True)


class ReconciliationOutSchema(Schema):
    id = fields.Integer()
    gateway = fields.String()
    day = fields.Date()
    status = fields.String()
    counts = fields.Dict()
    flagged = fields.List(fields.Dict())
    requested_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


class DisbursementOutSchema(Schema):
    id = fields.Integer()
    gateway = fields.String()
    idempotency_key = fields.String()
    payable_kind = fields.String(allow_none=True)
    payable_ref = fields.String(allow_none=True)
    recipient_phone = fields.String()
    recipient_name = fields.String(allow_none=True)
    amount = fields.Integer(metadata=MINOR)
    currency = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    provider_txn_id = fields.String(allow_none=True)
    result_code = fields.String(allow_none=True)
    last_error = fields.String(allow_none=True)
    callbacks = fields.Integer()
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class DisbursementQuerySchema(PaymentPageQuerySchema):
    status = fields.String(validate=validate.OneOf(["pending", "accepted", "succeeded", "failed"]))
    payable_kind = fields.String()
