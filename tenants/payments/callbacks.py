"""Gateway callbacks: ``POST /t/<slug>/payments/callbacks/<gateway code>``.

No user and no token: the gateway's signature is the credential, checked by the services. The path
stays open while the scheme is suspended or read-only (routing's ``ALWAYS_OPEN``), so a payment that
would resume a scheme is still received, and it is exempt from the console's CSRF check (it never
uses a session cookie).
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request, url_for

from schemehost.platform.console.security import csrf_exempt_path
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.payments import services

bp = bind_to_tenant(Blueprint("payment_callbacks", __name__, url_prefix="/t/<slug>/payments/callbacks"),
                    module="payments")


@bp.post("/<code>")
def callback(code: str):
    """Verify, store and apply one callback; answer the gateway's signed acknowledgement."""
    answer = services.handle_callback(tenant_session(), code, request.get_data(cache=False),
                                      {k: v for k, v in request.headers.items()})
    return Response(answer.body, status=answer.status, content_type=answer.content_type)


def callback_url(code: str) -> str:
    """The address to give the gateway for its callbacks."""
    return url_for("payment_callbacks.callback", code=code, _external=True)


def init_app(app: Flask) -> None:
    csrf_exempt_path(r"^/t/[^/]+/payments/callbacks/")
    app.register_blueprint(bp)
