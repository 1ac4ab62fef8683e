"""Blueprints under ``/t/<slug>``: views never take ``slug`` (routing has resolved the tenant into
``g.tenant``), and ``url_for`` fills it in from the current tenant."""

from __future__ import annotations

from flask import Blueprint, g


def bind_to_tenant(bp: Blueprint, module: str | None = None) -> Blueprint:
    """Drop ``slug`` from ``bp``'s view arguments and default it in ``url_for`` to the request's tenant.
    With ``module``, ``bp``'s routes answer 404 and its menu entries are hidden in tenants that have not
    enabled that module (``schemehost.tenants.modules``)."""
    if module is not None:
        from schemehost.tenants.modules import declare

        declare(bp.name, module)

    @bp.url_value_preprocessor
    def _drop_slug(endpoint, values):
        if values:
            values.pop("slug", None)

    @bp.url_defaults
    def _add_slug(endpoint, values):
        tenant = g.get("tenant")
        if tenant is not None:
            values.setdefault("slug", tenant.slug)

    return bp
