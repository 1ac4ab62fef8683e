"""Price lists and the price lookup the insurance and voucher modules use.

A price list is shared (``facility_id`` None) or a facility's own, valid from a date (and until a
date, or open-ended), in the tenant's currency at the time it was made; its lines price catalogue
entries in minor units (decision 0101). :func:`price_for` answers "what does this facility charge
for this item or service on this date" (decision 0103): the facility's own lists first, then the
shared ones; within each, the list that started most recently among those valid on the date that
price the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import NotFound, ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.registry.models import CatalogueEntry, HealthFacility, PriceList, PriceListLine
from schemehost.tenants.registry.services._common import (UNSET, Problems, check_period, clean_amount, clean_code,
                                                          clean_date, clean_name, flush_unique, plain, taken,
                                                          tenant_currency)
from schemehost.tenants.registry.services.catalogue import get_entry, get_entry_by_code, valid_clause
from schemehost.tenants.registry.services.facilities import get_facility
from schemehost.tenants.registry.services.locations import _escape_like, _is_id

ENTITY = "price_list"


@dataclass(frozen=True)
class Quote:
    """A price found by :func:`price_for`: ``amount`` minor units of ``currency``."""

    amount: int
    currency: str
    entry_id: int
    #: the price list it comes from (None for the catalogue's default price)
    price_list_id: int | None
    price_list_code: str | None
    #: "facility" (the facility's own list), "shared" (a shared list) or "catalogue" (the default price)
    source: str


@dataclass(frozen=True)
class PriceLine:
    """A line of a price list with its catalogue entry, for showing."""

    line: PriceListLine
    entry: CatalogueEntry


# ---- reading -------------------------------------------------------------------------------------


def get_price_list(session: Session, price_list_id: int, *, lock: bool = False) -> PriceList:
    """The price list with this id (404 when it is not one of this tenant's)."""
    stmt = select(PriceList).where(PriceList.id == price_list_id)
    if lock:
        stmt = stmt.with_for_update()
    plist = session.execute(stmt).scalar_one_or_none() if _is_id(price_list_id) else None
    if plist is None:
        raise NotFound(_("No price list with id %(id)s.", id=price_list_id), errors={"id": [_("unknown price list")]})
    return plist


def list_price_lists(session: Session, *, facility_id: int | None = UNSET, valid_on: date | None = None,
                     code: str | None = None, q: str | None = None, after_id: int | None = None,
                     limit: int = 100) -> list[PriceList]:
    """Price lists in id order (keyset on ``after_id``), filtered by facility (None: shared lists),
    validity on a date, exact code or name fragment."""
    stmt = select(PriceList).order_by(PriceList.id).limit(limit)
    if facility_id is not UNSET:
        stmt = stmt.where(PriceList.facility_id.is_(None) if facility_id is None
                          else PriceList.facility_id == facility_id)
    if valid_on is not None:
        stmt = stmt.where(_list_valid(valid_on))
    if code:
        stmt = stmt.where(PriceList.code == code)
    if q:
        stmt = stmt.where(PriceList.name.ilike("%" + _escape_like(q.strip()) + "%", escape="\\"))
    if after_id is not None:
        stmt = stmt.where(PriceList.id > after_id)
    return list(session.execute(stmt).scalars())


def price_lines(session: Session, price_list_id: int) -> list[PriceLine]:
    """The lines of a price list with their entries, items first, by code."""
    get_price_list(session, price_list_id)
    rows = session.execute(
        select(PriceListLine, CatalogueEntry).join(CatalogueEntry, CatalogueEntry.id == PriceListLine.entry_id)
        .where(PriceListLine.price_list_id == price_list_id)
        .order_by(CatalogueEntry.kind, CatalogueEntry.code)
    ).all()
    return [PriceLine(line, entry) for line, entry in rows]


def price_for(session: Session, facility_id: int, item_or_service: CatalogueEntry | int | str, on_date: date, *,
              use_default: bool = False) -> Quote | None:
    """The price ``facility_id`` charges for a catalogue entry (object, id or code) on ``on_date``:
    from the facility's own price lists valid that day, else from the shared ones; within each, the
    list that started most recently wins. None when no list prices it (or, with ``use_default``, the
    entry's default price when it has one). An entry outside its own validity dates has no price.
    404 for an unknown facility or entry."""
    get_facility(session, facility_id)
    entry = _entry(session, item_or_service)
    if session.execute(select(CatalogueEntry.id).where(CatalogueEntry.id == entry.id, valid_clause(on_date))
                       ).first() is None:
        return None
    row = session.execute(
        select(PriceListLine.price, PriceList.currency, PriceList.id, PriceList.code, PriceList.facility_id)
        .join(PriceList, PriceList.id == PriceListLine.price_list_id)
        .where(PriceListLine.entry_id == entry.id,
               (PriceList.facility_id == facility_id) | PriceList.facility_id.is_(None),
               _list_valid(on_date))
        .order_by(PriceList.facility_id.is_(None), PriceList.valid_from.desc(), PriceList.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        price, currency, list_id, list_code, list_facility = row
        return Quote(price, currency, entry.id, list_id, list_code, "shared" if list_facility is None else "facility")
    if use_default and entry.unit_price is not None:
        return Quote(entry.unit_price, entry.currency, entry.id, None, None, "catalogue")
    return None


# ---- changing ------------------------------------------------------------------------------------


def create_price_list(session: Session, *, code: str, name: str, valid_from: date | str,
                      valid_to: date | str | None = None, facility_id: int | None = None) -> PriceList:
    """A new, empty price list for ``facility_id`` (None: shared) in the tenant's currency."""
    problems = Problems()
    values: dict[str, Any] = {
        "code": clean_code(code, problems),
        "name": clean_name(name, problems),
        "valid_from": clean_date(valid_from, problems, "valid_from"),
        "valid_to": clean_date(valid_to, problems, "valid_to"),
        "facility_id": None,
    }
    if values["valid_from"] is None and "valid_from" not in problems.errors:
        problems.add("valid_from", _("A start date is needed."))
    check_period(values["valid_from"], values["valid_to"], problems, "valid_to")
    if facility_id is not None:
        if _is_id(facility_id) and session.get(HealthFacility, facility_id) is not None:
            values["facility_id"] = facility_id
        else:
            problems.add("facility_id", _("No health facility with id %(id)s.", id=facility_id))
    problems.raise_if_any(_("The price list cannot be created."))
    if session.execute(select(PriceList.id).where(PriceList.code == values["code"])).first():
        raise taken(values["code"])
    plist = PriceList(currency=tenant_currency(session), **values)
    session.add(plist)
    flush_unique(session, values["code"])
    audit.record(session, "create", ENTITY, plist.id, after=snapshot(plist))
    return plist


def update_price_list(session: Session, price_list_id: int, *, code: str = UNSET, name: str = UNSET,
                      valid_from: date | str = UNSET, valid_to: date | str | None = UNSET) -> PriceList:
    """Rename, re-code or change the validity of a price list (its facility and currency stay)."""
    plist = get_price_list(session, price_list_id, lock=True)
    before = snapshot(plist)
    problems = Problems()
    changes: dict[str, Any] = {}
    if code is not UNSET:
        changes["code"] = clean_code(code, problems)
    if name is not UNSET:
        changes["name"] = clean_name(name, problems)
    if valid_from is not UNSET:
        changes["valid_from"] = clean_date(valid_from, problems, "valid_from")
        if changes["valid_from"] is None and "valid_from" not in problems.errors:
            problems.add("valid_from", _("A start date is needed."))
    if valid_to is not UNSET:
        changes["valid_to"] = clean_date(valid_to, problems, "valid_to")
    check_period(changes.get("valid_from", plist.valid_from), changes.get("valid_to", plist.valid_to), problems,
                 "valid_to")
    problems.raise_if_any(_("The price list cannot be changed."))
    new_code = changes.get("code", plist.code)
    if new_code != plist.code and session.execute(select(PriceList.id).where(PriceList.code == new_code)).first():
        raise taken(new_code)
    for key, value in changes.items():
        setattr(plist, key, value)
    flush_unique(session, new_code)
    after = snapshot(plist)
    if after != before:
        audit.record(session, "update", ENTITY, plist.id, before=before, after=after)
    return plist


def delete_price_list(session: Session, price_list_id: int) -> None:
    """Delete a price list and its lines (one audit entry with how many lines went)."""
    plist = get_price_list(session, price_list_id, lock=True)
    before = snapshot(plist)
    lines = session.execute(delete(PriceListLine).where(PriceListLine.price_list_id == plist.id)).rowcount
    session.delete(plist)
    session.flush()
    audit.record(session, "delete", ENTITY, price_list_id, before=before, details={"lines": lines})


def set_price(session: Session, price_list_id: int, entry: CatalogueEntry | int | str, price: int) -> PriceListLine:
    """Price a catalogue entry (object, id or code) in a list, adding or replacing its line."""
    plist = get_price_list(session, price_list_id, lock=True)
    problems = Problems()
    amount = clean_amount(price, problems, "price")
    if price is None:
        problems.add("price", _("A price is needed."))
    problems.raise_if_any(_("The price cannot be set."))
    target = _entry(session, entry, field="entry")
    line = session.execute(select(PriceListLine).where(PriceListLine.price_list_id == plist.id,
                                                       PriceListLine.entry_id == target.id)).scalar_one_or_none()
    old = None if line is None else line.price
    if line is None:
        line = PriceListLine(price_list_id=plist.id, entry_id=target.id, price=amount)
        session.add(line)
    else:
        line.price = amount
    session.flush()
    if old != amount:
        audit.record(session, "set_price", ENTITY, plist.id,
                     before=None if old is None else {"entry": target.code, "price": old},
                     after={"entry": target.code, "price": amount, "currency": plist.currency})
    return line


def remove_price(session: Session, price_list_id: int, entry: CatalogueEntry | int | str) -> None:
    """Take an entry out of a price list (404 when the list does not price it)."""
    plist = get_price_list(session, price_list_id, lock=True)
    target = _entry(session, entry, field="entry")
    line = session.execute(select(PriceListLine).where(PriceListLine.price_list_id == plist.id,
                                                       PriceListLine.entry_id == target.id)).scalar_one_or_none()
    if line is None:
        raise NotFound(_("The price list has no price for '%(code)s'.", code=target.code),
                       errors={"entry": [_("not in this price list")]})
    session.delete(line)
    session.flush()
    audit.record(session, "remove_price", ENTITY, plist.id, before={"entry": target.code, "price": line.price})


def snapshot(plist: PriceList) -> dict[str, Any]:
    return {key: plain(getattr(plist, key)) for key in
            ("code", "name", "facility_id", "currency", "valid_from", "valid_to")}


# ---- helpers -------------------------------------------------------------------------------------


def _list_valid(on: date):
    return (PriceList.valid_from <= on) & (PriceList.valid_to.is_(None) | (PriceList.valid_to >= on))


def _entry(session: Session, value: CatalogueEntry | int | str, *, field: str = "id") -> CatalogueEntry:
    if isinstance(value, CatalogueEntry):
        return value
    try:
        return get_entry_by_code(session, value) if isinstance(value, str) else get_entry(session, value)
    except NotFound as err:
        if field == "id":
            raise
        raise ValidationError(str(err.detail), errors={field: [_("unknown catalogue entry")]}) from None
