"""The registry module: locations, health facilities, the catalogue of items and services, and
price lists (households, individuals, search, import and export come later).

``init_app`` registers the API (``/t/<slug>/api/v1/...``), the console pages
(``/t/<slug>/registry/...``) and the location-subtree expander of the identity module's location
restriction. Other modules call :mod:`schemehost.tenants.registry.services`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.identity.scoping import register_location_expander
    from schemehost.tenants.registry import api, views
    from schemehost.tenants.registry.services.locations import expand_locations

    register_location_expander(expand_locations)
    api.init_app(app)
    views.init_app(app)
    from schemehost.tenants.registry import imports_api, imports_views  # import and export (R2)

    imports_api.init_app(app)
    imports_views.init_app(app)
    from schemehost.tenants.registry import eligibility_api  # eligibility filters: API and console page (R3)
    eligibility_api.init_app(app)
    from schemehost.tenants.registry import people_api, people_views  # households, individuals (R1)
    people_api.init_app(app)
    people_views.init_app(app)
    from schemehost.tenants.registry import privacy  # consents, subject access, erasure, retention (R4)
    privacy.init_app(app)
