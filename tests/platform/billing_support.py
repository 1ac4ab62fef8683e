"""Shared helpers of the billing tests: fast tenant rows, plans, and people in a real tenant."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from schemehost.platform.billing import services as billing
from schemehost.platform.extensions import db
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import Tenant
from schemehost.platform.tenants.services import default_server

TIERS = [{"up_to": 100, "unit_amount": "50"}, {"up_to": None, "unit_amount": "25"}]


def new_partner(country: str | None = "CM", email: str | None = "billing@partner.example") -> Partner:
    partner = Partner(slug=f"bp{uuid.uuid4().hex[:8]}", name="Partner SARL", country=country, contact_email=email)
    db.session.add(partner)
    db.session.flush()
    return partner


def tenant_row(partner: Partner, status: str = "active") -> Tenant:
    """A control-plane tenant row without a schema: enough for plans, invoices and dunning."""
    slug = f"bt{uuid.uuid4().hex[:8]}"
    tenant = Tenant(slug=slug, name=f"Scheme {slug}", partner_id=partner.id, template="blank", template_version=1,
                    status=status, server_id=default_server(db.session).id, schema_name=f"tenant_{slug}",
                    currency="XAF")
    db.session.add(tenant)
    db.session.flush()
    return tenant


def plan(partner: Partner, code: str = "standard", **kw):
    values = {"name": "Standard", "currency": "XAF", "period": "monthly", "fixed_fee": 30000,
              "prices": [{"meter": "active_individuals", "included": 10, "tiers": TIERS}]}
    values.update(kw)
    return billing.create_plan(db.session, partner, code=code, **values)


def add_people(handle, individuals: int, households: int = 0) -> None:
    """Insert ``individuals`` active individuals and ``households`` active households into a real tenant."""
    from schemehost.tenants.registry import services as reg

    with handle.session() as s:
        loc = reg.create_location(s, code=f"L{uuid.uuid4().hex[:6]}", name="Village").id
        schema = handle.schema
        if households:
            s.execute(text(f"INSERT INTO {schema}.households (location_id, status) "
                           f"SELECT :loc, 'active' FROM generate_series(1, :n)"), {"loc": loc, "n": households})
        s.execute(text(
            f"INSERT INTO {schema}.individuals (given_name, family_name, name_search, sex, birth_date, "
            f"scheme_number, location_id, status) SELECT 'A', 'B', 'a b', 'female', date '1990-01-01', "
            f"'S' || g || '-' || :tag, :loc, 'active' FROM generate_series(1, :n) g"),
            {"loc": loc, "n": individuals, "tag": uuid.uuid4().hex[:6]})
