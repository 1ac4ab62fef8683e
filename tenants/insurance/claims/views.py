"""Tenant console pages of claims: the list with filters and engine buttons, the entry form for data
clerks, a claim's page (lines, status, changes while entered, the review form), the review queue and
CSV batch upload.

The entry form is built for people who type many claims from paper: it opens on the first field,
every field is reached with Tab in reading order, items and services are typed by code (a datalist
suggests codes and names), a price left empty comes from the price list, and "Save and next" keeps the
facility and dates for the next claim of the batch. A small script (``claims.js``) adds line rows and
shows the totals; without it the form still has its eight rows and works. Amounts are typed in the
currency's major unit; service errors land beside their fields (line errors on their row).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select

from schemehost.platform import money
from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance.api import any_permission_required
from schemehost.tenants.insurance.claims import batch, icd10, review
from schemehost.tenants.insurance.claims import services as svc
from schemehost.tenants.insurance.claims.api import READ, REVIEW_PERMISSION, SUBMIT, start_engine
from schemehost.tenants.insurance.claims.models import ClaimStatus, Selection
from schemehost.tenants.insurance.claims.reasons import REASONS, REVIEW
from schemehost.tenants.insurance.services._clean import Problems
from schemehost.tenants.registry.models import CatalogueEntry, HealthFacility
from schemehost.tenants.registry.services import tenant_currency

bp = tenant_blueprint("tenant_claims", __name__, "/claims", module="insurance")
ROWS = 8
STATUSES = {ClaimStatus.entered: _l("Entered"), ClaimStatus.checked: _l("Checked"),
            ClaimStatus.processed: _l("Processed"), ClaimStatus.valuated: _l("Valuated"),
            ClaimStatus.rejected: _l("Rejected")}
LINE_STATUSES = {"entered": _l("Entered"), "passed": _l("Passed the checks"), "rejected": _l("Rejected"),
                 "approved": _l("Approved"), "adjusted": _l("Adjusted")}
VISITS = {"out_patient": _l("Out-patient"), "in_patient": _l("In-patient"), "emergency": _l("Emergency")}
SELECTIONS = {Selection.not_selected: _l("Not selected"), Selection.selected: _l("Selected"),
              Selection.reviewed: _l("Reviewed")}
DECISIONS = {"approve": _l("Approve"), "adjust": _l("Adjust"), "reject": _l("Reject")}
HEADER = ("code", "facility", "insuree", "visit_type", "date_from", "date_to", "date_claimed", "icd_code",
          "icd_codes")


def _can(permission: str) -> bool:
    principal = current_principal()
    return principal is not None and principal.can(permission)


def _label(value: Any) -> str:
    return str(value) if value is not None else ""


def _suggestions(session) -> dict[str, Any]:
    """Datalists of the form: facilities (in the user's area), catalogue entries, ICD-10 codes."""
    from schemehost.tenants.identity.scoping import location_clause

    facilities = select(HealthFacility.code, HealthFacility.name).where(HealthFacility.status == "active")
    clause = location_clause(current_principal(), HealthFacility.location_id)
    if clause is not None:
        facilities = facilities.where(clause)
    return {
        "facilities": session.execute(facilities.order_by(HealthFacility.code).limit(500)).all(),
        "entries": session.execute(select(CatalogueEntry.code, CatalogueEntry.name, CatalogueEntry.kind)
                                   .order_by(CatalogueEntry.code).limit(3000)).all(),
        "icd": session.execute(select(icd10.CODES.c.code, icd10.CODES.c.title)
                               .order_by(icd10.CODES.c.code).limit(3000)).all(),
    }


def _major(minor: int | None, currency: str) -> str:
    return "" if minor is None else str(money.from_minor(minor, currency))


# ---- entry -----------------------------------------------------------------------------------------------


def _posted(currency: str) -> tuple[dict[str, Any], list[dict[str, str]], list[int], dict[str, list[str]]]:
    """The claim data of the posted form, the rows as typed, which row each given line came from, and
    the problems of amounts that are not numbers."""
    form = request.form
    data: dict[str, Any] = {k: (form.get(k) or "").strip() for k in HEADER}
    data["icd_codes"] = data["icd_codes"] or []
    for key in ("date_to", "date_claimed"):
        data[key] = data[key] or None
    errors: dict[str, list[str]] = {}
    rows, lines, origin = [], [], []
    count = min(max(form.get("rows", type=int) or ROWS, 1), svc.MAX_LINES)
    for i in range(count):
        row = {k: (form.get(f"line-{i}-{k}") or "").strip() for k in ("code", "quantity", "price")}
        rows.append(row)
        if not any(row.values()):
            continue
        line: dict[str, Any] = {"code": row["code"]}
        try:
            line["quantity"] = int(row["quantity"]) if row["quantity"] else None
        except ValueError:
            line["quantity"] = -1
        if row["price"]:
            try:
                line["price"] = money.to_minor(row["price"], currency)
            except ValueError:
                errors.setdefault(f"lines.{len(lines)}.price", []).append(_("An amount such as 1500 or 1500.50."))
                line["price"] = 0
        lines.append(line)
        origin.append(i)
    data["lines"] = lines
    return data, rows, origin, errors


def _row_errors(err: AppError, origin: list[int]) -> tuple[dict[str, list[str]], dict[int, dict[str, list[str]]]]:
    """Service errors split into the header's (by field) and the rows' (by row, then field)."""
    header: dict[str, list[str]] = {}
    rows: dict[int, dict[str, list[str]]] = {}
    for name, messages in (err.errors or {}).items():
        texts = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        parts = name.split(".")
        if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(origin):
            field = "code" if parts[2] == "item" else parts[2]
            rows.setdefault(origin[int(parts[1])], {}).setdefault(field, []).extend(texts)
        else:
            header.setdefault(parts[0], []).extend(texts)
    return header, rows


def _entry_page(claim=None):
    session = tenant_session()
    principal = current_principal()
    currency = claim.currency if claim is not None else tenant_currency(session)
    status = 200
    header_errors: dict[str, list[str]] = {}
    row_errors: dict[int, dict[str, list[str]]] = {}
    form_error = None
    if request.method == "POST":
        data, rows, origin, typed = _posted(currency)
        values = {k: data[k] or "" for k in HEADER}
        values["icd_codes"] = request.form.get("icd_codes", "")
        if not FlaskForm().validate_on_submit():
            form_error, status = _("The form expired: send it again."), 400
        else:
            try:
                if typed:  # amounts that are not numbers: report them with every other problem
                    problems = Problems()
                    svc.clean_claim(session, data, principal=principal, p=problems)
                    for key, messages in typed.items():
                        problems.errors[key] = messages
                    raise ValidationError(_("The claim cannot be saved."), errors=problems.errors)
                if claim is None:
                    saved = svc.create_claim(session, data, principal=principal)
                else:
                    saved = svc.update_claim(session, claim.id, data, principal=principal,
                                             version=request.form.get("version", type=int))
                flash(_("Claim %(code)s saved: %(amount)s claimed.", code=saved.code,
                        amount=_major(saved.claimed, currency) + " " + currency), "success")
                if request.form.get("next") == "1":
                    return redirect(url_for(".new", facility=saved_facility(session, saved),
                                            date_from=saved.date_from.isoformat(), visit_type=saved.visit_type))
                return redirect(url_for(".claim", claim_id=saved.id))
            except (ValidationError, Conflict, NotFound) as err:
                session.rollback()
                header_errors, row_errors = _row_errors(err, origin)
                if not err.errors or isinstance(err, Conflict):
                    form_error = str(err.detail)
                status = err.status
        rows = rows + [{"code": "", "quantity": "", "price": ""}] * max(0, ROWS - len(rows))
    elif claim is not None:
        view = svc.claim_view(session, claim)
        values = {k: view.get(k) or "" for k in HEADER}
        values.update(facility=view["facility"]["code"], insuree=view["insuree"]["scheme_number"],
                      icd_codes=" ".join(view["icd_codes"]), date_from=claim.date_from.isoformat(),
                      date_to=claim.date_to.isoformat() if claim.date_to else "",
                      date_claimed=claim.date_claimed.isoformat())
        rows = [{"code": l["code"], "quantity": str(l["quantity"]), "price": _major(l["price"], currency)}
                for l in view["lines"]]
        rows += [{"code": "", "quantity": "", "price": ""}] * max(0, ROWS - len(rows))
    else:
        values = {k: request.args.get(k, "") for k in HEADER}
        values["visit_type"] = values["visit_type"] or "out_patient"
        rows = [{"code": "", "quantity": "", "price": ""} for _i in range(ROWS)]
    # a refused change keeps the version it was based on: saving again needs a reload first
    version = request.form.get("version", type=int) if request.method == "POST" else None
    return render_template("tenant/claims/entry.html", claim=claim, values=values, rows=rows, version=version,
                           header_errors=header_errors, row_errors=row_errors, form_error=form_error,
                           visits=VISITS, currency=currency, **_suggestions(session)), status


def saved_facility(session, claim) -> str:
    return session.get(HealthFacility, claim.facility_id).code


@bp.route("/new", methods=["GET", "POST"])
@permission_required(SUBMIT)
def new():
    return _entry_page()


@bp.route("/<int:claim_id>/edit", methods=["GET", "POST"])
@permission_required(SUBMIT)
def edit(claim_id: int):
    claim = svc.get_claim(tenant_session(), claim_id, principal=current_principal())
    if claim.status != ClaimStatus.entered.value:
        flash(_("Only an entered claim can be changed."), "error")
        return redirect(url_for(".claim", claim_id=claim.id))
    return _entry_page(claim)


# ---- list, batch and engine runs ---------------------------------------------------------------------------


@bp.get("/")
@any_permission_required(*READ)
def claims():
    session = tenant_session()
    args = request.args
    wanted = args.get("status") if args.get("status") in STATUSES else None
    day_from = _day(args.get("from"))
    day_to = _day(args.get("to"))
    selection = args.get("review") if args.get("review") in SELECTIONS else None
    feedback = args.get("feedback") if args.get("feedback") in SELECTIONS else None
    rows = svc.list_claims(session, principal=current_principal(), status=wanted,
                           facility_code=(args.get("facility") or "").strip() or None, date_from=day_from,
                           date_to=day_to, review_status=selection, feedback_status=feedback,
                           code=(args.get("code") or "").strip() or None,
                           before_id=args.get("before_id", type=int), newest_first=True, limit=100)
    facilities = dict(session.execute(select(HealthFacility.id, HealthFacility.code)
                                      .where(HealthFacility.id.in_({c.facility_id for c in rows}))).all())
    return render_template("tenant/claims/list.html", claims=rows, statuses=STATUSES, status=wanted,
                           selections=SELECTIONS, facilities=facilities, visits=VISITS,
                           args=args, can_submit=_can(SUBMIT), can_review=_can(REVIEW_PERMISSION))


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@bp.route("/batch", methods=["GET", "POST"])
@permission_required(SUBMIT)
def upload():
    report, status, error = None, 200, None
    if request.method == "POST":
        upload_file = request.files.get("file")
        if not FlaskForm().validate_on_submit():
            error, status = _("The form expired: send it again."), 400
        elif upload_file is None or not upload_file.filename:
            error, status = _("Choose a CSV file."), 422
        else:
            session = tenant_session()
            try:
                report = batch.import_claims(session, upload_file.read(batch.MAX_BYTES + 1), principal=current_principal(),
                                             partial=request.form.get("partial") == "1", filename=upload_file.filename)
                flash(_("%(created)d claims entered, %(skipped)d already entered.", created=report["created"],
                        skipped=report["skipped"]), "success")
            except ValidationError as err:
                session.rollback()
                report, status = err.extra, 422
                error = str(err.detail)
    return render_template("tenant/claims/batch.html", report=report, error=error,
                           columns=batch.CLAIM_COLUMNS + batch.LINE_COLUMNS), status


@bp.post("/run")
@permission_required(REVIEW_PERMISSION)
def run():
    """The buttons of the list: run the checks, process claims not selected for review, valuate."""
    action = request.form.get("action")
    if not FlaskForm().validate_on_submit() or action not in ("check", "process", "valuate"):
        flash(_("The form expired: send it again."), "error")
        return redirect(url_for(".claims"))
    if action == "process":
        result = review.process_claims(tenant_session(), principal=current_principal())
        flash(_("%(n)d claims processed without review.", n=result["processed"]), "success")
        return redirect(url_for(".claims"))
    job, _status = start_engine(action, None)
    result = job["result"] or {}
    if job["status"] == "failed":
        flash(_("The run failed (job %(id)s): nothing was changed.", id=job["job_id"]), "error")
    elif job["status"] != "succeeded":
        flash(_("The run was queued as job %(id)s: refresh this page in a while.", id=job["job_id"]), "success")
    elif action == "check":
        flash(_("Checks: %(checked)d claims checked, %(rejected)d rejected.", checked=result.get("checked", 0),
                rejected=result.get("rejected", 0)), "success")
    else:
        flash(_("%(n)d claims valuated.", n=result.get("valuated", 0)), "success")
    return redirect(url_for(".claims"))


# ---- one claim and its review ------------------------------------------------------------------------------


@bp.get("/<int:claim_id>")
@any_permission_required(*READ)
def claim(claim_id: int):
    return _claim_page(claim_id)


@bp.post("/<int:claim_id>")
@permission_required(REVIEW_PERMISSION)
def claim_review(claim_id: int):
    return _claim_page(claim_id)


def _claim_page(claim_id: int):
    session = tenant_session()
    principal = current_principal()
    current = svc.get_claim(session, claim_id, principal=principal)
    status = 200
    errors: dict[str, list[str]] = {}
    form_error = None
    posted: dict[str, Any] = {}
    if request.method == "POST":
        posted = request.form.to_dict()
        lines = []
        for line in svc.claim_lines(session, current.id):
            no = line["line_no"]
            decision = request.form.get(f"decision-{no}")
            if not decision:
                continue
            item: dict[str, Any] = {"line_no": no, "decision": decision,
                                    "reason": request.form.get(f"reason-{no}") or None}
            if decision == "adjust":
                try:
                    item["quantity"] = int(request.form.get(f"quantity-{no}") or line["quantity"])
                except ValueError:
                    item["quantity"] = -1
                try:
                    text = request.form.get(f"price-{no}")
                    item["price"] = money.to_minor(text, current.currency) if text else line["price"]
                except ValueError:
                    item["price"] = -1
            lines.append(item)
        if not FlaskForm().validate_on_submit():
            form_error, status = _("The form expired: send it again."), 400
        else:
            try:
                saved = review.review_claim(session, current.id, version=request.form.get("version", type=int),
                                            lines=lines, note=request.form.get("note"), principal=principal)
                flash(_("Claim %(code)s: %(status)s.", code=saved.code, status=STATUSES[saved.status]), "success")
                return redirect(url_for(".claim", claim_id=current.id))
            except (ValidationError, Conflict) as err:
                session.rollback()
                status = err.status
                for name, messages in (err.errors or {}).items():
                    parts = name.split(".")
                    if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(lines):
                        errors.setdefault(str(lines[int(parts[1])]["line_no"]), []).extend(str(m) for m in messages)
                    else:
                        form_error = str(err.detail)
                if not err.errors or isinstance(err, Conflict):
                    form_error = str(err.detail)
            current = svc.get_claim(session, claim_id, principal=principal)
    view = svc.claim_view(session, current)
    return render_template("tenant/claims/claim.html", claim=view, statuses=STATUSES, line_statuses=LINE_STATUSES,
                           visits=VISITS, selections=SELECTIONS, reasons=REASONS, review_reasons=REVIEW,
                           decisions=DECISIONS, errors=errors, form_error=form_error, posted=posted,
                           major=lambda v: _major(v, current.currency),
                           can_review=_can(REVIEW_PERMISSION) and current.status == ClaimStatus.checked.value,
                           can_edit=_can(SUBMIT) and current.status == ClaimStatus.entered.value), status


@bp.get("/review/")
@permission_required(REVIEW_PERMISSION)
def queue():
    session = tenant_session()
    selected = request.args.get("selected") == "1"
    rows = review.review_queue(session, principal=current_principal(), selected_only=selected,
                               after_id=request.args.get("after_id", type=int), limit=100)
    facilities = dict(session.execute(select(HealthFacility.id, HealthFacility.code)
                                      .where(HealthFacility.id.in_({c.facility_id for c in rows}))).all())
    return render_template("tenant/claims/queue.html", claims=rows, facilities=facilities, selected=selected,
                           selections=SELECTIONS, visits=VISITS)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_claims.claims", _l("Claims"), permission=SUBMIT, order=34)
    add_nav("tenant_claims.queue", _l("Review claims"), permission=REVIEW_PERMISSION, order=35)
