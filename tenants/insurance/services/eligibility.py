"""Eligibility: is this insuree covered for this item or service on this day, why not, and what is
left of the limits.

One query (decision 0303): the insuree's policies whose period contains the day (for a worker on an
employer's policy, the days they are covered: decision 0320), each with its
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

from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, Table, func, or_, select, true
from sqlalchemy.orm import Session

from schemehost.platform.db import TENANT_PLACEHOLDER
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import location_clause
from schemehost.tenants.insurance.models import InsuranceProduct, Policy, PolicyMember, ProductCoverage
from schemehost.tenants.insurance.value import age_on
from schemehost.tenants.registry.models import CatalogueEntry
from schemehost.tenants.registry.people import Individual

ORDER = ("not_covered", "item_not_valid", "not_for_sex", "not_for_age", "limit_reached", "waiting_period",
         "policy_not_active")

#: what insurees used under a policy (a view: empty until the claims module defines it over claimed lines)
#: (its own metadata: a view, not a table the migrations' model check should compare)
USAGE = Table("insurance_usage", MetaData(schema=TENANT_PLACEHOLDER), Column("policy_id", BigInteger),
              Column("individual_id", BigInteger), Column("entry_id", Integer), Column("used_on", Date),
              Column("quantity", Integer), Column("amount", BigInteger))


def _policies_stmt(entry_id: Any, individual_id: Any, day: date):
    cov = ProductCoverage
    used = (select(func.coalesce(func.sum(USAGE.c.quantity), 0).label("used_count"),
                   func.coalesce(func.sum(USAGE.c.amount), 0).label("used_amount"))
            .where(USAGE.c.policy_id == Policy.id, USAGE.c.individual_id == PolicyMember.individual_id,
                   USAGE.c.entry_id == cov.entry_id).lateral("used"))
    return (select(Policy.id, Policy.status, Policy.start_date, Policy.effective_date, Policy.expiry_date,
                   InsuranceProduct.code.label("product_code"), InsuranceProduct.adult_age,
                   cov.entry_id.is_not(None).label("covered"), cov.limit_count, cov.limit_amount,
                   func.coalesce(cov.copayment_percent, InsuranceProduct.copayment_percent).label("copayment_percent"),
                   used.c.used_count, used.c.used_amount)
            .select_from(PolicyMember)
            .join(Policy, Policy.id == PolicyMember.policy_id)
            .join(InsuranceProduct, InsuranceProduct.id == Policy.product_id)
            .outerjoin(cov, (cov.product_id == Policy.product_id) & (cov.entry_id == entry_id))
            .outerjoin(used, cov.entry_id.is_not(None))
            .where(PolicyMember.individual_id == individual_id, Policy.start_date <= day, Policy.expiry_date >= day,
                   # a worker is covered on the days the employer enrolled them for (None: the whole period)
                   or_(PolicyMember.covered_from.is_(None), PolicyMember.covered_from <= day),
                   or_(PolicyMember.covered_to.is_(None), PolicyMember.covered_to >= day))
            .order_by(Policy.start_date.desc(), Policy.id.desc()))


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
    ``kind`` ("item" / "service") when the caller named one. One statement: the person, the entry
    (outer-joined) and each policy covering the day (lateral, outer-joined)."""
    as_id = int(insuree) if insuree.isdigit() and len(insuree) < 19 else None
    match = Individual.scheme_number == insuree
    if as_id is not None:
        match = match | (Individual.id == as_id)
    found = (select(Individual.id.label("person_id"), Individual.sex, Individual.birth_date,
                    Individual.status.label("person_status"), Individual.scheme_number)
             .where(match).order_by((Individual.scheme_number == insuree).desc()).limit(1))
    clause = location_clause(principal, Individual.location_id) if principal is not None else None
    if clause is not None:
        found = found.where(clause)
    person = found.subquery("person")
    entry = (select(CatalogueEntry.id.label("entry_id"), CatalogueEntry.kind.label("entry_kind"),
                    CatalogueEntry.code.label("entry_code"), CatalogueEntry.name.label("entry_name"),
                    CatalogueEntry.valid_from, CatalogueEntry.valid_to, CatalogueEntry.patient_sex,
                    CatalogueEntry.patient_age)
             .where(CatalogueEntry.code == code).subquery("entry"))
    policies = _policies_stmt(entry.c.entry_id, person.c.person_id, day).lateral("policy")
    stmt = (select(person, entry, policies)
            .select_from(person.outerjoin(entry, true()).outerjoin(policies, true())))
    rows = session.execute(stmt).mappings().all()
    if not rows:
        return Answer(False, "unknown_insuree", day)
    first = rows[0]
    who = {"id": first["person_id"], "scheme_number": first["scheme_number"]}
    if first["person_status"] != "active":
        return Answer(False, "insuree_inactive", day, insuree=who)
    if first["entry_id"] is None or (kind is not None and first["entry_kind"] != kind):
        return Answer(False, "unknown_item", day, insuree=who)
    what = {"id": first["entry_id"], "kind": first["entry_kind"], "code": first["entry_code"],
            "name": first["entry_name"]}
    best: tuple[int, Answer] | None = None
    for row in rows:
        if row["id"] is None:
            continue
        answer = _judge(row, first, first, day, who, what)
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
