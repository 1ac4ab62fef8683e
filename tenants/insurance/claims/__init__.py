"""Insurance claims: entry (console, API, CSV batch), automatic checks, review and valuation.

``init_app`` registers the API (``/t/<slug>/api/v1/claims...``) and the console pages
(``/t/<slug>/claims/...``).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.insurance.claims import api, privacy, views

    api.init_app(app)
    views.init_app(app)
    privacy.init_app()  # subject access, erasure of the reviewer's notes, retention holds (docs/registry.md)
