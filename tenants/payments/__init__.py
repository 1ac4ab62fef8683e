"""The payments module, shared by every module that collects or pays money: gateway adapters
(control-number collections, mobile-money disbursements), bills, payment notifications and their
reconciliation. ``init_app`` registers the API, the gateway callbacks and the console pages.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from schemehost.tenants.payments import api, callbacks, privacy, tasks, views

    tasks.register_tasks()
    tasks.register_send_task()
    api.init_app(app)
    callbacks.init_app(app)
    views.init_app(app)
    privacy.init_app()  # subject access, erasure of copies, retention holds (docs/registry.md)
