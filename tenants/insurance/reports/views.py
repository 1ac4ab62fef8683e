"""The insurance reports page (``reports.read``): every report as a table with bars drawn in CSS (no
scripts) and a CSV link, filtered by location level (policies) and dates (contributions, claims),
within the user's locations."""

from __future__ import annotations

from datetime import date

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l

from schemehost.platform.errors import ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants import reporting
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance.reports import services as rp
from schemehost.tenants.registry import services as reg

bp = tenant_blueprint("tenant_insurance_reports", __name__, "/insurance/reports", module="insurance")
READ = "reports.read"
POLICY_STATUSES = {"idle": _l("Idle"), "ready": _l("Ready"), "active": _l("Active"), "suspended": _l("Suspended"),
                   "expired": _l("Expired")}
CLAIM_STATUSES = {"entered": _l("Entered"), "checked": _l("Checked"), "processed": _l("Processed"),
                  "valuated": _l("Valuated"), "rejected": _l("Rejected")}


def _options() -> tuple[dict, dict[str, str]]:
    """The page's filters from the query string: bad dates are dropped and reported."""
    options: dict = {"level": request.args.get("level") or None}
    problems: dict[str, str] = {}
    for name in ("date_from", "date_to"):
        text = (request.args.get(name) or "").strip()
        try:
            options[name] = date.fromisoformat(text) if text else None
        except ValueError:
            options[name] = None
            problems[name] = str(_l("Not a valid date."))
    return options, problems


def _rows(kind: str, options: dict) -> list[dict]:
    return rp.report(tenant_session(), kind, principal=current_principal(),
                     **({"level": options["level"]} if kind == "policies" else
                        {"date_from": options["date_from"], "date_to": options["date_to"]}))


@bp.get("")
@permission_required(READ)
def index():
    options, problems = _options()
    status = 200
    try:
        rp.check_dates(options["date_from"], options["date_to"])
        tables = {kind: _rows(kind, options) for kind in rp.KINDS}
    except ValidationError as err:
        problems.update({k: "; ".join(map(str, v)) for k, v in err.errors.items()})
        options.update(level=None, date_from=None, date_to=None)
        tables = {kind: _rows(kind, options) for kind in rp.KINDS}
        status = 422
    if problems:
        status = 422
    args = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in options.items() if v}
    return render_template("tenant/insurance/reports.html", tables=tables, levels=reg.level_names(tenant_session()),
                           args=args, problems=problems, policy_statuses=POLICY_STATUSES,
                           claim_statuses=CLAIM_STATUSES), status


@bp.get("/<kind>.csv")
@permission_required(READ)
def csv(kind: str):
    options, _problems = _options()
    return reporting.csv_response(_rows(kind, options), f"insurance-{kind}.csv")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_insurance_reports.index", _l("Insurance reports"), permission=READ, order=39)
