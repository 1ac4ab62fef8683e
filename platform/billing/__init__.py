"""Billing in the control plane: partners bill their tenants (plans, usage, invoices, payments, dunning).

See ``docs/billing.md``. ``init_app`` registers the control API (``/api/v1/billing/...``), the operator
console pages, the tenant's own billing page and API, and the Stripe webhook.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.platform.billing.api import bp as api_bp
    from schemehost.platform.extensions import api

    app.config.setdefault("BILLING_TODAY", None)
    api.register_blueprint(api_bp)
