"""The insurance module: products (versioned), policies, contributions and eligibility.

``init_app`` registers the API (``/t/<slug>/api/v1/insurance/...`` and ``/eligibility``) and the console
pages (``/t/<slug>/insurance/...``). Other modules call :mod:`schemehost.tenants.insurance.services`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.insurance import api, privacy, views
    from schemehost.tenants.insurance import meters  # noqa: F401  (billing meters)

    api.init_app(app)
    views.init_app(app)
    privacy.init_app()  # subject access, erasure of copies, retention holds (docs/registry.md)
