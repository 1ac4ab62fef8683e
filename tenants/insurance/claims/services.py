"""Claim entry: create a claim with its lines in one transaction, change it while it is ``entered``,
read and list claims.

Every bad field of a request is reported at once (422, ``errors`` by field; line fields as
``lines.<i>.<field>``, ``i`` counted from 0) and nothing is saved. A claim number already used by the
facility is a conflict (409, field ``code``), also when two entries race (the unique constraint).
Facility staff restricted to locations (``user_locations``) only enter and see claims of facilities
within their area (:func:`schemehost.tenants.identity.scoping.location_clause`); an insuree is found by
scheme number wherever they live (people are treated away from home).

A line's price may be left out: the facility's price list (else the shared one, else the catalogue's
unit price) on the first day of the visit gives it. Amounts are minor units of the tenant's currency.
Every change is audited (``claims.create``, ``claims.update``).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.identity.scoping import location_clause
from schemehost.tenants.insurance.claims import icd10
from schemehost.tenants.insurance.claims.models import (CODE_LENGTH, ClaimLine, ClaimStatus, InsuranceClaim,
                                                        VisitType)
from schemehost.tenants.insurance.models import WorkIncident
from schemehost.tenants.insurance.services import _clean as c
from schemehost.tenants.registry.models import CatalogueEntry, HealthFacility, PriceList, PriceListLine
from schemehost.tenants.registry.people import Individual
from schemehost.tenants.registry.services import tenant_currency

ENTITY = "claim"
MAX_LINES = 200
MAX_QUANTITY = 100_000
MAX_SECONDARY = 12
VISIT_TYPES = tuple(v.value for v in VisitType)
#: the tenant setting holding the scheme's insurance rules, and its member for the submission deadline
INSURANCE_SETTING = "insurance"
DEADLINE_KEY = "claim_submission_days"
MAX_DEADLINE_DAYS = 3650
#: claim fields a caller gives (lines aside)
FIELDS = ("code", "facility", "insuree", "visit_type", "date_from", "date_to", "date_claimed", "icd_code",
          "icd_codes", "incident_id")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ---- reading -------------------------------------------------------------------------------------------


def _scoped(stmt, principal: Principal | None):
    """``stmt`` over claims limited to facilities within the principal's area."""
    if principal is None:
        return stmt
    clause = location_clause(principal, HealthFacility.location_id)
    if clause is None:
        return stmt
    return stmt.where(InsuranceClaim.facility_id.in_(select(HealthFacility.id).where(clause)))


def get_claim(session: Session, claim_id: Any, *, principal: Principal | None) -> InsuranceClaim:
    """The claim with this id, of a facility within the principal's area (404 otherwise)."""
    found = None
    if isinstance(claim_id, int) and not isinstance(claim_id, bool) and 0 < claim_id < 2**63:
        found = session.execute(_scoped(select(InsuranceClaim).where(InsuranceClaim.id == claim_id),
                                        principal)).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No claim with id %(id)s.", id=claim_id), errors={"claim_id": [_("unknown claim")]})
    return found


def claim_lines(session: Session, claim_id: int) -> list[dict[str, Any]]:
    """The claim's lines in order, each with its catalogue entry's code, kind and name."""
    return _lines_of(session, [claim_id]).get(claim_id, [])


def _lines_of(session: Session, claim_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = session.execute(
        select(ClaimLine, CatalogueEntry.code, CatalogueEntry.kind, CatalogueEntry.name)
        .join(CatalogueEntry, CatalogueEntry.id == ClaimLine.entry_id)
        .where(ClaimLine.claim_id.in_(claim_ids)).order_by(ClaimLine.claim_id, ClaimLine.line_no)).all()
    out: dict[int, list[dict[str, Any]]] = {}
    for line, code, kind, name in rows:
        item = {f: getattr(line, f) for f in (
            "line_no", "entry_id", "quantity", "price", "status", "rejection_reason", "approved_quantity",
            "approved_price", "list_price", "valuated", "copayment", "deductible")}
        item.update(code=code, kind=kind, name=name, amount=line.quantity * line.price)
        out.setdefault(line.claim_id, []).append(item)
    return out


CLAIM_FIELDS = ("id", "code", "facility_id", "individual_id", "policy_id", "product_id", "visit_type", "date_from",
                "date_to", "date_claimed", "icd_code", "icd_codes", "status", "currency", "claimed", "approved",
                "valuated", "rejection_reason", "review_status", "feedback_status", "review_note", "incident_id",
                "statement_id", "version", "entered_by", "processed_by", "checked_at", "processed_at",
                "valuated_at", "created_at", "updated_at")


def claim_views(session: Session, claims: list[InsuranceClaim]) -> list[dict[str, Any]]:
    """The claims as the API and the console show them: their fields, facility and insuree, lines
    (three queries for the whole page, whatever its size)."""
    if not claims:
        return []
    ids = [c.id for c in claims]
    facilities = {f.id: f for f in session.execute(
        select(HealthFacility.id, HealthFacility.code, HealthFacility.name)
        .where(HealthFacility.id.in_({c.facility_id for c in claims}))).all()}
    people = {p.id: p for p in session.execute(
        select(Individual.id, Individual.scheme_number, Individual.given_name, Individual.family_name)
        .where(Individual.id.in_({c.individual_id for c in claims}))).all()}
    lines = _lines_of(session, ids)
    out = []
    for claim in claims:
        view = {f: getattr(claim, f) for f in CLAIM_FIELDS}
        facility, person = facilities[claim.facility_id], people[claim.individual_id]
        view["facility"] = {"id": facility.id, "code": facility.code, "name": facility.name}
        view["insuree"] = {"id": person.id, "scheme_number": person.scheme_number,
                           "name": f"{person.given_name} {person.family_name}"}
        view["lines"] = lines.get(claim.id, [])
        out.append(view)
    return out


def claim_view(session: Session, claim: InsuranceClaim) -> dict[str, Any]:
    """One claim as :func:`claim_views` shows it."""
    return claim_views(session, [claim])[0]


def list_claims(session: Session, *, principal: Principal | None, status: str | None = None,
                facility_id: int | None = None, facility_code: str | None = None, individual_id: int | None = None,
                date_from: date | None = None, date_to: date | None = None, review_status: str | None = None,
                feedback_status: str | None = None, code: str | None = None, after_id: int | None = None,
                before_id: int | None = None, newest_first: bool = False, limit: int = 100) -> list[InsuranceClaim]:
    """Claims in id order (keyset: ``after_id`` ascending, or ``before_id`` with ``newest_first``),
    filtered by status, facility, insuree, first day of the visit (from/to), selection, claim number."""
    stmt = _scoped(select(InsuranceClaim), principal).limit(limit)
    stmt = stmt.order_by(InsuranceClaim.id.desc() if newest_first else InsuranceClaim.id)
    if status:
        stmt = stmt.where(InsuranceClaim.status == status)
    if facility_id is not None:
        stmt = stmt.where(InsuranceClaim.facility_id == facility_id)
    if facility_code:
        stmt = stmt.where(InsuranceClaim.facility_id.in_(
            select(HealthFacility.id).where(HealthFacility.code == facility_code)))
    if individual_id is not None:
        stmt = stmt.where(InsuranceClaim.individual_id == individual_id)
    if date_from is not None:
        stmt = stmt.where(InsuranceClaim.date_from >= date_from)
    if date_to is not None:
        stmt = stmt.where(InsuranceClaim.date_from <= date_to)
    if review_status:
        stmt = stmt.where(InsuranceClaim.review_status == review_status)
    if feedback_status:
        stmt = stmt.where(InsuranceClaim.feedback_status == feedback_status)
    if code:
        stmt = stmt.where(InsuranceClaim.code == code)
    if after_id is not None:
        stmt = stmt.where(InsuranceClaim.id > after_id)
    if before_id is not None:
        stmt = stmt.where(InsuranceClaim.id < before_id)
    return list(session.execute(stmt).scalars())


def snapshot(claim: InsuranceClaim) -> dict[str, Any]:
    """What the audit keeps of a claim (no personal data: ids and figures)."""
    return {"code": claim.code, "facility_id": claim.facility_id, "individual_id": claim.individual_id,
            "visit_type": claim.visit_type, "date_from": claim.date_from.isoformat(),
            "date_to": claim.date_to.isoformat() if claim.date_to else None, "icd_code": claim.icd_code,
            "icd_codes": list(claim.icd_codes or []), "status": claim.status, "claimed": claim.claimed,
            "approved": claim.approved, "version": claim.version}


# ---- cleaning ------------------------------------------------------------------------------------------


def _icd(value: Any, p: c.Problems, field: str) -> str | None:
    text = value.strip().upper() if isinstance(value, str) else None
    if not text:
        p.add(field, _("An ICD-10 code is needed."))
        return None
    if len(text) > 3 and "." not in text:
        text = f"{text[:3]}.{text[3:]}"
    if not icd10.CODE_RE.match(text):
        p.add(field, _("Not an ICD-10 code (a letter, two digits, and maybe a dot and more, e.g. B54 or A09.0)."))
        return None
    return text


def _positive_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value < 2**63:
        return value
    return None


class Lookups:
    """What :func:`clean_claim` asks the database: one query per question (a claim entered alone).
    :class:`BatchLookups` answers the same from a few queries made for a whole file."""

    def __init__(self, session: Session, principal: Principal | None) -> None:
        self.session, self.principal = session, principal

    def _facilities(self):
        stmt = select(HealthFacility.id, HealthFacility.code, HealthFacility.status)
        clause = location_clause(self.principal, HealthFacility.location_id) if self.principal is not None else None
        return stmt if clause is None else stmt.where(clause)

    def facility(self, code: str | None, facility_id: int | None):
        stmt = self._facilities()
        stmt = stmt.where(HealthFacility.code == code) if code is not None else stmt.where(HealthFacility.id == facility_id)
        return self.session.execute(stmt).first()

    def person(self, number: str | None, person_id: int | None):
        stmt = select(Individual.id, Individual.scheme_number, Individual.status)
        stmt = stmt.where(Individual.scheme_number == number) if number is not None else \
            stmt.where(Individual.id == person_id)
        return self.session.execute(stmt).first()

    def unknown_icd(self, codes: list[str]) -> set[str]:
        return icd10.unknown(self.session, codes)

    def entries(self, codes: list[str]) -> dict[str, Any]:
        if not codes:
            return {}
        return {row.code: row for row in self.session.execute(
            select(CatalogueEntry.id, CatalogueEntry.code, CatalogueEntry.kind, CatalogueEntry.unit_price)
            .where(CatalogueEntry.code.in_(codes)))}

    def prices(self, entry_ids: list[int], facility_id: int | None, day: date) -> dict[int, int]:
        return _list_prices(self.session, entry_ids, facility_id, day)


class BatchLookups(Lookups):
    """:class:`Lookups` for many claims at once (a CSV file): facilities, insurees, ICD-10 codes and
    catalogue entries of the whole file in one query each, price lists of its entries in one more."""

    def __init__(self, session: Session, principal: Principal | None, *, facilities: set[str],
                 numbers: set[str], icd_codes: set[str], entry_codes: set[str]) -> None:
        super().__init__(session, principal)
        self._fac = {r.code: r for r in session.execute(
            self._facilities().where(HealthFacility.code.in_(facilities)))} if facilities else {}
        self._people = {r.scheme_number: r for r in session.execute(
            select(Individual.id, Individual.scheme_number, Individual.status)
            .where(Individual.scheme_number.in_(numbers)))} if numbers else {}
        self._icd_unknown = icd10.unknown(session, icd_codes)
        self._entries = super().entries(sorted(entry_codes))
        # what was asked ahead; anything else (a value cleaned into another form) is asked on its own
        self._asked = {"facility": set(facilities), "person": set(numbers), "icd": set(icd_codes),
                       "entry": set(entry_codes)}
        self._price_rows: list | None = None

    def facility(self, code: str | None, facility_id: int | None):
        if code is not None and code in self._asked["facility"]:
            return self._fac.get(code)
        return super().facility(code, facility_id)

    def person(self, number: str | None, person_id: int | None):
        if number is not None and number in self._asked["person"]:
            return self._people.get(number)
        return super().person(number, person_id)

    def unknown_icd(self, codes: list[str]) -> set[str]:
        rest = [code for code in codes if code not in self._asked["icd"]]
        return {code for code in codes if code in self._icd_unknown} | (super().unknown_icd(rest) if rest else set())

    def entries(self, codes: list[str]) -> dict[str, Any]:
        rest = [code for code in codes if code not in self._asked["entry"]]
        found = {code: self._entries[code] for code in codes if code in self._entries}
        return {**found, **super().entries(rest)} if rest else found

    def prices(self, entry_ids: list[int], facility_id: int | None, day: date) -> dict[int, int]:
        if self._price_rows is None:
            ids = [e.id for e in self._entries.values()]
            self._price_rows = self.session.execute(
                select(PriceListLine.entry_id, PriceListLine.price, PriceList.facility_id, PriceList.valid_from,
                       PriceList.valid_to, PriceList.id)
                .join(PriceList, PriceList.id == PriceListLine.price_list_id)
                .where(PriceListLine.entry_id.in_(ids))).all() if ids else []
        wanted, best = set(entry_ids), {}
        for row in self._price_rows:  # the facility's own list first, then the latest valid one
            if row.entry_id in wanted and row.facility_id in (None, facility_id) and row.valid_from <= day \
                    and (row.valid_to is None or row.valid_to >= day):
                key = (row.facility_id is not None, row.valid_from, row.id)
                if row.entry_id not in best or key > best[row.entry_id][0]:
                    best[row.entry_id] = (key, row.price)
        return {entry_id: price for entry_id, (_key, price) in best.items()}


def clean_claim(session: Session, data: dict[str, Any], *, principal: Principal | None, p: c.Problems,
                today: date | None = None, lookups: Lookups | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The claim's column values and its lines' values from ``data`` (codes resolved to ids, prices
    filled in), with every problem added to ``p``. ``data``: ``code``, ``facility`` (code) or
    ``facility_id``, ``insuree`` (scheme number) or ``individual_id``, ``visit_type``, ``date_from``,
    ``date_to``, ``date_claimed``, ``icd_code``, ``icd_codes``, ``incident_id``, ``lines`` (each with
    ``item`` or ``service`` or ``code``, ``quantity``, ``price``)."""
    today = today or date.today()
    look = lookups or Lookups(session, principal)
    values: dict[str, Any] = {}
    values["code"] = c.code(data.get("code"), p, "code") or None
    # facility: by code or id, within the principal's area
    facility = None
    fac_code, fac_id = data.get("facility"), data.get("facility_id")
    if isinstance(fac_code, str) and fac_code.strip():
        facility = look.facility(fac_code.strip()[:CODE_LENGTH], None)
    elif _positive_id(fac_id) is not None:
        facility = look.facility(None, fac_id)
    else:
        p.add("facility", _("The facility's code is needed."))
    if "facility" not in p:
        if facility is None:
            p.add("facility", _("No health facility has this code (in your area)."))
        elif facility.status != "active":
            p.add("facility", _("This facility is not active."))
    values["facility_id"] = facility.id if facility is not None else None
    # insuree: scheme number or id
    person = None
    number, person_id = data.get("insuree"), data.get("individual_id")
    if isinstance(number, str) and number.strip():
        person = look.person(number.strip()[:50], None)
    elif _positive_id(person_id) is not None:
        person = look.person(None, person_id)
    else:
        p.add("insuree", _("The number on the insuree's card is needed."))
        number = ""
    if person is None and "insuree" not in p:
        p.add("insuree", _("No insuree has this number."))
    elif person is not None and person.status == "erased":
        p.add("insuree", _("No insuree has this number."))
        person = None
    values["individual_id"] = person.id if person is not None else None
    values["visit_type"] = c.choice(data.get("visit_type"), VISIT_TYPES, p, "visit_type")
    date_from = c.day(data.get("date_from"), p, "date_from", required=True)
    date_to = c.day(data.get("date_to"), p, "date_to")
    date_claimed = c.day(data.get("date_claimed"), p, "date_claimed") or today
    if date_from is not None and date_from > today:
        p.add("date_from", _("The visit cannot start in the future."))
    if date_to is not None and date_to > today:
        p.add("date_to", _("The visit cannot end in the future."))
    if date_from is not None and date_to is not None and date_to < date_from:
        p.add("date_to", _("The end cannot be before the start."))
    if date_claimed > today:
        p.add("date_claimed", _("The claim cannot be dated in the future."))
    elif date_from is not None and date_claimed < (date_to or date_from):
        p.add("date_claimed", _("The claim cannot be dated before the visit ended."))
    values.update(date_from=date_from, date_to=date_to, date_claimed=date_claimed)
    # diagnoses: the main one and up to 12 others, all in the reference list
    main = _icd(data.get("icd_code"), p, "icd_code")
    secondary: list[str] = []
    raw = data.get("icd_codes") or []
    if isinstance(raw, str):
        raw = [part for part in raw.replace(";", " ").replace(",", " ").split()]
    if not isinstance(raw, list) or len(raw) > MAX_SECONDARY:
        p.add("icd_codes", _("At most %(n)d other diagnoses.", n=MAX_SECONDARY))
        raw = []
    for value in raw:
        code = _icd(value, p, "icd_codes")
        if code and code != main and code not in secondary:
            secondary.append(code)
    missing = look.unknown_icd([x for x in (main, *secondary) if x])
    if main in missing:
        p.add("icd_code", _("%(code)s is not in the ICD-10 list.", code=main))
    for code in secondary:
        if code in missing:
            p.add("icd_codes", _("%(code)s is not in the ICD-10 list.", code=code))
    values.update(icd_code=main, icd_codes=secondary)
    incident = data.get("incident_id")
    if incident is not None:
        found = session.execute(select(WorkIncident.individual_id).where(WorkIncident.id == incident)).first() \
            if _positive_id(incident) is not None else None
        if found is None or (values["individual_id"] is not None and found.individual_id != values["individual_id"]):
            p.add("incident_id", _("No work incident of this insuree has this number."))
            incident = None
    values["incident_id"] = incident
    lines = _clean_lines(look, data.get("lines"), values["facility_id"], date_from, p)
    return values, lines


def _clean_lines(look: Lookups, raw: Any, facility_id: int | None, day: date | None,
                 p: c.Problems) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        p.add("lines", _("A claim needs at least one item or service."))
        return []
    if len(raw) > MAX_LINES:
        p.add("lines", _("At most %(n)d lines.", n=MAX_LINES))
        return []
    wanted: list[tuple[str | None, str | None]] = []  # (kind, code) per line
    for i, line in enumerate(raw):
        line = line if isinstance(line, dict) else {}
        kind, code = None, line.get("code")
        for k in ("item", "service"):
            if line.get(k):
                kind, code = k, line.get(k)
        code = code.strip()[:CODE_LENGTH] if isinstance(code, str) and code.strip() else None
        if code is None:
            p.add(f"lines.{i}.item", _("The code of an item or service is needed."))
        wanted.append((kind, code))
    codes = sorted({code for _k, code in wanted if code})
    entries = look.entries(codes)
    prices = look.prices([e.id for e in entries.values()], facility_id, day or date.today()) if entries else {}
    out = []
    for i, (line, (kind, code)) in enumerate(zip(raw, wanted)):
        line = line if isinstance(line, dict) else {}
        entry = entries.get(code) if code else None
        if code and (entry is None or (kind is not None and entry.kind != kind)):
            p.add(f"lines.{i}.item", _("No item or service of the catalogue has the code %(code)s.", code=code))
            entry = None
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= MAX_QUANTITY:
            p.add(f"lines.{i}.quantity", _("A whole number from 1 to %(n)d.", n=MAX_QUANTITY))
            quantity = None
        price = line.get("price")
        if price is None:
            if entry is not None:
                price = prices.get(entry.id, entry.unit_price)
                if price is None:
                    p.add(f"lines.{i}.price", _("No price list gives a price for %(code)s: give the price.",
                                                code=entry.code))
        elif isinstance(price, bool) or not isinstance(price, int) or not 0 <= price < c.MAX_AMOUNT:
            p.add(f"lines.{i}.price", _("An amount in minor units of the currency: a whole number, 0 or more."))
            price = None
        out.append({"line_no": i + 1, "entry_id": entry.id if entry is not None else None, "quantity": quantity,
                    "price": price})
    return out


def _list_prices(session: Session, entry_ids: list[int], facility_id: int | None, day: date | None) -> dict[int, int]:
    """entry id -> the price of the facility's list (else a shared list) valid on ``day``."""
    day = day or date.today()
    facility_match = PriceList.facility_id.is_(None)
    if facility_id is not None:
        facility_match = facility_match | (PriceList.facility_id == facility_id)
    rows = session.execute(
        select(PriceListLine.entry_id, PriceListLine.price)
        .join(PriceList, PriceList.id == PriceListLine.price_list_id)
        .where(PriceListLine.entry_id.in_(entry_ids), facility_match, PriceList.valid_from <= day,
               (PriceList.valid_to.is_(None)) | (PriceList.valid_to >= day))
        .order_by(PriceListLine.entry_id, PriceList.facility_id.is_(None).desc(), PriceList.valid_from,
                  PriceList.id)).all()
    out: dict[int, int] = {}
    for entry_id, price in rows:  # later rows win: the facility's own list, the most recent
        out[entry_id] = price
    return out


# ---- writing -------------------------------------------------------------------------------------------


def _taken(code: str) -> Conflict:
    return Conflict(_("The facility already has a claim numbered %(code)s.", code=code),
                    errors={"code": [_("already used by this facility")]})


def code_taken(session: Session, facility_id: int, code: str, *, other_than: int | None = None) -> bool:
    stmt = select(InsuranceClaim.id).where(InsuranceClaim.facility_id == facility_id, InsuranceClaim.code == code)
    if other_than is not None:
        stmt = stmt.where(InsuranceClaim.id != other_than)
    return session.execute(stmt.limit(1)).first() is not None


def _who(principal: Principal | None) -> str | None:
    return None if principal is None else principal.name[:254] or principal.id[:254]


def insert_claim(session: Session, values: dict[str, Any], lines: list[dict[str, Any]], *, currency: str,
                 principal: Principal | None) -> InsuranceClaim:
    """Insert a cleaned claim and its lines (no audit: the caller records it)."""
    claim = InsuranceClaim(**values, currency=currency, status=ClaimStatus.entered.value,
                           claimed=sum(line["quantity"] * line["price"] for line in lines),
                           entered_by=_who(principal), version=1)
    session.add(claim)
    session.flush()
    session.add_all([ClaimLine(claim_id=claim.id, **line) for line in lines])
    session.flush()
    return claim


def insert_claims(session: Session, claims: list[tuple[dict[str, Any], list[dict[str, Any]]]], *, currency: str,
                  principal: Principal | None) -> list[int]:
    """Insert many cleaned claims and their lines in two statements (a CSV batch); their ids, in order."""
    if not claims:
        return []
    who = _who(principal)
    ids = list(session.execute(
        insert(InsuranceClaim).returning(InsuranceClaim.id, sort_by_parameter_order=True),
        [{**values, "currency": currency, "status": ClaimStatus.entered.value, "entered_by": who, "version": 1,
          "claimed": sum(line["quantity"] * line["price"] for line in lines)} for values, lines in claims]).scalars())
    session.execute(insert(ClaimLine), [{"claim_id": claim_id, **line}
                                        for claim_id, (_values, lines) in zip(ids, claims) for line in lines])
    return ids


def create_claim(session: Session, data: dict[str, Any], *, principal: Principal | None,
                 today: date | None = None) -> InsuranceClaim:
    """Enter a claim with its lines (status ``entered``): 422 naming every bad field, 409 when the
    facility already used the claim number; nothing is saved on error."""
    p = c.Problems()
    values, lines = clean_claim(session, data, principal=principal, p=p, today=today)
    p.raise_if_any(_("The claim cannot be saved."))
    if code_taken(session, values["facility_id"], values["code"]):
        raise _taken(values["code"])
    try:
        with session.begin_nested():
            claim = insert_claim(session, values, lines, currency=tenant_currency(session), principal=principal)
    except IntegrityError as err:
        if "uq_claims_facility_id_code" in str(err.orig):
            raise _taken(values["code"]) from None
        raise
    audit.record(session, "claims.create", ENTITY, claim.id, after={**snapshot(claim), "lines": len(lines)})
    return claim


def update_claim(session: Session, claim_id: int, data: dict[str, Any], *, version: Any,
                 principal: Principal | None, today: date | None = None) -> InsuranceClaim:
    """Replace an ``entered`` claim's fields and lines (the same rules as entering it); ``version`` must
    be the claim's current one (409 otherwise, or when the claim has moved on)."""
    claim = get_claim(session, claim_id, principal=principal)
    before = snapshot(claim)
    p = c.Problems()
    check_version(version, p)
    values, lines = clean_claim(session, data, principal=principal, p=p, today=today)
    p.raise_if_any(_("The claim cannot be saved."))
    if code_taken(session, values["facility_id"], values["code"], other_than=claim.id):
        raise _taken(values["code"])
    claimed = sum(line["quantity"] * line["price"] for line in lines)
    # the engine's runs take this lock exclusively (checks._lock): a check never reads lines being replaced
    session.execute(text("SELECT pg_advisory_xact_lock_shared(hashtext(:key))"),
                    {"key": f"claims-engine:{session.info['tenant_schema']}"})
    moved = session.execute(
        update(InsuranceClaim)
        .where(InsuranceClaim.id == claim.id, InsuranceClaim.version == version,
               InsuranceClaim.status == ClaimStatus.entered.value)
        .values(**values, claimed=claimed, version=InsuranceClaim.version + 1, updated_at=func.now())
        .returning(InsuranceClaim.id).execution_options(synchronize_session=False)).first()
    if moved is None:
        session.refresh(claim)
        raise stale(claim, version)
    session.execute(delete(ClaimLine).where(ClaimLine.claim_id == claim.id))
    session.add_all([ClaimLine(claim_id=claim.id, **line) for line in lines])
    session.flush()
    session.refresh(claim)
    audit.record(session, "claims.update", ENTITY, claim.id, before=before,
                 after={**snapshot(claim), "lines": len(lines)})
    return claim


def stale(claim: InsuranceClaim, version: Any) -> Conflict:
    """The 409 for a change based on an old version, or of a claim no longer in the expected status."""
    if claim.version != version:
        return Conflict(_("Someone else changed this claim (version %(now)s, yours %(yours)s): reload it.",
                          now=claim.version, yours=version),
                        errors={"version": [_("not the claim's current version")]}, current_version=claim.version,
                        claim_status=claim.status)
    return Conflict(_("The claim is %(status)s: it cannot be changed this way.", status=claim.status),
                    errors={"status": [_("not allowed in this status")]}, current_version=claim.version,
                    claim_status=claim.status)


def check_version(value: Any, p: c.Problems) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        p.add("version", _("The version of the claim you changed is needed."))
        return None
    return value


# ---- submission deadline -------------------------------------------------------------------------------


def _insurance_setting(session: Session, *, for_update: bool = False) -> dict[str, Any]:
    stmt = select(Setting.value).where(Setting.key == INSURANCE_SETTING)
    value = session.execute(stmt.with_for_update() if for_update else stmt).scalar_one_or_none()
    return dict(value) if isinstance(value, dict) else {}


def submission_deadline(session: Session) -> int | None:
    """Days after the visit's end within which a claim must be entered (setting
    ``insurance.claim_submission_days``); None when the scheme has no deadline (decision 0328)."""
    days = _insurance_setting(session).get(DEADLINE_KEY)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DEADLINE_DAYS:
        return None
    return days


def set_submission_deadline(session: Session, days: Any) -> int | None:
    """Set the submission deadline: a whole number of days from 1 to 3650, or None to switch the
    ``submitted_late`` check off (422 on field ``days`` otherwise). The other members of the
    ``insurance`` setting are kept. Audited; flushes only."""
    p = c.Problems()
    if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                             or not 1 <= days <= MAX_DEADLINE_DAYS):
        p.add("days", _("A whole number of days from 1 to %(n)d, or null for no deadline.", n=MAX_DEADLINE_DAYS))
    p.raise_if_any(_("The submission deadline cannot be saved."))
    before = _insurance_setting(session, for_update=True)
    after = {**before, DEADLINE_KEY: days}
    if before.get(DEADLINE_KEY, None) != days or DEADLINE_KEY not in before:
        session.execute(pg_insert(Setting).values(key=INSURANCE_SETTING, value=after)
                        .on_conflict_do_update(index_elements=["key"], set_={"value": after}))
        audit.record(session, "update" if before else "create", "setting", INSURANCE_SETTING,
                     before={"value": before} if before else None, after={"value": after})
    session.flush()
    return days


__all__ = ["ENTITY", "FIELDS", "VISIT_TYPES", "claim_lines", "claim_view", "clean_claim",
           "create_claim", "get_claim", "insert_claim", "list_claims", "set_submission_deadline", "snapshot",
           "stale", "submission_deadline", "update_claim"]
