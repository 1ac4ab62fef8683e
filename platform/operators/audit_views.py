"""Operator console: the control plane's audit log (``/console/audit``), read-only.

Platform admins and support operators read it; partner staff do not (it spans every partner).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from schemehost.platform import audit
from schemehost.platform.errors import Forbidden, ValidationError
from schemehost.platform.extensions import db

bp = Blueprint("console_audit", __name__, url_prefix="/console/audit")
PAGE_SIZE = 50
READERS = ("platform_admin", "support")


def can_read_operator_audit(operator) -> bool:
    return getattr(operator, "role", None) in READERS


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(_("Enter a date like 2026-03-01."),
                              errors={field: [_("Enter a date like 2026-03-01.")]}) from None


@bp.get("/")
def index():
    if not can_read_operator_audit(current_user):
        raise Forbidden(_("Only platform admins and support operators may read the operator audit log."))
    args = {k: request.args[k].strip() for k in ("tenant", "operator", "action", "from", "to")
            if request.args.get(k, "").strip()}
    errors: dict[str, list[str]] = {}
    page = None
    try:
        start, end = _day(args.get("from", ""), "from"), _day(args.get("to", ""), "to")
        page = audit.list_operator_audit(
            db.session, tenant=args.get("tenant"), operator=args.get("operator"), action=args.get("action"),
            since=datetime.combine(start, time.min, tzinfo=timezone.utc) if start else None,
            until=datetime.combine(end + timedelta(days=1), time.min, tzinfo=timezone.utc) if end else None,
            cursor=request.args.get("cursor") or None, limit=PAGE_SIZE)
    except ValidationError as err:
        errors = {k: [str(m) for m in v] for k, v in err.errors.items()}
    return render_template(
        "operators/audit.html", page=page, args=args, errors=errors,
        first_page=not request.args.get("cursor"),
        to_json=lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, default=str),
    ), (422 if errors else 200)
