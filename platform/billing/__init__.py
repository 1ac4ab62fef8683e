"""Billing in the control plane: partners bill their tenants (plans, usage, invoices, payments, dunning).

See ``docs/billing.md``. ``init_app`` registers the control API (``/api/v1/billing/...``), the operator
console pages, the tenant's own billing page and API, and the Stripe webhook.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.platform.billing.api import bp as api_bp
    from schemehost.platform.extensions import api

    import os

    from schemehost.platform.billing.webhooks import bp as webhooks_bp
    from schemehost.platform.console.security import csrf_exempt_path

    app.config.setdefault("BILLING_TODAY", None)
    for key in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
        app.config.setdefault(key, os.environ.get(f"SCHEMEHOST_{key}") or None)
    api.register_blueprint(api_bp)
    csrf_exempt_path(r"^/billing/stripe/webhook$")  # signed by Stripe, no cookie
    app.register_blueprint(webhooks_bp)
