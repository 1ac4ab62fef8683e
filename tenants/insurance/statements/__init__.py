"""Facility payment: statements batching a facility's valuated claims of a period, approved by a
second person and marked paid (decision 0325); printable, exportable as CSV and XLSX."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.insurance.statements import api, views

    api.init_app(app)
    views.init_app(app)
