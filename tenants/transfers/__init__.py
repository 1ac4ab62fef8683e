"""The cash-transfers module: programmes with previewable eligibility, enrolment, payment points,
payment cycles and set-wise payrolls with maker-checker, paid offline or through mobile money.
``init_app`` registers the API and the payout hook of payroll lines."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.payments.disbursements import register_payout
    from schemehost.tenants.transfers import api, privacy, services, views
    from schemehost.tenants.transfers import meters  # noqa: F401  (billing meters)

    register_payout(services.PAYOUT_KIND, services.line_paid)
    api.init_app(app)
    views.init_app(app)
    privacy.init_app()  # subject access, erasure of copies, retention holds (docs/registry.md)
