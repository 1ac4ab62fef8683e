"""``schemehost secrets``: key generation and rotation (values are never printed)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _

from schemehost.platform.extensions import db
from schemehost.platform.secrets import services


@click.group()
def secrets() -> None:
    """Tenant secrets: encryption keys and their rotation."""


@secrets.command("generate-key")
def generate_key() -> None:
    """Print a new key; put it first in SCHEMEHOST_SECRET_KEYS, keep the old ones after it."""
    click.echo(services.generate_key())


@secrets.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True)
@with_appcontext
def rotate(batch_size: int) -> None:
    """Re-encrypt every tenant secret with the newest key (the first of SCHEMEHOST_SECRET_KEYS),
    the control plane's and those kept inside tenant schemas (second factors, SSO client secrets)."""
    count = services.rotate_secrets(db.session, batch_size=batch_size)
    db.session.commit()
    click.echo(_("%(count)s secret(s) re-encrypted with the newest key", count=count))
    inside, failed = services.rotate_tenant_columns(db.session)
    click.echo(_("%(count)s secret value(s) inside tenant schemas re-encrypted", count=inside))
    if failed:
        raise click.ClickException(_("These tenants hold values encrypted with a key no longer in the ring: "
                                     "%(slugs)s", slugs=", ".join(failed)))
