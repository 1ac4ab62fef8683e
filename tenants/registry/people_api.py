"""People API under ``/t/<slug>/api/v1``: individuals, households, the duplicates queue.

Reading needs ``registry.read``, changing ``registry.write``. Bodies are checked by the services,
field by field, all problems at once (422 problem+json with ``errors``; nested fields of a household
as ``head.<field>`` and ``members.<i>.<field>``). A national id already registered answers 409 with
``existing_id`` and ``existing_url``. Lists are keyset pages: a full page carries
``Link: <...?after=CURSOR>; rel="next"``. Records of another tenant, or outside a location-restricted
caller's area, are unknown here (404).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields, validate

from schemehost.platform.errors import NotFound, ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required
from schemehost.tenants.registry.people import Household, Individual
from schemehost.tenants.registry.services import duplicates as dup
from schemehost.tenants.registry.services import people as ppl
from schemehost.tenants.registry.services import search as srch

bp = Blueprint("people_api", __name__, url_prefix="/t/<slug>/api/v1",
               description="Registry people: individuals, households, probable duplicates")
READ = "registry.read"
WRITE = "registry.write"


bind_to_tenant(bp)


# ---- schemas (shapes for the documentation; the services check values) ---------------------------------


class IndividualSchema(Schema):
    id = fields.Integer()
    scheme_number = fields.String()
    given_name = fields.String()
    family_name = fields.String()
    other_names = fields.String(allow_none=True)
    sex = fields.String()
    birth_date = fields.Date()
    birth_date_estimated = fields.Boolean()
    national_id = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "E.164"})
    location_id = fields.Integer(metadata={"description": "the village"})
    household_id = fields.Integer(allow_none=True)
    relationship = fields.String(allow_none=True, metadata={"description": "to the head of the household"})
    status = fields.String()
    extra = fields.Dict()
    external_id = fields.String(allow_none=True)
    has_photo = fields.Boolean()
    score = fields.Float(metadata={"description": "name-match score (0-1) when searching by name"})
    probable_duplicates = fields.List(fields.Integer(), metadata={"description": "ids flagged as probably the same"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class IndividualQuerySchema(Schema):
    q = fields.String(metadata={"description": "name, any order, accents and small typos forgiven"})
    identifier = fields.String(metadata={"description": "national id or scheme number (exact)"})
    national_id = fields.String()
    phone = fields.String(metadata={"description": "any format; national numbers for the scheme's country"})
    location = fields.Integer(metadata={"description": "a location id: people of it and everything below it"})
    household_id = fields.Integer()
    status = fields.String(load_default="active", metadata={"description": "active (default), inactive, "
                                                                            "deceased, erased or any"})
    after = fields.String(metadata={"description": "the cursor of the previous page (keyset pagination)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, srch.MAX_LIMIT))


class _Loose(Schema):
    """Any keys pass: the services report unknown fields with the other problems, all at once."""

    class Meta:
        unknown = INCLUDE


class IndividualInSchema(_Loose):
    given_name = fields.Raw(allow_none=True)
    family_name = fields.Raw(allow_none=True)
    other_names = fields.Raw(allow_none=True)
    sex = fields.Raw(allow_none=True, metadata={"description": "female, male or other"})
    birth_date = fields.Raw(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    birth_date_estimated = fields.Raw(allow_none=True)
    national_id = fields.Raw(allow_none=True)
    phone = fields.Raw(allow_none=True)
    location_id = fields.Raw(allow_none=True, metadata={"description": "a village (lowest level); defaults to the household's"})
    extra = fields.Raw(allow_none=True, metadata={"description": "the scheme's own fields (its JSON Schema)"})
    external_id = fields.Raw(allow_none=True)
    status = fields.Raw(allow_none=True)
    household_id = fields.Raw(allow_none=True, metadata={"description": "on creation only"})
    relationship = fields.Raw(allow_none=True, metadata={"description": "on creation only, with household_id"})


class MoveSchema(Schema):
    household_id = fields.Raw(required=True, allow_none=True)
    relationship = fields.Raw(allow_none=True)


class HouseholdSchema(Schema):
    id = fields.Integer()
    location_id = fields.Integer()
    head_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True)
    status = fields.String()
    extra = fields.Dict()
    external_id = fields.String(allow_none=True)
    members = fields.List(fields.Nested(IndividualSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class HouseholdQuerySchema(Schema):
    q = fields.String(metadata={"description": "the head's name"})
    location = fields.Integer()
    status = fields.String(load_default="active")
    after = fields.String()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, srch.MAX_LIMIT))


class HouseholdInSchema(_Loose):
    location_id = fields.Raw(allow_none=True)
    address = fields.Raw(allow_none=True)
    extra = fields.Raw(allow_none=True)
    external_id = fields.Raw(allow_none=True)
    status = fields.Raw(allow_none=True)
    head = fields.Raw(allow_none=True, metadata={"description": "a new person's fields, or a registered individual's id"})
    members = fields.Raw(allow_none=True, metadata={"description": "new people's fields with relationship, or "
                                                  "{individual_id, relationship}"})


class HeadSchema(Schema):
    individual_id = fields.Integer(required=True)
    previous_head_relationship = fields.String(load_default="other_relative")


class FlagSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    score = fields.Float()
    reasons = fields.Dict()
    individual = fields.Nested(IndividualSchema)
    candidate = fields.Nested(IndividualSchema)
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class FlagQuerySchema(Schema):
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "merged", "dismissed"]))
    after = fields.Integer()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, srch.MAX_LIMIT))


class MergeSchema(Schema):
    keep_id = fields.Integer(required=True, metadata={"description": "the record to keep (one of the pair)"})


# ---- helpers ------------------------------------------------------------------------------------------


def _me():
    return current_principal()


def individual_out(person: Individual, score: float | None = None) -> dict[str, Any]:
    out = {c: getattr(person, c) for c in ("id", "scheme_number", "given_name", "family_name", "other_names", "sex",
                                           "birth_date", "birth_date_estimated", "national_id", "phone",
                                           "location_id", "household_id", "relationship", "status", "extra",
                                           "external_id", "created_at", "updated_at")}
    out["has_photo"] = person.photo is not None
    if score is not None:
        out["score"] = round(score, 4)
    return out


def household_out(household: Household, with_members: bool = True) -> dict[str, Any]:
    out = {c: getattr(household, c) for c in ("id", "location_id", "head_id", "address", "status", "extra",
                                              "external_id", "created_at", "updated_at")}
    if with_members:
        out["members"] = [individual_out(p) for p in ppl.members(tenant_session(), household.id)]
    return out


def flag_out(view: dup.FlagView) -> dict[str, Any]:
    f = view.flag
    return {"id": f.id, "status": f.status, "score": f.score, "reasons": f.reasons, "decided_by": f.decided_by,
            "decided_at": f.decided_at, "created_at": f.created_at,
            "individual": individual_out(view.individual), "candidate": individual_out(view.candidate)}


def _next_link(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    args = request.args.to_dict()
    args["after"] = cursor
    return {"Link": f'<{url_for(request.endpoint, _external=False, **(request.view_args or {}), **args)}>; '
                    f'rel="next"'}


def _with_flags(person: Individual) -> dict[str, Any]:
    out = individual_out(person)
    out["probable_duplicates"] = sorted(
        {f.candidate_id if f.individual_id == person.id else f.individual_id
         for f in dup.flags_of(tenant_session(), person.id)})
    return out


# ---- individuals ------------------------------------------------------------------------------------------


@bp.route("/individuals")
class Individuals(MethodView):
    @permission_required(READ)
    @bp.arguments(IndividualQuerySchema, location="query")
    @bp.response(200, IndividualSchema(many=True))
    def get(self, query):
        """Search individuals by name, identifier, phone, location subtree, household and status."""
        page = srch.search_individuals(
            tenant_session(), principal=_me(), q=query.get("q"), identifier=query.get("identifier"),
            national_id=query.get("national_id"), phone=query.get("phone"), location_id=query.get("location"),
            household_id=query.get("household_id"), status=query.get("status"), after=query.get("after"),
            limit=query["limit"])
        scores = page.scores or {}
        return [individual_out(p, scores.get(p.id)) for p in page.items], 200, _next_link(page.next)

    @permission_required(WRITE)
    @bp.arguments(IndividualInSchema)
    @bp.response(201, IndividualSchema)
    def post(self, body):
        """Register an individual (in a household with ``household_id`` and ``relationship``, or alone)."""
        session = tenant_session()
        household_id = body.pop("household_id", None)
        relationship = body.pop("relationship", None)
        person = ppl.create_individual(session, body, principal=_me(), household_id=household_id,
                                       relationship=relationship)
        return _with_flags(person), 201, {"Location": url_for("people_api.IndividualItem", individual_id=person.id)}


@bp.route("/individuals/<int:individual_id>")
class IndividualItem(MethodView):
    @permission_required(READ)
    @bp.response(200, IndividualSchema)
    def get(self, individual_id):
        """One individual, with the ids of open probable duplicates."""
        return _with_flags(ppl.get_individual(tenant_session(), individual_id, principal=_me()))

    @permission_required(WRITE)
    @bp.arguments(IndividualInSchema)
    @bp.response(200, IndividualSchema)
    def patch(self, body, individual_id):
        """Change some fields (null clears an optional one); household changes go through ``/household``."""
        if not body:
            raise ValidationError(_("Send at least one field to change."), errors={"_schema": [_("empty")]})
        for key in ("household_id", "relationship"):
            if key in body:
                raise ValidationError(_("Use /individuals/<id>/household to move a person."),
                                      errors={key: [_("use /individuals/<id>/household")]})
        person = ppl.update_individual(tenant_session(), individual_id, body, principal=_me())
        return _with_flags(person)


@bp.route("/individuals/<int:individual_id>/household")
class IndividualHousehold(MethodView):
    @permission_required(WRITE)
    @bp.arguments(MoveSchema)
    @bp.response(200, IndividualSchema)
    def post(self, body, individual_id):
        """Move a person into a household (with ``relationship``) or out of theirs (``household_id: null``)."""
        return individual_out(ppl.move_member(tenant_session(), individual_id, body["household_id"],
                                              principal=_me(), relationship=body.get("relationship")))


@bp.route("/individuals/<int:individual_id>/photo")
class IndividualPhoto(MethodView):
    @permission_required(READ)
    def get(self, individual_id):
        """The photo (JPEG or PNG); 404 when there is none."""
        person = ppl.get_individual(tenant_session(), individual_id, principal=_me())
        if person.photo is None:
            raise NotFound(_("This individual has no photo."), errors={"photo": [_("none")]})
        return Response(person.photo, mimetype=ppl.photo_type(person.photo) or "application/octet-stream",
                        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})

    @permission_required(WRITE)
    @bp.response(204)
    def put(self, individual_id):
        """Set the photo: the request body is the JPEG or PNG itself (at most 256 KB by default)."""
        data = request.get_data(cache=False)
        ppl.set_photo(tenant_session(), individual_id, data, principal=_me())

    @permission_required(WRITE)
    @bp.response(204)
    def delete(self, individual_id):
        """Remove the photo."""
        ppl.set_photo(tenant_session(), individual_id, None, principal=_me())


# ---- households -------------------------------------------------------------------------------------------


@bp.route("/households")
class Households(MethodView):
    @permission_required(READ)
    @bp.arguments(HouseholdQuerySchema, location="query")
    @bp.response(200, HouseholdSchema(many=True))
    def get(self, query):
        """Households by head's name, location subtree and status (members are at ``/households/<id>``)."""
        page = srch.search_households(tenant_session(), principal=_me(), q=query.get("q"),
                                      location_id=query.get("location"), status=query.get("status"),
                                      after=query.get("after"), limit=query["limit"])
        return [household_out(h, with_members=False) for h in page.items], 200, _next_link(page.next)

    @permission_required(WRITE)
    @bp.arguments(HouseholdInSchema)
    @bp.response(201, HouseholdSchema)
    def post(self, body):
        """Enrol a household with its head and members in one request."""
        known = {"location_id", "address", "extra", "external_id", "head", "members"}
        if set(body) - known:
            raise ValidationError(_("The household cannot be enrolled."),
                                  errors={key: [_("Unknown field.")] for key in sorted(set(body) - known)})
        household = ppl.create_household(tenant_session(), principal=_me(), location_id=body.get("location_id"),
                                         head=body.get("head"), members=body.get("members"),
                                         address=body.get("address"), extra=body.get("extra"),
                                         external_id=body.get("external_id"))
        return household_out(household), 201, {"Location": url_for("people_api.HouseholdItem",
                                                                   household_id=household.id)}


@bp.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @permission_required(READ)
    @bp.response(200, HouseholdSchema)
    def get(self, household_id):
        """One household with its members (the head first)."""
        return household_out(ppl.get_household(tenant_session(), household_id, principal=_me()))

    @permission_required(WRITE)
    @bp.arguments(HouseholdInSchema)
    @bp.response(200, HouseholdSchema)
    def patch(self, body, household_id):
        """Change the village (members living there move with it), address, extra fields or status."""
        if not body or "head" in body or "members" in body:
            raise ValidationError(_("Send location_id, address, extra, external_id or status."),
                                  errors={"_schema": [_("use /head and /individuals/<id>/household for members")]})
        return household_out(ppl.update_household(tenant_session(), household_id, body, principal=_me()))


@bp.route("/households/<int:household_id>/head")
class HouseholdHead(MethodView):
    @permission_required(WRITE)
    @bp.arguments(HeadSchema)
    @bp.response(200, HouseholdSchema)
    def post(self, body, household_id):
        """Make a member the head; the previous head keeps ``previous_head_relationship``."""
        return household_out(ppl.change_head(tenant_session(), household_id, body["individual_id"], principal=_me(),
                                             previous_head_relationship=body["previous_head_relationship"]))


# ---- duplicates -------------------------------------------------------------------------------------------


@bp.route("/duplicates")
class Duplicates(MethodView):
    @permission_required(READ)
    @bp.arguments(FlagQuerySchema, location="query")
    @bp.response(200, FlagSchema(many=True))
    def get(self, query):
        """The review queue of probable duplicates (oldest first)."""
        views = dup.list_flags(tenant_session(), principal=_me(), status=query["status"], after=query.get("after"),
                               limit=query["limit"])
        cursor = str(views[-1].flag.id) if len(views) == query["limit"] else None
        return [flag_out(v) for v in views], 200, _next_link(cursor)


@bp.route("/duplicates/<int:flag_id>")
class DuplicateItem(MethodView):
    @permission_required(READ)
    @bp.response(200, FlagSchema)
    def get(self, flag_id):
        return flag_out(dup.get_flag(tenant_session(), flag_id, principal=_me()))


@bp.route("/duplicates/<int:flag_id>/merge")
class DuplicateMerge(MethodView):
    @permission_required(WRITE)
    @bp.arguments(MergeSchema)
    @bp.response(200, FlagSchema)
    def post(self, body, flag_id):
        """The pair is one person: keep ``keep_id``, the other becomes inactive (see decision 0107)."""
        session = tenant_session()
        dup.merge_flag(session, flag_id, body["keep_id"], principal=_me())
        return flag_out(dup.get_flag(session, flag_id, principal=None))


@bp.route("/duplicates/<int:flag_id>/dismiss")
class DuplicateDismiss(MethodView):
    @permission_required(WRITE)
    @bp.response(200, FlagSchema)
    def post(self, flag_id):
        """The pair are different people: close the flag; the pair is not flagged again."""
        session = tenant_session()
        dup.dismiss_flag(session, flag_id, principal=_me())
        return flag_out(dup.get_flag(session, flag_id, principal=None))


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
