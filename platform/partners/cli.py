"""``schemehost partners``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from schemehost.platform.extensions import db
from schemehost.platform.partners import services


@click.group()
def partners() -> None:
    """Partners: the companies that host schemes."""


@partners.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the partner.")
@click.option("--country", help="ISO 3166 two-letter country code.")
@click.option("--email", "contact_email", help="Contact e-mail address.")
@click.option("--json", "as_json", is_flag=True, help="Print the partner as JSON.")
@with_appcontext
def create(slug: str, name: str, country: str | None, contact_email: str | None, as_json: bool) -> None:
    """Create partner SLUG."""
    from schemehost.platform.cli import echo_json

    partner = services.create_partner(db.session, slug, name=name, country=country, contact_email=contact_email)
    db.session.commit()
    if as_json:
        echo_json(services.partner_dict(partner))
    else:
        click.echo(f"partner {partner.slug} created")


@partners.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def list_(as_json: bool) -> None:
    """List partners."""
    from schemehost.platform.cli import echo_json

    rows = [services.partner_dict(p) for p in services.list_partners(db.session)]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        click.echo(f"{r['slug']:<24} {r['name']}")
