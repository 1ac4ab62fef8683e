"""``POST /billing/gateways/<partner>/callbacks``: the partner's control-number gateway (signed XML, checked
by the payments adapter; decision 0506). ``POST /billing/stripe/webhook``: Stripe's signed events (no operator token, no cookie, no CSRF).

The signature is checked on the raw request bytes with ``stripe.Webhook.construct_event`` (tolerance
300 s): a forged or stale event answers 400 problem+json and changes nothing. A verified event is applied
once (``stripe_connect.handle_event``) and answered 200 quickly.
"""

from __future__ import annotations

import logging

import stripe
from flask import Blueprint, current_app, jsonify, request
from flask_babel import gettext as _

from schemehost.platform.billing import services as billing
from schemehost.platform.billing import stripe_connect
from schemehost.platform.errors import AppError, Unavailable
from schemehost.platform.extensions import db

log = logging.getLogger("schemehost.billing")

bp = Blueprint("billing_webhooks", __name__)
TOLERANCE_S = 300


@bp.post("/billing/stripe/webhook")
def stripe_webhook():
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise Unavailable(_("Stripe webhooks are not configured on this installation."))
    payload = request.get_data(cache=False)
    try:
        event = stripe.Webhook.construct_event(payload, request.headers.get("Stripe-Signature"), secret,
                                               tolerance=TOLERANCE_S)
    except (ValueError, stripe.SignatureVerificationError):
        log.info("stripe webhook refused: bad signature, stale timestamp or bad payload")
        raise AppError(_("The event's signature is not valid or its timestamp is too old."),
                       errors={"Stripe-Signature": [_("not valid")]}) from None
    outcome = stripe_connect.handle_event(db.session, event, today=billing.billing_today())
    log.info("stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return jsonify({"received": True, "outcome": outcome})


@bp.post("/billing/gateways/<partner>/callbacks")
def gateway_callback(partner: str):
    """Verify, store once and apply a callback of the partner's control-number gateway; answer its signed
    acknowledgement. Under ``/billing/``, not ``/t/<slug>/``: a suspended or read-only tenant's payment
    still arrives and resumes it."""
    from flask import Response

    from schemehost.platform.billing import control_numbers

    answer = control_numbers.handle_callback(db.session, partner, request.get_data(cache=False),
                                             dict(request.headers.items()), today=billing.billing_today())
    return Response(answer.body, status=answer.status, content_type=answer.content_type)
