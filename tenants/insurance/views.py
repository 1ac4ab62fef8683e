"""Tenant console pages of the insurance module: products (list and form), policies (list, enrolment,
a policy with its contributions), renewal reminders, and the eligibility check for facility staff.

Plain forms (no scripts). People type amounts in the currency's major unit and name catalogue entries
by code; views turn those into minor units and codes, call one insurance service and render; service
errors land beside their fields.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, Field, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from schemehost.platform import money
from schemehost.platform.errors import AppError, Conflict, Forbidden, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.api import (ELIGIBILITY, POLICIES, PRODUCTS, READ_POLICIES, READ_PRODUCTS,
                                              any_permission_required)
from schemehost.tenants.insurance.models import PaymentMethod
from schemehost.tenants.insurance.services.products import AMOUNT_FIELDS, COST_KEYS
from schemehost.tenants.registry import services as reg

bp = tenant_blueprint("tenant_insurance", __name__, "/insurance", module="insurance")
CODE_KW = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
AMOUNT_KW = {"inputmode": "decimal", "autocomplete": "off"}

REASONS = {
    "unknown_insuree": _l("No insuree has this number."),
    "insuree_inactive": _l("This person is no longer active in the registry."),
    "unknown_item": _l("No item or service of the catalogue has this code."),
    "not_insured": _l("No policy insures this person on this date."),
    "policy_not_active": _l("The policy is not active (not paid, or suspended)."),
    "waiting_period": _l("The waiting period is not over: coverage starts later."),
    "not_covered": _l("The product does not cover this item or service."),
    "item_not_valid": _l("This item or service is not valid on this date."),
    "not_for_sex": _l("This item or service is not for this person's sex."),
    "not_for_age": _l("This item or service is not for this person's age."),
    "limit_reached": _l("The limit for this item or service is reached."),
}
STATUSES = {"idle": _l("Idle (not paid)"), "ready": _l("Ready (coverage starts later)"), "active": _l("Active"),
            "suspended": _l("Suspended"), "expired": _l("Expired")}
METHODS = {"cash": _l("Cash"), "bank": _l("Bank"), "mobile": _l("Mobile money"), "gateway": _l("Payment gateway")}
COST_LABELS = {"deductible": _l("Deductible"), "ceiling": _l("Ceiling"), "insuree": _l("per insuree"),
               "policy": _l("per policy"), "treatment": _l("per treatment"), "in_patient": _l("In-patient"),
               "out_patient": _l("Out-patient")}


def _can(permission: str) -> bool:
    principal = current_principal()
    return principal is not None and principal.can(permission)


def _blank(value: Any) -> Any:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _minor(text: str | None, currency: str, field: str, errors: dict[str, list[str]]) -> int | None:
    if not _blank(text):
        return None
    try:
        return money.to_minor(text, currency)
    except ValueError:
        digits = money.exponent(currency)
        errors.setdefault(field, []).append(
            _("A whole amount, such as 1500.") if digits == 0 else
            _("An amount with at most %(n)d decimals, such as 1500.50.", n=digits))
        return None


def _major(minor: int | None, currency: str) -> str:
    return "" if minor is None else str(money.from_minor(minor, currency))


def _attach(form: FlaskForm, err: AppError) -> None:
    """Service errors beside their fields: ``coverage.<i>.<field>`` on the coverage lines (by line
    number), ``cost_sharing.<key>`` on that key's field, others at the top of the form."""
    for name, messages in (err.errors or {}).items():
        texts = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        target_name = name
        if name.startswith("coverage."):
            parts = name.split(".")
            target_name = "coverage"
            if len(parts) > 1 and parts[1].isdigit():
                texts = [_("Line %(n)d: %(message)s", n=int(parts[1]) + 1, message=t) for t in texts]
        elif name.startswith("cost_sharing."):
            target_name = name.split(".", 1)[1]
        target = getattr(form, target_name, None)
        if isinstance(target, Field):
            target.errors = list(target.errors) + texts
        else:
            form.form_errors = list(form.form_errors) + texts
    if not err.errors:
        form.form_errors = list(form.form_errors) + [str(err.detail)]


# ---- products ----------------------------------------------------------------------------------------


class ProductForm(FlaskForm):
    code = StringField(_l("Code"), render_kw=CODE_KW,
                       description=_l("1 to 50 letters, digits, '.', '_' or '-'; it cannot change later."))
    name = StringField(_l("Name"))
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_to = DateField(_l("Valid to"), validators=[Optional()], description=_l("Empty: no end."))
    insurance_period_months = IntegerField(_l("Insurance period (months)"), validators=[Optional()])
    max_members = IntegerField(_l("Largest household insured"), validators=[Optional()],
                               description=_l("Empty: any size."))
    lump_sum = StringField(_l("Lump sum per household"), render_kw=AMOUNT_KW)
    threshold = IntegerField(_l("Members covered by the lump sum"), validators=[Optional()], default=0)
    premium_adult = StringField(_l("Premium per adult above them"), render_kw=AMOUNT_KW)
    premium_child = StringField(_l("Premium per child above them"), render_kw=AMOUNT_KW)
    adult_age = IntegerField(_l("Adult from age"), validators=[Optional()], default=18)
    registration_lump_sum = StringField(_l("Registration fee per household"), render_kw=AMOUNT_KW)
    registration_fee = StringField(_l("Registration fee per member"), render_kw=AMOUNT_KW)
    assembly_lump_sum = StringField(_l("General assembly fee per household"), render_kw=AMOUNT_KW)
    assembly_fee = StringField(_l("General assembly fee per member"), render_kw=AMOUNT_KW)
    enrolment_discount_percent = StringField(_l("Early enrolment discount (%)"), render_kw=AMOUNT_KW)
    enrolment_discount_days = IntegerField(_l("… when enrolled this many days before the start"),
                                           validators=[Optional()])
    renewal_discount_percent = StringField(_l("Early renewal discount (%)"), render_kw=AMOUNT_KW)
    renewal_discount_days = IntegerField(_l("… when renewed this many days before the start"),
                                         validators=[Optional()])
    cycle_starts = StringField(_l("Enrolment cycles start on"), render_kw=CODE_KW,
                               description=_l("Days of the year as MM-DD, separated by commas (01-01, 07-01). "
                                              "Empty: a policy starts when the household enrols."))
    grace_period_days = IntegerField(_l("Grace period (days)"), validators=[Optional()],
                                     description=_l("Enrolling this many days after a cycle started still joins it."))
    waiting_period_days = IntegerField(_l("Waiting period (days)"), validators=[Optional()],
                                       description=_l("Coverage starts this many days after full payment."))
    copayment_percent = StringField(_l("Co-payment (%)"), render_kw=AMOUNT_KW)
    coverage = TextAreaField(_l("Covered items and services"), render_kw={"rows": 8, "spellcheck": "false"},
                             description=_l("One per line: code; times per period; amount per period; co-payment %. "
                                            "Leave a part empty for no limit, e.g. CONS; 4;; or PARA;; 2000."))
    renewal_reminder_days = IntegerField(_l("Remind renewals this many days before expiry"),
                                         validators=[Optional()], default=30)
    renewal_grace_days = IntegerField(_l("Renewal accepted this many days after expiry"), validators=[Optional()],
                                      default=0)
    holder = SelectField(_l("Insures"), choices=[SelectChoice("household", _l("Households")),
                                                 SelectChoice("employer", _l("Workers of employers"))],
                         default="household", description=_l("Who holds the policies; it cannot change later."))
    wage_rate_percent = StringField(_l("Contribution: rate of the monthly wage (%)"), render_kw=AMOUNT_KW,
                                    description=_l("Per worker and month, e.g. 1.4. Empty: a premium per worker."))
    premium_worker = StringField(_l("Premium per worker and month"), render_kw=AMOUNT_KW)
    requires_incident = BooleanField(_l("Claims need an accepted work incident"))


for _key in COST_KEYS:
    setattr(ProductForm, _key, StringField(_key, render_kw=AMOUNT_KW))


def _product_values(form: ProductForm, currency: str) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {
        "code": form.code.data, "name": form.name.data, "valid_from": form.valid_from.data,
        "valid_to": form.valid_to.data, "insurance_period_months": form.insurance_period_months.data,
        "max_members": form.max_members.data, "threshold": form.threshold.data or 0,
        "adult_age": form.adult_age.data if form.adult_age.data is not None else 18,
        "enrolment_discount_percent": _blank(form.enrolment_discount_percent.data),
        "enrolment_discount_days": form.enrolment_discount_days.data or 0,
        "renewal_discount_percent": _blank(form.renewal_discount_percent.data),
        "renewal_discount_days": form.renewal_discount_days.data or 0,
        "cycle_starts": form.cycle_starts.data or "", "grace_period_days": form.grace_period_days.data or 0,
        "waiting_period_days": form.waiting_period_days.data or 0,
        "copayment_percent": _blank(form.copayment_percent.data),
        "renewal_reminder_days": form.renewal_reminder_days.data if form.renewal_reminder_days.data is not None
        else 30, "renewal_grace_days": form.renewal_grace_days.data or 0,
        "holder": form.holder.data or "household", "wage_rate_percent": _blank(form.wage_rate_percent.data),
        "requires_incident": bool(form.requires_incident.data),
    }
    for f in AMOUNT_FIELDS:
        values[f] = _minor(getattr(form, f).data, currency, f, errors) or 0
    values["cost_sharing"] = {k: v for k in COST_KEYS
                              if (v := _minor(getattr(form, k).data, currency, k, errors)) is not None}
    coverage = []
    for i, line in enumerate(l for l in (form.coverage.data or "").splitlines() if l.strip()):
        parts = [p.strip() for p in line.split(";")] + ["", "", ""]
        item: dict[str, Any] = {"code": parts[0]}
        if parts[1]:
            try:
                item["limit_count"] = int(parts[1])
            except ValueError:
                errors.setdefault("coverage", []).append(
                    _("Line %(n)d: %(message)s", n=i + 1, message=_("times per period is a whole number.")))
        item["limit_amount"] = _minor(parts[2], currency, "coverage", errors)
        item["copayment_percent"] = parts[3] or None
        coverage.append(item)
    values["coverage"] = coverage
    if errors:
        raise ValidationError(_("The product cannot be saved."), errors=errors)
    return values


def _product_form_data(session, product) -> dict[str, Any]:
    currency = product.currency
    data = {f: getattr(product, f) for f in ("code", "name", "valid_from", "valid_to", "insurance_period_months",
                                              "max_members", "threshold", "adult_age", "enrolment_discount_days",
                                              "renewal_discount_days", "grace_period_days", "waiting_period_days",
                                              "renewal_reminder_days", "renewal_grace_days", "holder",
                                              "requires_incident")}
    rate = product.wage_rate_percent
    data["wage_rate_percent"] = "" if rate is None else format(rate.normalize(), "f")
    for f in AMOUNT_FIELDS:
        data[f] = _major(getattr(product, f), currency)
    for f in ("enrolment_discount_percent", "renewal_discount_percent", "copayment_percent"):
        data[f] = str(getattr(product, f))
    data["cycle_starts"] = ", ".join(product.cycle_starts or [])
    for k in COST_KEYS:
        data[k] = _major((product.cost_sharing or {}).get(k), currency)
    data["coverage"] = "\n".join(
        f"{c['code']}; {c['limit_count'] if c['limit_count'] is not None else ''}; "
        f"{_major(c['limit_amount'], currency)}; {c['copayment_percent'] if c['copayment_percent'] is not None else ''}"
        for c in ins.coverage(session, product.id))
    return data


@bp.get("/products/")
@any_permission_required(*READ_PRODUCTS)
def products():
    session = tenant_session()
    rows = ins.list_products(session, after_id=request.args.get("after_id", type=int), limit=200)
    return render_template("tenant/insurance/products.html", products=rows, can_manage=_can(PRODUCTS))


@bp.route("/products/new", methods=["GET", "POST"])
@permission_required(PRODUCTS)
def product_new():
    session = tenant_session()
    currency = reg.tenant_currency(session)
    form = ProductForm()
    status = 200
    if form.validate_on_submit():
        try:
            product = ins.create_product(session, **_product_values(form, currency))
            flash(_("Product %(code)s created.", code=product.code), "success")
            return redirect(url_for(".product", product_id=product.id))
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            _attach(form, err)
            status = err.status
    elif request.method == "POST":
        status = 422
    return render_template("tenant/insurance/product.html", form=form, product=None, currency=currency,
                           cost=_cost_grid(form), can_manage=True), status


@bp.get("/products/<int:product_id>")
@any_permission_required(*READ_PRODUCTS)
def product(product_id: int):
    return _product_page(product_id)


@bp.post("/products/<int:product_id>")
@permission_required(PRODUCTS)
def product_save(product_id: int):
    return _product_page(product_id)


def _product_page(product_id: int):
    session = tenant_session()
    current = ins.get_product(session, product_id)
    status = 200
    if request.method == "POST":
        form = ProductForm()
        form.holder.data = current.holder  # shown, not sent: it cannot change
        if form.validate_on_submit():
            try:
                values = _product_values(form, current.currency)
                values.pop("code")
                values.pop("holder")
                saved, new = ins.update_product(session, product_id, **values)
                if new:
                    flash(_("Policies use this product: version %(v)d was made, valid from %(day)s.",
                            v=saved.version, day=saved.valid_from.isoformat()), "success")
                else:
                    flash(_("Product %(code)s saved.", code=saved.code), "success")
                return redirect(url_for(".product", product_id=saved.id))
            except (ValidationError, Conflict, NotFound) as err:
                session.rollback()
                _attach(form, err)
                status = err.status
        else:
            status = 422
        current = ins.get_product(session, product_id)
    else:
        form = ProductForm(data=_product_form_data(session, current))
    form.code.render_kw = {**CODE_KW, "readonly": True}
    form.holder.render_kw = {"disabled": True}
    return render_template("tenant/insurance/product.html", form=form, product=current, currency=current.currency,
                           in_use=ins.in_use(session, current.id), coverage=ins.coverage(session, current.id),
                           cost=_cost_grid(form), can_manage=_can(PRODUCTS)), status


def _cost_grid(form: ProductForm) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Rows (kind + scope) and columns (care) of the deductibles and ceilings table."""
    rows = []
    for kind in ("deductible", "ceiling"):
        for scope in ("insuree", "policy", "treatment"):
            label = f"{COST_LABELS[kind]} {COST_LABELS[scope]}"
            rows.append((label, [(COST_LABELS[care], getattr(form, f"{kind}_{scope}_{care}"))
                                 for care in ("in_patient", "out_patient")]))
    return rows


# ---- policies ----------------------------------------------------------------------------------------


class EnrolForm(FlaskForm):
    household_id = IntegerField(_l("Household number"), validators=[InputRequired()])
    product_code = StringField(_l("Product (code)"), render_kw=CODE_KW, validators=[InputRequired()])
    enrol_date = DateField(_l("Enrolment date"), validators=[Optional()], description=_l("Empty: today."))


class ContributionForm(FlaskForm):
    amount = StringField(_l("Amount"), render_kw=AMOUNT_KW)
    paid_on = DateField(_l("Paid on"), validators=[Optional()])
    method = SelectField(_l("Method"), choices=[SelectChoice(m.value, METHODS[m.value]) for m in PaymentMethod])
    receipt_no = StringField(_l("Receipt number"), render_kw=CODE_KW)
    payer = StringField(_l("Payer"))
    activate = BooleanField(_l("Activate even if not fully paid"))


@bp.get("/policies/")
@any_permission_required(*READ_POLICIES)
def policies():
    return _policies_page()


@bp.post("/policies/")
@permission_required(POLICIES)
def policy_enrol():
    return _policies_page()


def _policies_page():
    session = tenant_session()
    form = EnrolForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                policy = ins.enrol(session, household_id=form.household_id.data,
                                   product_code=form.product_code.data.strip(), enrol_date=form.enrol_date.data,
                                   principal=current_principal())
                flash(_("Household enrolled: policy %(id)s.", id=policy.id), "success")
                return redirect(url_for(".policy", policy_id=policy.id))
            except (ValidationError, Conflict, NotFound) as err:
                session.rollback()
                _attach(form, _aliased(err, {"product": "product_code", "product_id": "product_code",
                                             "id": "household_id"}))
                status = err.status
        else:
            status = 422
    wanted = request.args.get("status") if request.args.get("status") in STATUSES else None
    rows = ins.list_policies(session, principal=current_principal(), status=wanted,
                             household_id=request.args.get("household_id", type=int),
                             after_id=request.args.get("after_id", type=int), limit=200)
    return render_template("tenant/insurance/policies.html", policies=rows, form=form, statuses=STATUSES,
                           status=wanted, today=date.today(), status_on=ins.status_on,
                           can_manage=_can(POLICIES)), status


def _aliased(err: AppError, aliases: dict[str, str]) -> AppError:
    if err.errors:
        err.errors = {aliases.get(k, k): v for k, v in err.errors.items()}
    return err


@bp.get("/policies/<int:policy_id>")
@any_permission_required(*READ_POLICIES)
def policy(policy_id: int):
    return _policy_page(policy_id)


@bp.post("/policies/<int:policy_id>")
@permission_required(POLICIES)
def policy_save(policy_id: int):
    return _policy_page(policy_id)


def _policy_page(policy_id: int, *, worker_form=None, status: int = 200):
    """A policy with its contributions (and, for an employer's policy, its workers: ``worker_form`` is
    the add-worker form to show again with its errors)."""
    from schemehost.tenants.insurance.employers_views import WorkerForm, policy_extras

    session = tenant_session()
    principal = current_principal()
    current = ins.get_policy(session, policy_id, principal=principal)
    form = ContributionForm(data={"paid_on": date.today()}) if worker_form is None else \
        ContributionForm(formdata=None, data={"paid_on": date.today()})
    if request.method == "POST" and worker_form is None:
        action = request.form.get("action")
        if action in ("suspend", "resume"):
            if FlaskForm().validate_on_submit():
                try:
                    (ins.suspend if action == "suspend" else ins.resume)(session, policy_id, principal=principal)
                    flash(_("Policy %(id)s: %(status)s.", id=policy_id, status=STATUSES[current.status]),
                          "success")
                except Conflict as err:
                    session.rollback()
                    flash(str(err.detail), "error")
            return redirect(url_for(".policy", policy_id=policy_id))
        if form.validate_on_submit():
            try:
                errors: dict[str, list[str]] = {}
                amount = _minor(form.amount.data, current.currency, "amount", errors)
                if errors:
                    raise ValidationError(_("The contribution cannot be recorded."), errors=errors)
                ins.record_contribution(session, policy_id, amount=amount, paid_on=form.paid_on.data,
                                        method=form.method.data, receipt_no=form.receipt_no.data,
                                        payer=form.payer.data, activate=bool(form.activate.data),
                                        principal=principal)
                flash(_("Contribution recorded."), "success")
                return redirect(url_for(".policy", policy_id=policy_id))
            except (ValidationError, Conflict, NotFound, Forbidden) as err:
                session.rollback()
                _attach(form, err)
                status = err.status
        else:
            status = 422
        current = ins.get_policy(session, policy_id, principal=principal)
    product = ins.get_product(session, current.product_id)
    extras = policy_extras(session, current)
    if extras:
        extras["worker_form"] = worker_form or WorkerForm(formdata=None, data={"covered_from": None})
    return render_template("tenant/insurance/policy.html", policy=current, product=product, form=form, **extras,
                           contributions=ins.contributions(session, current.id),
                           members=ins.policy_members(session, current.id), statuses=STATUSES, methods=METHODS,
                           state=ins.status_on(current, date.today()), can_manage=_can(POLICIES),
                           can_activate=_can("insurance.policies.activate")), status


@bp.get("/renewals/")
@any_permission_required(*READ_POLICIES)
def renewals():
    today = date.today()
    rows = ins.renewal_reminders(tenant_session(), principal=current_principal(), today=today)
    return render_template("tenant/insurance/renewals.html", rows=rows, today=today, statuses=STATUSES,
                           status_on=ins.status_on)


# ---- eligibility -------------------------------------------------------------------------------------


@bp.get("/eligibility/")
@any_permission_required(*ELIGIBILITY)
def eligibility():
    """One GET form: the insuree's number and an item or service code; the answer below it."""
    insuree = _blank(request.args.get("insuree"))
    code = _blank(request.args.get("code"))
    day_text = _blank(request.args.get("date"))
    errors: dict[str, str] = {}
    answer = None
    day = date.today()
    if day_text:
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            errors["date"] = _("A date such as 2026-01-31.")
    if request.args and not errors:
        if not insuree:
            errors["insuree"] = _("The number on the insuree's card is needed.")
        if not code:
            errors["code"] = _("The code of an item or service is needed.")
        if not errors:
            answer = ins.eligibility.check(tenant_session(), insuree=insuree[:50], code=code[:50], kind=None,
                                           day=day, principal=current_principal())
    return render_template("tenant/insurance/eligibility.html", insuree=insuree or "", code=code or "",
                           day=day_text or "", errors=errors, answer=answer, reasons=REASONS,
                           statuses=STATUSES, currency=reg.tenant_currency(tenant_session())), \
        422 if errors else 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # the menu shows an entry for one permission: the one the templates' roles hold for that work
    add_nav("tenant_insurance.products", _l("Insurance products"), permission=PRODUCTS, order=30)
    add_nav("tenant_insurance.policies", _l("Policies"), permission=POLICIES, order=31)
    add_nav("tenant_insurance.renewals", _l("Renewals due"), permission=POLICIES, order=32)
    add_nav("tenant_insurance.eligibility", _l("Check coverage"), permission="claims.submit", order=33)
