"""The tenant console: layout, navigation and home page at ``/t/<slug>/``.

Each part adds its pages in its own blueprint (url_prefix ``/t/<slug>/...``,
using :func:`tenant_blueprint`) with templates under
``platform/templates/tenant/`` extending ``tenant/base.html``, and puts its
entry in the menu with :func:`add_nav`; the menu shows an entry only to
principals holding its permission, and only when the entry's module is enabled.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, g, render_template

from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal
from schemehost.tenants.modules import endpoint_enabled


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: object  # lazily translated
    permission: str | None = None
    order: int = 50


_nav: list[NavItem] = []


def add_nav(endpoint: str, label, *, permission: str | None = None, order: int = 50) -> None:
    if all(item.endpoint != endpoint for item in _nav):
        _nav.append(NavItem(endpoint, label, permission, order))
        _nav.sort(key=lambda item: item.order)


def tenant_blueprint(name: str, import_name: str, url_prefix: str = "", *, module: str | None = None) -> Blueprint:
    """A blueprint under ``/t/<slug><url_prefix>`` whose views need not take ``slug``:
    it is dropped from view arguments and filled in by ``url_for`` from the current tenant. With
    ``module``, its pages answer 404 and its menu entries are hidden where the module is not enabled."""
    return bind_to_tenant(Blueprint(name, import_name, url_prefix=f"/t/<slug>{url_prefix}"), module=module)


bp = tenant_blueprint("tenant_console", __name__)


@bp.get("/")
def home():
    return render_template("tenant/home.html")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _tenant_nav():
        if g.get("tenant") is None:
            return {}
        principal = current_principal()
        items = [i for i in _nav if principal is not None and (i.permission is None or principal.can(i.permission))
                 and endpoint_enabled(i.endpoint)]
        return {"tenant_nav": items, "principal": principal}
