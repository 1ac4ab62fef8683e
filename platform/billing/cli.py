"""``schemehost billing``: the daily run, plans, subscriptions, invoices and manual payments."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click
from flask.cli import with_appcontext

from schemehost.platform.billing import services as billing
from schemehost.platform.extensions import db


@click.group()
def billing_group() -> None:
    """Billing: plans, usage, invoices, payments, dunning."""


def _day(value: str | None) -> date:
    return date.fromisoformat(value) if value else billing.billing_today()


@billing_group.command("run")
@click.option("--today", help="The run's date (YYYY-MM-DD); default today (UTC).")
@click.option("--no-meter", is_flag=True, help="Skip metering.")
@click.option("--no-invoice", is_flag=True, help="Skip invoicing ended periods.")
@click.option("--no-dunning", is_flag=True, help="Skip reminders and restrictions.")
@with_appcontext
def run(today: str | None, no_meter: bool, no_invoice: bool, no_dunning: bool) -> None:
    """The daily billing run: meter usage, invoice ended periods, dunning."""
    from schemehost.platform.cli import echo_json

    result = billing.run_billing(db.session, today=_day(today), meter=not no_meter, invoice=not no_invoice,
                                 dunning_pass=not no_dunning)
    db.session.commit()
    echo_json(result)


@billing_group.command("plan-create")
@click.argument("partner")
@click.argument("definition", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_appcontext
def plan_create(partner: str, definition: Path) -> None:
    """Create a plan of PARTNER from a JSON file (the API's fields; amounts in minor units)."""
    from schemehost.platform.cli import echo_json
    from schemehost.platform.partners.services import get_partner

    body = json.loads(definition.read_text(encoding="utf-8"))
    plan = billing.create_plan(db.session, get_partner(db.session, partner), **body)
    db.session.commit()
    echo_json(billing.plan_dict(plan))


@billing_group.command("plans")
@click.option("--partner", help="Only this partner's plans.")
@with_appcontext
def plans(partner: str | None) -> None:
    """List plans."""
    from schemehost.platform.partners.services import get_partner

    partner_id = get_partner(db.session, partner).id if partner else None
    for p in billing.list_plans(db.session, partner_id=partner_id):
        click.echo(f"{p.id:>5} {p.partner.slug:<20} {p.code:<20} {p.currency} {p.period:<9} "
                   f"{p.fixed_fee:>12} {'active' if p.active else 'retired'}")


@billing_group.command("subscribe")
@click.argument("tenant")
@click.argument("plan_id", type=int)
@click.option("--start", help="Start date (YYYY-MM-DD); default today.")
@click.option("--country", help="Country the tenant is billed in (tax); default the partner's.")
@click.option("--email", "billing_email", help="Where invoices and reminders go.")
@with_appcontext
def subscribe(tenant: str, plan_id: int, start: str | None, country: str | None, billing_email: str | None) -> None:
    """Subscribe TENANT to plan PLAN_ID."""
    from schemehost.platform.cli import echo_json
    from schemehost.provisioning.lifecycle import get_tenant

    sub = billing.subscribe(db.session, get_tenant(db.session, tenant), billing.get_plan(db.session, plan_id),
                            start=_day(start), country=country, billing_email=billing_email, actor="cli")
    db.session.commit()
    echo_json(billing.subscription_dict(sub))


@billing_group.command("invoices")
@click.option("--tenant", help="Only this tenant's invoices.")
@click.option("--status", help="draft, issued, paid, void or uncollectible.")
@with_appcontext
def invoices(tenant: str | None, status: str | None) -> None:
    """List invoices, newest first."""
    from schemehost.platform.money import format_money
    from schemehost.provisioning.lifecycle import get_tenant

    tenant_id = get_tenant(db.session, tenant).id if tenant else None
    for i in billing.list_invoices(db.session, tenant_id=tenant_id, status=status):
        click.echo(f"{i.id:>6} {i.number or '(draft)':<24} {i.tenant.slug:<24} {i.status:<13} "
                   f"{format_money(i.total, i.currency, 'en'):>18} due {i.due_on or '-'}")


@billing_group.command("pay")
@click.argument("invoice_id", type=int)
@click.option("--method", type=click.Choice(["bank", "cash", "mobile_money"]), required=True)
@click.option("--amount", type=int, required=True, help="In minor units of the invoice's currency.")
@click.option("--reference", required=True)
@click.option("--paid-on", help="YYYY-MM-DD; default today.")
@click.option("--proof", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Receipt file.")
@with_appcontext
def pay(invoice_id: int, method: str, amount: int, reference: str, paid_on: str | None, proof: Path | None) -> None:
    """Record a manual payment against INVOICE_ID."""
    from schemehost.platform.cli import echo_json

    payment = billing.record_payment(
        db.session, billing.get_invoice(db.session, invoice_id), method=method, amount=amount, reference=reference,
        paid_on=_day(paid_on), actor="cli", today=billing.billing_today(),
        proof=proof.read_bytes() if proof else None, proof_name=proof.name if proof else None)
    db.session.commit()
    echo_json(billing.payment_dict(payment))
