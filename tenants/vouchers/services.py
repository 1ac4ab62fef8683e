"""The vouchers module's operations: programmes, issuance (one person, or everyone eligible set-wise),
redemption exactly once, cancellation and reissue, expiry, budget figures.

Every function takes the tenant session first, only flushes, and records changes in the audit log.
Refusals of a redemption are :class:`VoucherRefused` (409) or, for a code that is not one,
a 422 / 404, each with a machine-readable ``reason`` (decision 0202).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (BigInteger, Column, Integer, MetaData, String, Table, case, delete, exists, func, insert,
                        literal, select, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from schemehost.platform import money
from schemehost.platform.db import utcnow
from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import quote_ident, run_at_begin
from schemehost.tenants.core.models import Setting
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.principal import Principal
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import HealthFacility
from schemehost.tenants.registry.people import Individual
from schemehost.tenants.registry.services.people import get_individual
from schemehost.tenants.vouchers import codes as vcodes
from schemehost.tenants.vouchers.models import (CODE_LENGTH, LIVE, NAME_LENGTH, ProgrammeFacility, ProgrammeService,
                                                ProgrammeStatus, Redemption, Voucher, VoucherProgramme, VoucherStatus)

Problems = dict[str, list[str]]
MAX_SERVICES = 30
MAX_VALIDITY_DAYS = 3660
IDEMPOTENCY_KEY_LENGTH = 100


class VoucherRefused(AppError):
    """A redemption (or another use of a voucher) that the voucher's state does not allow."""

    status = 409
    type = "voucher-refused"
    title = _l("The voucher cannot be used")


REASONS = {
    "invalid_code": _l("This is not a voucher code: check the digits (the last one is a check digit)."),
    "unknown": _l("No voucher has this code."),
    "expired": _l("This voucher has expired."),
    "cancelled": _l("This voucher has been cancelled."),
    "wrong_facility": _l("This voucher cannot be used at this facility."),
    "wrong_order": _l("This service needs another service first."),
    "already_redeemed": _l("This service of the voucher has already been used."),
    "inactive_programme": _l("This voucher's programme is closed."),
}


def refuse(reason: str, detail: str | None = None, **extra: Any) -> VoucherRefused:
    return VoucherRefused(detail or str(REASONS[reason]), reason=reason, **extra)


def _raise(problems: Problems, message: str | None = None) -> None:
    if problems:
        raise ValidationError(message or _("The voucher programme is not valid."), errors=problems)


# ---- programmes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSpec:
    code: str
    name: str
    tariff: int
    count: int
    requires_code: str | None = None
    requires_count: int | None = None


def get_programme(session: Session, programme_id: Any, *, lock: bool = False) -> VoucherProgramme:
    """The programme with this id (404 otherwise); ``lock`` takes its row lock (issuance, budget)."""
    found = None
    if isinstance(programme_id, int) and not isinstance(programme_id, bool) and 0 < programme_id < 2 ** 31:
        stmt = select(VoucherProgramme).where(VoucherProgramme.id == programme_id)
        found = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No voucher programme with id %(id)s.", id=programme_id),
                       errors={"id": [_("unknown programme")]})
    return found


def get_programme_by_code(session: Session, code: str) -> VoucherProgramme:
    found = session.execute(select(VoucherProgramme).where(VoucherProgramme.code == code)).scalar_one_or_none()
    if found is None:
        raise NotFound(_("No voucher programme with code %(code)s.", code=code), errors={"code": [_("unknown programme")]})
    return found


def list_programmes(session: Session) -> list[VoucherProgramme]:
    return list(session.execute(select(VoucherProgramme).order_by(VoucherProgramme.code)).scalars())


def services_of(session: Session, programme_id: int) -> list[ProgrammeService]:
    return list(session.execute(select(ProgrammeService).where(ProgrammeService.programme_id == programme_id)
                                .order_by(ProgrammeService.position)).scalars())


def facility_ids_of(session: Session, programme_id: int) -> list[int]:
    return list(session.execute(select(ProgrammeFacility.facility_id)
                                .where(ProgrammeFacility.programme_id == programme_id)
                                .order_by(ProgrammeFacility.facility_id)).scalars())


def package_value(services: list[ProgrammeService] | list[ServiceSpec]) -> int:
    """What one voucher entitles, in minor units: the sum of tariff × count."""
    return sum(s.tariff * s.count for s in services)


def _int(value: Any, problems: Problems, field: str, *, low: int, high: int, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            problems.setdefault(field, []).append(_("required"))
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.setdefault(field, []).append(_("expected a whole number"))
        return None
    if not low <= value <= high:
        problems.setdefault(field, []).append(_("between %(low)s and %(high)s", low=low, high=high))
        return None
    return value


def _text(value: Any, problems: Problems, field: str, limit: int) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    if not text:
        problems.setdefault(field, []).append(_("required"))
        return None
    if len(text) > limit:
        problems.setdefault(field, []).append(_("at most %(n)s characters", n=limit))
        return None
    return text


def _clean_services(raw: Any, problems: Problems) -> list[ServiceSpec]:
    if not isinstance(raw, list) or not raw:
        problems.setdefault("services", []).append(_("a programme needs at least one service"))
        return []
    if len(raw) > MAX_SERVICES:
        problems.setdefault("services", []).append(_("at most %(n)s services", n=MAX_SERVICES))
        return []
    specs: list[ServiceSpec] = []
    index: dict[int, int] = {}  # position in ``specs`` -> position in ``raw`` (for the error paths)
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"services[{i}]"
        if not isinstance(item, dict):
            problems.setdefault(path, []).append(_("expected an object"))
            continue
        code = _text(item.get("code"), problems, f"{path}.code", CODE_LENGTH)
        name = _text(item.get("name"), problems, f"{path}.name", NAME_LENGTH)
        tariff = _int(item.get("tariff"), problems, f"{path}.tariff", low=0, high=10 ** 15)
        count = _int(item.get("count"), problems, f"{path}.count", low=1, high=100)
        req_code = item.get("requires_code") or None
        req_count = item.get("requires_count")
        if req_code is not None:
            req_code = _text(req_code, problems, f"{path}.requires_code", CODE_LENGTH)
            req_count = _int(1 if req_count in (None, "") else req_count, problems, f"{path}.requires_count",
                             low=1, high=100)
        elif req_count not in (None, ""):
            problems.setdefault(f"{path}.requires_code", []).append(_("say which service must come first"))
            req_count = None
        if code is not None:
            if code in seen:
                problems.setdefault(f"{path}.code", []).append(_("this code is used by another service"))
            seen.add(code)
        if None not in (code, name, tariff, count):
            index[len(specs)] = i
            specs.append(ServiceSpec(code, name, tariff, count, req_code, req_count if req_code else None))
    by_code = {s.code: s for s in specs}
    for i, spec in enumerate(specs):
        if spec.requires_code is None:
            continue
        path = f"services[{index[i]}].requires_code"
        other = by_code.get(spec.requires_code)
        if other is None or other.code == spec.code:
            problems.setdefault(path, []).append(_("not another service of this programme"))
        elif spec.requires_count > other.count:
            problems.setdefault(f"services[{index[i]}].requires_count", []).append(
                _("more than the %(n)s that a voucher allows", n=other.count))
    # a cycle of order constraints would make its services impossible to redeem
    for i, spec in enumerate(specs):
        seen_chain, cur = {spec.code}, spec
        while cur.requires_code and cur.requires_code in by_code:
            cur = by_code[cur.requires_code]
            if cur.code in seen_chain:
                problems.setdefault(f"services[{index[i]}].requires_code", []).append(
                    _("the order constraints go round in a circle"))
                break
            seen_chain.add(cur.code)
    return specs


def _clean_facilities(session: Session, raw: Any, problems: Problems) -> list[int]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.setdefault("facilities", []).append(_("expected a list of facility codes"))
        return []
    ids: list[int] = []
    for i, code in enumerate(raw):
        try:
            facility = reg.get_facility_by_code(session, code) if isinstance(code, str) else None
        except NotFound:
            facility = None
        if facility is None:
            problems.setdefault(f"facilities[{i}]", []).append(_("unknown facility"))
        elif facility.id not in ids:
            ids.append(facility.id)
    return ids


def _clean_eligibility(session: Session, raw: Any, problems: Problems) -> dict | None:
    if raw in (None, {}):
        return None
    found = el.validate_filter(session, raw, target="individuals")
    for path, messages in found.items():
        problems.setdefault("eligibility" if path == "filter" else f"eligibility.{path}", []).extend(messages)
    return raw


def _programme_dict(p: VoucherProgramme, services: list[ProgrammeService], facility_ids: list[int]) -> dict:
    return {"code": p.code, "name": p.name, "currency": p.currency, "validity_days": p.validity_days,
            "eligibility": p.eligibility, "budget_ceiling": p.budget_ceiling, "status": p.status,
            "facilities": facility_ids,
            "services": [{"code": s.code, "name": s.name, "tariff": s.tariff, "count": s.count,
                          "requires_code": s.requires_code, "requires_count": s.requires_count} for s in services]}


def create_programme(session: Session, data: dict[str, Any]) -> VoucherProgramme:
    """A new programme from ``data`` (code, name, validity_days, services, facilities (codes),
    eligibility, budget_ceiling; currency defaults to the tenant's). 422 with every problem at once,
    409 for a taken code."""
    problems: Problems = {}
    code = _text(data.get("code"), problems, "code", CODE_LENGTH)
    name = _text(data.get("name"), problems, "name", NAME_LENGTH)
    validity = _int(data.get("validity_days"), problems, "validity_days", low=1, high=MAX_VALIDITY_DAYS)
    currency = data.get("currency") or reg.tenant_currency(session)
    if not money.is_currency(currency):
        problems.setdefault("currency", []).append(_("not an ISO 4217 currency code"))
    budget = _int(data.get("budget_ceiling"), problems, "budget_ceiling", low=0, high=10 ** 17, required=False)
    specs = _clean_services(data.get("services"), problems)
    facility_ids = _clean_facilities(session, data.get("facilities"), problems)
    eligibility = _clean_eligibility(session, data.get("eligibility"), problems)
    _raise(problems)
    if session.execute(select(VoucherProgramme.id).where(VoucherProgramme.code == code)).first():
        raise Conflict(_("The programme code %(code)s is already taken.", code=code), errors={"code": [_("already taken")]})
    programme = VoucherProgramme(code=code, name=name, currency=currency, validity_days=validity,
                                 eligibility=eligibility, budget_ceiling=budget, status=ProgrammeStatus.active)
    session.add(programme)
    session.flush()
    _write_services(session, programme.id, specs, [])
    _write_facilities(session, programme.id, facility_ids)
    audit.record(session, "vouchers.programme.create", "voucher_programme", programme.id,
                 after=_programme_dict(programme, services_of(session, programme.id), facility_ids))
    return programme


def update_programme(session: Session, programme_id: int, data: dict[str, Any]) -> VoucherProgramme:
    """Change the keys present in ``data`` (as for :func:`create_programme`, plus ``status``). Services
    are matched by code; one with redemptions cannot be removed (409). New tariffs apply to vouchers
    issued afterwards: a voucher keeps the value it was issued with, a redemption the tariff of its day."""
    programme = get_programme(session, programme_id, lock=True)
    old_services = services_of(session, programme.id)
    before = _programme_dict(programme, old_services, facility_ids_of(session, programme.id))
    problems: Problems = {}
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = _text(data["name"], problems, "name", NAME_LENGTH)
    if "validity_days" in data:
        changes["validity_days"] = _int(data["validity_days"], problems, "validity_days", low=1, high=MAX_VALIDITY_DAYS)
    if "budget_ceiling" in data:
        changes["budget_ceiling"] = _int(data["budget_ceiling"], problems, "budget_ceiling", low=0, high=10 ** 17,
                                         required=False)
    if "status" in data:
        if data["status"] not in list(ProgrammeStatus):
            problems.setdefault("status", []).append(_("one of: %(values)s", values=", ".join(ProgrammeStatus)))
        else:
            changes["status"] = data["status"]
    if "eligibility" in data:
        changes["eligibility"] = _clean_eligibility(session, data["eligibility"], problems)
    specs = _clean_services(data["services"], problems) if "services" in data else None
    facility_ids = _clean_facilities(session, data["facilities"], problems) if "facilities" in data else None
    _raise(problems)
    for key, value in changes.items():
        setattr(programme, key, value)
    if specs is not None:
        _write_services(session, programme.id, specs, old_services)
    if facility_ids is not None:
        session.execute(delete(ProgrammeFacility).where(ProgrammeFacility.programme_id == programme.id))
        _write_facilities(session, programme.id, facility_ids)
    session.flush()
    after = _programme_dict(programme, services_of(session, programme.id), facility_ids_of(session, programme.id))
    audit.record(session, "vouchers.programme.update", "voucher_programme", programme.id, before=before, after=after)
    return programme


def _write_services(session: Session, programme_id: int, specs: list[ServiceSpec],
                    old: list[ProgrammeService]) -> None:
    by_code = {s.code: s for s in old}
    keep = {spec.code for spec in specs}
    gone = [s for s in old if s.code not in keep]
    if gone:
        used = session.execute(select(ProgrammeService.code).where(
            ProgrammeService.id.in_([s.id for s in gone]),
            exists().where(Redemption.service_id == ProgrammeService.id))).scalars().all()
        if used:
            raise Conflict(_("A service that vouchers have used cannot be removed: %(codes)s.", codes=", ".join(used)),
                           errors={"services": [_("service %(code)s has redemptions", code=c) for c in used]})
        for s in gone:
            session.delete(s)
    for position, spec in enumerate(specs):
        row = by_code.get(spec.code)
        if row is None:
            row = ProgrammeService(programme_id=programme_id, code=spec.code)
            session.add(row)
        row.position, row.name, row.tariff, row.count = position, spec.name, spec.tariff, spec.count
        row.requires_code, row.requires_count = spec.requires_code, spec.requires_count
    session.flush()


def _write_facilities(session: Session, programme_id: int, facility_ids: list[int]) -> None:
    if facility_ids:
        session.execute(insert(ProgrammeFacility), [{"programme_id": programme_id, "facility_id": f}
                                                    for f in facility_ids])


# ---- budget ------------------------------------------------------------------------------------------


def budget(session: Session, programme: VoucherProgramme) -> dict[str, Any]:
    """The programme's money in minor units: ``issued`` (value of every voucher issued, with their
    number), ``redeemed`` (the ledger), ``committed`` (what live vouchers may still draw) and what the
    ceiling leaves ``available`` (None without a ceiling)."""
    live = Voucher.status.in_([s.value for s in LIVE])
    redeemed_on = (select(Redemption.voucher_id, func.sum(Redemption.amount).label("amount"))
                   .join(Voucher, Voucher.id == Redemption.voucher_id)
                   .where(Voucher.programme_id == programme.id).group_by(Redemption.voucher_id).subquery())
    row = session.execute(
        select(func.count(Voucher.id).filter(Voucher.value > 0).label("issued_count"),
               func.coalesce(func.sum(Voucher.value), 0).label("issued"),
               func.coalesce(func.sum(redeemed_on.c.amount), 0).label("redeemed"),
               func.coalesce(func.sum(case((live, Voucher.value - func.coalesce(redeemed_on.c.amount, 0)),
                                           else_=0)), 0).label("committed"),
               func.count(Voucher.id).filter(live).label("live_count"))
        .select_from(Voucher).outerjoin(redeemed_on, redeemed_on.c.voucher_id == Voucher.id)
        .where(Voucher.programme_id == programme.id)).one()
    ceiling = programme.budget_ceiling
    used = int(row.redeemed) + int(row.committed)
    return {"currency": programme.currency, "ceiling": ceiling, "issued": int(row.issued),
            "issued_count": int(row.issued_count), "live_count": int(row.live_count),
            "redeemed": int(row.redeemed), "committed": int(row.committed),
            "available": None if ceiling is None else ceiling - used}


def _check_budget(session: Session, programme: VoucherProgramme, n: int, value: int) -> None:
    if programme.budget_ceiling is None or n == 0:
        return
    figures = budget(session, programme)
    if n * value > figures["available"]:
        raise Conflict(_("The budget ceiling leaves %(available)s; %(n)s vouchers need %(needed)s.",
                         available=money.format_money(figures["available"], programme.currency), n=n,
                         needed=money.format_money(n * value, programme.currency)),
                       errors={"budget_ceiling": [_("not enough budget left")]}, reason="budget")


# ---- issuance --------------------------------------------------------------------------------------


def _active(programme: VoucherProgramme) -> None:
    if programme.status != ProgrammeStatus.active:
        raise Conflict(_("The programme %(code)s is closed.", code=programme.code), reason="inactive_programme")


def expiry_for(session: Session, programme: VoucherProgramme) -> date:
    """The last day a voucher issued today may be used (today in the tenant's time zone + validity)."""
    return el.tenant_today(session) + timedelta(days=programme.validity_days)


def _eligible_ids(session: Session, programme: VoucherProgramme, principal: Principal | None):
    if programme.eligibility:
        return el.compile_filter(session, programme.eligibility, target="individuals", principal=principal)
    stmt = select(Individual.id.label("id")).where(Individual.erased_at.is_(None), Individual.status == "active")
    if principal is not None:
        from schemehost.tenants.identity.scoping import restrict_to_locations

        stmt = restrict_to_locations(stmt, principal, Individual.location_id)
    return stmt


def is_eligible(session: Session, programme: VoucherProgramme, individual_id: int) -> bool:
    """Whether the programme's eligibility rule selects this individual today."""
    sub = _eligible_ids(session, programme, None).subquery("eligible")
    return session.execute(select(literal(1)).select_from(sub).where(sub.c.id == individual_id)).first() is not None


def issue_voucher(session: Session, programme_id: int, individual_id: Any, *, principal: Principal | None,
                  issued_by: str | None = None) -> Voucher:
    """Issue a voucher of the programme to one individual (within the principal's area): 422 when the
    rule does not select them, 409 when they hold a live voucher already or the budget is spent."""
    programme = get_programme(session, programme_id, lock=True)  # serialises issuance against the budget
    _active(programme)
    person = get_individual(session, individual_id, principal=principal)
    if not is_eligible(session, programme, person.id):
        raise ValidationError(_("This person is not eligible for the programme %(code)s.", code=programme.code),
                              errors={"individual_id": [_("not eligible")]}, reason="not_eligible")
    held = session.execute(select(Voucher.code).where(Voucher.programme_id == programme.id,
                                                      Voucher.individual_id == person.id,
                                                      Voucher.status.in_([s.value for s in LIVE]))).first()
    if held is not None:
        raise Conflict(_("This person already holds a voucher of this programme."),
                       errors={"individual_id": [_("already holds a voucher")]}, reason="already_holds")
    value = package_value(services_of(session, programme.id))
    _check_budget(session, programme, 1, value)
    voucher = _insert_with_fresh_code(session, programme_id=programme.id, individual_id=person.id, value=value,
                                      issued_by=issued_by, expires_on=expiry_for(session, programme))
    audit.record(session, "vouchers.issue", "voucher", voucher.id,
                 details={"programme": programme.code, "individual_id": person.id})
    return voucher


def _insert_with_fresh_code(session: Session, **values: Any) -> Voucher:
    """A new voucher row; on the rare code collision (unique index) a new code is drawn."""
    for _attempt in range(5):
        voucher = Voucher(code=vcodes.new_code(), status=VoucherStatus.issued, **values)
        try:
            with session.begin_nested():
                session.add(voucher)
                session.flush()
            return voucher
        except IntegrityError as err:
            if "uq_vouchers_code" not in str(err.orig):
                raise
    raise Conflict(_("No free voucher code could be drawn; try again."))  # 5 collisions in 10**15: never


_temp = MetaData()
#: vouchers written per statement by a bulk issue; the job reports its progress after each
BULK_SLICE = 10_000
TARGETS = Table("vouchers_bulk_targets", _temp, Column("rn", Integer, primary_key=True),
                Column("individual_id", BigInteger), prefixes=["TEMPORARY"],
                postgresql_on_commit="DROP")
CODES = Table("vouchers_bulk_codes", _temp, Column("rn", Integer, primary_key=True),
              Column("code", String(16)), prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def issue_bulk(session: Session, programme_id: int, *, issued_by: str | None = None,
               progress: Callable[[int, int | None], None] | None = None,
               actor: tuple[str, str | None, str | None] | None = None) -> dict[str, int]:
    """Issue a voucher to everyone the programme's rule selects who holds no live voucher of it, set-wise:
    one INSERT ... SELECT of the eligible ids, codes drawn in Python (``secrets``) and copied in, one
    INSERT of the vouchers. All or nothing; 409 when the budget cannot cover them all."""
    report = progress or (lambda done, total=None: None)
    programme = get_programme(session, programme_id, lock=True)
    _active(programme)
    value = package_value(services_of(session, programme.id))
    el.use_counting_settings(session)
    bind = session.connection()
    TARGETS.create(bind)
    CODES.create(bind)
    eligible = _eligible_ids(session, programme, None).subquery("eligible")
    held = exists().where(Voucher.programme_id == programme.id, Voucher.individual_id == eligible.c.id,
                          Voucher.status.in_([s.value for s in LIVE]))
    session.execute(insert(TARGETS).from_select(
        ["rn", "individual_id"],
        select(func.row_number().over(order_by=eligible.c.id), eligible.c.id).where(~held)))
    n = session.execute(select(func.count()).select_from(TARGETS)).scalar_one()
    report(0, n)
    _check_budget(session, programme, n, value)
    if n:
        _fill_codes(session, n)
        expires = expiry_for(session, programme)
        # in slices of BULK_SLICE people (rn ranges over both primary keys), so the job's progress moves
        for low in range(0, n, BULK_SLICE):
            session.execute(insert(Voucher).from_select(
                ["programme_id", "individual_id", "code", "status", "value", "issued_by", "expires_on"],
                select(literal(programme.id), TARGETS.c.individual_id, CODES.c.code,
                       literal(VoucherStatus.issued.value), literal(value), literal(issued_by, String), literal(expires))
                .select_from(TARGETS.join(CODES, CODES.c.rn == TARGETS.c.rn))
                .where(TARGETS.c.rn > low, TARGETS.c.rn <= low + BULK_SLICE)))
            if low + BULK_SLICE < n:
                report(low + BULK_SLICE, n)
    audit.record_bulk(session, "vouchers.issue_bulk", "voucher_programme", counts={"issued": n},
                      input_ref={"programme": programme.code}, actor=actor)
    session.execute(TARGETS.delete())
    TARGETS.drop(bind)
    CODES.drop(bind)
    report(n, n)
    return {"issued": n, "value": n * value}


def _fill_codes(session: Session, n: int) -> None:
    """``n`` fresh codes numbered 1..n in the temporary table, none already used by a voucher."""
    missing = list(range(1, n + 1))
    for _round in range(10):
        fresh = vcodes.new_codes(len(missing))
        cursor = session.connection().connection.driver_connection.cursor()
        with cursor.copy("COPY pg_temp.vouchers_bulk_codes (rn, code) FROM STDIN") as copy:
            for rn, code in zip(missing, fresh):
                copy.write_row((rn, code))
        clash = session.execute(delete(CODES).where(exists().where(Voucher.code == CODES.c.code))
                                .returning(CODES.c.rn)).scalars().all()
        if not clash:
            return
        missing = sorted(clash)
    raise Conflict(_("No free voucher codes could be drawn; try again."))


# ---- looking up and redeeming -------------------------------------------------------------------


def parse_code(text: str | None) -> str:
    """The normalised code, or a 422 (reason ``invalid_code``) when its check digit does not match:
    a mistyped code never reaches the database."""
    code = vcodes.normalise(text)
    if not vcodes.is_valid(code):
        raise ValidationError(str(REASONS["invalid_code"]), errors={"code": [_("not a voucher code")]},
                              reason="invalid_code")
    return code


def find_voucher(session: Session, text: str | None, *, lock: bool = False) -> Voucher:
    """The voucher with this code (check digit validated first); 404 with reason ``unknown``."""
    code = parse_code(text)
    stmt = select(Voucher).where(Voucher.code == code)
    found = session.execute(stmt.with_for_update() if lock else stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(str(REASONS["unknown"]), errors={"code": [_("unknown voucher")]}, reason="unknown")
    return found


def used_counts(session: Session, voucher_id: int) -> dict[int, int]:
    """Service id → how many times this voucher has used it."""
    return dict(session.execute(select(Redemption.service_id, func.count()).where(Redemption.voucher_id == voucher_id)
                                .group_by(Redemption.service_id)).all())


def effective_status(session: Session, voucher: Voucher, *, today: date | None = None) -> str:
    """The voucher's status today: a live voucher past its last day is expired even before the expiry job ran."""
    return _status_on(voucher.status, voucher.expires_on, today or el.tenant_today(session))


def _status_on(status: str, expires_on: date, today: date) -> str:
    return VoucherStatus.expired.value if status in LIVE and today > expires_on else status


def _today_in(tz: Any) -> date:
    """Today in time zone ``tz`` (the tenant's ``timezone`` setting, read with the voucher), UTC when unset or unknown."""
    try:
        zone = ZoneInfo(tz) if isinstance(tz, str) and tz else ZoneInfo("UTC")
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("UTC")
    return datetime.now(zone).date()


def voucher_view(session: Session, voucher: Voucher) -> dict[str, Any]:
    """What a redemption desk sees: the voucher, its beneficiary and each service with what remains."""
    programme = session.get(VoucherProgramme, voucher.programme_id)
    person = session.get(Individual, voucher.individual_id)
    used = used_counts(session, voucher.id)
    services = []
    for s in services_of(session, programme.id):
        n = used.get(s.id, 0)
        services.append({"code": s.code, "name": s.name, "tariff": s.tariff, "count": s.count, "used": n,
                         "remaining": max(s.count - n, 0), "requires_code": s.requires_code,
                         "requires_count": s.requires_count})
    return {"id": voucher.id, "code": voucher.code, "status": effective_status(session, voucher),
            "programme": {"id": programme.id, "code": programme.code, "name": programme.name},
            "currency": programme.currency, "value": voucher.value, "issued_at": voucher.issued_at,
            "expires_on": voucher.expires_on,
            "beneficiary": {"id": person.id, "given_name": person.given_name, "family_name": person.family_name,
                            "birth_date": person.birth_date, "scheme_number": person.scheme_number},
            "services": services}


@dataclass(frozen=True)
class Redeemed:
    """One ledger entry as a redemption answers it (the API's and the desk's view of it)."""

    id: int
    voucher_code: str
    voucher_status: str
    service: str
    occurrence: int
    facility: str
    amount: int
    currency: str
    redeemed_at: datetime
    redeemed_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


#: The voucher locked, with what the checks before the ledger need. Travels with BEGIN and the role
#: switch when the transaction is not open yet (one round trip: decision 0205).
_LOCK_SQL = """
SELECT v.id, v.status, v.expires_on, p.id AS programme_id, p.status AS programme_status, p.currency,
       (SELECT value #>> '{{}}' FROM {schema}.settings WHERE key = 'timezone') AS tz,
       (SELECT r.id FROM {schema}.voucher_redemptions r WHERE r.idempotency_key = %(key)s) AS replay_id
  FROM {schema}.vouchers v JOIN {schema}.voucher_programmes p ON p.id = v.programme_id
 WHERE v.code = %(code)s
   FOR UPDATE OF v
"""

#: With the voucher locked (a new snapshot sees every committed use of it): the rules that need its
#: uses, then — only when none refuses — the ledger row, the voucher's status and the audit entry,
#: in one statement (decision 0205). ``reason`` is NULL when redeemed.
_REDEEM_SQL = """
WITH svc AS (
    SELECT s.id, s.code, s.name, s.count, s.tariff, s.requires_code, s.requires_count,
           (SELECT count(*) FROM {schema}.voucher_redemptions r
             WHERE r.voucher_id = %(vid)s AND r.service_id = s.id) AS used
      FROM {schema}.voucher_programme_services s
     WHERE s.programme_id = %(pid)s
), t AS (
    SELECT * FROM svc WHERE code = %(service)s
), req AS (
    SELECT b.code, b.name, b.used FROM svc b JOIN t ON b.code = t.requires_code
), fac AS (
    SELECT f.id, f.code,
           f.status = 'active'
           AND (EXISTS (SELECT 1 FROM {schema}.voucher_programme_facilities pf
                         WHERE pf.programme_id = %(pid)s AND pf.facility_id = f.id)
                OR NOT EXISTS (SELECT 1 FROM {schema}.voucher_programme_facilities pf
                                WHERE pf.programme_id = %(pid)s)) AS allowed
      FROM {schema}.health_facilities f
     WHERE f.id = %(fid)s
), replay AS (
    SELECT r.id FROM {schema}.voucher_redemptions r WHERE r.idempotency_key = %(key)s
), verdict AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM replay) THEN 'replay'
                WHEN NOT EXISTS (SELECT 1 FROM t) THEN 'unknown_service'
                WHEN NOT EXISTS (SELECT 1 FROM fac) THEN 'unknown_facility'
                WHEN NOT (SELECT allowed FROM fac) THEN 'wrong_facility'
                WHEN (SELECT used >= count FROM t) THEN 'already_redeemed'
                WHEN EXISTS (SELECT 1 FROM req, t WHERE req.used < t.requires_count) THEN 'wrong_order'
           END AS reason
), ins AS (
    INSERT INTO {schema}.voucher_redemptions
           (voucher_id, service_id, occurrence, facility_id, amount, currency, redeemed_by, idempotency_key)
    SELECT %(vid)s, t.id, t.used + 1, fac.id, t.tariff, %(currency)s, %(by)s, %(key)s
      FROM t, fac, verdict WHERE verdict.reason IS NULL
    RETURNING id, occurrence, redeemed_at
), upd AS (
    UPDATE {schema}.vouchers
       SET status = CASE WHEN (SELECT bool_and(s.used + (s.id = t.id)::int >= s.count) FROM svc s, t)
                         THEN 'redeemed' ELSE 'partially_redeemed' END
      FROM ins
     WHERE vouchers.id = %(vid)s
    RETURNING vouchers.status
), aud AS (
    INSERT INTO {schema}.audit_log (actor_type, actor_id, actor_name, action, entity_type, entity_id, details,
                                    request_id, ip)
    SELECT %(actor_type)s, %(actor_id)s, %(actor_name)s, 'vouchers.redeem', 'voucher', %(vid)s::text,
           jsonb_build_object('service', t.code, 'occurrence', ins.occurrence, 'facility', fac.code,
                              'amount', t.tariff, 'redemption_id', ins.id),
           %(request_id)s, %(ip)s
      FROM ins, t, fac
)
SELECT verdict.reason, ins.id, ins.occurrence, ins.redeemed_at, upd.status AS voucher_status,
       t.name AS service_name, t.tariff, t.requires_count, fac.code AS facility_code,
       req.code AS requires_code, req.name AS requires_name
  FROM verdict LEFT JOIN ins ON true LEFT JOIN upd ON true LEFT JOIN t ON true LEFT JOIN fac ON true
       LEFT JOIN req ON true
"""


def redeem(session: Session, code_text: str | None, *, service_code: str, facility_id: Any,
           redeemed_by: str | None = None, idempotency_key: str | None = None) -> tuple[Redeemed, bool]:
    """Redeem the next use of one service of a voucher at a facility, exactly once: the voucher's row
    lock serialises attempts and the unique (voucher, service, occurrence) lets the database refuse a
    second one whatever happens. Returns (ledger entry, replayed): a retry with the same
    ``idempotency_key`` answers the first redemption again. Refusals: see :data:`REASONS`.

    Two statements (decision 0205): the voucher locked (with BEGIN when the transaction is not open),
    then the rules on its uses with the ledger row, status and audit entry written only if none refuses."""
    if idempotency_key is not None and not (0 < len(idempotency_key) <= IDEMPOTENCY_KEY_LENGTH):
        raise ValidationError(_("An idempotency key has 1 to %(n)s characters.", n=IDEMPOTENCY_KEY_LENGTH),
                              errors={"idempotency_key": [_("too long")]})
    code = parse_code(code_text)
    locked = run_at_begin(session, _LOCK_SQL, {"code": code, "key": idempotency_key})
    if locked is None:
        raise NotFound(str(REASONS["unknown"]), errors={"code": [_("unknown voucher")]}, reason="unknown")
    if locked.replay_id is not None:
        return _replay(session, idempotency_key, code, service_code), True
    status = _status_on(locked.status, locked.expires_on, _today_in(locked.tz))
    if status == VoucherStatus.cancelled:
        raise refuse("cancelled")
    if status == VoucherStatus.expired:
        raise refuse("expired")
    if locked.programme_status != ProgrammeStatus.active:
        raise refuse("inactive_programme")
    if not isinstance(service_code, str):
        raise _unknown_service(service_code)
    if not (isinstance(facility_id, int) and not isinstance(facility_id, bool) and 0 < facility_id < 2 ** 31):
        facility_id = None
    sql = _REDEEM_SQL.format(schema=quote_ident(session.info["tenant_schema"]))
    row = session.connection().exec_driver_sql(sql, {
        "vid": locked.id, "pid": locked.programme_id, "service": service_code, "fid": facility_id,
        "key": idempotency_key, "currency": locked.currency, "by": redeemed_by, **audit.origin()}).first()
    reason = row.reason
    if reason == "replay":  # a retry committed while this one waited for the lock
        return _replay(session, idempotency_key, code, service_code), True
    if reason == "unknown_service":
        raise _unknown_service(service_code)
    if reason == "unknown_facility":
        raise ValidationError(_("Unknown facility."), errors={"facility_id": [_("unknown facility")]})
    if reason == "wrong_order":
        raise refuse("wrong_order", _("%(service)s needs %(n)s × %(before)s first.", service=row.service_name,
                                      n=row.requires_count, before=row.requires_name),
                     requires=row.requires_code)
    if reason is not None:
        raise refuse(reason)
    stale = session.identity_map.get(identity_key(Voucher, locked.id))
    if stale is not None:
        session.expire(stale)
    return Redeemed(id=row.id, voucher_code=code, voucher_status=row.voucher_status, service=service_code,
                    occurrence=row.occurrence, facility=row.facility_code, amount=row.tariff,
                    currency=locked.currency, redeemed_at=row.redeemed_at, redeemed_by=redeemed_by), False


def _unknown_service(service_code: Any) -> ValidationError:
    return ValidationError(_("The programme has no service %(code)s.", code=service_code),
                           errors={"service": [_("unknown service")]})


def _replay(session: Session, key: str, code: str, service_code: str) -> Redeemed:
    row = session.execute(select(Redemption, Voucher.code, Voucher.status, ProgrammeService.code,
                                 HealthFacility.code)
                          .join(Voucher, Voucher.id == Redemption.voucher_id)
                          .join(ProgrammeService, ProgrammeService.id == Redemption.service_id)
                          .join(HealthFacility, HealthFacility.id == Redemption.facility_id)
                          .where(Redemption.idempotency_key == key)).one()
    entry, voucher_code, voucher_status, service, facility = row
    if (voucher_code, service) != (code, service_code):
        raise ValidationError(_("This idempotency key was used for another redemption."),
                              errors={"idempotency_key": [_("used for another request")]})
    return Redeemed(id=entry.id, voucher_code=voucher_code, voucher_status=voucher_status, service=service,
                    occurrence=entry.occurrence, facility=facility, amount=entry.amount, currency=entry.currency,
                    redeemed_at=entry.redeemed_at, redeemed_by=entry.redeemed_by)


# ---- lifecycle -----------------------------------------------------------------------------------


def cancel_voucher(session: Session, code_text: str, *, reason: str, reissue: bool = False,
                   issued_by: str | None = None) -> Voucher | None:
    """Cancel a voucher (its code stops working). With ``reissue`` (a lost card) the same entitlement
    moves to a fresh code: the voucher keeps its row, ledger and expiry, and a cancelled record keeps
    the old code so that it is refused as cancelled. Returns the voucher under its new code, or None."""
    problems: Problems = {}
    reason = _text(reason, problems, "reason", 500)
    _raise(problems, _("Say why the voucher is cancelled."))
    voucher = find_voucher(session, code_text, lock=True)
    status = effective_status(session, voucher)
    if status not in LIVE:
        raise refuse("cancelled" if status == VoucherStatus.cancelled else "expired"
                     if status == VoucherStatus.expired else "already_redeemed")
    old_code = voucher.code
    if not reissue:
        voucher.status, voucher.cancelled_at, voucher.cancel_reason = VoucherStatus.cancelled, utcnow(), reason
        session.flush()
        audit.record(session, "vouchers.cancel", "voucher", voucher.id, details={"reason": reason})
        return None
    voucher.code = vcodes.new_code()
    while session.execute(select(Voucher.id).where(Voucher.code == voucher.code, Voucher.id != voucher.id)).first():
        voucher.code = vcodes.new_code()
    session.flush()
    tombstone = Voucher(programme_id=voucher.programme_id, individual_id=voucher.individual_id, code=old_code,
                        status=VoucherStatus.cancelled, value=0, issued_at=voucher.issued_at,
                        issued_by=voucher.issued_by, expires_on=voucher.expires_on, cancelled_at=utcnow(),
                        cancel_reason=reason)
    session.add(tombstone)
    session.flush()
    voucher.replaces_id = tombstone.id
    voucher.issued_by = issued_by or voucher.issued_by
    session.flush()
    audit.record(session, "vouchers.reissue", "voucher", voucher.id,
                 details={"reason": reason, "cancelled_record": tombstone.id})
    return voucher


def expire_vouchers(session: Session, *, today: date | None = None,
                    actor: tuple[str, str | None, str | None] | None = None) -> int:
    """Mark every live voucher past its last day ``expired`` (set-wise); returns how many."""
    today = today or el.tenant_today(session)
    n = session.execute(update(Voucher).where(Voucher.status.in_([s.value for s in LIVE]),
                                              Voucher.expires_on < today)
                        .values(status=VoucherStatus.expired.value)).rowcount
    if n:
        audit.record_bulk(session, "vouchers.expire", "voucher", counts={"expired": n},
                          input_ref={"today": today.isoformat()}, actor=actor)
    return n


__all__ = ["VoucherRefused", "REASONS", "ServiceSpec", "get_programme", "get_programme_by_code", "list_programmes",
           "services_of", "facility_ids_of", "package_value", "create_programme", "update_programme", "budget",
           "expiry_for", "is_eligible", "issue_voucher", "issue_bulk", "parse_code", "find_voucher", "used_counts",
           "effective_status", "voucher_view", "redeem", "Redeemed", "cancel_voucher", "expire_vouchers"]
