"""Tenant console pages for API clients: list, create (secret shown once), rotate, revoke.

A secret is shown only in the answer to the POST that made it — never
redirected, flashed or kept in the session — and that page is not cached.
"""

from __future__ import annotations

from flask import Flask, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from schemehost.platform.errors import Conflict, ValidationError
from schemehost.platform.permissions import PERMISSIONS, permission_problem
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity import clients as services
from schemehost.tenants.identity.principal import Principal, permission_required, require

MANAGE = "clients.manage"

bp = tenant_blueprint("tenant_clients", __name__, "/clients")


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ClientForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(_l("Give the client a name.")), Length(max=200)],
                       render_kw={"autocomplete": "off"},
                       description=_l("The system that will use it, e.g. 'DHIS2 export' or 'Enrolment app'."))
    scopes = CheckboxesField(_l("Scopes"), validate_choice=False,
                             description=_l("What the client may do. Give it only what it needs."))


class ConfirmForm(FlaskForm):
    """Only the CSRF token: confirms a rotation or a revocation."""


def _scope_choices(principal: Principal) -> list[tuple[str, str]]:
    modules = services.tenant_modules(tenant_session())
    return [(name, f"{name} — {perm.description}") for name, perm in PERMISSIONS.items()
            if permission_problem(name, modules) is None and principal.can(name)]


def _no_store(html: str, status: int = 200):
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@permission_required(MANAGE)
def index():
    return render_template("tenant/clients/list.html", clients=services.list_clients(tenant_session()))


@bp.route("/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def new():
    principal = require(MANAGE)
    form = ClientForm()
    form.scopes.choices = _scope_choices(principal)
    status = 200
    if form.validate_on_submit():
        try:
            client, secret = services.create_client(tenant_session(), form.name.data, form.scopes.data or [],
                                                    created_by=principal.name, grantor=principal)
        except ValidationError as err:
            tenant_session().rollback()
            for field in ("name", "scopes"):
                getattr(form, field).errors = list(getattr(form, field).errors) + [
                    str(m) for m in err.errors.get(field, [])]
            status = 422
        else:
            return _no_store(render_template("tenant/clients/secret.html", client=client, secret=secret,
                                             created=True))
    elif form.is_submitted():
        status = 422
    return render_template("tenant/clients/new.html", form=form), status


_ACTIONS = {
    "rotate": (_l("New secret"), _l("Give this client a new secret? The current secret and the tokens "
                                    "issued with it stop working at once; the system using it must be "
                                    "given the new secret.")),
    "revoke": (_l("Revoke"), _l("Revoke this client for good? Its secret and every token it holds stop "
                                "working at once. This cannot be undone.")),
}


def _confirm(action: str, client_id: str):
    client = services.get_client(tenant_session(), client_id)
    form = ConfirmForm()
    label, question = _ACTIONS[action]
    status = 200
    if form.validate_on_submit():
        try:
            if action == "rotate":
                client, secret = services.rotate_secret(tenant_session(), client_id)
                return _no_store(render_template("tenant/clients/secret.html", client=client, secret=secret,
                                                 created=False))
            services.revoke_client(tenant_session(), client_id)
        except Conflict as err:
            tenant_session().rollback()
            form.form_errors = list(form.form_errors) + [str(err.detail)]
            status = 409
        else:
            flash(_("API client %(name)s is revoked.", name=client.name), "success")
            return redirect(url_for(".index"))
    elif form.is_submitted():
        status = 422
    return render_template("tenant/clients/confirm.html", client=client, form=form, action=action,
                           label=label, question=question), status


@bp.route("/<client_id>/rotate", methods=["GET", "POST"])
@permission_required(MANAGE)
def rotate(client_id: str):
    return _confirm("rotate", client_id)


@bp.route("/<client_id>/revoke", methods=["GET", "POST"])
@permission_required(MANAGE)
def revoke(client_id: str):
    return _confirm("revoke", client_id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_clients.index", _l("API clients"), permission=MANAGE, order=70)
