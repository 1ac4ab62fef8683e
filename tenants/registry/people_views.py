"""Tenant console pages for households and individuals: search (usable on a phone), a person's
page, a household's page with its members, enrolment and edit forms, the probable-duplicates queue.

Views are thin: they read the form into the dict the people services take, call one service, and
put its field errors beside the fields. Reading needs ``registry.read``; forms are shown to, and
only accepted from, ``registry.write``. Every list goes through the search service, hence through
the caller's location restriction.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

from schemehost.platform.errors import AppError, Conflict, NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.people import Relationship, Sex
from schemehost.tenants.registry.services import duplicates as dup
from schemehost.tenants.registry.services import people as ppl
from schemehost.tenants.registry.services import search as srch

bp = tenant_blueprint("tenant_people", __name__, "/registry")
READ = "registry.read"
WRITE = "registry.write"
MEMBER_ROWS = 4

SEX_LABELS = {Sex.female.value: _l("Female"), Sex.male.value: _l("Male"), Sex.other.value: _l("Other")}
RELATIONSHIP_LABELS = {Relationship.head.value: _l("Head"), Relationship.spouse.value: _l("Spouse"),
                       Relationship.child.value: _l("Child"), Relationship.parent.value: _l("Parent"),
                       Relationship.sibling.value: _l("Sibling"), Relationship.grandchild.value: _l("Grandchild"),
                       Relationship.other_relative.value: _l("Other relative"),
                       Relationship.not_related.value: _l("Not related")}
STATUS_LABELS = {"active": _l("Active"), "inactive": _l("Inactive"), "deceased": _l("Deceased"),
                 "erased": _l("Erased")}
PERSON_FIELDS = ("given_name", "family_name", "other_names", "sex", "birth_date", "national_id", "phone")


class PhotoForm(FlaskForm):
    photo = FileField(_l("Photo (JPEG or PNG)"))


def _me():
    return current_principal()


def _can_write() -> bool:
    principal = current_principal()
    return principal is not None and principal.can(WRITE)


def _blank(value: Any) -> Any:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _int(value: Any) -> int | None:
    value = _blank(value)
    return int(value) if value and value.isdigit() and len(value) < 19 else None


def _labels() -> dict[str, Any]:
    return {"sex_labels": SEX_LABELS, "relationship_labels": RELATIONSHIP_LABELS, "person_status_labels": STATUS_LABELS,
            "can_write": _can_write()}


def _places(ids) -> dict[int, Location]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    from sqlalchemy import select

    return {loc.id: loc for loc in tenant_session().execute(select(Location).where(Location.id.in_(wanted))).scalars()}


def _person_from_form(prefix: str = "") -> dict[str, Any]:
    form = request.form
    data: dict[str, Any] = {key: _blank(form.get(prefix + key)) for key in PERSON_FIELDS}
    data["birth_date_estimated"] = form.get(prefix + "birth_date_estimated") == "y"
    village = _blank(form.get(prefix + "location_id"))
    if village is not None:
        data["location_id"] = _village_id(village)
    return data


def _village_id(value: str) -> Any:
    """A village chosen in the list (its id) or typed (its code)."""
    if not value:
        return None
    if _int(value):
        return _int(value)
    from sqlalchemy import select

    found = tenant_session().execute(select(Location.id).where(Location.code == value)).scalar()
    return found if found is not None else value


def _errors(err: AppError) -> dict[str, list[str]]:
    errors = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in (err.errors or {}).items()}
    if not errors:
        errors["_form"] = [str(err.detail)]
    return errors


def _try(action):
    """(result, errors, status): service errors roll back the transaction and become field errors."""
    try:
        return action(), {}, 200
    except (ValidationError, Conflict, NotFound) as err:
        tenant_session().rollback()
        errors = _errors(err)
        if isinstance(err, Conflict) and err.extra.get("existing_id"):
            errors.setdefault("_existing", [str(err.extra["existing_id"])])
        return None, errors, err.status


def _csrf_ok() -> bool:
    return FlaskForm().validate_on_submit()


def _villages() -> list[Location]:
    return ppl.villages_for(tenant_session(), _me(), limit=500)


# ---- search -----------------------------------------------------------------------------------------


@bp.get("/people/")
@permission_required(READ)
def people():
    """Search by name, identifier or phone (one box, or the fields), within a location."""
    session = tenant_session()
    args = request.args
    q, identifier, phone = _blank(args.get("q")), _blank(args.get("identifier")), _blank(args.get("phone"))
    location = _int(args.get("location"))
    status = _blank(args.get("status")) or "active"
    page, errors = None, {}
    if q or identifier or phone or location:
        try:
            page = srch.search_individuals(session, principal=_me(), q=q, identifier=identifier, phone=phone,
                                           location_id=location, status=status, after=_blank(args.get("after")),
                                           limit=50)
        except ValidationError as err:
            errors = _errors(err)
    elif args.get("after"):
        page = srch.search_individuals(session, principal=_me(), status=status, after=args.get("after"), limit=50)
    else:
        page = srch.search_individuals(session, principal=_me(), status=status, limit=50)
    places = _places([p.location_id for p in page.items]) if page else {}
    return render_template("tenant/registry/people/search.html", page=page, q=q or "", identifier=identifier or "",
                           phone=phone or "", location=location, status=status, errors=errors, places=places,
                           **_labels())


@bp.get("/people/<int:individual_id>")
@permission_required(READ)
def person(individual_id: int):
    session = tenant_session()
    p = ppl.get_individual(session, individual_id, principal=_me())
    household = ppl.get_household(session, p.household_id, principal=None) if p.household_id else None
    flags = dup.flags_of(session, p.id)
    privacy = "tenant_registry_privacy.consents" in current_app.view_functions
    return render_template("tenant/registry/people/person.html", p=p, household=household, flags=flags,
                           privacy_links=privacy,
                           place=_places([p.location_id]).get(p.location_id), photo_form=PhotoForm(), **_labels())


@bp.get("/people/<int:individual_id>/photo")
@permission_required(READ)
def person_photo(individual_id: int):
    p = ppl.get_individual(tenant_session(), individual_id, principal=_me())
    if p.photo is None:
        abort(404)
    return Response(p.photo, mimetype=ppl.photo_type(p.photo) or "application/octet-stream",
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@bp.post("/people/<int:individual_id>/photo")
@permission_required(WRITE)
def person_photo_save(individual_id: int):
    form = PhotoForm()
    if not form.validate_on_submit():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for(".person", individual_id=individual_id))
    upload = form.photo.data
    data = upload.read(ppl.photo_limit() + 1) if upload else None
    _r, errors, _s = _try(lambda: ppl.set_photo(tenant_session(), individual_id, data or None, principal=_me()))
    if errors:
        flash("; ".join(m for ms in errors.values() for m in ms), "error")
    else:
        flash(_("Photo saved.") if data else _("Photo removed."), "success")
    return redirect(url_for(".person", individual_id=individual_id))


@bp.route("/people/new", methods=["GET", "POST"])
@permission_required(WRITE)
def person_new():
    household_id = _int(request.values.get("household_id"))
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not _csrf_ok():
            errors = {"_form": [_("The form has expired; try again.")]}
            status = 400
        else:
            values = _person_from_form()
            relationship = _blank(request.form.get("relationship")) if household_id else None
            made, errors, status = _try(lambda: ppl.create_individual(
                tenant_session(), dict(values), principal=_me(), household_id=household_id,
                relationship=relationship))
            if made is not None:
                flash(_("%(name)s registered.", name=f"{made.given_name} {made.family_name}"), "success")
                return redirect(url_for(".person", individual_id=made.id))
    return render_template("tenant/registry/people/person_form.html", p=None, values=values, errors=errors,
                           household_id=household_id, villages=_villages(), form=FlaskForm(), **_labels()), status


@bp.route("/people/<int:individual_id>/edit", methods=["GET", "POST"])
@permission_required(WRITE)
def person_edit(individual_id: int):
    session = tenant_session()
    p = ppl.get_individual(session, individual_id, principal=_me())
    values = {k: getattr(p, k) for k in (*PERSON_FIELDS, "location_id", "birth_date_estimated")}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not _csrf_ok():
            errors, status = {"_form": [_("The form has expired; try again.")]}, 400
        else:
            values = _person_from_form()
            if request.form.get("status"):
                values["status"] = request.form["status"]
            saved, errors, status = _try(lambda: ppl.update_individual(session, individual_id, dict(values),
                                                                       principal=_me()))
            if saved is not None:
                flash(_("Saved."), "success")
                return redirect(url_for(".person", individual_id=individual_id))
    return render_template("tenant/registry/people/person_form.html", p=p, values=values, errors=errors,
                           household_id=None, villages=_villages(), form=FlaskForm(), **_labels()), status


# ---- households -------------------------------------------------------------------------------------


@bp.get("/households/")
@permission_required(READ)
def households():
    session = tenant_session()
    q = _blank(request.args.get("q"))
    location = _int(request.args.get("location"))
    errors, page = {}, None
    try:
        page = srch.search_households(session, principal=_me(), q=q, location_id=location,
                                      after=_blank(request.args.get("after")), limit=50)
    except ValidationError as err:
        errors = _errors(err)
    heads = {}
    if page and page.items:
        from sqlalchemy import select

        from schemehost.tenants.registry.people import Individual

        ids = [h.head_id for h in page.items if h.head_id]
        heads = {p.id: p for p in session.execute(select(Individual).where(Individual.id.in_(ids))).scalars()}
    places = _places([h.location_id for h in page.items]) if page else {}
    return render_template("tenant/registry/people/households.html", page=page, q=q or "", errors=errors,
                           heads=heads, places=places, **_labels())


@bp.get("/households/<int:household_id>")
@permission_required(READ)
def household(household_id: int):
    return _household_page(household_id)


def _household_page(household_id: int, errors: dict | None = None, status: int = 200):
    session = tenant_session()
    h = ppl.get_household(session, household_id, principal=_me())
    return render_template("tenant/registry/people/household.html", h=h, members=ppl.members(session, h.id),
                           place=_places([h.location_id]).get(h.location_id), errors=errors or {},
                           form=FlaskForm(), **_labels()), status


@bp.post("/households/<int:household_id>/head")
@permission_required(WRITE)
def household_head(household_id: int):
    if not _csrf_ok():
        return _household_page(household_id, {"_form": [_("The form has expired; try again.")]}, 400)
    _r, errors, status = _try(lambda: ppl.change_head(
        tenant_session(), household_id, _int(request.form.get("individual_id")) or 0, principal=_me(),
        previous_head_relationship=request.form.get("previous_head_relationship") or "other_relative"))
    if errors:
        return _household_page(household_id, errors, status)
    flash(_("Head of household changed; check the members' relationships."), "success")
    return redirect(url_for(".household", household_id=household_id))


@bp.post("/households/<int:household_id>/leave")
@permission_required(WRITE)
def household_leave(household_id: int):
    if not _csrf_ok():
        return _household_page(household_id, {"_form": [_("The form has expired; try again.")]}, 400)
    session = tenant_session()
    ppl.get_household(session, household_id, principal=_me())
    member = _int(request.form.get("individual_id")) or 0
    p = ppl.get_individual(session, member, principal=_me())
    if p.household_id != household_id:
        abort(404)
    _r, errors, status = _try(lambda: ppl.move_member(session, member, None, principal=_me()))
    if errors:
        return _household_page(household_id, errors, status)
    flash(_("The person left the household."), "success")
    return redirect(url_for(".household", household_id=household_id))


@bp.route("/households/new", methods=["GET", "POST"])
@permission_required(WRITE)
def household_new():
    form_values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        if not _csrf_ok():
            errors, status = {"_form": [_("The form has expired; try again.")]}, 400
        else:
            head = _person_from_form("head.")
            head.pop("location_id", None)
            members = []
            for i in range(MEMBER_ROWS):
                row = _person_from_form(f"members.{i}.")
                row.pop("location_id", None)
                if not any(row.get(k) for k in ("given_name", "family_name", "birth_date", "national_id", "phone")):
                    continue
                row["relationship"] = _blank(request.form.get(f"members.{i}.relationship"))
                members.append(row)
            location_id = _village_id(_blank(request.form.get("location_id")))
            address = _blank(request.form.get("address"))
            form_values = request.form.to_dict()
            made, errors, status = _try(lambda: ppl.create_household(
                tenant_session(), principal=_me(), location_id=location_id, head=head, members=members,
                address=address))
            if made is not None:
                flash(_("Household enrolled."), "success")
                return redirect(url_for(".household", household_id=made.id))
            # member errors are numbered among the rows actually sent: map back to the form's rows
            sent = [i for i in range(MEMBER_ROWS) if any(_blank(request.form.get(f"members.{i}.{k}"))
                                                         for k in ("given_name", "family_name", "birth_date",
                                                                   "national_id", "phone"))]
            remapped = {}
            for key, messages in errors.items():
                if key.startswith("members.") and key.split(".")[1].isdigit():
                    n = int(key.split(".")[1])
                    key = ".".join(["members", str(sent[n]) if n < len(sent) else str(n), *key.split(".")[2:]])
                remapped[key] = messages
            errors = remapped
    open_rows = {int(k.split(".")[1]) for k in errors if k.startswith("members.") and k.split(".")[1].isdigit()}
    return render_template("tenant/registry/people/household_form.html", v=form_values, errors=errors,
                           open_rows=open_rows,
                           villages=_villages(), rows=range(MEMBER_ROWS), form=FlaskForm(), **_labels()), status


# ---- duplicates -------------------------------------------------------------------------------------


@bp.get("/duplicates/")
@permission_required(READ)
def duplicates():
    views = dup.list_flags(tenant_session(), principal=_me(), after=_int(request.args.get("after")), limit=50)
    places = _places([p.location_id for v in views for p in (v.individual, v.candidate)])
    return render_template("tenant/registry/people/duplicates.html", views=views, places=places, form=FlaskForm(),
                           **_labels())


@bp.post("/duplicates/<int:flag_id>")
@permission_required(WRITE)
def duplicate_decide(flag_id: int):
    if not _csrf_ok():
        flash(_("The form has expired; try again."), "error")
        return redirect(url_for(".duplicates"))
    session = tenant_session()
    decision = request.form.get("decision")
    if decision == "dismiss":
        _r, errors, _s = _try(lambda: dup.dismiss_flag(session, flag_id, principal=_me()))
        message = _("Kept as two different people.")
    elif decision == "merge":
        keep = _int(request.form.get("keep_id")) or 0
        _r, errors, _s = _try(lambda: dup.merge_flag(session, flag_id, keep, principal=_me()))
        message = _("Merged: the other record is now inactive.")
    else:
        errors, message = {"decision": [_("Merge or dismiss.")]}, ""
    if errors:
        flash("; ".join(m for ms in errors.values() for m in ms), "error")
    else:
        flash(message, "success")
    return redirect(url_for(".duplicates"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav("tenant_people.households", _l("Households"), permission=READ, order=18)
    add_nav("tenant_people.people", _l("People"), permission=READ, order=19)
    add_nav("tenant_people.duplicates", _l("Duplicates"), permission=WRITE, order=24)


