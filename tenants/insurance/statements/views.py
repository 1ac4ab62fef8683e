"""Console pages of facility payment (``claims.pay``): the statements with the form that makes one, and
a statement's page (printable: the browser's Print command prints the statement alone) with its
claims, CSV and XLSX downloads, and the approve, mark-paid and cancel actions.

Plain forms (no scripts); service errors land beside their fields.
"""

from __future__ import annotations

from flask import Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, StringField
from wtforms.validators import Optional

from schemehost.platform.errors import AppError, Conflict, Forbidden, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance.statements import services as st
from schemehost.tenants.insurance.statements.api import export_response
from schemehost.tenants.registry import services as reg

bp = tenant_blueprint("tenant_insurance_statements", __name__, "/insurance/statements", module="insurance")
PAY = "claims.pay"
CODE_KW = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}
STATUSES = {"draft": _l("Draft (to approve)"), "approved": _l("Approved (to pay)"), "paid": _l("Paid"),
            "cancelled": _l("Cancelled")}


class StatementForm(FlaskForm):
    facility = StringField(_l("Facility code"), render_kw=CODE_KW)
    period_start = DateField(_l("Valuated from"), validators=[Optional()])
    period_end = DateField(_l("Valuated until"), validators=[Optional()],
                           description=_l("The claims valuated on these days (included) and not paid yet."))


class PayForm(FlaskForm):
    paid_on = DateField(_l("Paid on"), validators=[Optional()])
    payment_reference = StringField(_l("Payment reference"), render_kw={"autocomplete": "off"},
                                    description=_l("The bank transfer's or mobile-money payment's reference."))


class CancelForm(FlaskForm):
    reason = StringField(_l("Reason"), render_kw={"autocomplete": "off"})


def _attach(form: FlaskForm, err: AppError, *, detail: bool = True) -> None:
    aliases = {"facility_id": "facility", "period": "period_end", "currency": "facility"}
    for name, messages in (err.errors or {}).items():
        texts = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        target = getattr(form, aliases.get(name, name), None)
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors) + texts
        else:
            form.form_errors = list(form.form_errors) + texts
    if detail:
        form.form_errors = [str(err.detail), *form.form_errors]


def _list_page(form: StatementForm | None = None, status: int = 200):
    session = tenant_session()
    principal = current_principal()
    code = (request.args.get("facility") or "").strip()
    wanted = request.args.get("status") or None
    facility_id = None
    if code:
        try:
            facility_id = reg.get_facility_by_code(session, code).id
        except NotFound:
            facility_id = -1
    items = [] if facility_id == -1 else st.list_statements(
        session, facility_id=facility_id, status=wanted if wanted in STATUSES else None, principal=principal)
    return render_template("tenant/insurance/statements.html", form=form or StatementForm(), statuses=STATUSES,
                           statements=[st.statement_dict(session, s) for s in items], facility=code,
                           status=wanted or ""), status


@bp.get("")
@permission_required(PAY)
def statements():
    return _list_page()


@bp.post("")
@permission_required(PAY)
def create():
    session = tenant_session()
    form = StatementForm()
    if not form.validate_on_submit():
        return _list_page(form, 422)
    try:
        code = (form.facility.data or "").strip()
        facility_id = None
        if code:
            try:
                facility_id = reg.get_facility_by_code(session, code).id
            except NotFound:
                facility_id = 0  # reported as an unknown facility by the service, with the other problems
        made = st.create_statement(session, facility_id=facility_id, period_start=form.period_start.data,
                                   period_end=form.period_end.data, principal=current_principal())
    except (ValidationError, Conflict) as err:
        session.rollback()
        _attach(form, err)
        return _list_page(form, err.status)
    flash(_("Statement %(ref)s made: %(n)s claims.", ref=made.reference, n=made.claim_count), "success")
    return redirect(url_for(".statement", statement_id=made.id))


def _page(statement_id: int, forms: dict | None = None, status: int = 200, problem: str | None = None):
    session = tenant_session()
    statement = st.get_statement(session, statement_id, principal=current_principal())
    forms = {"pay": PayForm(), "cancel": CancelForm(), **(forms or {})}
    return render_template("tenant/insurance/statement.html", s=st.statement_dict(session, statement, claims=True),
                           statuses=STATUSES, pay_form=forms["pay"], cancel_form=forms["cancel"],
                           problem=problem), status


@bp.get("/<int:statement_id>")
@permission_required(PAY)
def statement(statement_id: int):
    return _page(statement_id)


@bp.post("/<int:statement_id>")
@permission_required(PAY)
def action(statement_id: int):
    session = tenant_session()
    what = request.form.get("action", "")
    forms = {"pay": PayForm(), "cancel": CancelForm()}
    form = forms.get(what) or forms["pay"]
    if not form.validate_on_submit():
        return _page(statement_id, forms, 422)
    principal = current_principal()
    try:
        if what == "approve":
            st.approve_statement(session, statement_id, principal=principal)
            message = _("Statement approved: it can be paid.")
        elif what == "pay":
            st.pay_statement(session, statement_id, paid_on=form.paid_on.data, reference=form.payment_reference.data,
                             principal=principal)
            message = _("Statement marked paid.")
        elif what == "cancel":
            st.cancel_statement(session, statement_id, reason=form.reason.data, principal=principal)
            message = _("Statement cancelled: its claims can go into another statement.")
        else:
            abort(400)
    except (ValidationError, Conflict, Forbidden) as err:
        session.rollback()
        _attach(form, err, detail=False)
        return _page(statement_id, forms, err.status, problem=str(err.detail))
    flash(message, "success")
    return redirect(url_for(".statement", statement_id=statement_id))


@bp.get("/<int:statement_id>/claims.<fmt>")
@permission_required(PAY)
def export(statement_id: int, fmt: str):
    """The statement's claims as CSV or XLSX (streamed), as the API gives them."""
    try:
        return export_response(statement_id, fmt)
    except ValidationError:
        abort(404)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_insurance_statements.statements", _l("Facility payment"), permission=PAY, order=38)
