"""Blueprints under ``/t/<slug>``: views never take ``slug`` (routing has resolved the tenant into
``g.tenant``), and ``url_for`` fills it in from the current tenant."""

from __future__ import annotations

from flask import Blueprint, g


def bind_to_tenant(bp: Blueprint) -> Blueprint:
    """Drop ``slug`` from ``bp``'s view arguments and default it in ``url_for`` to the request's tenant."""

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
