"""The insurance module: products (versioned), policies, contributions and eligibility; employers,
their workers and work incidents (employment-injury insurance).

``init_app`` registers the API (``/t/<slug>/api/v1/insurance/...`` and ``/eligibility``) and the console
pages (``/t/<slug>/insurance/...``). Other modules call :mod:`schemehost.tenants.insurance.services`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.insurance import api, employers_api, employers_views, privacy, views
    from schemehost.tenants.insurance import meters  # noqa: F401  (billing meters)

    api.init_app(app)
    employers_api.init_app(app)  # employment injury: employers, workers, work incidents
    views.init_app(app)
    employers_views.init_app(app)
    from schemehost.tenants.insurance import claims

    claims.init_app(app)  # claims: entry, CSV batches, checks, review, valuation
    from schemehost.tenants.insurance import reports, statements

    statements.init_app(app)  # facility payment: statements of valuated claims
    reports.init_app(app)  # reports: policies, contributions, claims (JSON, CSV, console)
    privacy.init_app()  # subject access, erasure of copies, retention holds (docs/registry.md)
