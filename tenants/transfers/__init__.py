"""The cash-transfers module: programmes with previewable eligibility, enrolment, payment points,
payment cycles and set-wise payrolls with maker-checker, paid offline or through mobile money, and
reports. ``init_app`` registers the API, the console pages, the bulk jobs and the payout hook of payroll
lines."""

from __future__ import annotations

from flask import Flask

TASKS = "schemehost.tenants.transfers.tasks"


def init_app(app: Flask) -> None:
    from schemehost.platform.jobs import JOB_MODULES
    from schemehost.tenants.payments.disbursements import register_payout
    from schemehost.tenants.transfers import api, privacy, services, views
    from schemehost.tenants.transfers import meters  # noqa: F401  (billing meters)

    if TASKS not in JOB_MODULES:
        JOB_MODULES.append(TASKS)  # bulk enrolment and bulk status changes (decision 0407)
    register_payout(services.PAYOUT_KIND, services.line_paid)
    api.init_app(app)
    views.init_app(app)
    privacy.init_app()  # subject access, erasure of copies, retention holds (docs/registry.md)
