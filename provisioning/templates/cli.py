"""``schemehost templates``: list and show templates, review and apply a newer version to a tenant."""

from __future__ import annotations

import click
import yaml
from flask.cli import with_appcontext
from flask_babel import gettext as _

from schemehost.provisioning import templates as tpl


def _echo_json(data) -> None:
    from schemehost.platform.cli import echo_json

    echo_json(data)


@click.group()
def templates() -> None:
    """Templates that new tenants start from."""


@templates.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the templates as JSON.")
def list_(as_json: bool) -> None:
    """List the templates with their version and modules."""
    rows = [{"name": t.name, "version": t.version, "title": t.title, "modules": t.modules}
            for t in tpl.list_templates()]
    if as_json:
        _echo_json(rows)
        return
    click.echo(f"{'NAME':<20} {'VERSION':>7}  {'TITLE':<32} MODULES")
    for r in rows:
        click.echo(f"{r['name']:<20} {r['version']:>7}  {r['title']:<32} {', '.join(r['modules'])}")


@templates.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the whole template as JSON.")
def show(name: str, as_json: bool) -> None:
    """Show template NAME, validated."""
    t = tpl.load_template(name)
    data = t.to_dict()
    if as_json:
        _echo_json(data)
        return
    click.echo(f"{t.name} version {t.version}: {t.title}")
    click.echo(f"  {t.description}")
    click.echo(f"  currency {t.currency}, locale {t.locale}, time zone {t.timezone}")
    click.echo(f"  location levels: {' > '.join(t.location_levels)}")
    click.echo(f"  modules: {', '.join(t.modules)}")
    click.echo("  roles:")
    for role in t.roles:
        click.echo(f"    {role['code']:<20} {role['name']}: {', '.join(role['permissions'])}")
    for section in ("settings", "demo"):
        if data[section]:
            click.echo(f"  {section}:")
            dumped = yaml.safe_dump(data[section], allow_unicode=True, sort_keys=False, default_flow_style=None)
            click.echo("\n".join("    " + line for line in dumped.rstrip().splitlines()))


def _print_review(slug: str, review) -> None:
    template = review.template
    if review.up_to_date:
        click.echo(_("tenant %(slug)s is up to date with template %(name)s version %(version)s",
                     slug=slug, name=template.name, version=template.version))
        return
    click.echo(_("tenant %(slug)s: template %(name)s version %(before)s -> %(after)s",
                 slug=slug, name=template.name, before=review.tenant_version or "?", after=template.version))
    for c in review.changes:
        mark = "+" if c.applicable else "="
        value = c.value.get("name") if c.kind == "role_added" else c.value
        line = f"  {mark} {c.kind:<21} {c.where}: {value}"
        if c.kind == "default_changed":
            line += " (" + _("tenant has %(value)s", value=c.current) + ")"
        if c.note:
            line += f" - {c.note}"
        click.echo(line)
    click.echo(_("%(n)s addition(s) to apply (+); %(m)s difference(s) for review only (=), never applied.",
                 n=review.additions, m=len(review.changes) - review.additions))


def _review(slug: str):
    """The tenant's control row and what its template's current version would change (reads only)."""
    from schemehost.platform.extensions import db
    from schemehost.provisioning.templates import services

    tenant = services.reviewable_tenant(db.session, slug)
    with services.open_settings_session(db.session, tenant) as tsession:
        return tenant, services.review_template(tsession, tenant)


@templates.command("review")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@with_appcontext
def review(slug: str, as_json: bool) -> None:
    """Show what the current version of tenant SLUG's template would add or change."""
    tenant, result = _review(slug)
    if as_json:
        _echo_json({"tenant": tenant.slug, "template": result.template.name,
                    "tenant_version": result.tenant_version, "template_version": result.template.version,
                    "up_to_date": result.up_to_date, "changes": [c.to_dict() for c in result.changes]})
        return
    _print_review(tenant.slug, result)


@templates.command("apply")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Apply without asking for confirmation.")
@with_appcontext
def apply(slug: str, yes: bool) -> None:
    """Apply the additions of the current version of tenant SLUG's template."""
    from schemehost.platform.extensions import db
    from schemehost.provisioning.templates import services

    tenant, result = _review(slug)
    _print_review(tenant.slug, result)
    if result.up_to_date and tenant.template_version >= result.template.version:
        return
    db.session.rollback()  # hold no transaction while the operator reads
    if not yes:
        click.confirm(_("Apply to tenant %(slug)s?", slug=slug), abort=True)
    tenant = services.reviewable_tenant(db.session, slug, for_update=True)
    with services.open_settings_session(db.session, tenant) as tsession:
        result = services.apply_template(db.session, tsession, tenant, actor="cli")
        tsession.commit()
    db.session.commit()
    click.echo(_("tenant %(slug)s is now at template %(name)s version %(version)s (%(n)s addition(s) applied)",
                 slug=tenant.slug, name=result.template.name, version=result.template.version, n=result.additions))
