"""The ``schemehost`` command: a Flask CLI group with everything an operator does."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import FlaskGroup, with_appcontext

from schemehost.platform.errors import AppError


def _create_app():
    from schemehost.platform.app import create_app

    return create_app()


class SchemehostGroup(FlaskGroup):
    """Turns an ``AppError`` into its message on stderr and exit code 1, never a traceback.

    Listing commands (``--help``) does not build the app: every command is
    registered here, and building the app may start the embedded PostgreSQL.
    """

    def list_commands(self, ctx):
        return sorted(self.commands)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AppError as err:
            click.echo(f"Error: {err.detail}", err=True)
            for field, messages in err.errors.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    click.echo(f"  {field}: {message}", err=True)
            ctx.exit(1)


@click.group(cls=SchemehostGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """schemehost: host many social-protection and health-financing schemes."""


def echo_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@main.group()
def db() -> None:
    """Control-plane database."""


@db.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Bring the control plane to head."""
    from schemehost.platform.extensions import db as sadb
    from schemehost.provisioning.migrate import head, upgrade_control

    upgrade_control(sadb.engine)
    click.echo(f"control plane at {head('control')}")


def _register() -> None:
    from schemehost.platform.jobs.cli import jobs, worker
    from schemehost.platform.operators.audit_cli import audit
    from schemehost.platform.operators.cli import operators
    from schemehost.platform.partners.cli import partners
    from schemehost.platform.secrets.cli import secrets
    from schemehost.platform.tenants.cli import tenants

    main.add_command(audit)
    from schemehost.platform.billing.cli import billing_group

    main.add_command(billing_group, "billing")
    main.add_command(jobs)
    main.add_command(worker)
    main.add_command(operators)
    main.add_command(partners)
    main.add_command(secrets)
    main.add_command(tenants)
    import schemehost.provisioning.fleet_cli  # noqa: F401  (tenants migrate, tenants status)
    from schemehost.provisioning.templates.cli import templates

    main.add_command(templates)
    from schemehost.tenants.identity.clients_cli import clients

    main.add_command(clients)
    from schemehost.tenants.registry.imports_cli import registry

    main.add_command(registry)
    from schemehost.platform.demo import demo, serve

    main.add_command(demo)
    main.add_command(serve)
    from schemehost.tenants.registry.cli import register as register_registry

    register_registry(main)
    from schemehost.tenants.insurance.claims.cli import claims

    main.add_command(claims)
    from schemehost.tenants.insurance.claims.icd10_cli import icd10_load

    claims.add_command(icd10_load)  # schemehost claims icd10-load FILE


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
