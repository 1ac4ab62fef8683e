"""Identity, access and audit inside a tenant: users, roles, OAuth clients, SSO, audit log.

``init_app`` wires every part; each part is a module with its own ``init_app``.
"""

from __future__ import annotations

from flask import Flask

#: The parts, in the order their request hooks must run (principal resolution first).
PARTS = ("principal", "sessions", "users", "mfa_views", "clients", "roles", "audit_views", "support", "sso")


def init_app(app: Flask) -> None:
    from importlib import import_module

    for part in PARTS:
        import_module(f"{__name__}.{part}").init_app(app)
