"""The voucher module's billing meter: services redeemed, read as a running total (registered with
platform billing; a period is billed the redemptions made in it)."""

from flask_babel import lazy_gettext as _l

from schemehost.platform.billing.meters import Meter, register_meter

VOUCHERS_REDEEMED = register_meter(Meter(
    "vouchers_redeemed", _l("Voucher services redeemed"), _l("redemption"),
    count_sql="SELECT count(*) FROM {schema}.voucher_redemptions",
    tables=("voucher_redemptions",), aggregate="increase"))
