"""Console page of eligibility filters (``/t/<slug>/registry/eligibility``): write or edit a filter as
JSON, or start from a small form of common conditions, and see how many individuals or households
qualify and where (a breakdown by a location level).

The page works as plain forms: "Use these conditions" turns the small form into JSON on the server,
"Preview" counts. ``eligibility.js`` only adds a live preview: it posts the same form in the
background (``Accept: application/json``) and swaps in the result the server rendered. Needs
``registry.read``; a user restricted to some locations counts only within them.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from schemehost.platform.errors import ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry import services as reg

bp = tenant_blueprint("tenant_eligibility", __name__, "/registry/eligibility")
READ = "registry.read"
#: breakdown rows shown on the page (the API gives all of them)
SHOWN = 50
TARGET_LABELS = {"individuals": _l("Individuals"), "households": _l("Households")}
SEXES = {"": _l("any"), "female": _l("Women"), "male": _l("Men"), "other": _l("Other")}
EXAMPLE = {"all": [{"field": "sex", "op": "eq", "value": "female"},
                   {"field": "age", "op": "between", "value": [15, 49]}]}


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 6 else None


def quick_filter(target: str, form) -> dict[str, Any]:
    """The filter the small form describes (the same rules as ``buildQuick`` in eligibility.js)."""
    person = "" if target == "individuals" else "head."
    conditions: list[dict[str, Any]] = []
    if form.get("sex") in ("female", "male", "other"):
        conditions.append({"field": person + "sex", "op": "eq", "value": form["sex"]})
    low, high = _int(form.get("age_min")), _int(form.get("age_max"))
    if low is not None and high is not None:
        conditions.append({"field": person + "age", "op": "between", "value": [low, high]})
    elif low is not None:
        conditions.append({"field": person + "age", "op": "gte", "value": low})
    elif high is not None:
        conditions.append({"field": person + "age", "op": "lte", "value": high})
    codes = [c for c in re.split(r"[\s,;]+", form.get("within") or "") if c]
    if codes:
        conditions.append({"field": "location", "op": "within", "value": codes})
    size = _int(form.get("size_min"))
    if size is not None:
        conditions.append({"field": "size" if target == "households" else "household.size", "op": "gte",
                           "value": size})
    if form.get("active_only"):
        conditions.append({"field": "status", "op": "eq", "value": "active"})
    return {"all": conditions}


def pretty(spec: Any) -> str:
    """A filter as readable JSON: a top-level all/any with one condition per line (as ``pretty`` in
    eligibility.js), anything else indented."""
    if isinstance(spec, dict) and len(spec) == 1:
        key, items = next(iter(spec.items()))
        if key in ("all", "any") and isinstance(items, list):
            if not items:
                return json.dumps(spec)
            lines = ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in items)
            return f'{{"{key}": [\n  {lines}\n]}}'
    return json.dumps(spec, indent=2, ensure_ascii=False)


def _result_html(target: str, result: dict | None, problems: dict) -> str:
    count = result["count"] if result else 0
    headline = None
    if result is not None:
        number = format_decimal(count)
        headline = (ngettext("%(n)s individual qualifies", "%(n)s individuals qualify", count, n=number)
                    if target == "individuals" else
                    ngettext("%(n)s household qualifies", "%(n)s households qualify", count, n=number))
    return render_template("tenant/registry/_eligibility_result.html", result=result, problems=problems,
                           headline=headline, shown=SHOWN, fmt=format_decimal)


@bp.route("/", methods=["GET", "POST"])
@permission_required(READ)
def page():
    session = tenant_session()
    names = reg.level_names(session)
    form = request.form if request.method == "POST" else request.args
    target = form.get("target") if form.get("target") in el.TARGETS else "individuals"
    by_level = _int(form.get("by_level"))
    by_level = by_level if by_level is not None and by_level < len(names) else min(1, len(names) - 1)
    text = form.get("filter")
    if text is None:
        text = pretty(EXAMPLE)
    problems: dict[str, list[str]] = {}
    result = None
    on_date = None
    if (form.get("on_date") or "").strip():
        try:
            on_date = date.fromisoformat(form["on_date"].strip())
        except ValueError:
            problems["on_date"] = [_("expected a date (YYYY-MM-DD)")]
    if request.method == "POST":
        if form.get("action") == "build":
            text = pretty(quick_filter(target, form))
        spec, problems_json = el.parse_json(text)
        problems.update(problems_json)
        if not problems:
            try:
                result = el.preview(session, spec, target=target, principal=current_principal(), by_level=by_level,
                                    on_date=on_date)
            except ValidationError as err:
                problems = {k: [str(m) for m in v] for k, v in err.errors.items()}
    status = 422 if problems else 200
    fragment = _result_html(target, result, problems) if request.method == "POST" else ""
    if request.method == "POST" and request.accept_mimetypes.best == "application/json":
        return jsonify({"html": fragment, "count": result["count"] if result else None, "errors": problems,
                        "filter": text}), status
    fields = el.available_fields(session, target=target)
    return render_template("tenant/registry/eligibility.html", target=target, targets=TARGET_LABELS, text=text,
                           levels=list(enumerate(names)), by_level=by_level, on_date=form.get("on_date") or "",
                           today=el.tenant_today(session).isoformat(), fragment=fragment, form=form, sexes=SEXES,
                           fields=fields), status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_eligibility.page", _l("Eligibility"), permission=READ, order=26)
