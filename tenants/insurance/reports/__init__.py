"""Insurance reports: policies by status and area, contributions per month, claims by status, amounts
claimed against valuated per month and per facility — as JSON, CSV and console pages with bars
(decision 0327)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.insurance.reports import api, views

    api.init_app(app)
    views.init_app(app)
