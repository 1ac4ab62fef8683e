"""The cash-transfer module's billing meters: active beneficiaries, and transfers paid read as a running
total (registered with platform billing; a period is billed the transfers paid in it)."""

from flask_babel import lazy_gettext as _l

from schemehost.platform.billing.meters import Meter, register_meter

ACTIVE_BENEFICIARIES = register_meter(Meter(
    "active_beneficiaries", _l("Active beneficiaries"), _l("beneficiary"),
    count_sql="SELECT count(*) FROM {schema}.transfer_beneficiaries WHERE status = 'active'",
    tables=("transfer_beneficiaries",)))
TRANSFERS_PAID = register_meter(Meter(
    "transfers_paid", _l("Transfers paid"), _l("transfer"),
    count_sql="SELECT count(*) FROM {schema}.transfer_payroll_lines WHERE status = 'paid'",
    tables=("transfer_payroll_lines",), aggregate="increase"))
