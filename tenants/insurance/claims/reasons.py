"""Reason codes of claims and claim lines, with their labels.

Automatic reasons are set by the checks (:mod:`.checks`) on a line or, for the whole claim, on the
claim (``insuree_unknown``, ``not_insured``, ``facility_unknown``, ``duplicate``, ...); review reasons
are what a reviewer may give when rejecting or adjusting a line. A claim rejected as a whole carries
the reason of its first rejected line unless the checks set a claim-level one.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: set by the automatic checks
AUTOMATIC = {
    "insuree_unknown": _l("The insuree is not known to the scheme (or no longer active)."),
    "not_insured": _l("The insuree had no active policy on the date of the visit."),
    "waiting_period": _l("The insuree's coverage had not started yet (waiting period)."),
    "item_not_covered": _l("The product does not cover this item or service."),
    "limit_count": _l("The insuree's limit on the number of this item or service is reached."),
    "limit_amount": _l("The insuree's limit on the amount of this item or service is reached."),
    "duplicate": _l("The same insuree, facility, date and item or service were already claimed."),
    "price_above_list": _l("The claimed price is above the price list's."),
    "facility_unknown": _l("The facility is not known or not under contract on the date of the visit."),
    "incident_required": _l("The product needs an accepted work incident for this claim."),
    "submitted_late": _l("The claim was submitted after the scheme's deadline."),
}

#: given by a reviewer
REVIEW = {
    "not_justified": _l("Not medically justified for the diagnosis."),
    "not_provided": _l("Not provided to the insuree."),
    "wrong_price": _l("The price is not the agreed one."),
    "other": _l("Other reason (see the reviewer's note)."),
}

REASONS = {**AUTOMATIC, **REVIEW}


def label(code: str | None) -> str:
    """The label of a reason code (the code itself when unknown, '' for none)."""
    if not code:
        return ""
    found = REASONS.get(code)
    return str(found) if found is not None else code
