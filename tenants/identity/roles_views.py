"""Tenant console pages for roles: list, create and edit a role, assign roles and locations to a user.

The permission checkboxes are grouped by module and show only the modules the
tenant enables. Views parse the form, call one roles service and render; the
rules (codes, permissions, the last administrator) live in ``roles``.
"""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length, Optional

from schemehost.platform.errors import AppError, Conflict, ValidationError
from schemehost.platform.permissions import ALL
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity import roles
from schemehost.tenants.identity.principal import permission_required

bp = tenant_blueprint("tenant_roles", __name__)
MANAGE = "users.manage"

#: Headings of the permission groups (None: the scheme's own administration).
MODULE_LABELS = {
    None: _l("Scheme administration"),
    "registry": _l("Registry"),
    "insurance": _l("Health insurance"),
    "vouchers": _l("Vouchers"),
    "transfers": _l("Cash transfers"),
    "payments": _l("Payments"),
    "interop": _l("Interoperability"),
}


class RoleForm(FlaskForm):
    """Code and name of a role; the permission checkboxes are read from ``permissions``."""

    code = StringField(_l("Code"), validators=[Optional(), Length(max=60)],
                       render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"},
                       description=_l("2 to 60 lowercase letters, digits and underscores, e.g. district_supervisor; "
                                      "it cannot be changed later."))
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)],
                       description=_l("What users see, e.g. District supervisor."))


class AssignForm(FlaskForm):
    """A user's locations as text; the role checkboxes are read from ``roles``."""

    locations = StringField(_l("Restrict to locations"), validators=[Optional(), Length(max=2000)],
                            description=_l("Location ids separated by commas; the user then sees only these "
                                           "locations and what lies below them. Leave empty for no restriction."))


def _groups(session):
    """[(module label, [permission, ...])] for the tenant's enabled modules, core first."""
    groups: dict[str | None, list] = {}
    for perm in roles.available_permissions(session):
        groups.setdefault(perm.module, []).append(perm)
    return [(MODULE_LABELS.get(module, module), perms) for module, perms in groups.items()]


def _attach(form: FlaskForm, err: AppError) -> list[str]:
    """Put a service's field errors next to the form's fields; returns the permission problems."""
    perm_errors: list[str] = []
    for field, messages in (err.errors or {}).items():
        if isinstance(messages, dict):  # by index
            messages = [m for ms in messages.values() for m in ms]
        target = getattr(form, field, None) if field in ("code", "name", "locations") else None
        if target is not None:
            target.errors = list(target.errors) + [str(m) for m in messages]
        elif field in ("permissions", "roles"):
            perm_errors.extend(str(m) for m in messages)
        else:
            form.form_errors = list(form.form_errors) + [str(m) for m in messages]
    if not err.errors:
        form.form_errors = list(form.form_errors) + [str(err.detail)]
    return perm_errors


@bp.get("/roles/")
@permission_required(MANAGE)
def index():
    return render_template("tenant/roles/list.html", roles=roles.list_roles(tenant_session()))


@bp.route("/roles/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def new():
    session = tenant_session()
    form = RoleForm()
    chosen = request.form.getlist("permissions")
    problems: list[str] = []
    status = 200
    if form.validate_on_submit():
        try:
            role = roles.create_role(session, form.code.data or "", form.name.data or "", chosen)
        except (ValidationError, Conflict) as err:
            session.rollback()
            problems = _attach(form, err)
            status = err.status
        else:
            flash(_("Role %(name)s created.", name=role.name), "success")
            return redirect(url_for(".index"))
    elif request.method == "POST":
        status = 422
    return render_template("tenant/roles/edit.html", form=form, role=None, groups=_groups(session),
                           chosen=set(chosen), problems=problems), status


@bp.route("/roles/<code>", methods=["GET", "POST"])
@permission_required(MANAGE)
def edit(code: str):
    session = tenant_session()
    role = roles.get_role(session, code)
    form = RoleForm(data={"code": role.code, "name": role.name} if request.method == "GET" else None)
    locked = role.code == roles.ADMIN_ROLE
    chosen = set(role.permissions)
    problems: list[str] = []
    status = 200
    if form.validate_on_submit():
        chosen_list = [ALL] if locked else request.form.getlist("permissions")
        chosen = set(chosen_list)
        try:
            role = roles.update_role(session, code, name=form.name.data or "", permissions=chosen_list)
        except (ValidationError, Conflict) as err:
            session.rollback()
            problems = _attach(form, err)
            status = err.status
        else:
            flash(_("Role %(name)s saved.", name=role.name), "success")
            return redirect(url_for(".index"))
    elif request.method == "POST":
        status = 422
    return render_template("tenant/roles/edit.html", form=form, role=role, groups=_groups(session),
                           chosen=chosen, locked=locked, problems=problems), status


@bp.post("/roles/<code>/delete")
@permission_required(MANAGE)
def delete(code: str):
    session = tenant_session()
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for(".edit", code=code))
    try:
        roles.delete_role(session, code)
    except Conflict as err:
        session.rollback()
        flash(str(err.detail), "error")
        return redirect(url_for(".edit", code=code))
    flash(_("Role %(code)s deleted.", code=code), "success")
    return redirect(url_for(".index"))


@bp.route("/users/<int:user_id>/roles", methods=["GET", "POST"])
@permission_required(MANAGE)
def assign(user_id: int):
    session = tenant_session()
    who = roles.get_user_assignment(session, user_id)
    form = AssignForm(data={"locations": ", ".join(str(i) for i in who.locations)}
                      if request.method == "GET" else None)
    chosen = set(who.roles)
    problems: list[str] = []
    status = 200
    if form.validate_on_submit():
        chosen_list = request.form.getlist("roles")
        chosen = set(chosen_list)
        try:
            locations = _parse_ids(form.locations.data or "")
            roles.set_user_roles(session, user_id, chosen_list)
            roles.set_user_locations(session, user_id, locations)
        except (ValidationError, Conflict) as err:
            session.rollback()
            problems = _attach(form, err)
            status = err.status
        else:
            flash(_("Roles of %(name)s saved; they apply from the user's next page.", name=who.name), "success")
            return redirect(url_for(".assign", user_id=user_id))
    elif request.method == "POST":
        status = 422
    return render_template("tenant/roles/assign.html", form=form, who=who, roles=roles.list_roles(session),
                           chosen=chosen, problems=problems), status


def _parse_ids(text: str) -> list[int]:
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        raise ValidationError(_("The locations cannot be set."),
                              errors={"locations": [_("'%(value)s' is not a location id.", value=bad[0])]})
    return [int(p) for p in parts]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_roles.index", _l("Roles"), permission=MANAGE, order=80)
