"""The insurance module's billing meter: insurees covered today (registered with platform billing)."""

from flask_babel import lazy_gettext as _l

from schemehost.platform.billing.meters import Meter, register_meter

# members of policies that cover today (a paid policy whose start has come may not be marked active yet)
ACTIVE_INSUREES = register_meter(Meter(
    "active_insurees", _l("Insurees covered"), _l("insuree"),
    count_sql="SELECT count(DISTINCT m.individual_id) FROM {schema}.insurance_policy_members m "
              "JOIN {schema}.insurance_policies p ON p.id = m.policy_id "
              "WHERE p.status IN ('active', 'ready') AND coalesce(p.effective_date, p.start_date) <= current_date "
              "AND p.expiry_date >= current_date "
              # a worker on an employer's policy counts on the days they are covered (decision 0320)
              "AND (m.covered_from IS NULL OR m.covered_from <= current_date) "
              "AND (m.covered_to IS NULL OR m.covered_to >= current_date)",
    tables=("insurance_policies", "insurance_policy_members")))
