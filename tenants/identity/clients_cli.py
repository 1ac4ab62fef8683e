"""``schemehost clients``: an operator scripts a tenant's API clients (create, list, rotate, revoke)."""

from __future__ import annotations

from contextlib import contextmanager

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_babel import gettext as _

from schemehost.platform.errors import Conflict
from schemehost.platform.extensions import db

#: audit actor of these commands (an operator at the shell; the CLI does not know who)
CLI_ACTOR = ("operator", "cli", "schemehost CLI")
OPEN_STATUSES = ("active", "read_only", "suspended")


@contextmanager
def tenant_session_for(slug: str):
    """A session in the tenant's schema under its role; commits when the block succeeds."""
    from schemehost.platform.tenancy import open_tenant_session, server_engine
    from schemehost.provisioning.lifecycle import get_tenant

    tenant = get_tenant(db.session, slug)
    if tenant.status not in OPEN_STATUSES or tenant.role_name is None:
        message = _("Tenant %(slug)s is %(status)s; API clients are managed in active, read-only or "
                    "suspended tenants.", slug=slug, status=tenant.status)
        raise Conflict(message, errors={"slug": [message]})
    engine = server_engine(tenant.server.dsn if tenant.server is not None else None)
    schema, role = tenant.schema_name, tenant.role_name
    db.session.rollback()  # the control transaction is not needed while the tenant's runs
    session = open_tenant_session(engine, schema, role,
                                  statement_timeout_ms=current_app.config["TENANT_STATEMENT_TIMEOUT_MS"])
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _client_dict(client) -> dict:
    return {"client_id": client.client_id, "name": client.name, "scopes": list(client.scopes),
            "created_by": client.created_by, "created_at": client.created_at, "rotated_at": client.rotated_at,
            "revoked_at": client.revoked_at, "last_used_at": client.last_used_at,
            "active": client.revoked_at is None}


def _echo_json(data) -> None:
    from schemehost.platform.cli import echo_json

    echo_json(data)


@click.group()
def clients() -> None:
    """API clients of a tenant (OAuth 2 client credentials)."""


@clients.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--scopes", required=True,
              help='Permission names separated by spaces, e.g. "registry.read registry.write".')
@click.option("--json", "as_json", is_flag=True, help="Print client_id and client_secret as JSON.")
@with_appcontext
def create(slug, name, scopes, as_json) -> None:
    """Create API client NAME in tenant SLUG; its secret is printed this once."""
    from schemehost.tenants.identity.clients import create_client

    with tenant_session_for(slug) as session:
        client, secret = create_client(session, name, scopes, created_by="schemehost CLI", actor=CLI_ACTOR)
        data = {"client_id": client.client_id, "client_secret": secret, "scopes": list(client.scopes),
                "token_endpoint": f"/t/{slug}/oauth/token"}
    if as_json:
        _echo_json(data)
        return
    click.echo(f"client_id:     {data['client_id']}")
    click.echo(f"client_secret: {secret}")
    click.echo(f"scopes:        {' '.join(data['scopes'])}")
    click.echo(f"token:         POST {data['token_endpoint']} (grant_type=client_credentials)")
    click.echo("The secret is shown only this once.", err=True)


@clients.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_(slug, as_json) -> None:
    """List the API clients of tenant SLUG (never their secrets)."""
    from schemehost.tenants.identity.clients import list_clients

    with tenant_session_for(slug) as session:
        rows = [_client_dict(c) for c in list_clients(session)]
    if as_json:
        _echo_json(rows)
        return
    click.echo(f"{'CLIENT ID':<26} {'STATUS':<8} {'NAME':<30} SCOPES")
    for r in rows:
        status = "active" if r["active"] else "revoked"
        click.echo(f"{r['client_id']:<26} {status:<8} {r['name'][:30]:<30} {' '.join(r['scopes'])}")


@clients.command("rotate")
@click.argument("slug")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def rotate(slug, client_id, as_json) -> None:
    """Give CLIENT_ID a new secret (printed this once); the old secret and its tokens stop working."""
    from schemehost.tenants.identity.clients import rotate_secret

    with tenant_session_for(slug) as session:
        client, secret = rotate_secret(session, client_id, actor=CLI_ACTOR)
        client_id = client.client_id
    if as_json:
        _echo_json({"client_id": client_id, "client_secret": secret})
        return
    click.echo(f"client_id:     {client_id}")
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown only this once.", err=True)


@clients.command("revoke")
@click.argument("slug")
@click.argument("client_id")
@with_appcontext
def revoke(slug, client_id) -> None:
    """Revoke CLIENT_ID for good, and every token it holds."""
    from schemehost.tenants.identity.clients import revoke_client

    with tenant_session_for(slug) as session:
        revoke_client(session, client_id, actor=CLI_ACTOR)
    click.echo(f"client {client_id} revoked")
