"""Console pages of personal data: an individual's consents, the subject-access page (readable, and
the JSON download) and erasure with a typed confirmation.

Consents are read with ``registry.read`` and recorded with ``registry.write``; subject access and
erasure need ``registry.personal_data``. GET shows, POST changes (separate endpoints).
"""

from __future__ import annotations

import json

from flask import Flask, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from schemehost.platform.errors import Conflict, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import privacy

bp = tenant_blueprint("tenant_registry_privacy", __name__, "/registry")
READ = "registry.read"
WRITE = "registry.write"
PERSONAL = "registry.personal_data"


class ConsentForm(FlaskForm):
    purpose = StringField(_l("Purpose"), description=_l("A code such as data_sharing or sms_reminders."),
                          render_kw={"autocomplete": "off", "spellcheck": "false"})
    given = SelectField(_l("Decision"), choices=[SelectChoice("1", _l("Consent given")),
                                                       SelectChoice("0", _l("Consent withdrawn"))])
    evidence = StringField(_l("Evidence"), validators=[Optional()],
                           description=_l("Where the proof is, e.g. a form number."))


class EraseForm(FlaskForm):
    confirm = IntegerField(_l("Record number"), validators=[Optional()],
                           description=_l("Type the record's number to confirm."))
    understood = BooleanField(_l("I understand that erasure cannot be undone."))


def _can(permission: str) -> bool:
    principal = current_principal()
    return principal is not None and principal.can(permission)


def _consents_page(individual_id: int, form: ConsentForm | None = None, status: int = 200):
    session = tenant_session()
    person = privacy.get_individual(session, individual_id, principal=current_principal())
    return render_template(
        "tenant/registry/privacy/consents.html", person=person, name=privacy.display_name(person),
        current=privacy.current_consents(session, person.id), history=privacy.list_consents(session, person.id),
        form=form or ConsentForm(), can_write=_can(WRITE), can_personal=_can(PERSONAL)), status


@bp.get("/individuals/<int:individual_id>/consents")
@permission_required(READ)
def consents(individual_id: int):
    return _consents_page(individual_id)


@bp.post("/individuals/<int:individual_id>/consents")
@permission_required(WRITE)
def consent_new(individual_id: int):
    form = ConsentForm()
    if not form.validate_on_submit():
        return _consents_page(individual_id, form, 422)
    try:
        privacy.record_consent(tenant_session(), individual_id, purpose=form.purpose.data or "",
                               given=form.given.data == "1", evidence=form.evidence.data,
                               principal=current_principal())
    except (ValidationError, Conflict) as err:
        tenant_session().rollback()
        for name, messages in (err.errors or {}).items():
            target = getattr(form, name, None)
            texts = [str(m) for m in messages]
            if target is not None and hasattr(target, "errors") and name != "id":
                target.errors = list(target.errors) + texts
            else:
                form.form_errors = list(form.form_errors) + texts
        return _consents_page(individual_id, form, err.status)
    flash(_("Consent recorded."), "success")
    return redirect(url_for(".consents", individual_id=individual_id))


def _subject_page(individual_id: int, form: EraseForm | None = None, status: int = 200):
    session = tenant_session()
    data = privacy.subject_access(session, individual_id, principal=current_principal())
    person = privacy.get_individual(session, individual_id, principal=current_principal())
    return render_template("tenant/registry/privacy/subject_access.html", data=data, person=person,
                           name=privacy.display_name(person), form=form or EraseForm()), status


@bp.get("/individuals/<int:individual_id>/subject-access")
@permission_required(PERSONAL)
def subject_access(individual_id: int):
    """The readable page; ``?format=json`` downloads the same data as a JSON file."""
    if request.args.get("format") == "json":
        data = privacy.subject_access(tenant_session(), individual_id, principal=current_principal())
        return Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json", headers={
            "Content-Disposition": f'attachment; filename="subject-access-{individual_id}.json"'})
    return _subject_page(individual_id)


@bp.post("/individuals/<int:individual_id>/erase")
@permission_required(PERSONAL)
def erase(individual_id: int):
    form = EraseForm()
    if not form.validate_on_submit():
        return _subject_page(individual_id, form, 422)
    if not form.understood.data:
        form.understood.errors = list(form.understood.errors) + [_("Tick this box to erase the record.")]
        return _subject_page(individual_id, form, 422)
    try:
        privacy.erase_individual(tenant_session(), individual_id, confirm=form.confirm.data if form.confirm.data
                                 is not None else -1, principal=current_principal())
    except ValidationError as err:
        tenant_session().rollback()
        form.confirm.errors = list(form.confirm.errors) + [str(m) for m in (err.errors or {}).get("confirm", [])]
        return _subject_page(individual_id, form, err.status)
    flash(_("The record was erased: names and identifiers are replaced, ids and history stay."), "success")
    return redirect(url_for(".subject_access", individual_id=individual_id))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
