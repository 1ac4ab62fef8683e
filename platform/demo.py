"""``schemehost serve`` and ``schemehost demo``: run the app for development or a first look."""

from __future__ import annotations

import logging
import secrets
import signal
import sys
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from schemehost.platform.config import instance_file
from schemehost.platform.extensions import db

log = logging.getLogger("schemehost.demo")

DEMO_EMAIL = "demo@schemehost.example"
DEMO_PARTNER = "demo"


def _start_worker(app: Flask) -> None:
    """The job worker in a background thread, so cold-path tenants get built while serving."""
    from schemehost.platform.jobs import run_worker

    def work():
        try:
            run_worker(app, concurrency=1, install_signal_handlers=False)
        except Exception:  # the web app keeps serving; the operator sees why in the log
            log.exception("demo worker stopped")

    threading.Thread(target=work, name="schemehost-worker", daemon=True).start()


def _serve(app: Flask, host: str, port: int, *, worker: bool) -> None:
    if worker:
        _start_worker(app)
    # SIGTERM exits like Ctrl-C, so that exit handlers run (the embedded PostgreSQL stops)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    # not app.run(): Flask ignores it inside a CLI command (FLASK_RUN_FROM_CLI)
    from werkzeug.serving import run_simple

    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--worker/--no-worker", default=False, help="Also run the job worker in this process.")
@with_appcontext
def serve(host: str, port: int, worker: bool) -> None:
    """Serve the app for development (production: gunicorn + `schemehost worker`)."""
    _serve(current_app._get_current_object(), host, port, worker=worker)


def demo_password(instance: Path) -> str:
    """The demo operator's password, made once and kept in the instance folder."""
    return instance_file(instance, "demo-operator-password", lambda: secrets.token_urlsafe(12))


def setup_demo(app: Flask) -> list[dict]:
    """Control plane at head, a demo operator and partner, one tenant per template (idempotent)."""
    from schemehost.platform.operators.models import Operator
    from schemehost.platform.operators.services import create_operator, hash_password
    from schemehost.platform.partners.models import Partner
    from schemehost.platform.partners.services import create_partner
    from schemehost.platform.tenants.models import Tenant
    from schemehost.provisioning.create import create_tenant
    from schemehost.provisioning.migrate import upgrade_control
    from schemehost.provisioning.templates import list_templates

    upgrade_control(db.engine)
    password = demo_password(Path(app.instance_path))
    operator = db.session.execute(select(Operator).where(Operator.email == DEMO_EMAIL)).scalar_one_or_none()
    if operator is None:
        create_operator(db.session, DEMO_EMAIL, password=password)
    else:
        operator.password_hash = hash_password(password)
    if not db.session.execute(select(Partner.id).where(Partner.slug == DEMO_PARTNER)).first():
        create_partner(db.session, DEMO_PARTNER, name="Demo hosting partner")
    db.session.commit()
    created = []
    for tpl in list_templates():
        slug = f"demo-{tpl.name}"
        tenant = db.session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        if tenant is None:
            result = create_tenant(db.session, slug, name=f"Demo: {tpl.title}", partner=DEMO_PARTNER,
                                   template=tpl.name, demo_data=True, actor="demo")
            db.session.commit()
            result.after_commit(wait=True)
            tenant = result.tenant
        if tenant.status == "active":
            _demo_tenant_admin(tenant, password)
        created.append({"slug": tenant.slug, "status": tenant.status, "template": tpl.name})
    return created


def _demo_tenant_admin(tenant, password: str) -> None:
    """The demo scheme's administrator: the demo e-mail and password, role tenant_admin (idempotent)."""
    from schemehost.platform.passwords import hash_password
    from schemehost.platform.tenancy import open_tenant_session, server_engine
    from schemehost.tenants.core.models import User
    from schemehost.tenants.identity.models import Role, UserRole

    tsession = open_tenant_session(server_engine(tenant.server.dsn), tenant.schema_name, tenant.role_name)
    try:
        user = tsession.execute(select(User).where(User.email == DEMO_EMAIL)).scalar_one_or_none()
        if user is None:
            user = User(email=DEMO_EMAIL, name="Demo administrator", is_active=True)
            tsession.add(user)
        user.password_hash = hash_password(password)
        tsession.flush()
        admin = tsession.execute(select(Role.id).where(Role.code == "tenant_admin")).scalar_one()
        if tsession.get(UserRole, (user.id, admin)) is None:
            tsession.add(UserRole(user_id=user.id, role_id=admin))
        tsession.commit()
    finally:
        tsession.close()


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-serve", is_flag=True, help="Set everything up, print the URLs, and exit.")
@with_appcontext
def demo(host: str, port: int, no_serve: bool) -> None:
    """One command to a running installation with demo schemes (safe to re-run)."""
    app = current_app._get_current_object()
    tenants = setup_demo(app)
    base = f"http://{host}:{port}"
    click.echo("")
    click.echo("schemehost demo is ready.")
    click.echo(f"  Operator console:  {base}/console/")
    click.echo(f"  Sign in as:        {DEMO_EMAIL}")
    click.echo(f"  Password:          {demo_password(Path(app.instance_path))}")
    click.echo(f"  Control API:       {base}/api/v1/openapi.json")
    click.echo(f"  Health:            {base}/healthz  {base}/readyz")
    click.echo("  Demo schemes (operator's page; the scheme's own console, where the same e-mail and")
    click.echo("  password sign in as its administrator; its API, with an API client's token):")
    for t in tenants:
        click.echo(f"    {t['slug']:<28} {t['status']:<10} {base}/console/tenants/{t['slug']}")
        click.echo(f"    {'':<28} {'':<10} {base}/t/{t['slug']}/")
        click.echo(f"    {'':<28} {'':<10} {base}/t/{t['slug']}/api/v1/settings")
    click.echo("  Control API token: schemehost operators token " + DEMO_EMAIL)
    click.echo("  Tenant API client: schemehost clients create SLUG NAME --scopes settings.manage --json, "
               f"then POST {base}/t/SLUG/oauth/token (grant_type=client_credentials)")
    click.echo("")
    if not no_serve:
        _serve(app, host, port, worker=True)
