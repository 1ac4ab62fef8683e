"""Eligibility: is this insuree covered for this item or service on this day, why not, and what is
left of the limits.

One query (decision 0303): the insuree's policies whose period contains the day, each with its
product's coverage line for the entry and what was already used of it under the policy, read from the
``insurance_usage`` view. The view is empty until claims exist (the claims module replaces its
definition with one over claimed lines), so the remaining limits are then the full limits; nothing
here changes when claims plug in.

Reasons a person is not covered, checked in this order: ``unknown_insuree``, ``insuree_inactive``,
``unknown_item``, ``not_insured`` (no policy for the day), ``policy_not_active`` (idle or suspended),
``waiting_period`` (coverage starts later), ``not_covered`` (the product does not cover it),
``item_not_valid`` (the catalogue entry is outside its validity), ``not_for_sex`` / ``not_for_age``
(the entry's patient restrictions), ``limit_reached``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import location_clause
from schemehost.tenants.insurance.value import age_on
from schemehost.tenants.registry.people import Individual

ORDER = ("not_covered", "item_not_valid", "not_for_sex", "not_for_age", "limit_reached", "waiting_period",
         "policy_not_active")

INSUREE_SQL = text("""
SELECT id, sex, birth_date, status, scheme_number, location_id FROM individuals
WHERE scheme_number = :insuree OR (CAST(:as_id AS bigint) IS NOT NULL AND id = CAST(:as_id AS bigint))
ORDER BY (scheme_number = :insuree) DESC LIMIT 1
""")
ENTRY_SQL = text("""
SELECT id, kind, code, name, valid_from, valid_to, patient_sex, patient_age FROM catalogue_entries
WHERE code = :code
""")
POLICIES_SQL = text("""
SELECT p.id, p.status, p.start_date, p.effective_date, p.expiry_date, pr.code AS product_code,
       pr.adult_age, cov.entry_id IS NOT NULL AS covered, cov.limit_count, cov.limit_amount,
       COALESCE(cov.copayment_percent, pr.copayment_percent) AS copayment_percent,
       used.quantity AS used_count, used.amount AS used_amount
FROM insurance_policy_members m
JOIN insurance_policies p ON p.id = m.policy_id
JOIN insurance_products pr ON pr.id = p.product_id
LEFT JOIN insurance_product_coverage cov ON cov.product_id = p.product_id AND cov.entry_id = :entry
LEFT JOIN LATERAL (
    SELECT COALESCE(SUM(u.quantity), 0) AS quantity, COALESCE(SUM(u.amount), 0) AS amount
    FROM insurance_usage u
    WHERE u.policy_id = p.id AND u.individual_id = m.individual_id AND u.entry_id = :entry
) used ON cov.entry_id IS NOT NULL
WHERE m.individual_id = :individual AND p.start_date <= :day AND p.expiry_date >= :day
ORDER BY p.start_date DESC, p.id DESC
""")


@dataclass
class Answer:
    covered: bool
    reason: str | None
    day: date
    insuree: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None
    policy: dict[str, Any] | None = None
    limits: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"covered": self.covered, "reason": self.reason, "date": self.day, "insuree": self.insuree,
                "item": self.entry, "policy": self.policy, "limits": self.limits}


def check(session: Session, *, insuree: str, code: str, kind: str | None, day: date,
          principal: Principal | None) -> Answer:
    """The answer for insuree ``insuree`` (scheme number, or id) and catalogue ``code`` on ``day``;
    ``kind`` ("item" / "service") when the caller named one."""
    as_id = int(insuree) if insuree.isdigit() and len(insuree) < 19 else None
    person = session.execute(INSUREE_SQL, {"insuree": insuree, "as_id": as_id}).mappings().first()
    if person is not None and principal is not None and principal.location_ids:
        clause = location_clause(principal, Individual.location_id)
        if clause is not None and session.execute(select(Individual.id).where(
                Individual.id == person["id"], clause)).first() is None:
            person = None
    if person is None:
        return Answer(False, "unknown_insuree", day)
    who = {"id": person["id"], "scheme_number": person["scheme_number"]}
    if person["status"] != "active":
        return Answer(False, "insuree_inactive", day, insuree=who)
    entry = session.execute(ENTRY_SQL, {"code": code}).mappings().first()
    if entry is None or (kind is not None and entry["kind"] != kind):
        return Answer(False, "unknown_item", day, insuree=who)
    what = {"id": entry["id"], "kind": entry["kind"], "code": entry["code"], "name": entry["name"]}
    rows = session.execute(POLICIES_SQL, {"entry": entry["id"], "individual": person["id"], "day": day}).mappings()
    best: tuple[int, Answer] | None = None
    for row in rows:
        answer = _judge(row, person, entry, day, who, what)
        if answer.covered:
            return answer
        rank = ORDER.index(answer.reason)
        if best is None or rank < best[0]:
            best = (rank, answer)
    if best is None:
        return Answer(False, "not_insured", day, insuree=who, entry=what)
    return best[1]


def _judge(row, person, entry, day: date, who: dict, what: dict) -> Answer:
    policy = {"id": row["id"], "product_code": row["product_code"], "status": row["status"],
              "start_date": row["start_date"], "effective_date": row["effective_date"],
              "expiry_date": row["expiry_date"]}
    limits: dict[str, Any] = {}
    if row["covered"]:
        limits = {"count": _limit(row["limit_count"], row["used_count"]),
                  "amount": _limit(row["limit_amount"], row["used_amount"]),
                  "copayment_percent": str(row["copayment_percent"])}
    answer = Answer(False, None, day, insuree=who, entry=what, policy=policy, limits=limits)
    if row["status"] not in ("ready", "active"):
        answer.reason = "policy_not_active"
    elif row["effective_date"] is None or row["effective_date"] > day:
        answer.reason = "waiting_period"
    elif not row["covered"]:
        answer.reason = "not_covered"
    elif (entry["valid_from"] is not None and entry["valid_from"] > day) or \
            (entry["valid_to"] is not None and entry["valid_to"] < day):
        answer.reason = "item_not_valid"
    elif entry["patient_sex"] not in ("any", person["sex"]):
        answer.reason = "not_for_sex"
    elif entry["patient_age"] != "any" and \
            (entry["patient_age"] == "adult") != (age_on(person["birth_date"], day) >= row["adult_age"]):
        answer.reason = "not_for_age"
    elif any(v["remaining"] == 0 for v in (limits["count"], limits["amount"]) if v is not None):
        answer.reason = "limit_reached"
    else:
        answer.covered = True
    return answer


def _limit(limit: int | None, used: int | None) -> dict[str, int] | None:
    if limit is None:
        return None
    used = int(used or 0)
    return {"limit": limit, "used": used, "remaining": max(0, limit - used)}
