"""Imports every control-plane model so that metadata is complete (Alembic, tests)."""

from schemehost.platform.billing.models import (Invoice, InvoiceCounter, InvoiceLine, PartnerBilling, Payment,
                                               PendingLine, Plan, PlanPrice, PlatformFee, Subscription, TaxRate,
                                               Usage, WebhookEvent)
from schemehost.platform.db import ControlBase
from schemehost.platform.jobs.models import Job
from schemehost.platform.operators.models import (Operator, OperatorAudit, OperatorRecoveryCode, OperatorToken,
                                                  SupportAccess)
from schemehost.platform.partners.models import Partner
from schemehost.platform.tenants.models import (
    DatabaseServer,
    Domain,
    Installation,
    SpareSchema,
    Tenant,
    TenantEvent,
    TenantSecret,
)

__all__ = [
    "Invoice", "InvoiceCounter", "InvoiceLine", "PartnerBilling", "Payment", "PendingLine", "Plan", "PlanPrice",
    "PlatformFee", "Subscription", "TaxRate", "Usage", "WebhookEvent",
    "ControlBase", "DatabaseServer", "Domain", "Installation", "Job", "Operator", "OperatorAudit",
    "OperatorRecoveryCode", "OperatorToken", "SupportAccess",
    "Partner", "SpareSchema", "Tenant", "TenantEvent", "TenantSecret",
]
