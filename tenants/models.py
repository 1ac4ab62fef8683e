"""Imports every tenant model so that the tenant metadata is complete."""

from schemehost.platform.db import TenantBase
from schemehost.tenants.core.models import Setting, User
from schemehost.tenants.identity.models import (AuditEntry, OAuthClient, OAuthToken, RecoveryCode, Role,
                                                SsoProvider, SupportSession, UserLocation, UserRole, UserToken)
from schemehost.tenants.registry.models import CatalogueEntry, HealthFacility, Location, PriceList, PriceListLine
from schemehost.tenants.registry.people import Consent, DuplicateFlag, Household, Individual
from schemehost.tenants.registry.imports.models import RegistryImport, RegistryImportChunk, RegistryImportProblem
from schemehost.tenants.insurance.models import (Contribution, Employer, InsuranceProduct, Policy, PolicyMember,
                                                 ProductCoverage, WorkIncident)
from schemehost.tenants.insurance.claims.models import ClaimLine, InsuranceClaim
from schemehost.tenants.insurance.statements.models import ClaimStatement
from schemehost.tenants.payments.models import (Bill, Disbursement, PaymentGateway, PaymentNotification,
                                                Reconciliation)
from schemehost.tenants.transfers.models import (Beneficiary, PaymentCycle, PaymentPoint, Payroll, PayrollLine,
                                                 Programme)
from schemehost.tenants.vouchers.models import (Claim, ProgrammeFacility, ProgrammeService, Redemption, Voucher,
                                                VoucherProgramme)

__all__ = ["TenantBase", "Setting", "User", "AuditEntry", "OAuthClient", "OAuthToken", "RecoveryCode", "Role",
           "SsoProvider", "SupportSession", "UserLocation", "UserRole", "UserToken",
           "CatalogueEntry", "HealthFacility", "Location", "PriceList", "PriceListLine",
           "Consent", "DuplicateFlag", "Household", "Individual",
           "RegistryImport", "RegistryImportChunk", "RegistryImportProblem",
           "Contribution", "InsuranceProduct", "Policy", "PolicyMember", "ProductCoverage", "Employer", "WorkIncident",
           "InsuranceClaim", "ClaimLine", "ClaimStatement",
           "Bill", "Disbursement", "PaymentGateway", "PaymentNotification", "Reconciliation",
           "VoucherProgramme", "ProgrammeService", "ProgrammeFacility", "Voucher", "Redemption", "Claim",
           "Beneficiary", "PaymentCycle", "PaymentPoint", "Payroll", "PayrollLine", "Programme"]


def unscoped_metadata():
    """The tenant metadata with no schema, as seen under a tenant ``search_path``
    (used by the tenant Alembic tree and the "models match head" check)."""
    from sqlalchemy import MetaData

    meta = MetaData(naming_convention=TenantBase.metadata.naming_convention)
    for table in TenantBase.metadata.sorted_tables:
        table.to_metadata(meta, schema=None)
    return meta
