"""Tenant console pages of the registry: the location tree, health facilities, the catalogue and
price lists.

Pages are plain forms (no scripts; the tree opens and closes with ``<details>``). People name
locations, facilities and entries by code, and type prices in the currency's major unit; views
turn those into ids and minor units, call one registry service and render. Reading needs
``registry.read``; the forms are shown to, and only accepted from, ``registry.locations.manage``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from schemehost.platform import money
from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import (KIND_TYPES, CareType, EntryKind, FacilityLevel, FacilityStatus,
                                                PatientAge, PatientSex)

bp = tenant_blueprint("tenant_registry", __name__, "/registry")
READ = "registry.read"
MANAGE = "registry.locations.manage"
CODE_KW = {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"}

FACILITY_LEVELS = {FacilityLevel.dispensary: _l("Dispensary"), FacilityLevel.health_centre: _l("Health centre"),
                   FacilityLevel.hospital: _l("Hospital")}
CARE_TYPES = {CareType.out_patient: _l("Out-patient"), CareType.in_patient: _l("In-patient"),
              CareType.both: _l("In- and out-patient")}
STATUSES = {FacilityStatus.active: _l("Active"), FacilityStatus.inactive: _l("Inactive")}
FACILITY_LABELS = {"level_labels": FACILITY_LEVELS, "care_labels": CARE_TYPES, "status_labels_": STATUSES}
KINDS = {EntryKind.item: _l("Item"), EntryKind.service: _l("Service")}
TYPES = {"medicine": _l("Medicine"), "consumable": _l("Consumable"), "device": _l("Device"),
         "consultation": _l("Consultation"), "procedure": _l("Procedure"), "laboratory": _l("Laboratory test"),
         "imaging": _l("Imaging"), "delivery": _l("Delivery"), "admission": _l("Admission"),
         "transport": _l("Transport"), "other": _l("Other service")}
SEXES = {PatientSex.any: _l("Anyone"), PatientSex.female: _l("Women"), PatientSex.male: _l("Men")}
AGES = {PatientAge.any: _l("Any age"), PatientAge.adult: _l("Adults"), PatientAge.child: _l("Children")}


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(getattr(k, "value", k), v) for k, v in labels.items()]


def _can_manage() -> bool:
    principal = current_principal()
    return principal is not None and principal.can(MANAGE)


def _attach(form: FlaskForm, err: AppError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's field errors beside the form's fields (others at the top of the form)."""
    aliases = aliases or {}
    for name, messages in (err.errors or {}).items():
        target = getattr(form, aliases.get(name, name), None)
        texts = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        if target is not None and hasattr(target, "errors") and name != "id":
            target.errors = list(target.errors) + texts
        else:
            form.form_errors = list(form.form_errors) + texts
    if not err.errors:
        form.form_errors = list(form.form_errors) + [str(err.detail)]


def _blank(value: Any) -> Any:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _location_id(session, code: str | None, field: str) -> int | None:
    """The id of the location with ``code`` (None for no code); a field error when there is none."""
    if not _blank(code):
        return None
    try:
        return reg.get_location_by_code(session, code.strip()).id
    except NotFound:
        raise ValidationError(_("Unknown location code."),
                              errors={field: [_("No location with code '%(code)s'.", code=code.strip())]}) from None


def _minor(text: str | None, currency: str, field: str) -> int | None:
    if not _blank(text):
        return None
    try:
        return money.to_minor(text, currency)
    except ValueError:
        digits = money.exponent(currency)
        message = (_("A whole amount, such as 1500.") if digits == 0 else
                   _("An amount with at most %(n)d decimals, such as 1500.50.", n=digits))
        raise ValidationError(_("Not an amount."), errors={field: [message]}) from None


def _submit(form: FlaskForm, action, *, aliases: dict[str, str] | None = None):
    """Run ``action`` for a valid POSTed form; returns (result, status). Service errors land on
    the form (and the transaction is rolled back)."""
    if not form.validate_on_submit():
        return None, 422 if request.method == "POST" else 200
    try:
        return action(), 200
    except (ValidationError, Conflict, NotFound) as err:
        tenant_session().rollback()
        _attach(form, err, aliases)
        return None, err.status


def _tree_size() -> int:
    """How many nodes the tree page shows at most (deeper levels are reached by opening a location)."""
    return int(current_app.config.get("REGISTRY_TREE_MAX_NODES", 1500))


# ---- locations -------------------------------------------------------------------------------------


class LocationForm(FlaskForm):
    parent_id = HiddenField()
    code = StringField(_l("Code"), render_kw=CODE_KW,
                       description=_l("1 to 50 letters, digits, '.', '_' or '-'; unique in the scheme."))
    name = StringField(_l("Name"))


class RenameForm(FlaskForm):
    name = StringField(_l("Name"))
    code = StringField(_l("Code"), render_kw=CODE_KW)


class MoveForm(FlaskForm):
    parent = StringField(_l("New parent (code)"), render_kw=CODE_KW)


class PopulationForm(FlaskForm):
    male_population = IntegerField(_l("Men"), validators=[Optional(), NumberRange(min=0)])
    female_population = IntegerField(_l("Women"), validators=[Optional(), NumberRange(min=0)])
    other_population = IntegerField(_l("Others"), validators=[Optional(), NumberRange(min=0)])
    families = IntegerField(_l("Families"), validators=[Optional(), NumberRange(min=0)])


@bp.get("/locations/")
@permission_required(READ)
def locations():
    session = tenant_session()
    names = reg.level_names(session)
    root = request.args.get("root", type=int)
    root_loc = reg.get_location(session, root) if root else None
    q = _blank(request.args.get("q"))
    found = reg.list_locations(session, q=q, limit=50) if q else None
    if q and not found:
        found = reg.list_locations(session, code=q, limit=1)
    return render_template(
        "tenant/registry/locations.html", tree=reg.location_tree(session, root_id=root, max_nodes=_tree_size()),
        names=names,
        root=root_loc, crumbs=reg.ancestors(session, root_loc) if root_loc else [], q=q or "", found=found,
        form=LocationForm(), can_manage=_can_manage())


@bp.post("/locations/new")
@permission_required(MANAGE)
def location_new():
    session = tenant_session()
    form = LocationForm()
    parent_id = int(form.parent_id.data) if (form.parent_id.data or "").isdigit() else None
    loc, status = _submit(form, lambda: reg.create_location(session, code=form.code.data, name=form.name.data,
                                                            parent_id=parent_id))
    if loc is not None:
        flash(_("Location %(name)s added.", name=loc.name), "success")
        return redirect(url_for(".location", location_id=parent_id) if parent_id else url_for(".locations"))
    if parent_id:
        return _location_page(parent_id, child_form=form, status=status)
    names = reg.level_names(session)
    return render_template("tenant/registry/locations.html", tree=reg.location_tree(session), names=names,
                           root=None, crumbs=[], q="", found=None, form=form, can_manage=True), status


def _location_page(location_id: int, *, child_form=None, rename_form=None, move_form=None, population_form=None,
                   status: int = 200):
    session = tenant_session()
    loc = reg.get_location(session, location_id)
    names = reg.level_names(session)
    return render_template(
        "tenant/registry/location.html", loc=loc, names=names, crumbs=reg.ancestors(session, loc),
        children=reg.children(session, loc.id), usage=reg.location_usage(session, loc.id),
        facilities=reg.list_facilities(session, location_id=loc.id, limit=50),
        facility_levels=reg.facility_levels_allowed(names), can_manage=_can_manage(),
        child_form=child_form or LocationForm(data={"parent_id": loc.id}),
        rename_form=rename_form or RenameForm(data={"name": loc.name, "code": loc.code}),
        move_form=move_form or MoveForm(),
        population_form=population_form or PopulationForm(data={k: getattr(loc, k) for k in reg.POPULATION_FIELDS}),
        labels=FACILITY_LEVELS,
    ), status


@bp.get("/locations/<int:location_id>")
@permission_required(READ)
def location(location_id: int):
    return _location_page(location_id)


@bp.post("/locations/<int:location_id>/rename")
@permission_required(MANAGE)
def location_rename(location_id: int):
    form = RenameForm()
    loc, status = _submit(form, lambda: reg.rename_location(tenant_session(), location_id, form.name.data,
                                                            code=form.code.data))
    if loc is not None:
        flash(_("Location %(name)s saved.", name=loc.name), "success")
        return redirect(url_for(".location", location_id=location_id))
    return _location_page(location_id, rename_form=form, status=status)


@bp.post("/locations/<int:location_id>/move")
@permission_required(MANAGE)
def location_move(location_id: int):
    session = tenant_session()
    form = MoveForm()

    def move():
        parent_id = _location_id(session, form.parent.data, "parent_id")
        return reg.move_location(session, location_id, parent_id)

    loc, status = _submit(form, move, aliases={"parent_id": "parent"})
    if loc is not None:
        flash(_("Location %(name)s moved.", name=loc.name), "success")
        return redirect(url_for(".location", location_id=location_id))
    return _location_page(location_id, move_form=form, status=status)


@bp.post("/locations/<int:location_id>/population")
@permission_required(MANAGE)
def location_population(location_id: int):
    form = PopulationForm()
    loc, status = _submit(form, lambda: reg.set_population(
        tenant_session(), location_id, **{k: getattr(form, k).data for k in reg.POPULATION_FIELDS}))
    if loc is not None:
        flash(_("Population of %(name)s saved.", name=loc.name), "success")
        return redirect(url_for(".location", location_id=location_id))
    return _location_page(location_id, population_form=form, status=status)


@bp.post("/locations/<int:location_id>/delete")
@permission_required(MANAGE)
def location_delete(location_id: int):
    session = tenant_session()
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for(".location", location_id=location_id))
    loc = reg.get_location(session, location_id)
    parent_id, name = loc.parent_id, loc.name
    try:
        reg.delete_location(session, location_id)
    except Conflict as err:
        session.rollback()
        flash(str(err.detail), "error")
        return redirect(url_for(".location", location_id=location_id))
    flash(_("Location %(name)s deleted.", name=name), "success")
    return redirect(url_for(".location", location_id=parent_id) if parent_id else url_for(".locations"))


# ---- facilities ------------------------------------------------------------------------------------


class FacilityForm(FlaskForm):
    code = StringField(_l("Code"), render_kw=CODE_KW)
    name = StringField(_l("Name"))
    level = SelectField(_l("Level"), choices=_choices(FACILITY_LEVELS))
    care_type = SelectField(_l("Care"), choices=_choices(CARE_TYPES))
    location = StringField(_l("Location (code)"), render_kw=CODE_KW)
    contract_start = DateField(_l("Contract start"), validators=[Optional()])
    contract_end = DateField(_l("Contract end"), validators=[Optional()])
    status = SelectField(_l("Status"), choices=_choices(STATUSES))


@bp.get("/facilities/")
@permission_required(READ)
def facilities():
    session = tenant_session()
    q = _blank(request.args.get("q"))
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    rows = reg.list_facilities(session, q=q, status=status, after_id=request.args.get("after_id", type=int),
                               limit=200)
    places = {loc.id: loc for loc in reg.list_locations(session, limit=1000, ids=[f.location_id for f in rows])} \
        if rows else {}
    return render_template("tenant/registry/facilities.html", facilities=rows, places=places, q=q or "",
                           status=status, labels=FACILITY_LEVELS, care=CARE_TYPES, statuses=STATUSES,
                           can_manage=_can_manage())


def _facility_values(session, form: FacilityForm) -> dict[str, Any]:
    return {"code": form.code.data, "name": form.name.data, "level": form.level.data,
            "care_type": form.care_type.data, "status": form.status.data,
            "location_id": _location_id(session, form.location.data, "location_id") or 0,
            "contract_start": form.contract_start.data, "contract_end": form.contract_end.data}


@bp.route("/facilities/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def facility_new():
    session = tenant_session()
    form = FacilityForm(data={"status": FacilityStatus.active.value, "care_type": CareType.both.value})
    facility, status = _submit(form, lambda: reg.create_facility(session, **_facility_values(session, form)),
                               aliases={"location_id": "location"})
    if facility is not None:
        flash(_("Health facility %(name)s registered.", name=facility.name), "success")
        return redirect(url_for(".facility", facility_id=facility.id))
    return render_template("tenant/registry/facility.html", form=form, facility=None, can_manage=True,
                           levels=_facility_level_names(session), **FACILITY_LABELS), status


@bp.get("/facilities/<int:facility_id>")
@permission_required(READ)
def facility(facility_id: int):
    return _facility_page(facility_id)


@bp.post("/facilities/<int:facility_id>")
@permission_required(MANAGE)
def facility_save(facility_id: int):
    session = tenant_session()
    reg.get_facility(session, facility_id)
    form = FacilityForm()
    saved, status = _submit(form, lambda: reg.update_facility(session, facility_id, **_facility_values(session, form)),
                            aliases={"location_id": "location"})
    if saved is not None:
        flash(_("Health facility %(name)s saved.", name=saved.name), "success")
        return redirect(url_for(".facility", facility_id=facility_id))
    return _facility_page(facility_id, form=form, status=status)


def _facility_page(facility_id: int, *, form: FacilityForm | None = None, status: int = 200):
    session = tenant_session()
    current = reg.get_facility(session, facility_id)
    place = reg.get_location(session, current.location_id)
    form = form or FacilityForm(data={
        "code": current.code, "name": current.name, "level": current.level, "care_type": current.care_type,
        "location": place.code, "contract_start": current.contract_start, "contract_end": current.contract_end,
        "status": current.status})
    lists = reg.list_price_lists(session, facility_id=facility_id)
    return render_template("tenant/registry/facility.html", form=form, facility=current, place=place,
                           price_lists=lists, can_manage=_can_manage(),
                           levels=_facility_level_names(session), **FACILITY_LABELS), status


def _facility_level_names(session) -> list[str]:
    names = reg.level_names(session)
    return [names[i] for i in reversed(reg.facility_levels_allowed(names))]


# ---- catalogue -------------------------------------------------------------------------------------


class EntryForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=_choices(KINDS))
    code = StringField(_l("Code"), render_kw=CODE_KW)
    name = StringField(_l("Name"))
    type = SelectField(_l("Type"), choices=[SelectChoice(t.value, TYPES[t.value], optgroup=KINDS[kind])
                                            for kind, types in KIND_TYPES.items() for t in types],
                       description=_l("Medicines, consumables and devices are items; the others are services."))
    unit_price = StringField(_l("Default price"), description=_l("In the scheme's currency; leave empty for none."))
    care_type = SelectField(_l("Care"), choices=_choices(CARE_TYPES))
    frequency_days = IntegerField(_l("At most once every (days)"), validators=[Optional(), NumberRange(min=1)])
    patient_sex = SelectField(_l("For"), choices=_choices(SEXES))
    patient_age = SelectField(_l("Ages"), choices=_choices(AGES))
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_to = DateField(_l("Valid until"), validators=[Optional()])


def _entry_values(session, form: EntryForm) -> dict[str, Any]:
    return {"code": form.code.data, "name": form.name.data, "type": form.type.data,
            "unit_price": _minor(form.unit_price.data, reg.tenant_currency(session), "unit_price"),
            "care_type": form.care_type.data, "frequency_days": form.frequency_days.data,
            "patient_sex": form.patient_sex.data, "patient_age": form.patient_age.data,
            "valid_from": form.valid_from.data, "valid_to": form.valid_to.data}


@bp.get("/catalogue/")
@permission_required(READ)
def catalogue():
    session = tenant_session()
    kind = request.args.get("kind") if request.args.get("kind") in KINDS else None
    q = _blank(request.args.get("q"))
    entries = reg.list_entries(session, kind=kind, q=q, after_id=request.args.get("after_id", type=int), limit=200)
    return render_template("tenant/registry/catalogue.html", entries=entries, kind=kind, q=q or "", kinds=KINDS,
                           types=TYPES, can_manage=_can_manage())


@bp.route("/catalogue/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def entry_new():
    session = tenant_session()
    form = EntryForm(data={"kind": request.args.get("kind", EntryKind.item.value), "care_type": CareType.both.value})
    entry, status = _submit(form, lambda: reg.create_entry(session, kind=form.kind.data,
                                                           **_entry_values(session, form)))
    if entry is not None:
        flash(_("%(code)s added to the catalogue.", code=entry.code), "success")
        return redirect(url_for(".catalogue", kind=entry.kind))
    return render_template("tenant/registry/entry.html", form=form, entry=None, can_manage=True, kinds=KINDS,
                           currency=reg.tenant_currency(session)), status


@bp.get("/catalogue/<int:entry_id>")
@permission_required(READ)
def entry(entry_id: int):
    return _entry_page(entry_id)


@bp.post("/catalogue/<int:entry_id>")
@permission_required(MANAGE)
def entry_save(entry_id: int):
    session = tenant_session()
    current = reg.get_entry(session, entry_id)
    form = EntryForm()
    form.kind.data = current.kind  # not part of the edit form: an entry keeps its kind
    saved, status = _submit(form, lambda: reg.update_entry(session, entry_id, **_entry_values(session, form)))
    if saved is not None:
        flash(_("%(code)s saved.", code=saved.code), "success")
        return redirect(url_for(".entry", entry_id=entry_id))
    return _entry_page(entry_id, form=form, status=status)


def _entry_page(entry_id: int, *, form: EntryForm | None = None, status: int = 200):
    session = tenant_session()
    current = reg.get_entry(session, entry_id)
    if form is None:
        data = {k: getattr(current, k) for k in ("kind", "code", "name", "type", "care_type", "frequency_days",
                                                 "patient_sex", "patient_age", "valid_from", "valid_to")}
        data["unit_price"] = ("" if current.unit_price is None
                              else str(money.from_minor(current.unit_price, current.currency)))
        form = EntryForm(data=data)
    return render_template("tenant/registry/entry.html", form=form, entry=current, can_manage=_can_manage(),
                           kinds=KINDS, currency=reg.tenant_currency(session)), status


# ---- price lists -----------------------------------------------------------------------------------


class PriceListForm(FlaskForm):
    code = StringField(_l("Code"), render_kw=CODE_KW)
    name = StringField(_l("Name"))
    facility = StringField(_l("Health facility (code)"), render_kw=CODE_KW,
                           description=_l("Leave empty for a list shared by every facility."))
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_to = DateField(_l("Valid until"), validators=[Optional()])


class PriceForm(FlaskForm):
    entry = StringField(_l("Item or service (code)"), render_kw=CODE_KW)
    price = StringField(_l("Price"))


@bp.get("/price-lists/")
@permission_required(READ)
def price_lists():
    session = tenant_session()
    lists = reg.list_price_lists(session, after_id=request.args.get("after_id", type=int), limit=200)
    facilities = {f.id: f for f in reg.list_facilities(session, ids=[p.facility_id for p in lists if p.facility_id],
                                                       limit=1000)} if lists else {}
    return render_template("tenant/registry/price_lists.html", lists=lists, facilities=facilities,
                           today=date.today(), can_manage=_can_manage())


@bp.route("/price-lists/new", methods=["GET", "POST"])
@permission_required(MANAGE)
def price_list_new():
    session = tenant_session()
    form = PriceListForm()

    def create():
        facility_id = None
        if _blank(form.facility.data):
            try:
                facility_id = reg.get_facility_by_code(session, form.facility.data.strip()).id
            except NotFound:
                raise ValidationError(_("Unknown health facility."), errors={"facility_id": [
                    _("No health facility with code '%(code)s'.", code=form.facility.data.strip())]}) from None
        return reg.create_price_list(session, code=form.code.data, name=form.name.data, facility_id=facility_id,
                                     valid_from=form.valid_from.data, valid_to=form.valid_to.data)

    plist, status = _submit(form, create, aliases={"facility_id": "facility"})
    if plist is not None:
        flash(_("Price list %(name)s created.", name=plist.name), "success")
        return redirect(url_for(".price_list", price_list_id=plist.id))
    return render_template("tenant/registry/price_list_new.html", form=form), status


def _price_list_page(price_list_id: int, *, form=None, price_form=None, status: int = 200):
    session = tenant_session()
    plist = reg.get_price_list(session, price_list_id)
    facility = reg.get_facility(session, plist.facility_id) if plist.facility_id else None
    form = form or PriceListForm(data={"code": plist.code, "name": plist.name, "valid_from": plist.valid_from,
                                       "valid_to": plist.valid_to})
    return render_template("tenant/registry/price_list.html", plist=plist, facility=facility,
                           lines=reg.price_lines(session, plist.id), form=form, price_form=price_form or PriceForm(),
                           delete_form=FlaskForm(), can_manage=_can_manage()), status


@bp.get("/price-lists/<int:price_list_id>")
@permission_required(READ)
def price_list(price_list_id: int):
    return _price_list_page(price_list_id)


@bp.post("/price-lists/<int:price_list_id>")
@permission_required(MANAGE)
def price_list_save(price_list_id: int):
    reg.get_price_list(tenant_session(), price_list_id)
    form = PriceListForm()
    saved, status = _submit(form, lambda: reg.update_price_list(
        tenant_session(), price_list_id, code=form.code.data, name=form.name.data, valid_from=form.valid_from.data,
        valid_to=form.valid_to.data))
    if saved is not None:
        flash(_("Price list %(name)s saved.", name=saved.name), "success")
        return redirect(url_for(".price_list", price_list_id=price_list_id))
    return _price_list_page(price_list_id, form=form, status=status)


@bp.post("/price-lists/<int:price_list_id>/prices")
@permission_required(MANAGE)
def price_set(price_list_id: int):
    session = tenant_session()
    form = PriceForm()

    def set_():
        plist = reg.get_price_list(session, price_list_id)
        amount = _minor(form.price.data, plist.currency, "price")
        if amount is None:
            raise ValidationError(_("A price is needed."), errors={"price": [_("A price is needed.")]})
        return reg.set_price(session, price_list_id, (form.entry.data or "").strip(), amount)

    line, status = _submit(form, set_)
    if line is not None:
        flash(_("Price of %(code)s saved.", code=form.entry.data.strip()), "success")
        return redirect(url_for(".price_list", price_list_id=price_list_id))
    return _price_list_page(price_list_id, price_form=form, status=status)


@bp.post("/price-lists/<int:price_list_id>/prices/<code>/delete")
@permission_required(MANAGE)
def price_remove(price_list_id: int, code: str):
    form = FlaskForm()
    if form.validate_on_submit():
        reg.remove_price(tenant_session(), price_list_id, code)
        flash(_("%(code)s taken out of the price list.", code=code), "success")
    else:
        flash(_("The form has expired; try again."), "error")
    return redirect(url_for(".price_list", price_list_id=price_list_id))


@bp.post("/price-lists/<int:price_list_id>/delete")
@permission_required(MANAGE)
def price_list_delete(price_list_id: int):
    form = FlaskForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for(".price_list", price_list_id=price_list_id))
    plist = reg.get_price_list(tenant_session(), price_list_id)
    name = plist.name
    reg.delete_price_list(tenant_session(), price_list_id)
    flash(_("Price list %(name)s deleted.", name=name), "success")
    return redirect(url_for(".price_lists"))


def _money_filter(minor, currency):
    return money.format_money(minor, currency)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(_money_filter, "money")
    add_nav("tenant_registry.locations", _l("Locations"), permission=READ, order=20)
    add_nav("tenant_registry.facilities", _l("Health facilities"), permission=READ, order=21)
    add_nav("tenant_registry.catalogue", _l("Items and services"), permission=READ, order=22)
    add_nav("tenant_registry.price_lists", _l("Price lists"), permission=READ, order=23)

