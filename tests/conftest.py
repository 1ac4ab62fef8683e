"""Session-wide PostgreSQL and app; one database per pytest-xdist worker.

The server is ``TEST_DATABASE_URL`` when set, else the machine's PostgreSQL at
127.0.0.1:5432 when it answers, else an embedded PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import text

# argon2 at its minimal cost for the suite's thousands of sign-ins (decision 0095); set before the
# app's modules load, and inherited by the CLI and server processes tests start
os.environ.setdefault("SCHEMEHOST_PASSWORD_HASH_COST", "minimal")

from schemehost.platform.app import create_app  # noqa: E402
from schemehost.platform.db import libpq_url, normalize_url  # noqa: E402
from schemehost.platform.extensions import db as sadb  # noqa: E402


def _server_url(tmp_root) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return libpq_url(normalize_url(url))
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(local, connect_timeout=2).close()
        return local
    except psycopg.OperationalError:
        from schemehost.platform.database import embedded_url

        return libpq_url(embedded_url(tmp_root)).replace("/schemehost", "/postgres")


def _with_db(url: str, name: str) -> str:
    return re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", url.split("://", 1)[1], count=1).join(
        [url.split("://", 1)[0] + "://", ""]
    )


def _drop_database(admin: psycopg.Connection, url: str, name: str) -> None:
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not exists:
        return
    install = None
    try:
        with psycopg.connect(_with_db(url, name)) as c:
            install = c.execute("SELECT install_id FROM control.installation").fetchone()
    except psycopg.Error:
        pass
    # IF EXISTS: the previous run's detached drop (see fresh_database) may be finishing it
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if install:
        for (role,) in admin.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"sh\\_{install[0]}\\_%",)
        ).fetchall():
            try:
                admin.execute(f'DROP ROLE IF EXISTS "{role}"')
            except psycopg.Error:
                pass  # dropped at the same moment by that detached drop


def _drop_detached(server: str, name: str) -> None:
    """Drop database ``name`` and its tenant roles in a process of its own that outlives the test
    session: a worker's database holds hundreds of tenant schemas, and unlinking their files takes
    tens of seconds that nobody needs to wait for. The next run drops a leftover anyway."""
    import subprocess

    subprocess.Popen([sys.executable, __file__, "--drop-database", server, name], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextmanager
def fresh_database(server: str, name: str, *, detach_drop: bool = False):
    """Create database ``name`` on ``server`` (dropping a leftover first); drop it and its
    tenant roles afterwards (``detach_drop``: in a detached process, for the session's end).
    Yields its SQLAlchemy URL."""
    with psycopg.connect(server, autocommit=True) as admin:
        _drop_database(admin, server, name)
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield normalize_url(_with_db(server, name))
    finally:
        from schemehost.platform.tenancy import dispose_engines

        dispose_engines()
        if detach_drop:
            _drop_detached(server, name)
        else:
            with psycopg.connect(server, autocommit=True) as admin:
                _drop_database(admin, server, name)


@contextmanager
def built_app(database_url: str, instance: str):
    """An app on ``database_url`` with the control plane at head; its pool disposed afterwards."""
    from schemehost.provisioning.migrate import upgrade_control

    app = create_app({"DATABASE_URL": database_url, "SCHEMEHOST_INSTANCE": instance,
                      "SECRET_KEY": "test-" + uuid.uuid4().hex})
    with app.app_context():
        upgrade_control(sadb.engine)
    yield app
    with app.app_context():
        sadb.session.remove()
        sadb.engine.dispose()


@pytest.fixture(scope="session")
def database_factory(server_url):
    """``fresh_database`` on the test server, for modules that need a database of their own."""
    return lambda name: fresh_database(server_url, name)


@pytest.fixture(scope="session")
def app_factory():
    """``built_app``, for modules that need an app on a database of their own."""
    return built_app


@pytest.fixture(scope="session")
def server_url(tmp_path_factory) -> str:
    return _server_url(tmp_path_factory.mktemp("pg"))


@pytest.fixture(scope="session")
def db_name(worker_id) -> str:
    # SCHEMEHOST_TEST_DB_TAG keeps concurrent runs on one server apart
    tag = re.sub(r"[^a-z0-9_]", "", os.environ.get("SCHEMEHOST_TEST_DB_TAG", "").lower())
    return f"schemehost_test_{tag + '_' if tag else ''}{worker_id}"


@pytest.fixture(scope="session")
def database_url(server_url, db_name) -> str:
    """A fresh database for this worker, dropped (with its tenant roles) after the session."""
    with fresh_database(server_url, db_name, detach_drop=True) as url:
        yield url


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    with built_app(database_url, str(tmp_path_factory.mktemp("instance"))) as app:
        yield app


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield
        sadb.session.rollback()
        sadb.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    from schemehost.platform.cli import main

    r = app.test_cli_runner()

    def invoke(*args, **kw):
        return r.invoke(main, list(args), **kw)

    return invoke


@pytest.fixture
def unique():
    """A short unique suffix for slugs, so tests never collide on names."""
    return lambda prefix="t": f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pg(database_url):
    """A raw autocommit psycopg connection to the test database, for checks from outside the app."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        yield conn


@pytest.fixture
def partner(app, runner, unique):
    slug = unique("p")
    result = runner("partners", "create", slug, "--name", f"Partner {slug}")
    assert result.exit_code == 0, result.output
    return slug


def pytest_configure(config):
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")


@pytest.fixture(scope="session")
def worker_id(request):
    # provided by pytest-xdist; "master" without it
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


__all__ = ["text"]


@pytest.fixture
def bare_tenant(app, unique):
    """Factory of bare control-plane tenant rows (status ``failed``, no schema): enough for
    control-plane features (jobs, secrets) to point at. Returns ``(id, slug)``."""
    from schemehost.platform.partners.models import Partner
    from schemehost.platform.tenants.models import Tenant
    from schemehost.platform.tenants.services import default_server

    def make(prefix="bt"):
        with app.app_context():
            partner = Partner(slug=unique(prefix + "p"), name="Bare partner")
            sadb.session.add(partner)
            sadb.session.flush()
            slug = unique(prefix)
            tenant = Tenant(slug=slug, name="Bare tenant", partner_id=partner.id, template="blank",
                            template_version=1, status="failed", server_id=default_server(sadb.session).id,
                            schema_name=f"tenant_{slug}")
            sadb.session.add(tenant)
            sadb.session.commit()
            return tenant.id, slug

    return make


@pytest.fixture
def operator_token(app, unique):
    """A platform admin and a bearer token for /api/v1."""
    from schemehost.platform.operators.services import create_operator, issue_token

    with app.app_context():
        op = create_operator(sadb.session, f"{unique('op')}@example.org", password="correct horse battery")
        token = issue_token(sadb.session, op, "tests")
        sadb.session.commit()
    return token


@pytest.fixture
def api(client, operator_token):
    """The test client with an operator's bearer token on every request."""

    class _Api:
        def __getattr__(self, method):
            def call(path, **kw):
                headers = {"Authorization": f"Bearer {operator_token}", **kw.pop("headers", {})}
                return getattr(client, method)(path, headers=headers, **kw)

            return call

    return _Api()


class TenantHandle:
    """A real, active tenant built for a test: its control row's fields and a way into its schema."""

    def __init__(self, app, id, slug, schema, role):
        self.app, self.id, self.slug, self.schema, self.role = app, id, slug, schema, role

    @contextlib.contextmanager
    def session(self):
        """A tenant session (its schema, its role) inside an app context; commits on success."""
        from schemehost.platform.tenancy import open_tenant_session

        with self.app.app_context():
            s = open_tenant_session(sadb.engine, self.schema, self.role)
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise
            finally:
                s.close()


def create_test_tenant(app, template="blank", prefix="t") -> TenantHandle:
    """A real active tenant (schema at head, role, template seed) of a new partner."""
    from schemehost.platform.partners.models import Partner
    from schemehost.provisioning.create import create_tenant

    with app.app_context():
        partner = Partner(slug=f"{prefix}p{uuid.uuid4().hex[:8]}", name="Test partner")
        sadb.session.add(partner)
        sadb.session.commit()
        slug = f"{prefix}{uuid.uuid4().hex[:8]}"
        res = create_tenant(sadb.session, slug, name=f"Scheme {slug}", partner=partner.slug,
                            template=template, cold=True)
        sadb.session.commit()
        res.after_commit(wait=True)
        sadb.session.refresh(res.tenant)
        t = res.tenant
        assert t.status == "active", t.status
        return TenantHandle(app, t.id, t.slug, t.schema_name, t.role_name)


@pytest.fixture
def make_tenant(app):
    """Factory of real active tenants (schema at head, role, template seed): ``make_tenant(template="blank")``."""
    return lambda template="blank", prefix="t": create_test_tenant(app, template, prefix)


@pytest.fixture(scope="module")
def make_module_tenant(app):
    """``make_tenant`` for module-scoped fixtures (a tenant shared by the read-only tests of a module)."""
    return lambda template="blank", prefix="t": create_test_tenant(app, template, prefix)


@pytest.fixture
def tenant_user(unique):
    """Factory of active tenant users with an argon2 password and roles (codes of seeded roles):
    ``tenant_user(tenant, email=None, password="...", roles=("tenant_admin",))`` → ``(user id, email, password)``."""
    from sqlalchemy import select

    from schemehost.platform.passwords import hash_password
    from schemehost.tenants.core.models import User
    from schemehost.tenants.identity.models import Role, UserRole

    def make(tenant, email=None, password="correct horse battery staple", roles=("tenant_admin",),
             name="Test User"):
        email = (email or f"{unique('u')}@example.org").lower()
        with tenant.session() as s:
            user = User(email=email, name=name, password_hash=hash_password(password),
                        is_active=True, session_version=1)
            s.add(user)
            s.flush()
            for code in roles:
                role_id = s.execute(select(Role.id).where(Role.code == code)).scalar_one()
                s.add(UserRole(user_id=user.id, role_id=role_id))
            s.flush()
            user_id = user.id
        return user_id, email, password

    return make


class _Mailbox:
    """Messages received by the test SMTP server (``email.message.EmailMessage``), oldest first."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        import email
        import email.policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted"

    def to(self, address: str) -> list:
        """The messages sent to ``address``."""
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    @staticmethod
    def text(message) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def smtp_server(app):
    """A local SMTP server (aiosmtpd) on a free port, collecting what the app sends during the test:
    ``smtp_server.messages``, ``smtp_server.to(address)``, ``smtp_server.text(message)``. The app's
    ``SMTP_HOST``/``SMTP_PORT`` point at it for the test and are restored afterwards."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    keys = ("SMTP_HOST", "SMTP_PORT", "SMTP_USER", "SMTP_STARTTLS")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_USER=None, SMTP_STARTTLS=False)
    try:
        yield box
    finally:
        app.config.update(saved)
        controller.stop()


_token_addresses = iter(range(1, 1 << 24))


@pytest.fixture
def client_token(app):
    """Factory of API client access tokens: ``client_token(tenant, scopes=("settings.manage",)) -> str``.

    ``tenant`` is a ``make_tenant`` handle or a slug (of an active, read-only or suspended tenant). A
    new client is created through the services, and its token comes from the real token endpoint
    (each call from its own client address, so that the token rate limit never trips tests)."""
    from schemehost.platform.tenancy import open_tenant_session, server_engine
    from schemehost.platform.tenants.routing import load_tenant_ref
    from schemehost.tenants.identity.clients import create_client

    def make(tenant, scopes=("settings.manage",)) -> str:
        slug = tenant if isinstance(tenant, str) else tenant.slug
        with app.app_context():
            ref = load_tenant_ref(slug)
            assert ref is not None and ref.role_name, f"no tenant {slug}"
            sadb.session.rollback()
            s = open_tenant_session(server_engine(ref.server_dsn), ref.schema_name, ref.role_name)
            try:
                client, secret = create_client(s, "test client", list(scopes), created_by="tests",
                                               actor=("system", "tests", "tests"))
                client_id = client.client_id
                s.commit()
            finally:
                s.close()
        n = next(_token_addresses)
        resp = app.test_client().post(
            f"/t/{slug}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret),
            environ_base={"REMOTE_ADDR": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.json["access_token"]

    return make


@pytest.fixture
def tenant_api(client, client_token):
    """The test client on tenant APIs, each request carrying an access token of an API client of the
    tenant in its path (scopes ``settings.manage``; one client per tenant). Pass ``slug=`` for paths
    without ``/t/<slug>`` (host routing); ``tenant_api.token(slug)`` fetches a token ahead, e.g. before
    the tenant leaves the statuses whose token endpoint answers."""

    class _TenantApi:
        def __init__(self):
            self.tokens: dict[str, str] = {}

        def token(self, slug: str) -> str:
            if slug not in self.tokens:
                self.tokens[slug] = client_token(slug)
            return self.tokens[slug]

        def __getattr__(self, method):
            def call(path, slug=None, **kw):
                slug = slug or path.split("/")[2]
                headers = {"Authorization": f"Bearer {self.token(slug)}", **kw.pop("headers", {})}
                return getattr(client, method)(path, headers=headers, **kw)

            return call

    return _TenantApi()


# ---- browser tests: Debian's Chromium driven by Playwright, the app served on a free port ---------
#
# A browser test module is marked ``pytestmark = pytest.mark.browser`` and takes ``page``: a page of a
# fresh context on the live server (``page.goto("/t/<slug>/login")`` works), in British English,
# downloads accepted, 20 s to wait for anything, a desktop's window. ``pytest.mark.browser(viewport="phone")``
# gives a phone's window instead (any other keyword goes to ``new_context`` as it is). ``context`` is the
# page's context (its cookies, more pages); ``new_context()`` makes more, e.g. for a second person.

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
BROWSER_TIMEOUT_MS = 20_000


def pytest_collection_modifyitems(config, items):
    """Tests marked ``browser`` are skipped, with the reason, where Debian's chromium is missing."""
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"Debian's chromium is not installed at {CHROMIUM} (scripts/test installs it)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def base_url(app):
    """The real app served on a free localhost port in a thread (one per test module)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))
    from _console_support import live_server

    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (never a downloaded browser), headless, one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_context(request, browser, base_url):
    """Factory of browser contexts on the live server, closed after the test: ``new_context(**options)``,
    the options of Playwright's ``new_context`` over those of the test's ``browser`` marker and the
    defaults above (``viewport`` may name one of ``VIEWPORTS``)."""
    marker = request.node.get_closest_marker("browser")
    marked = marker.kwargs if marker else {}
    contexts = []

    def make(**options):
        options = {"locale": "en-GB", "accept_downloads": True, "viewport": "desktop", **marked, **options}
        options["viewport"] = VIEWPORTS.get(options["viewport"], options["viewport"])
        context = browser.new_context(base_url=base_url, **options)
        context.set_default_timeout(BROWSER_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context):
    """A browser context on the live server (see ``new_context``)."""
    return new_context()


@pytest.fixture
def page(context):
    """A page of ``context``: paths are on the live server."""
    return context.new_page()


if __name__ == "__main__" and sys.argv[1:2] == ["--drop-database"]:
    with psycopg.connect(sys.argv[2], autocommit=True) as _admin:
        _drop_database(_admin, sys.argv[2], sys.argv[3])
