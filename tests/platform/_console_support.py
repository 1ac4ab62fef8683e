"""Helpers shared by the console and operator tests (imported, not a conftest)."""

from __future__ import annotations

import re
import threading
import uuid
from contextlib import contextmanager

from werkzeug.serving import make_server

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'type="hidden" name="csrf_token" value="([^"]+)"')


def make_operator(app, *, role: str = "platform_admin", password: str = PASSWORD, partner: str | None = None) -> str:
    """Create an operator with a unique e-mail through the service; returns the e-mail."""
    from schemehost.platform.extensions import db
    from schemehost.platform.operators.services import create_operator

    email = f"op-{uuid.uuid4().hex[:10]}@example.org"
    with app.app_context():
        create_operator(db.session, email, password=password, role=role, partner=partner)
        db.session.commit()
    return email


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def sign_in(client, email: str, password: str = PASSWORD, *, next_: str = ""):
    page = client.get("/console/sign-in")
    return client.post("/console/sign-in", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password,
        "next": next_,
    })


def form_post(client, path: str, data: dict, **kw):
    """GET the form at ``path`` for its CSRF token, then POST ``data`` to it."""
    page = client.get(path, **kw)
    assert page.status_code == 200, page.status_code
    return client.post(path, data={"csrf_token": csrf_from(page.get_data(as_text=True)), **data}, **kw)


@contextmanager
def live_server(app):
    """The real app served on a free localhost port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
