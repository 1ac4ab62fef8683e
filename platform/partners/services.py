"""Partner operations."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenancy import slug_problem


def create_partner(session: Session, slug: str, *, name: str, country: str | None = None,
                   contact_email: str | None = None) -> Partner:
    errors: dict[str, list[str]] = {}
    problem = slug_problem(slug)
    if problem:
        errors["slug"] = [problem]
    if not name or not name.strip():
        errors["name"] = [_("A partner needs a name.")]
    if country is not None and not (len(country) == 2 and country.isalpha()):
        errors["country"] = [_("Use the two-letter ISO 3166 country code, e.g. 'CM'.")]
    if errors:
        raise ValidationError(_("The partner cannot be created."), errors=errors)
    if session.execute(select(Partner.id).where(Partner.slug == slug)).first():
        raise Conflict(_("A partner with slug '%(slug)s' already exists.", slug=slug), errors={"slug": [_("already taken")]})
    partner = Partner(slug=slug, name=name.strip(), country=country.upper() if country else None,
                      contact_email=contact_email)
    session.add(partner)
    session.flush()
    return partner


def get_partner(session: Session, slug: str) -> Partner:
    partner = session.execute(select(Partner).where(Partner.slug == slug)).scalar_one_or_none()
    if partner is None:
        raise NotFound(_("No partner '%(slug)s'.", slug=slug), errors={"partner": [_("unknown partner '%(slug)s'", slug=slug)]})
    return partner


def list_partners(session: Session) -> list[Partner]:
    return list(session.execute(select(Partner).order_by(Partner.slug)).scalars())


def partner_dict(p: Partner) -> dict:
    return {"slug": p.slug, "name": p.name, "country": p.country, "contact_email": p.contact_email,
            "created_at": p.created_at.isoformat() if p.created_at else None}
