"""The insurance module's operations; each takes the tenant session first, only flushes, and records
every change in the audit log. Other modules call these (never the tables)."""

from schemehost.tenants.insurance.services import eligibility, incidents
from schemehost.tenants.insurance.services.employer_policies import (add_worker, enrol_employer, remove_worker,
                                                                     workers)
from schemehost.tenants.insurance.services.employers import (create_employer, get_employer, get_employer_by_code,
                                                             list_employers, update_employer)
from schemehost.tenants.insurance.services.incidents import (accepted_incident, decide_incident, get_incident,
                                                             list_incidents, record_incident)
from schemehost.tenants.insurance.services.policies import (activate, contributions, enrol, get_policy,
                                                            insuree_coverage, list_policies, policy_members,
                                                            record_contribution, refresh_statuses, renew,
                                                            renewal_reminders, resume, status_on, suspend)
from schemehost.tenants.insurance.services.products import (COST_KEYS, coverage, create_product, get_product,
                                                            in_use, list_products, product_valid_on,
                                                            update_product)

__all__ = ["add_worker", "enrol_employer", "remove_worker", "workers", "create_employer", "get_employer",
           "get_employer_by_code", "list_employers", "update_employer", "accepted_incident", "decide_incident",
           "get_incident", "list_incidents", "record_incident", "eligibility", "incidents", "activate",
           "contributions", "enrol", "get_policy", "insuree_coverage", "list_policies", "policy_members",
           "record_contribution", "refresh_statuses", "renew", "renewal_reminders", "resume", "status_on", "suspend",
           "COST_KEYS", "coverage", "create_product", "get_product", "in_use", "list_products", "product_valid_on",
           "update_product"]
