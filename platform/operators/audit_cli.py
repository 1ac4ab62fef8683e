"""``schemehost audit``: read the control plane's audit log of operator actions."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _


@click.group()
def audit() -> None:
    """The operator audit log (sign-ins, tenant lifecycle, support sessions, ...)."""


@audit.command("list")
@click.option("--tenant", "slug", metavar="SLUG", help="Only entries about this tenant.")
@click.option("--operator", metavar="EMAIL", help="Only entries of this operator.")
@click.option("--action", help="Only this action, e.g. tenant.suspended or support.open.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@with_appcontext
def list_(slug: str | None, operator: str | None, action: str | None, limit: int, as_json: bool) -> None:
    """List operator-audit entries, newest first."""
    from schemehost.platform.audit import list_operator_audit, operator_audit_dict
    from schemehost.platform.cli import echo_json
    from schemehost.platform.extensions import db

    page = list_operator_audit(db.session, tenant=slug, operator=operator, action=action, limit=limit)
    rows = [operator_audit_dict(e, page.slugs.get(e.tenant_id)) for e in page.entries]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo(_("no entry"))
        return
    for r in rows:
        target = f"{r['target_type']}:{r['target_id']}" if r["target_type"] else ""
        tenant = r["tenant"] or (f"#{r['tenant_id']}" if r["tenant_id"] else "")
        click.echo(f"{r['at'][:19]}  {r['actor']:<30} {r['action']:<26} {target:<28} {tenant}".rstrip())
