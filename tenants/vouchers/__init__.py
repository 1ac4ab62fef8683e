"""The vouchers module: programmes (services, tariffs, order constraints, eligible facilities,
eligibility rule, budget), issuance with check-digit codes and printable QR cards, exactly-once
redemption at facilities, cancellation, reissue and expiry.

``init_app`` registers the API (``/t/<slug>/api/v1/vouchers/...``), the console pages
(``/t/<slug>/vouchers/...``) and the module's jobs. Other modules call
:mod:`schemehost.tenants.vouchers.services`.
"""

from __future__ import annotations

from flask import Flask

TASKS = "schemehost.tenants.vouchers.tasks"


def init_app(app: Flask) -> None:
    from schemehost.platform.jobs import JOB_MODULES
    from schemehost.tenants.vouchers import api, privacy, tasks, views
    from schemehost.tenants.vouchers import meters  # noqa: F401  (billing meters)

    if TASKS not in JOB_MODULES:
        JOB_MODULES.append(TASKS)
    tasks.register_expiry_task()  # nightly expiry in every tenant with the module
    api.init_app(app)
    views.init_app(app)
    privacy.init_app()  # a person's vouchers in subject-access exports; live holders kept from retention
