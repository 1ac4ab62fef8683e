"""Payment points after their creation (``services.create_payment_point``): one point, its changes
(code, name, kind, location, manager, deactivation) and how many beneficiaries each serves. A
deactivated point keeps its beneficiaries and its past payroll lines; nobody new is assigned to it."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.tenants.identity import audit
from schemehost.tenants.registry.models import Location
from schemehost.tenants.transfers.models import Beneficiary, PaymentPoint, PaymentPointKind
from schemehost.tenants.transfers.services import CODE_RE

FIELDS = ("code", "name", "kind", "location_id", "manager_user_id", "active")


def point_view(point: PaymentPoint) -> dict[str, Any]:
    return {k: getattr(point, k) for k in FIELDS}


def get_payment_point(session: Session, point_id: int, *, lock: bool = False) -> PaymentPoint:
    query = select(PaymentPoint).where(PaymentPoint.id == point_id)
    point = session.execute(query.with_for_update() if lock else query).scalar_one_or_none()
    if point is None:
        raise NotFound(_("No payment point %(id)s.", id=point_id))
    return point


def update_payment_point(session: Session, point_id: int, **changes: Any) -> PaymentPoint:
    """Change a payment point: 422 with field errors, 409 for a taken code; audited before/after."""
    from schemehost.tenants.core.models import User

    point = get_payment_point(session, point_id, lock=True)
    before = point_view(point)
    values = {**before, **{k: v for k, v in changes.items() if k in FIELDS}}
    errors: dict[str, list[str]] = {}
    if not CODE_RE.match(str(values["code"] or "")):
        errors["code"] = [_("1-40 letters, digits, '-' or '_'.")]
    if not str(values["name"] or "").strip() or len(values["name"]) > 200:
        errors["name"] = [_("1-200 characters.")]
    if values["kind"] not in PaymentPointKind.__members__:
        errors["kind"] = [_("must be one of: %(values)s", values=", ".join(PaymentPointKind))]
    if not isinstance(values["location_id"], int) or session.get(Location, values["location_id"]) is None:
        errors["location_id"] = [_("unknown location")]
    if values["manager_user_id"] is not None and session.get(User, values["manager_user_id"]) is None:
        errors["manager_user_id"] = [_("unknown user")]
    if not isinstance(values["active"], bool):
        errors["active"] = [_("true or false")]
    if errors:
        raise ValidationError(_("The payment point is not valid."), errors=errors)
    if values["code"] != point.code and session.execute(
            select(PaymentPoint.id).where(PaymentPoint.code == values["code"])).first():
        raise Conflict(_("A payment point with code '%(code)s' exists.", code=values["code"]),
                       errors={"code": [_("already taken")]})
    values["name"] = values["name"].strip()
    for key in FIELDS:
        setattr(point, key, values[key])
    session.flush()
    after = point_view(point)
    if after != before:
        audit.record(session, "transfers.payment_point.updated", "transfer_payment_point", point.id,
                     before=before, after=after)
    return point


def beneficiaries_per_point(session: Session) -> dict[int, int]:
    """{payment point id: beneficiaries assigned to it} over every programme."""
    return dict(session.execute(select(Beneficiary.payment_point_id, func.count())
                                .where(Beneficiary.payment_point_id.is_not(None))
                                .group_by(Beneficiary.payment_point_id)).all())
