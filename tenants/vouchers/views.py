"""Tenant console pages of the vouchers module: programmes (list, form, budget, issuance), printable
voucher cards with QR codes, and the redemption desk (a plain form usable on a phone).

People type amounts in the currency's major unit and name facilities by code; views turn those into
minor units and ids, call one service and render. Service errors land beside the form's fields.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import segno
from flask import Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select
from wtforms import DateField, FieldList, FormField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional

from schemehost.platform import money
from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants import reporting
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.clients_views import CheckboxesField
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import eligibility as el
from schemehost.tenants.registry import services as reg
from schemehost.tenants.vouchers import claims as cl
from schemehost.tenants.vouchers import codes as vcodes
from schemehost.tenants.vouchers import reports as rp
from schemehost.tenants.vouchers import services as vs
from schemehost.tenants.vouchers.api import ANY, ISSUE, MANAGE, REDEEM, require_any, start_bulk
from schemehost.tenants.vouchers.models import LIVE, Voucher, VoucherStatus

bp = tenant_blueprint("tenant_vouchers", __name__, "/vouchers", module="vouchers")
CODE_KW = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
SERVICE_ROWS = 8
CARDS_PER_PAGE = 8  # one A4 sheet: two columns of four cards
CARDS_MAX = 400
STATUSES = {VoucherStatus.issued: _l("Issued"), VoucherStatus.partially_redeemed: _l("Partly redeemed"),
            VoucherStatus.redeemed: _l("Redeemed"), VoucherStatus.expired: _l("Expired"),
            VoucherStatus.cancelled: _l("Cancelled")}


class ServiceRow(FlaskForm):
    class Meta:
        csrf = False

    code = StringField(_l("Code"), render_kw=CODE_KW)
    name = StringField(_l("Service"))
    tariff = StringField(_l("Tariff"))
    count = IntegerField(_l("Count"), validators=[Optional(), NumberRange(min=1, max=100)])
    requires_code = StringField(_l("After service"), render_kw=CODE_KW)
    requires_count = IntegerField(_l("at least"), validators=[Optional(), NumberRange(min=1, max=100)])


class ProgrammeForm(FlaskForm):
    code = StringField(_l("Code"), render_kw=CODE_KW)
    name = StringField(_l("Name"))
    validity_days = IntegerField(_l("Validity (days)"), validators=[Optional()],
                                 description=_l("How long a voucher may be used after it is issued."))
    budget_ceiling = StringField(_l("Budget ceiling"), description=_l("Empty: no ceiling."))
    facilities = CheckboxesField(_l("Facilities"), validate_choice=False,
                                 description=_l("Where vouchers may be redeemed; none ticked: every facility."))
    eligibility = TextAreaField(_l("Eligibility filter"), render_kw={"rows": 6, **CODE_KW},
                                description=_l("A registry eligibility filter (JSON); empty: everyone."))
    services = FieldList(FormField(ServiceRow), min_entries=SERVICE_ROWS, max_entries=vs.MAX_SERVICES)


class IssueForm(FlaskForm):
    scheme_number = StringField(_l("Scheme number"), render_kw=CODE_KW,
                                description=_l("The beneficiary's scheme number, from the registry."))


class LookupForm(FlaskForm):
    class Meta:
        csrf = False

    code = StringField(_l("Voucher code"), render_kw={**CODE_KW, "inputmode": "numeric", "autofocus": True})


class RedeemForm(FlaskForm):
    service = SelectField(_l("Service"), validate_choice=False)
    facility = SelectField(_l("Facility"), validate_choice=False)


def _currency_kw(session) -> str:
    return reg.tenant_currency(session)


def _attach(form: FlaskForm, err: AppError) -> None:
    for name, messages in (err.errors or {}).items():
        texts = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        target = _field_for(form, name)
        if target is not None:
            target.errors = list(target.errors) + texts
        else:
            form.form_errors = list(form.form_errors) + [f"{name}: {t}" for t in texts]
    if not err.errors:
        form.form_errors = list(form.form_errors) + [str(err.detail)]


def _field_for(form: FlaskForm, name: str):
    """``services[2].tariff`` → the tariff field of the third service row; ``facilities[0]`` → facilities."""
    base = name.split(".")[0].split("[")[0]
    if base == "services" and "[" in name and "." in name and isinstance(form, ProgrammeForm):
        index = int(name.split("[")[1].split("]")[0])
        sub = name.split(".", 1)[1]
        rows = list(form.services)
        if index < len(rows):
            return getattr(rows[index].form, sub, None)
    field = getattr(form, base, None)
    return field if field is not None and hasattr(field, "errors") and not isinstance(field.errors, dict) else None


def _facility_choices(session) -> list[tuple[str, str]]:
    return [(f.code, f"{f.name} ({f.code})") for f in reg.list_facilities(session, limit=1000)]


def _programme_data(session, form: ProgrammeForm, currency: str) -> dict[str, Any]:
    """The form as the service's input: amounts in minor units, blank service rows left out."""
    problems: dict[str, list[str]] = {}
    services = []
    for i, row in enumerate(form.services):
        r = row.form
        if not any((value or "").strip() for value in (r.code.data, r.name.data, r.tariff.data)):
            continue  # a blank row
        tariff: Any = None
        try:
            tariff = money.to_minor(r.tariff.data, currency) if (r.tariff.data or "").strip() else None
        except ValueError:
            problems[f"services[{len(services)}].tariff"] = [_("not an amount in %(currency)s", currency=currency)]
        services.append({"code": r.code.data, "name": r.name.data, "tariff": tariff, "count": r.count.data,
                         "requires_code": (r.requires_code.data or "").strip() or None,
                         "requires_count": r.requires_count.data})
    budget: Any = None
    if (form.budget_ceiling.data or "").strip():
        try:
            budget = money.to_minor(form.budget_ceiling.data, currency)
        except ValueError:
            problems["budget_ceiling"] = [_("not an amount in %(currency)s", currency=currency)]
    eligibility = None
    if (form.eligibility.data or "").strip():
        eligibility, found = el.parse_json(form.eligibility.data)
        for path, messages in found.items():
            problems.setdefault("eligibility", []).extend(messages)
    if problems:
        raise ValidationError(_("The voucher programme is not valid."), errors=problems)
    return {"code": form.code.data, "name": form.name.data, "validity_days": form.validity_days.data,
            "budget_ceiling": budget, "facilities": list(form.facilities.data or []), "eligibility": eligibility,
            "services": services}


def _fill_form(form: ProgrammeForm, session, programme) -> None:
    services = vs.services_of(session, programme.id)
    form.code.data, form.name.data, form.validity_days.data = programme.code, programme.name, programme.validity_days
    form.budget_ceiling.data = ("" if programme.budget_ceiling is None
                                else str(money.from_minor(programme.budget_ceiling, programme.currency)))
    form.facilities.data = [reg.get_facility(session, f).code for f in vs.facility_ids_of(session, programme.id)]
    form.eligibility.data = json.dumps(programme.eligibility, ensure_ascii=False, indent=1) if programme.eligibility else ""
    while len(form.services) < max(SERVICE_ROWS, len(services) + 2):
        form.services.append_entry()
    for row, service in zip(form.services, services):
        r = row.form
        r.code.data, r.name.data, r.count.data = service.code, service.name, service.count
        r.tariff.data = str(money.from_minor(service.tariff, programme.currency))
        r.requires_code.data, r.requires_count.data = service.requires_code, service.requires_count


@bp.get("/")
def programmes():
    require_any(*ANY)
    session = tenant_session()
    items = [(p, vs.budget(session, p)) for p in vs.list_programmes(session)]
    principal = current_principal()
    return render_template("tenant/vouchers/programmes.html", items=items, can_manage=principal.can(MANAGE))


def _form_page(form: ProgrammeForm, programme, status: int = 200):
    session = tenant_session()
    form.facilities.choices = _facility_choices(session)
    return render_template("tenant/vouchers/programme_form.html", form=form, programme=programme,
                           currency=programme.currency if programme else _currency_kw(session)), status


@bp.route("/programmes/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def programme_new():
    session = tenant_session()
    form = ProgrammeForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            programme = vs.create_programme(session, _programme_data(session, form, _currency_kw(session)))
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            _attach(form, err)
            return _form_page(form, None, err.status)
        flash(_("Voucher programme %(name)s created.", name=programme.name), "success")
        return redirect(url_for(".programme", programme_id=programme.id))
    if request.method == "GET" and not form.validity_days.data:
        form.validity_days.data = 300
    return _form_page(form, None, 422 if request.method == "POST" else 200)


@bp.route("/programmes/<int:programme_id>/edit", methods=["GET", "POST"])
@permission_required(MANAGE)
def programme_edit(programme_id: int):
    session = tenant_session()
    programme = vs.get_programme(session, programme_id)
    form = ProgrammeForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            data = _programme_data(session, form, programme.currency)
            data.pop("code")
            vs.update_programme(session, programme_id, data)
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            _attach(form, err)
            return _form_page(form, vs.get_programme(session, programme_id), err.status)
        flash(_("Voucher programme %(name)s saved.", name=programme.name), "success")
        return redirect(url_for(".programme", programme_id=programme_id))
    if request.method == "GET":
        _fill_form(form, session, programme)
    return _form_page(form, programme, 422 if request.method == "POST" else 200)


def _programme_page(programme_id: int, issue_form: IssueForm | None = None, status: int = 200):
    session = tenant_session()
    programme = vs.get_programme(session, programme_id)
    principal = current_principal()
    services = vs.services_of(session, programme.id)
    facilities = [reg.get_facility(session, f) for f in vs.facility_ids_of(session, programme.id)]
    return render_template("tenant/vouchers/programme.html", programme=programme, services=services,
                           facilities=facilities, budget=vs.budget(session, programme),
                           value=vs.package_value(services), issue_form=issue_form or IssueForm(),
                           can_manage=principal.can(MANAGE), can_issue=principal.can(ISSUE),
                           can_report=principal.can(MANAGE) or principal.can("reports.read"),
                           eligibility=json.dumps(programme.eligibility, ensure_ascii=False, indent=1)
                           if programme.eligibility else None), status


@bp.get("/programmes/<int:programme_id>")
def programme(programme_id: int):
    require_any(*ANY)
    return _programme_page(programme_id)


@bp.post("/programmes/<int:programme_id>/issue")
@permission_required(ISSUE)
def issue(programme_id: int):
    session = tenant_session()
    form = IssueForm()
    if not form.validate_on_submit():
        return _programme_page(programme_id, form, 422)
    from schemehost.tenants.registry.people import Individual

    number = (form.scheme_number.data or "").strip()
    person_id = session.execute(select(Individual.id).where(Individual.scheme_number == number)).scalar_one_or_none()
    try:
        if person_id is None:
            raise ValidationError(_("No individual has this scheme number."),
                                  errors={"scheme_number": [_("unknown scheme number")]})
        principal = current_principal()
        voucher = vs.issue_voucher(session, programme_id, person_id, principal=principal, issued_by=principal.name)
    except (ValidationError, Conflict, NotFound) as err:
        session.rollback()
        if "individual_id" in err.errors:
            err.errors["scheme_number"] = err.errors.pop("individual_id")
        _attach(form, err)
        return _programme_page(programme_id, form, err.status)
    flash(_("Voucher %(code)s issued.", code=vcodes.grouped(voucher.code)), "success")
    return redirect(url_for(".cards", programme_id=programme_id, code=voucher.code))


@bp.post("/programmes/<int:programme_id>/bulk")
@permission_required(ISSUE)
def bulk(programme_id: int):
    form = IssueForm()  # CSRF only
    if not form.validate_on_submit():
        abort(400)
    job = start_bulk(programme_id)
    if job["status"] == "succeeded":
        flash(_("%(n)s vouchers issued.", n=(job["result"] or {}).get("issued", 0)), "success")
    elif job["status"] == "failed":
        flash(_("The bulk issuance failed; nothing was issued."), "error")
    else:
        flash(_("Bulk issuance started (job %(id)s); the budget below shows the vouchers as they are issued.",
                id=job["job_id"]), "info")
    return redirect(url_for(".programme", programme_id=programme_id))


def qr_svg(code: str) -> Markup:
    """The code as an inline SVG QR code (segno), sized for a printed card."""
    return Markup(segno.make_qr(code, error="m").svg_inline(scale=3, border=2))


@bp.get("/programmes/<int:programme_id>/cards")
def cards(programme_id: int):
    """Printable voucher cards (several per A4 sheet) of the programme's live vouchers, or of one (``code``)."""
    require_any(ISSUE)
    session = tenant_session()
    programme = vs.get_programme(session, programme_id)
    from schemehost.tenants.registry.people import Individual

    after = request.args.get("after_id", type=int) or 0
    stmt = (select(Voucher, Individual).join(Individual, Individual.id == Voucher.individual_id)
            .where(Voucher.programme_id == programme.id, Voucher.status.in_([s.value for s in LIVE]),
                   Voucher.id > after).order_by(Voucher.id).limit(CARDS_MAX))
    code = request.args.get("code")
    if code:
        stmt = stmt.where(Voucher.code == vcodes.normalise(code))
    rows = session.execute(stmt).all()
    services = vs.services_of(session, programme.id)
    sheets = [rows[i:i + CARDS_PER_PAGE] for i in range(0, len(rows), CARDS_PER_PAGE)]
    return render_template("tenant/vouchers/cards.html", programme=programme, services=services, sheets=sheets,
                           grouped=vcodes.grouped, qr=qr_svg,
                           next_after=rows[-1][0].id if len(rows) == CARDS_MAX else None)


# ---- redemption desk -------------------------------------------------------------------------------


@bp.get("/redeem")
@permission_required(REDEEM)
def redeem_lookup():
    form = LookupForm(request.args)
    session = tenant_session()
    if form.code.data:
        try:
            voucher = vs.find_voucher(session, form.code.data)
        except (ValidationError, NotFound) as err:
            form.code.errors = [str(err.detail)]
            return render_template("tenant/vouchers/redeem.html", form=form, view=None), err.status
        return redirect(url_for(".redeem_voucher", code=voucher.code))
    return render_template("tenant/vouchers/redeem.html", form=form, view=None)


def _desk(code: str, form: RedeemForm | None = None, status: int = 200, refusal: str | None = None):
    session = tenant_session()
    try:
        voucher = vs.find_voucher(session, code)
    except (ValidationError, NotFound) as err:
        lookup = LookupForm(data={"code": code})
        lookup.code.errors = [str(err.detail)]
        return render_template("tenant/vouchers/redeem.html", form=lookup, view=None), err.status
    view = vs.voucher_view(session, voucher)
    allowed = vs.facility_ids_of(session, voucher.programme_id)
    facilities = ([reg.get_facility(session, f) for f in allowed] if allowed
                  else reg.list_facilities(session, limit=1000))
    form = form or RedeemForm(data={"facility": request.args.get("facility") or ""})
    form.service.choices = [(x["code"], f'{x["name"]} ({x["remaining"]}/{x["count"]})') for x in view["services"]
                            if x["remaining"]]
    form.facility.choices = [(f.code, f"{f.name} ({f.code})") for f in facilities if f.status == "active"]
    return render_template("tenant/vouchers/redeem.html", form=LookupForm(data={"code": code}), view=view,
                           redeem_form=form, grouped=vcodes.grouped, refusal=refusal,
                           statuses=STATUSES), status


@bp.get("/redeem/<code>")
@permission_required(REDEEM)
def redeem_voucher(code: str):
    return _desk(code)


@bp.post("/redeem/<code>")
@permission_required(REDEEM)
def redeem_post(code: str):
    session = tenant_session()
    form = RedeemForm()
    if not form.validate_on_submit():
        return _desk(code, form, 422)
    try:
        facility = reg.get_facility_by_code(session, form.facility.data or "")
    except NotFound:
        form.facility.errors = [_("Choose the facility.")]
        return _desk(code, form, 422)
    try:
        entry, _replayed = vs.redeem(session, code, service_code=form.service.data, facility_id=facility.id,
                                     redeemed_by=current_principal().name)
    except (vs.VoucherRefused, ValidationError, NotFound) as err:
        session.rollback()
        return _desk(code, form, err.status, refusal=str(err.detail))
    out = entry.as_dict()
    flash(_("Redeemed: %(service)s (%(amount)s) at %(facility)s.", service=out["service"],
            amount=money.format_money(out["amount"], out["currency"]), facility=facility.name), "success")
    return redirect(url_for(".redeem_voucher", code=code, facility=facility.code))


# ---- one voucher: cancellation and reissue ---------------------------------------------------------


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason"), render_kw={"autocomplete": "off"})


def _voucher_page(code: str, form: CancelForm | None = None, status: int = 200):
    session = tenant_session()
    try:
        voucher = vs.find_voucher(session, code)
    except (ValidationError, NotFound) as err:
        flash(str(err.detail), "error")
        return redirect(url_for(".programmes"))
    return render_template("tenant/vouchers/voucher.html", view=vs.voucher_view(session, voucher),
                           form=form or CancelForm(), grouped=vcodes.grouped, statuses=STATUSES), status


@bp.get("/find")
@permission_required(ISSUE)
def find():
    return redirect(url_for(".voucher", code=vcodes.normalise(request.args.get("code"))))


@bp.get("/v/<code>")
@permission_required(ISSUE)
def voucher(code: str):
    return _voucher_page(code)


@bp.post("/v/<code>")
@permission_required(ISSUE)
def voucher_cancel(code: str):
    """Cancel the voucher, or (``action=reissue``) move it to a new code because its card was lost."""
    session = tenant_session()
    form = CancelForm()
    if not form.validate_on_submit():
        return _voucher_page(code, form, 422)
    reissue = request.form.get("action") == "reissue"
    try:
        renewed = vs.cancel_voucher(session, code, reason=form.reason.data or "", reissue=reissue,
                                    issued_by=current_principal().name)
    except (ValidationError, Conflict, NotFound) as err:
        session.rollback()
        _attach(form, err)
        return _voucher_page(code, form, err.status)
    if renewed is not None:
        flash(_("New code %(code)s: print the new card; the old code no longer works.",
                code=vcodes.grouped(renewed.code)), "success")
        return redirect(url_for(".voucher", code=renewed.code))
    flash(_("Voucher cancelled."), "success")
    return redirect(url_for(".voucher", code=vcodes.normalise(code)))


# ---- reports and reminders -------------------------------------------------------------------------


@bp.get("/programmes/<int:programme_id>/reports")
def reports(programme_id: int):
    """Use by service, facility and area, days from issuance to each service, and the budget; each
    table with a CSV link and bars drawn in CSS (no scripts)."""
    require_any("reports.read", MANAGE)
    session = tenant_session()
    programme = vs.get_programme(session, programme_id)
    level = request.args.get("level") or None
    tables = {kind: rp.report(session, programme_id, kind, level=level) for kind in rp.KINDS}
    return render_template("tenant/vouchers/reports.html", programme=programme, tables=tables,
                           budget=vs.budget(session, programme), level=level or "",
                           levels=reg.level_names(session))


@bp.get("/programmes/<int:programme_id>/reports/<kind>.csv")
def report_csv(programme_id: int, kind: str):
    """A report as CSV for a signed-in user (the API's CSV takes bearer tokens only)."""
    require_any("reports.read", MANAGE)
    rows = rp.report(tenant_session(), programme_id, kind, level=request.args.get("level") or None)
    return reporting.csv_response(rows, f"vouchers-{programme_id}-{kind}.csv")


@bp.get("/programmes/<int:programme_id>/reminders")
@permission_required(ISSUE)
def reminders(programme_id: int):
    session = tenant_session()
    programme = vs.get_programme(session, programme_id)
    services = vs.services_of(session, programme.id)
    service = request.args.get("service") or (services[0].code if services else None)
    idle = request.args.get("idle_days", type=int)
    idle = 30 if idle is None or not 0 <= idle <= 3660 else idle
    rows = rp.reminders(session, programme_id, service_code=service, idle_days=idle, principal=current_principal())
    return render_template("tenant/vouchers/reminders.html", programme=programme, services=services, service=service,
                           idle=idle, rows=rows, grouped=vcodes.grouped)


# ---- reimbursement ---------------------------------------------------------------------------------

REIMBURSE = "vouchers.reimburse"
CLAIM_STATUSES = {"verifying": _l("Under verification"), "approved": _l("Approved"), "paid": _l("Paid")}


class BatchForm(FlaskForm):
    period_start = DateField(_l("From"))
    period_end = DateField(_l("To"))
    facility = StringField(_l("Facility code"), render_kw=CODE_KW, description=_l("Empty: every facility."))
    sample_percent = IntegerField(_l("Share to verify (percent)"), default=10, validators=[NumberRange(min=0, max=100)])


class PayForm(FlaskForm):
    reference = StringField(_l("Payment reference"), render_kw={"autocomplete": "off"})


def _claims_page(form: BatchForm | None = None, status: int = 200):
    session = tenant_session()
    facility_code = request.args.get("facility") or None
    facility_id = None
    if facility_code:
        try:
            facility_id = reg.get_facility_by_code(session, facility_code).id
        except NotFound:
            facility_id = -1
    items = [] if facility_id == -1 else cl.list_claims(session, facility_id=facility_id,
                                                        status=request.args.get("status") or None)
    return render_template("tenant/vouchers/claims.html", claims=[cl.claim_dict(session, c) for c in items],
                           form=form or BatchForm(), statuses=CLAIM_STATUSES, facility=facility_code or "",
                           status=request.args.get("status") or ""), status


@bp.get("/claims")
@permission_required(REIMBURSE)
def claims():
    return _claims_page()


@bp.post("/claims")
@permission_required(REIMBURSE)
def claims_batch():
    session = tenant_session()
    form = BatchForm()
    if not form.validate_on_submit():
        return _claims_page(form, 422)
    try:
        facility_id = None
        if (form.facility.data or "").strip():
            try:
                facility_id = reg.get_facility_by_code(session, form.facility.data.strip()).id
            except NotFound:
                raise ValidationError(_("Unknown facility."), errors={"facility": [_("unknown facility")]}) from None
        made = cl.batch_claims(session, period_start=form.period_start.data, period_end=form.period_end.data,
                               facility_id=facility_id, sample=Decimal(form.sample_percent.data) / 100,
                               created_by=current_principal().name)
    except (ValidationError, Conflict, NotFound) as err:
        session.rollback()
        _attach(form, err)
        return _claims_page(form, err.status)
    flash(_("%(n)s claims batched.", n=len(made)) if made else _("No unclaimed redemption in this period."),
          "success" if made else "info")
    return redirect(url_for(".claims"))


def _claim_page(claim_id: int, pay_form: PayForm | None = None, status: int = 200, problem: str | None = None):
    session = tenant_session()
    claim = cl.claim_dict(session, cl.get_claim(session, claim_id), lines=True)
    return render_template("tenant/vouchers/claim.html", claim=claim, pay_form=pay_form or PayForm(),
                           statuses=CLAIM_STATUSES, grouped=vcodes.grouped, problem=problem), status


@bp.get("/claims/<int:claim_id>")
@permission_required(REIMBURSE)
def claim(claim_id: int):
    return _claim_page(claim_id)


@bp.post("/claims/<int:claim_id>")
@permission_required(REIMBURSE)
def claim_action(claim_id: int):
    session = tenant_session()
    form = PayForm()
    if not form.validate_on_submit():
        return _claim_page(claim_id, form, 422)
    action = request.form.get("action", "")
    try:
        if action in ("confirm", "reject"):
            cl.verify_redemption(session, claim_id, request.form.get("redemption_id", type=int),
                                 confirmed=action == "confirm")
        elif action == "approve":
            cl.approve_claim(session, claim_id, approved_by=current_principal().name)
        elif action == "pay":
            cl.pay_claim(session, claim_id, reference=form.reference.data or "", paid_by=current_principal().name)
        else:
            abort(400)
    except (ValidationError, Conflict, NotFound) as err:
        session.rollback()
        _attach(form, err)
        return _claim_page(claim_id, form, err.status, problem=str(err.detail))
    return redirect(url_for(".claim", claim_id=claim_id))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_vouchers.programmes", _l("Vouchers"), permission=ISSUE, order=40)
    add_nav("tenant_vouchers.redeem_lookup", _l("Redeem"), permission=REDEEM, order=41)
    add_nav("tenant_vouchers.claims", _l("Reimbursement"), permission=REIMBURSE, order=42)
    app.jinja_env.globals.setdefault("voucher_statuses", STATUSES)
