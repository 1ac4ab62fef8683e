"""The catalogue of tenant modules, permissions and built-in roles.

One place, neutral to every module, that templates, tenant settings and the
identity module all check against. A permission belongs to a module (or to
the tenant core when ``module`` is None); a role may only hold permissions of
modules the tenant enables. ``"*"`` means every permission.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

ALL = "*"

#: Tenant modules, and the modules each one needs enabled beside it.
MODULES: dict[str, tuple[str, ...]] = {
    "registry": (),
    "insurance": ("registry",),
    "vouchers": ("registry",),
    "transfers": ("registry",),
    "payments": (),
    "interop": ("registry",),
}


@dataclass(frozen=True)
class Permission:
    name: str
    module: str | None
    description: str  # lazily translated


PERMISSIONS: dict[str, Permission] = {p.name: p for p in [
    # tenant core
    Permission("settings.manage", None, _l("Change the scheme's settings")),
    Permission("users.manage", None, _l("Invite users and assign roles")),
    Permission("audit.read", None, _l("Read the audit log")),
    Permission("reports.read", None, _l("Read reports and dashboards")),
    Permission("billing.manage", None, _l("See and pay the scheme's invoices")),
    Permission("clients.manage", None, _l("Manage API clients")),
    # registry
    Permission("registry.read", "registry", _l("Read locations, facilities, households and individuals")),
    Permission("registry.write", "registry", _l("Enrol and edit households and individuals")),
    Permission("registry.import", "registry", _l("Import and export registry files")),
    Permission("registry.locations.manage", "registry", _l("Manage locations and facilities")),
    Permission("registry.personal_data", "registry", _l("Export a person's data on request and erase it")),
    # insurance
    Permission("insurance.products.manage", "insurance", _l("Define insurance products")),
    Permission("insurance.policies.manage", "insurance", _l("Enrol policies and record contributions")),
    Permission("insurance.employers.manage", "insurance", _l("Manage employers and their workers")),
    Permission("insurance.read", "insurance", _l("Read insurance products, policies and contributions")),
    Permission("insurance.policies.activate", "insurance", _l("Activate a policy that is not fully paid")),
    Permission("insurance.eligibility", "insurance", _l("Check an insuree's coverage at a facility")),
    Permission("claims.submit", "insurance", _l("Enter claims at a facility")),
    Permission("claims.review", "insurance", _l("Review, adjust and valuate claims")),
    Permission("claims.pay", "insurance", _l("Pay facilities for valuated claims")),
    # vouchers
    Permission("vouchers.programmes.manage", "vouchers", _l("Define voucher programmes")),
    Permission("vouchers.issue", "vouchers", _l("Issue vouchers to eligible people")),
    Permission("vouchers.redeem", "vouchers", _l("Redeem voucher services at a facility")),
    Permission("vouchers.reimburse", "vouchers", _l("Verify and pay facility reimbursements")),
    # transfers
    Permission("transfers.programmes.manage", "transfers", _l("Define programmes and eligibility")),
    Permission("transfers.enrol", "transfers", _l("Enrol beneficiaries")),
    Permission("transfers.payroll.prepare", "transfers", _l("Prepare payrolls")),
    Permission("transfers.payroll.approve", "transfers", _l("Approve payrolls (second person)")),
    # payments
    Permission("payments.read", "payments", _l("Read payments and bills")),
    Permission("payments.reconcile", "payments", _l("Reconcile payments")),
    Permission("payments.gateways.manage", "payments", _l("Configure payment gateways")),
    # interop
    Permission("interop.manage", "interop", _l("Configure FHIR and DHIS2 exchanges")),
]}

#: Roles every scheme can use; templates choose those that fit the scheme.
BUILTIN_ROLES: dict[str, object] = {
    "tenant_admin": _l("Tenant administrator"),
    "enrolment_officer": _l("Enrolment officer"),
    "claims_reviewer": _l("Claims reviewer"),
    "facility_cashier": _l("Facility cashier"),
    "payment_officer": _l("Payment officer"),
    "auditor": _l("Auditor"),
    "read_only": _l("Read-only"),
}


def permission_problem(name: str, modules: list[str] | tuple[str, ...]) -> str | None:
    """Why a role of a tenant enabling ``modules`` cannot hold ``name``, or None when it can."""
    if name == ALL:
        return None
    perm = PERMISSIONS.get(name)
    if perm is None:
        return _("unknown permission '%(name)s'", name=name)
    if perm.module is not None and perm.module not in modules:
        return _("permission '%(name)s' needs module '%(module)s', which is not enabled",
                 name=name, module=perm.module)
    return None
