"""Tenant console pages of employment-injury insurance: employers (list, form, their policies and
enrolment in a product), the workers of an employer's policy (added and removed from the policy's
page), and work incidents (list, recording, acceptance or rejection).

Plain forms (no scripts). People name locations, products and employers by code and workers by the
scheme number on their card; wages are typed in the currency's major unit. Service errors land beside
their fields.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from schemehost.platform.errors import Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.api import any_permission_required
from schemehost.tenants.insurance.employers_api import (EMPLOYERS, READ_EMPLOYERS, READ_INCIDENTS, REVIEW,
                                                        WORKFORCE)
from schemehost.tenants.insurance.models import Employer, IncidentKind
from schemehost.tenants.insurance.views import (AMOUNT_KW, CODE_KW, STATUSES, _attach, _blank, _can, _major,
                                                _minor)
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import Individual
from schemehost.tenants.registry.services import people as reg_people

bp = tenant_blueprint("tenant_insurance_employers", __name__, "/insurance", module="insurance")

KINDS = {"accident": _l("Accident at work"), "commuting": _l("Accident on the way to or from work"),
         "disease": _l("Occupational disease")}
INCIDENT_STATUSES = {"reported": _l("Reported"), "accepted": _l("Accepted"), "rejected": _l("Rejected")}
EMPLOYER_STATUSES = {"active": _l("Active"), "inactive": _l("Inactive")}


class EmployerForm(FlaskForm):
    code = StringField(_l("Code"), render_kw=CODE_KW, description=_l("1 to 50 letters, digits, '.', '_' or '-'."))
    name = StringField(_l("Name"))
    registration_no = StringField(_l("Registration number"), render_kw=CODE_KW)
    sector = StringField(_l("Sector"), description=_l("For example construction, manufacturing, transport."))
    location = StringField(_l("Location (code)"), render_kw=CODE_KW)
    address = StringField(_l("Address"))
    contact_name = StringField(_l("Contact person"))
    contact_phone = StringField(_l("Contact phone"), render_kw={"inputmode": "tel", "autocomplete": "off"})
    contact_email = StringField(_l("Contact e-mail"), render_kw={"inputmode": "email", "autocomplete": "off"})
    status = SelectField(_l("Status"), choices=[SelectChoice(k, v) for k, v in EMPLOYER_STATUSES.items()],
                         default="active")


class EmployerEnrolForm(FlaskForm):
    product_code = StringField(_l("Product (code)"), render_kw=CODE_KW)
    enrol_date = DateField(_l("Enrolment date"), validators=[Optional()], description=_l("Empty: today."))


class WorkerForm(FlaskForm):
    worker = StringField(_l("Worker (number on the card)"), render_kw=CODE_KW)
    wage = StringField(_l("Monthly wage"), render_kw=AMOUNT_KW)
    covered_from = DateField(_l("Covered from"), validators=[Optional()], description=_l("Empty: today."))


class IncidentForm(FlaskForm):
    employer = StringField(_l("Employer (code)"), render_kw=CODE_KW)
    worker = StringField(_l("Worker (number on the card)"), render_kw=CODE_KW)
    incident_date = DateField(_l("Date of the incident"), validators=[Optional()])
    reported_on = DateField(_l("Reported on"), validators=[Optional()], description=_l("Empty: today."))
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, KINDS[k.value]) for k in IncidentKind])
    place = StringField(_l("Place"))
    description = TextAreaField(_l("What happened"), render_kw={"rows": 4})


class DecisionForm(FlaskForm):
    note = StringField(_l("Reason"), description=_l("Needed to reject."))


def _person_id(session, text: str | None, field: str) -> int:
    """The id of the individual with this scheme number (or id) in the caller's area; a field error
    otherwise."""
    wanted = _blank(text)
    if wanted:
        stmt = select(Individual.id).where(Individual.scheme_number == wanted)
        found = session.execute(stmt).scalar_one_or_none()
        if found is None and wanted.isdigit() and len(wanted) < 19:
            found = int(wanted)
        if found is not None:
            try:
                return reg_people.get_individual(session, found, principal=current_principal()).id
            except NotFound:
                pass
    raise ValidationError(_("Unknown worker."), errors={field: [_("No person has this number.")]})


def _save_employer(session, form: EmployerForm, employer_id: int | None = None) -> Employer:
    """Create or change the employer from the form; every problem at once, the location's by its code."""
    values = {f: _blank(getattr(form, f).data) for f in ("code", "name", "registration_no", "sector", "address",
                                                         "contact_name", "contact_phone", "contact_email")}
    values["status"] = form.status.data
    code = _blank(form.location.data)
    location_error = None
    values["location_id"] = None
    if code:
        try:
            values["location_id"] = reg.get_location_by_code(session, code).id
        except NotFound:
            location_error = _("No location with code '%(code)s'.", code=code)
    try:
        if employer_id is None:
            return ins.create_employer(session, principal=current_principal(), **values)
        return ins.update_employer(session, employer_id, principal=current_principal(), **values)
    except ValidationError as err:
        if location_error:
            err.errors = {**(err.errors or {}), "location_id": [location_error]}
        raise


ALIASES = {"location_id": "location", "individual_id": "worker", "employer_id": "employer", "product": "product_code",
           "product_id": "product_code"}


def _aliased(err):
    if err.errors:
        err.errors = {ALIASES.get(k.split(".")[-1] if k.startswith("workers.") else k, k): v
                      for k, v in err.errors.items()}
    return err


# ---- employers ---------------------------------------------------------------------------------------


@bp.get("/employers/")
@any_permission_required(*READ_EMPLOYERS)
def employers():
    q = _blank(request.args.get("q"))
    rows = ins.list_employers(tenant_session(), principal=current_principal(), q=q,
                              after_id=request.args.get("after_id", type=int), limit=200)
    return render_template("tenant/insurance/employers.html", employers=rows, q=q or "",
                           statuses=EMPLOYER_STATUSES, can_manage=_can(EMPLOYERS))


@bp.route("/employers/new", methods=["GET", "POST"])
@permission_required(EMPLOYERS)
def employer_new():
    session = tenant_session()
    form = EmployerForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                employer = _save_employer(session, form)
                flash(_("Employer %(code)s registered.", code=employer.code), "success")
                return redirect(url_for(".employer", employer_id=employer.id))
            except (ValidationError, Conflict, NotFound) as err:
                session.rollback()
                _attach(form, _aliased(err))
                status = err.status
        else:
            status = 422
    return render_template("tenant/insurance/employer.html", form=form, employer=None, can_manage=True), status


@bp.get("/employers/<int:employer_id>")
@any_permission_required(*READ_EMPLOYERS)
def employer(employer_id: int):
    return _employer_page(employer_id)


@bp.post("/employers/<int:employer_id>")
@permission_required(EMPLOYERS)
def employer_save(employer_id: int):
    return _employer_page(employer_id, save=True)


@bp.post("/employers/<int:employer_id>/policies")
@any_permission_required(*WORKFORCE)
def employer_enrol(employer_id: int):
    return _employer_page(employer_id, enrol=True)


def _employer_page(employer_id: int, *, save: bool = False, enrol: bool = False):
    session = tenant_session()
    principal = current_principal()
    current = ins.get_employer(session, employer_id, principal=principal)
    status = 200
    form = EmployerForm() if save else EmployerForm(data={
        **{f: getattr(current, f) or "" for f in ("code", "name", "registration_no", "sector", "address",
                                                   "contact_name", "contact_phone", "contact_email", "status")},
        "location": session.get(Location, current.location_id).code})
    enrol_form = EmployerEnrolForm() if enrol else EmployerEnrolForm(formdata=None)
    if save:
        if form.validate_on_submit():
            try:
                _save_employer(session, form, employer_id)
                flash(_("Employer %(code)s saved.", code=form.code.data), "success")
                return redirect(url_for(".employer", employer_id=employer_id))
            except (ValidationError, Conflict, NotFound) as err:
                session.rollback()
                _attach(form, _aliased(err))
                status = err.status
        else:
            status = 422
    if enrol:
        if enrol_form.validate_on_submit():
            try:
                code = _blank(enrol_form.product_code.data)
                if not code:
                    raise ValidationError(_("The employer cannot be enrolled."),
                                          errors={"product_code": [_("The product's code is needed.")]})
                policy = ins.enrol_employer(session, employer_id=employer_id, product_code=code,
                                            enrol_date=enrol_form.enrol_date.data, principal=principal)
                flash(_("Employer enrolled: policy %(id)s. Add its workers.", id=policy.id), "success")
                return redirect(url_for("tenant_insurance.policy", policy_id=policy.id))
            except (ValidationError, Conflict, NotFound) as err:
                session.rollback()
                _attach(enrol_form, _aliased(err))
                status = err.status
        else:
            status = 422
    current = ins.get_employer(session, employer_id, principal=principal)
    policies = ins.list_policies(session, principal=principal, employer_id=current.id, limit=200)
    return render_template("tenant/insurance/employer.html", form=form, employer=current, enrol_form=enrol_form,
                           policies=policies, statuses=STATUSES, today=date.today(), status_on=ins.status_on,
                           can_manage=_can(EMPLOYERS), can_enrol=any(_can(p) for p in WORKFORCE)), status


# ---- workers (from the policy's page) ----------------------------------------------------------------


@bp.post("/policies/<int:policy_id>/workers")
@any_permission_required(*WORKFORCE)
def worker_add(policy_id: int):
    session = tenant_session()
    form = WorkerForm()
    if form.validate_on_submit():
        try:
            policy = ins.get_policy(session, policy_id, principal=current_principal())
            errors: dict[str, list[str]] = {}
            wage = _minor(form.wage.data, policy.currency, "wage", errors)
            if errors:
                raise ValidationError(_("The worker cannot be added."), errors=errors)
            person = _person_id(session, form.worker.data, "worker")
            ins.add_worker(session, policy_id, individual_id=person, wage=wage, covered_from=form.covered_from.data,
                           principal=current_principal())
            flash(_("Worker added."), "success")
            return redirect(url_for("tenant_insurance.policy", policy_id=policy_id) + "#workers")
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            _attach(form, _aliased(err))
            from schemehost.tenants.insurance.views import _policy_page

            return _policy_page(policy_id, worker_form=form, status=err.status)
    from schemehost.tenants.insurance.views import _policy_page

    return _policy_page(policy_id, worker_form=form, status=422)


@bp.post("/policies/<int:policy_id>/workers/<int:individual_id>/leave")
@any_permission_required(*WORKFORCE)
def worker_leave(policy_id: int, individual_id: int):
    session = tenant_session()
    if FlaskForm().validate_on_submit():
        on = _blank(request.form.get("on"))
        try:
            ins.remove_worker(session, policy_id, individual_id, on=on, principal=current_principal())
            flash(_("The worker left the policy."), "success")
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            messages = [str(m) for v in (err.errors or {}).values() for m in (v if isinstance(v, list) else [v])]
            flash(" ".join([str(err.detail), *messages]), "error")
    return redirect(url_for("tenant_insurance.policy", policy_id=policy_id) + "#workers")


def policy_extras(session, policy) -> dict[str, Any]:
    """What the policy page shows for an employer's policy: the employer, its workers, the add form."""
    if policy.holder != "employer":
        return {}
    return {"employer": session.get(Employer, policy.employer_id), "workers": ins.workers(session, policy.id),
            "can_workforce": any(_can(p) for p in WORKFORCE), "major": _major}


# ---- work incidents ----------------------------------------------------------------------------------


@bp.get("/incidents/")
@any_permission_required(*READ_INCIDENTS)
def incidents():
    return _incidents_page(IncidentForm(formdata=None, data={"reported_on": date.today()}))


@bp.get("/incidents/review")
@permission_required(REVIEW)
def incidents_review():
    """The claims reviewer's queue: incidents reported and not decided yet."""
    return _incidents_page(IncidentForm(formdata=None, data={"reported_on": date.today()}), wanted="reported")


@bp.post("/incidents/")
@any_permission_required(*WORKFORCE)
def incident_record():
    session = tenant_session()
    form = IncidentForm()
    status = 422
    if form.validate_on_submit():
        try:
            code = _blank(form.employer.data)
            if not code:
                raise ValidationError(_("The work incident cannot be recorded."),
                                      errors={"employer": [_("The employer's code is needed.")]})
            employer = ins.get_employer_by_code(session, code, principal=current_principal())
            incident = ins.record_incident(
                session, employer_id=employer.id, individual_id=_person_id(session, form.worker.data, "worker"),
                incident_date=form.incident_date.data, reported_on=form.reported_on.data, kind=form.kind.data,
                place=form.place.data, description=form.description.data, principal=current_principal())
            flash(_("Work incident %(id)s recorded.", id=incident.id), "success")
            return redirect(url_for(".incident", incident_id=incident.id))
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            _attach(form, _aliased(err))
            status = err.status
    return _incidents_page(form, status)


def _incidents_page(form: IncidentForm, status: int = 200, wanted: str | None = None):
    session = tenant_session()
    if wanted is None:
        wanted = request.args.get("status") if request.args.get("status") in INCIDENT_STATUSES else None
    rows = ins.list_incidents(session, principal=current_principal(), status=wanted,
                              after_id=request.args.get("after_id", type=int), limit=200)
    employers = {e.id: e for e in session.execute(select(Employer).where(
        Employer.id.in_({r.employer_id for r in rows}))).scalars()} if rows else {}
    return render_template("tenant/insurance/incidents.html", incidents=rows, form=form, employers=employers,
                           kinds=KINDS, statuses=INCIDENT_STATUSES, status=wanted,
                           can_record=any(_can(p) for p in WORKFORCE)), status


@bp.get("/incidents/<int:incident_id>")
@any_permission_required(*READ_INCIDENTS)
def incident(incident_id: int):
    return _incident_page(incident_id, DecisionForm(formdata=None))


@bp.post("/incidents/<int:incident_id>")
@permission_required(REVIEW)
def incident_decide(incident_id: int):
    session = tenant_session()
    form = DecisionForm()
    status = 422
    if form.validate_on_submit() and request.form.get("decision") in ("accept", "reject"):
        try:
            ins.decide_incident(session, incident_id, accept=request.form["decision"] == "accept",
                                note=form.note.data, principal=current_principal())
            flash(_("Decision recorded."), "success")
            return redirect(url_for(".incident", incident_id=incident_id))
        except (ValidationError, Conflict, NotFound) as err:
            session.rollback()
            _attach(form, err)
            status = err.status
    return _incident_page(incident_id, form, status)


def _incident_page(incident_id: int, form: DecisionForm, status: int = 200):
    session = tenant_session()
    current = ins.get_incident(session, incident_id, principal=current_principal())
    person = session.get(Individual, current.individual_id)
    days = ins.incidents.report_days(session)
    return render_template("tenant/insurance/incident.html", incident=current, form=form, report_days=days,
                           late=ins.incidents.reported_late(current, days),
                           employer=session.get(Employer, current.employer_id), person=person, kinds=KINDS,
                           statuses=INCIDENT_STATUSES, can_decide=_can(REVIEW)), status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_insurance_employers.employers", _l("Employers"), permission=EMPLOYERS, order=34)
    add_nav("tenant_insurance_employers.incidents", _l("Work incidents"), permission=EMPLOYERS, order=35)
    # claims reviewers decide incidents: their own entry (a menu entry shows for one permission)
    add_nav("tenant_insurance_employers.incidents_review", _l("Incidents to decide"), permission=REVIEW, order=36)
