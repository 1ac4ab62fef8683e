"""Billing in the control plane: partners bill their tenants (plans, usage, invoices, payments, dunning).

See ``docs/billing.md``. ``init_app`` registers the control API (``/api/v1/billing/...``), the operator
console pages (``/console/billing``), the tenant's own billing page and API (``/t/<slug>/billing``,
``/t/<slug>/api/v1/billing``), and the Stripe webhook (``/billing/stripe/webhook``).
"""

from __future__ import annotations

import os
from decimal import Decimal

from flask import Flask
from flask_babel import lazy_gettext as _l

INVOICE_STATUS_LABELS = {"draft": _l("draft"), "issued": _l("issued"), "paid": _l("paid"), "void": _l("void"),
                         "uncollectible": _l("uncollectible")}
PERIOD_LABELS = {"monthly": _l("monthly"), "quarterly": _l("quarterly"), "yearly": _l("yearly")}
METHOD_LABELS = {"bank": _l("bank transfer"), "cash": _l("cash"), "mobile_money": _l("mobile money"),
                 "card": _l("card"), "control_number": _l("control number")}


def _template_helpers() -> dict:
    from schemehost.platform.billing.meters import METERS
    from schemehost.platform.money import exponent, format_money

    def money_exact(unit_amount, currency):
        """A unit price (minor units, maybe fractional) in major units, all its digits shown."""
        value = Decimal(str(unit_amount)).scaleb(-exponent(currency))
        return f"{value.normalize():f} {currency}"

    def meter_label(code):
        meter = METERS.get(code)
        return meter.label if meter else code

    return {"money": format_money, "money_exact": money_exact, "meter_label": meter_label,
            "invoice_status_labels": INVOICE_STATUS_LABELS, "period_labels": PERIOD_LABELS,
            "method_labels": METHOD_LABELS}


_daily_task = None


def _register_daily_task() -> None:
    """Every day at 01:30 UTC the job worker runs billing: metering, invoices of ended periods, dunning."""
    global _daily_task
    from schemehost.platform.jobs.app import QUEUE, periodic_tasks

    if _daily_task is not None:
        return

    @periodic_tasks.periodic(cron="30 1 * * *", periodic_id="billing-daily")
    @periodic_tasks.task(name="billing_daily", queue=QUEUE, lock="billing-daily", queueing_lock="billing-daily",
                         pass_context=True)
    def billing_daily(context, timestamp: int) -> int:
        from schemehost.platform.billing.services import billing_today, run_billing
        from schemehost.platform.extensions import db

        with context.additional_context["flask_app"].app_context():
            result = run_billing(db.session, today=billing_today())
            db.session.commit()
            return result["invoices"]

    _daily_task = billing_daily


def init_app(app: Flask) -> None:
    from schemehost.platform.billing import tenant_views
    from schemehost.platform.billing.api import bp as api_bp
    from schemehost.platform.billing.views import bp as console_bp
    from schemehost.platform.billing.webhooks import bp as webhooks_bp
    from schemehost.platform.console.security import csrf_exempt_path
    from schemehost.platform.extensions import api
    from schemehost.tenants.console import add_nav

    app.config.setdefault("BILLING_TODAY", None)
    from schemehost.platform.billing import request_meter

    request_meter.start(app)  # requests per tenant for the cost-of-service report
    _register_daily_task()
    for key in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
        app.config.setdefault(key, os.environ.get(f"SCHEMEHOST_{key}") or None)
    api.register_blueprint(api_bp)
    api.register_blueprint(tenant_views.api_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(tenant_views.bp)
    csrf_exempt_path(r"^/billing/stripe/webhook$")  # signed by Stripe, no cookie
    csrf_exempt_path(r"^/billing/gateways/[^/]+/callbacks$")  # signed by the partner's gateway, no cookie
    app.register_blueprint(webhooks_bp)
    add_nav("tenant_billing.index", _l("Plan and invoices"), permission="billing.manage", order=90)
    app.context_processor(_template_helpers)
