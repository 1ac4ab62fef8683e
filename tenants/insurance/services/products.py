"""Insurance products: create, read, change, with their covered items and services.

A product row is one version of a product code. A version that policies use is never changed in a
way that would alter them (contribution rules, periods, cycles, coverage, cost sharing): such a change
makes a new version (``version`` + 1) valid from a later date, and the old version's validity ends the
day before (decision 0300). Its name and the end of its validity can still be changed in place.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound
from schemehost.tenants.identity import audit
from schemehost.tenants.insurance.models import NAME_LENGTH, Holder, InsuranceProduct, Policy, ProductCoverage
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import CatalogueEntry

ENTITY = "insurance_product"
AMOUNT_FIELDS = ("lump_sum", "premium_adult", "premium_child", "registration_lump_sum", "registration_fee",
                 "assembly_lump_sum", "assembly_fee", "premium_worker")
DAY_FIELDS = {"enrolment_discount_days": 3650, "renewal_discount_days": 3650, "grace_period_days": 366,
              "waiting_period_days": 366, "renewal_reminder_days": 366, "renewal_grace_days": 366}
PERCENT_FIELDS = ("enrolment_discount_percent", "renewal_discount_percent", "copayment_percent")
#: deductibles and ceilings: kind x scope x care, e.g. ``ceiling_policy_in_patient``
COST_KEYS = tuple(f"{kind}_{scope}_{care}" for kind in ("deductible", "ceiling")
                  for scope in ("insuree", "policy", "treatment") for care in ("in_patient", "out_patient"))
#: every field a caller may give (``coverage`` is a list of covered items and services)
FIELDS = ("code", "name", "valid_from", "valid_to", "insurance_period_months", "max_members", "threshold",
          "adult_age", *AMOUNT_FIELDS, *PERCENT_FIELDS, *DAY_FIELDS, "cycle_starts", "cost_sharing",
          "holder", "wage_rate_percent", "requires_incident")
#: fields whose change would alter existing policies: a product in use gets a new version instead
VERSIONED = tuple(f for f in FIELDS if f not in ("name", "valid_to", "code"))
DEFAULTS: dict[str, Any] = {
    "valid_to": None, "max_members": None, "threshold": 0, "adult_age": 18, **{f: 0 for f in AMOUNT_FIELDS},
    **{f: Decimal(0) for f in PERCENT_FIELDS}, **{f: 0 for f in DAY_FIELDS}, "renewal_reminder_days": 30,
    "cycle_starts": [], "cost_sharing": {}, "holder": Holder.household.value, "wage_rate_percent": None,
    "requires_incident": False}
#: what only a product for households uses, and what only a product for employers uses (decision 0321)
HOUSEHOLD_ONLY = ("threshold", "premium_adult", "premium_child", "max_members")
EMPLOYER_ONLY = ("premium_worker", "wage_rate_percent")


# ---- reading -----------------------------------------------------------------------------------------


def get_product(session: Session, product_id: Any, *, lock: bool = False) -> InsuranceProduct:
    product = None
    if isinstance(product_id, int) and not isinstance(product_id, bool) and 0 < product_id < 2**31:
        stmt = select(InsuranceProduct).where(InsuranceProduct.id == product_id)
        product = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if product is None:
        raise NotFound(_("No insurance product with id %(id)s.", id=product_id),
                       errors={"product_id": [_("unknown insurance product")]})
    return product


def product_valid_on(session: Session, code: str, on: date) -> InsuranceProduct:
    """The latest version of product ``code`` valid on ``on`` (404 when none is)."""
    product = session.execute(
        select(InsuranceProduct).where(InsuranceProduct.code == code, InsuranceProduct.valid_from <= on,
                                       InsuranceProduct.valid_to.is_(None) | (InsuranceProduct.valid_to >= on))
        .order_by(InsuranceProduct.version.desc()).limit(1)).scalar_one_or_none()
    if product is None:
        raise NotFound(_("No product '%(code)s' is valid on %(day)s.", code=code, day=on.isoformat()),
                       errors={"product": [_("no version of this product is valid on that date")]})
    return product


def list_products(session: Session, *, code: str | None = None, valid_on: date | None = None,
                  latest: bool = False, after_id: int | None = None, limit: int = 100) -> list[InsuranceProduct]:
    stmt = select(InsuranceProduct).order_by(InsuranceProduct.id).limit(limit)
    if code:
        stmt = stmt.where(InsuranceProduct.code == code)
    if valid_on is not None:
        stmt = stmt.where(InsuranceProduct.valid_from <= valid_on,
                          InsuranceProduct.valid_to.is_(None) | (InsuranceProduct.valid_to >= valid_on))
    if latest:
        top = (select(InsuranceProduct.code, func.max(InsuranceProduct.version).label("v"))
               .group_by(InsuranceProduct.code).subquery())
        stmt = stmt.join(top, (top.c.code == InsuranceProduct.code) & (top.c.v == InsuranceProduct.version))
    if after_id is not None:
        stmt = stmt.where(InsuranceProduct.id > after_id)
    return list(session.execute(stmt).scalars())


def coverage(session: Session, product_id: int) -> list[dict[str, Any]]:
    """The product's covered items and services, by code, with their limits."""
    rows = session.execute(select(ProductCoverage, CatalogueEntry)
                           .join(CatalogueEntry, CatalogueEntry.id == ProductCoverage.entry_id)
                           .where(ProductCoverage.product_id == product_id)).all()
    out = []
    for row, entry in rows:
        out.append({"entry_id": entry.id, "kind": entry.kind, "code": entry.code, "name": entry.name,
                    "limit_count": row.limit_count, "limit_amount": row.limit_amount,
                    "copayment_percent": row.copayment_percent})
    out.sort(key=lambda r: (r["kind"], r["code"]))
    return out


def in_use(session: Session, product_id: int) -> bool:
    return bool(session.execute(select(exists().where(Policy.product_id == product_id))).scalar())


# ---- writing -----------------------------------------------------------------------------------------


def create_product(session: Session, *, coverage: list[dict[str, Any]] | None = None,
                   **fields: Any) -> InsuranceProduct:
    """A new product (version 1); 409 for a taken code, 422 naming every bad field."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    values = {**DEFAULTS, **{k: v for k, v in fields.items()}}
    clean, lines = _check(session, values, coverage or [])
    if session.execute(select(exists().where(InsuranceProduct.code == clean["code"]))).scalar():
        raise Conflict(_("The code '%(code)s' is already taken.", code=clean["code"]),
                       errors={"code": [_("This code is already taken.")]})
    product = InsuranceProduct(**clean, version=1, currency=reg.tenant_currency(session))
    _insert(session, product, lines)
    audit.record(session, "create", ENTITY, product.id, after=snapshot(product, lines))
    return product


def update_product(session: Session, product_id: int, *, coverage: list[dict[str, Any]] | None = None,
                   **changes: Any) -> tuple[InsuranceProduct, bool]:
    """Change a product; returns (the product, whether a new version was made). A product that
    policies use gets a new version when a change would alter them (decision 0300); only the latest
    version of a code can be changed."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown product fields: {sorted(unknown)}")
    product = get_product(session, product_id, lock=True)
    latest = session.execute(select(func.max(InsuranceProduct.version))
                             .where(InsuranceProduct.code == product.code)).scalar_one()
    if product.version != latest:
        raise Conflict(_("Version %(v)d of '%(code)s' is not the latest; change the latest version.",
                         v=product.version, code=product.code),
                       errors={"version": [_("only the latest version can be changed")]})
    current = {f: getattr(product, f) for f in FIELDS}
    old_lines = _lines_of(session, product.id)
    values = {**current, **changes}
    if "code" in changes and changes["code"] != product.code:
        problems = c.Problems()
        problems.add("code", _("The code of a product cannot change; make a new product."))
        problems.raise_if_any(_("The product cannot be changed."))
    if "holder" in changes and changes["holder"] != product.holder:
        problems = c.Problems()
        problems.add("holder", _("Whom a product insures cannot change; make a new product."))
        problems.raise_if_any(_("The product cannot be changed."))
    new_coverage = coverage if coverage is not None else [
        {"entry_id": e, **limits} for e, limits in old_lines.items()]
    clean, lines = _check(session, values, new_coverage, existing=product)
    if product.version > 1 and clean["valid_from"] != product.valid_from:
        previous_end = session.execute(select(InsuranceProduct.valid_to).where(
            InsuranceProduct.code == product.code, InsuranceProduct.version == product.version - 1)).scalar()
        if previous_end is not None and clean["valid_from"] <= previous_end:
            problems = c.Problems()
            problems.add("valid_from", _("Version %(v)d is valid until %(day)s: this version starts after it.",
                                         v=product.version - 1, day=previous_end.isoformat()))
            problems.raise_if_any(_("The product cannot be changed."))
    altering = [f for f in VERSIONED if _differs(clean[f], current[f])] + (["coverage"] if lines != old_lines else [])
    if altering and in_use(session, product.id):
        asked = clean["valid_from"] if clean["valid_from"] != product.valid_from else None
        return _new_version(session, product, clean, lines, altering, asked), True
    before = snapshot(product, old_lines)
    for key, value in clean.items():
        setattr(product, key, value)
    if lines != old_lines:
        session.execute(delete(ProductCoverage).where(ProductCoverage.product_id == product.id))
        session.add_all(ProductCoverage(product_id=product.id, entry_id=e, **limits) for e, limits in lines.items())
    session.flush()
    after = snapshot(product, lines)
    if after != before:
        audit.record(session, "update", ENTITY, product.id, before=before, after=after)
    return product, False


def _new_version(session: Session, old: InsuranceProduct, clean: dict[str, Any], lines: dict[int, dict],
                 altering: list[str], asked_from: Any) -> InsuranceProduct:
    today = date.today()
    earliest = max(today, old.valid_from + timedelta(days=1))
    start = clean["valid_from"] if asked_from is not None else earliest
    if start < earliest:
        problems = c.Problems()
        problems.add("valid_from", _("Policies use this product: the new version can start on %(day)s at the "
                                     "earliest.", day=earliest.isoformat()))
        problems.raise_if_any(_("The new version cannot start then."))
    if clean["valid_to"] is not None and clean["valid_to"] < start:
        clean["valid_to"] = None
    before_old = snapshot(old, _lines_of(session, old.id))
    old.valid_to = start - timedelta(days=1) if old.valid_to is None or old.valid_to >= start else old.valid_to
    clean = {**clean, "valid_from": start}
    product = InsuranceProduct(**clean, version=old.version + 1, currency=old.currency)
    _insert(session, product, lines)
    audit.record(session, "update", ENTITY, old.id, before=before_old, after=snapshot(old, _lines_of(session, old.id)),
                 details={"superseded_by": product.id})
    audit.record(session, "create", ENTITY, product.id, after=snapshot(product, lines),
                 details={"new_version_of": old.id, "changed": altering})
    return product


def _insert(session: Session, product: InsuranceProduct, lines: dict[int, dict]) -> None:
    session.add(product)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_("The code '%(code)s' is already taken.", code=product.code),
                       errors={"code": [_("This code is already taken.")]}) from None
    session.add_all(ProductCoverage(product_id=product.id, entry_id=e, **limits) for e, limits in lines.items())
    session.flush()


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (Decimal, int)) and isinstance(b, (Decimal, int)) and not isinstance(a, bool):
        return Decimal(a) != Decimal(b)
    return a != b


def _lines_of(session: Session, product_id: int) -> dict[int, dict[str, Any]]:
    return {row.entry_id: {"limit_count": row.limit_count, "limit_amount": row.limit_amount,
                           "copayment_percent": row.copayment_percent}
            for row in session.execute(select(ProductCoverage).where(ProductCoverage.product_id == product_id))
            .scalars()}


def _check(session: Session, values: dict[str, Any], coverage: list[dict[str, Any]],
           existing: InsuranceProduct | None = None) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """Every field checked, all problems at once (422)."""
    p = c.Problems()
    out: dict[str, Any] = {
        "code": c.code(values.get("code"), p),
        "name": c.text(values.get("name"), p, "name", limit=NAME_LENGTH),
        "valid_from": c.day(values.get("valid_from"), p, "valid_from", required=True),
        "valid_to": c.day(values.get("valid_to"), p, "valid_to"),
        "insurance_period_months": c.count(values.get("insurance_period_months"), p, "insurance_period_months",
                                           low=1, high=120, required=True),
        "max_members": c.count(values.get("max_members"), p, "max_members", low=1, high=100),
        "threshold": c.count(values.get("threshold"), p, "threshold", high=100, required=True),
        "adult_age": c.count(values.get("adult_age"), p, "adult_age", low=1, high=120, required=True),
    }
    for f in AMOUNT_FIELDS:
        value = values.get(f)
        out[f] = c.amount(value, p, f) if value is not None else 0
    for f in PERCENT_FIELDS:
        value = c.percent(values.get(f), p, f)
        out[f] = value if value is not None else Decimal(0)
    for f, high in DAY_FIELDS.items():
        value = values.get(f)
        out[f] = c.count(value, p, f, high=high) if value is not None else DEFAULTS[f]
    out["cycle_starts"] = _cycles(values.get("cycle_starts"), p)
    out["cost_sharing"] = _cost_sharing(values.get("cost_sharing"), p)
    out["holder"] = c.choice(values.get("holder"), tuple(h.value for h in Holder), p, "holder")
    out["wage_rate_percent"] = _wage_rate(values.get("wage_rate_percent"), p)
    incident = values.get("requires_incident")
    if not isinstance(incident, bool):
        p.add("requires_incident", _("Yes or no (true or false)."))
    out["requires_incident"] = bool(incident)
    if out["valid_from"] and out["valid_to"] and out["valid_to"] < out["valid_from"]:
        p.add("valid_to", _("The end of validity cannot be before its start."))
    if out["holder"] == Holder.employer:
        for f in HOUSEHOLD_ONLY:
            if out[f] and f not in p:
                p.add(f, _("A product for employers' workers does not use this: leave it empty."))
        if "lump_sum" not in p and "premium_worker" not in p and "wage_rate_percent" not in p \
                and not (out["lump_sum"] or out["premium_worker"] or out["wage_rate_percent"]):
            p.add("wage_rate_percent", _("A product for employers needs a rate of wages or a premium per worker."))
        if out["wage_rate_percent"] and out["premium_worker"]:
            p.add("premium_worker", _("Give a rate of wages or a premium per worker, not both."))
    elif out["holder"] == Holder.household:
        for f in EMPLOYER_ONLY:
            if out[f] and f not in p:
                p.add(f, _("Only a product for employers' workers uses this: leave it empty."))
        if "lump_sum" not in p and "premium_adult" not in p and "premium_child" not in p \
                and not (out["lump_sum"] or out["premium_adult"] or out["premium_child"]):
            p.add("lump_sum", _("A product needs a lump sum or a premium per adult or child."))
    if out["threshold"] and not out["lump_sum"] and "lump_sum" not in p:
        p.add("threshold", _("Members covered by the lump sum need a lump sum."))
    if out["max_members"] and out["threshold"] and out["threshold"] > out["max_members"]:
        p.add("threshold", _("The lump sum cannot cover more members than the product insures (%(n)d).",
                             n=out["max_members"]))
    if out["grace_period_days"] and not out["cycle_starts"] and "grace_period_days" not in p:
        p.add("grace_period_days", _("A grace period needs enrolment cycles."))
    lines = _coverage(session, coverage, p)
    p.raise_if_any(_("The product cannot be saved."))
    return out, lines


def _wage_rate(value: Any, p: c.Problems) -> Decimal | None:
    """A percentage of wages above 0 and up to 100 with at most 3 decimals (1.4 = 1.4 %), or None."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else None
    except ArithmeticError:
        number = None
    if number is None or not number.is_finite() or not 0 < number <= 100 or number != round(number, 3):
        p.add("wage_rate_percent", _("A percentage of wages above 0 and up to 100, with at most 3 decimals."))
        return None
    return number.quantize(Decimal("0.001"))


def _cycles(value: Any, p: c.Problems) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        p.add("cycle_starts", _("A list of start dates in the year, such as 01-01, 07-01."))
        return []
    days = []
    for item in value:
        try:
            if not isinstance(item, str) or len(item) != 5 or item[2] != "-" or item == "02-29":
                raise ValueError
            date(2025, int(item[:2]), int(item[3:]))
            days.append(item)
        except ValueError:
            p.add("cycle_starts", _("'%(value)s' is not a day of the year such as 07-01 (29 February is not "
                                    "allowed).", value=str(item)))
    if len(set(days)) != len(days):
        p.add("cycle_starts", _("A start date is given twice."))
    return sorted(set(days))


def _cost_sharing(value: Any, p: c.Problems) -> dict[str, int]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        p.add("cost_sharing", _("Deductibles and ceilings by name, such as ceiling_policy_in_patient."))
        return {}
    out = {}
    for key, amount in value.items():
        if key not in COST_KEYS:
            p.add(f"cost_sharing.{key}", _("Unknown deductible or ceiling; one of: %(keys)s.",
                                            keys=", ".join(COST_KEYS)))
        elif amount is not None:
            clean = c.amount(amount, p, f"cost_sharing.{key}")
            if clean is not None:
                out[key] = clean
    for key, amount in out.items():
        if key.startswith("ceiling_"):
            floor = out.get("deductible_" + key[len("ceiling_"):])
            if floor is not None and amount < floor:
                p.add(f"cost_sharing.{key}", _("A ceiling cannot be below the deductible of the same kind."))
    return dict(sorted(out.items()))


def _coverage(session: Session, coverage: Any, p: c.Problems) -> dict[int, dict[str, Any]]:
    """Covered items and services by catalogue entry id: each line names an entry by ``entry_id``, or
    by ``code`` (or ``item`` / ``service``), with optional ``limit_count``, ``limit_amount`` and
    ``copayment_percent``."""
    if coverage is None:
        return {}
    if not isinstance(coverage, list):
        p.add("coverage", _("A list of covered items and services."))
        return {}
    lines: dict[int, dict[str, Any]] = {}
    for i, line in enumerate(coverage):
        where = f"coverage.{i}"
        if not isinstance(line, dict):
            p.add(where, _("An item or service with its limits."))
            continue
        entry = None
        try:
            if line.get("entry_id") is not None:
                entry = reg.get_entry(session, line["entry_id"])
            else:
                wanted = line.get("code") or line.get("item") or line.get("service")
                if not isinstance(wanted, str) or not wanted.strip():
                    p.add(f"{where}.code", _("The code of an item or service of the catalogue is needed."))
                    continue
                entry = reg.get_entry_by_code(session, wanted.strip())
                kind = "item" if line.get("item") else "service" if line.get("service") else None
                if kind and entry.kind != kind:
                    p.add(f"{where}.code", _("'%(code)s' is not an %(kind)s of the catalogue.", code=entry.code,
                                             kind=kind))
                    continue
        except NotFound:
            p.add(f"{where}.code", _("No item or service with this code in the catalogue."))
            continue
        if entry.id in lines:
            p.add(f"{where}.code", _("'%(code)s' is listed twice.", code=entry.code))
            continue
        lines[entry.id] = {
            "limit_count": c.count(line.get("limit_count"), p, f"{where}.limit_count", high=2**31 - 1),
            "limit_amount": c.amount(line.get("limit_amount"), p, f"{where}.limit_amount"),
            "copayment_percent": c.percent(line.get("copayment_percent"), p, f"{where}.copayment_percent"),
        }
    return lines


def snapshot(product: InsuranceProduct, lines: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"code": product.code, "version": product.version}
    for f in FIELDS:
        value = getattr(product, f)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[f] = value
    if lines is not None:
        out["coverage"] = {str(e): {k: (str(v) if isinstance(v, Decimal) else v) for k, v in limits.items()}
                           for e, limits in sorted(lines.items())}
    return out
