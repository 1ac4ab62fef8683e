"""What each operator role may do with tenants and partners (control API and console).

- ``platform_admin``: everything.
- ``partner_staff``: only the tenants of their own partner (``Operator.partner_id``): list, show, create,
  suspend, resume, archive, delete. Another partner's tenant answers 404 like an unknown one, so its
  existence does not leak; creating a tenant for another partner answers 403.
- ``support``: reads only; every change answers 403.

Code acting outside a request (the CLI, jobs) has no operator and no restriction.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_request_context
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from schemehost.platform.errors import Forbidden, NotFound, ValidationError
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import Tenant

PLATFORM_ADMIN = "platform_admin"
PARTNER_STAFF = "partner_staff"
SUPPORT = "support"


@dataclass(frozen=True)
class OperatorScope:
    """An operator's reach: its role and, for partner staff, its partner."""

    role: str
    partner_id: int | None = None

    @property
    def can_change(self) -> bool:
        return self.role in (PLATFORM_ADMIN, PARTNER_STAFF)

    @property
    def all_tenants(self) -> bool:
        return self.role != PARTNER_STAFF

    def sees(self, tenant: Tenant) -> bool:
        return self.all_tenants or (self.partner_id is not None and tenant.partner_id == self.partner_id)


#: the CLI and jobs: no operator, no restriction
UNRESTRICTED = OperatorScope(PLATFORM_ADMIN)


def partner_problem(role: str, partner: str | None) -> str | None:
    """Why an operator of ``role`` cannot have ``partner`` (a partner slug or None), or None when it can."""
    if role == PARTNER_STAFF and not partner:
        return _("Partner staff need a partner: give its slug.")
    if role != PARTNER_STAFF and partner:
        return _("Only partner staff belong to a partner.")
    return None


def partner_id_for(session: Session, role: str, partner: str | None) -> int | None:
    """The partner id an operator of ``role`` gets, checking the pair (422 with a ``partner`` field error)."""
    problem = partner_problem(role, partner)
    if problem:
        raise ValidationError(_("The operator cannot be created."), errors={"partner": [problem]})
    if not partner:
        return None
    partner_id = session.execute(select(Partner.id).where(Partner.slug == partner)).scalar_one_or_none()
    if partner_id is None:
        raise ValidationError(_("The operator cannot be created."),
                              errors={"partner": [_("unknown partner '%(slug)s'", slug=partner)]})
    return partner_id


def scope_of(operator) -> OperatorScope:
    """The scope of an operator (the model, or the console's signed-in operator)."""
    if operator.role != PARTNER_STAFF:
        return OperatorScope(operator.role)
    if hasattr(operator, "partner_id"):
        return OperatorScope(operator.role, operator.partner_id)
    from schemehost.platform.extensions import db
    from schemehost.platform.operators.models import Operator

    # the console keeps a detached copy of the operator without it
    partner_id = db.session.execute(select(Operator.partner_id).where(Operator.id == operator.id)).scalar()
    return OperatorScope(operator.role, partner_id)


def current_scope() -> OperatorScope:
    """The scope of the request's operator; unrestricted outside a request or without an operator (CLI)."""
    operator = g.get("operator") if has_request_context() else None
    if operator is None:
        return UNRESTRICTED
    scope = g.get("operator_scope")
    if scope is None:
        scope = g.operator_scope = scope_of(operator)
    return scope


def require_change() -> OperatorScope:
    """The request's scope when its operator may change things; 403 for support."""
    scope = current_scope()
    if not scope.can_change:
        raise Forbidden(_("Your role may look at tenants and partners but not change them."),
                        errors={"role": [scope.role]})
    return scope


def require_admin() -> None:
    """403 unless the request's operator is a platform admin (or there is none: the CLI)."""
    scope = current_scope()
    if scope.role != PLATFORM_ADMIN:
        raise Forbidden(_("Only a platform admin may do this."), errors={"role": [scope.role]})


def visible_tenant(session: Session, slug: str) -> Tenant:
    """Tenant ``slug`` when the request's operator may see it; otherwise the same 404 as an unknown slug."""
    tenant = session.execute(select(Tenant).where(Tenant.slug == slug)).unique().scalar_one_or_none()
    if tenant is None or not current_scope().sees(tenant):
        raise NotFound(_("No tenant '%(slug)s'.", slug=slug),
                       errors={"slug": [_("unknown tenant '%(slug)s'", slug=slug)]})
    return tenant


def visible(tenants: list[Tenant]) -> list[Tenant]:
    """The tenants of ``tenants`` the request's operator may see."""
    scope = current_scope()
    return tenants if scope.all_tenants else [t for t in tenants if scope.sees(t)]


def visible_partners(partners: list[Partner]) -> list[Partner]:
    """Partner staff see only their own partner."""
    scope = current_scope()
    return partners if scope.all_tenants else [p for p in partners if p.id == scope.partner_id]


def check_partner(session: Session, partner: str | None) -> None:
    """403 when partner staff would create a tenant for another partner than their own."""
    scope = current_scope()
    if scope.all_tenants or not partner:
        return
    own = session.execute(select(Partner.slug).where(Partner.id == scope.partner_id)).scalar()
    if partner != own:
        raise Forbidden(_("Partner staff create tenants only for their own partner."),
                        errors={"partner": [_("not your partner")]})
