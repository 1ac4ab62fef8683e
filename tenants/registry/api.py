"""Registry API under ``/t/<slug>/api/v1``: locations, facilities, catalogue, price lists, prices.

Reading needs ``registry.read``; changing needs ``registry.locations.manage``. Lists are in id
order and paged by keyset (``after_id``); a full page carries a ``Link: <...>; rel="next"``
header. Ids of another tenant's records are simply unknown here (404).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import NotFound
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import permission_required
from schemehost.tenants.registry import schemas as s
from schemehost.tenants.registry import services as reg
from schemehost.tenants.registry.models import Location
from schemehost.tenants.registry.services import UNSET

bp = Blueprint("registry", __name__, url_prefix="/t/<slug>/api/v1",
               description="Registry: locations, health facilities, catalogue of items and services, price lists")
READ = "registry.read"
MANAGE = "registry.locations.manage"


bind_to_tenant(bp)


def _page(items: list, query: dict) -> tuple[list, int, dict[str, str]]:
    """The items with a ``Link: rel="next"`` header when the page is full."""
    headers = {}
    if items and len(items) == query["limit"]:
        args = request.args.to_dict()
        args["after_id"] = str(items[-1].id)
        headers["Link"] = f'<{url_for(request.endpoint, _external=False, **args)}>; rel="next"'
    return items, 200, headers


def _changes(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: body.get(key, UNSET) for key in keys}


# ---- locations -------------------------------------------------------------------------------------


def _location_out(loc: Location, names: list[str]) -> dict[str, Any]:
    out = {c: getattr(loc, c) for c in ("id", "code", "name", "level", "parent_id", "path", "created_at",
                                        "updated_at", *reg.POPULATION_FIELDS)}
    out["level_name"] = reg.level_name(names, loc.level)
    return out


@bp.route("/location-levels")
class LocationLevels(MethodView):
    @permission_required(READ)
    @bp.response(200, s.LevelSchema(many=True))
    def get(self):
        """The tenant's location levels, top first, and where facilities may be placed."""
        names = reg.level_names(tenant_session())
        allowed = reg.facility_levels_allowed(names)
        return [{"level": i, "name": n, "facilities": i in allowed} for i, n in enumerate(names)]


@bp.route("/locations")
class Locations(MethodView):
    @permission_required(READ)
    @bp.arguments(s.LocationQuerySchema, location="query")
    @bp.response(200, s.LocationSchema(many=True))
    def get(self, query):
        """Locations, filtered by parent, top level, level, code, name or subtree (``within``)."""
        session = tenant_session()
        parent: Any = UNSET
        if query.get("top"):
            parent = None
        elif "parent_id" in query:
            parent = query["parent_id"]
        items = reg.list_locations(session, parent_id=parent, level=query.get("level"), code=query.get("code"),
                                   q=query.get("q"), within=query.get("within"), after_id=query.get("after_id"),
                                   limit=query["limit"])
        names = reg.level_names(session)
        page, status, headers = _page(items, query)
        return [_location_out(loc, names) for loc in page], status, headers

    @permission_required(MANAGE)
    @bp.arguments(s.LocationCreateSchema)
    @bp.response(201, s.LocationSchema)
    def post(self, body):
        """Add a location below ``parent_id`` (or at the top); 409 for a taken code, 422 for a wrong level."""
        session = tenant_session()
        population = {k: body[k] for k in reg.POPULATION_FIELDS if k in body}
        loc = reg.create_location(session, code=body["code"], name=body["name"], parent_id=body.get("parent_id"),
                                  level=body.get("level"), population=population)
        return (_location_out(loc, reg.level_names(session)), 201,
                {"Location": url_for("registry.LocationItem", location_id=loc.id)})


@bp.route("/locations/<int:location_id>")
class LocationItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.LocationSchema)
    def get(self, location_id):
        """One location."""
        session = tenant_session()
        return _location_out(reg.get_location(session, location_id), reg.level_names(session))

    @permission_required(MANAGE)
    @bp.arguments(s.LocationUpdateSchema)
    @bp.response(200, s.LocationSchema)
    def patch(self, body, location_id):
        """Rename, re-code, move (``parent_id``; 422 for a cycle or another level) or set population figures."""
        session = tenant_session()
        population = {k: body[k] for k in reg.POPULATION_FIELDS if k in body}
        loc = reg.update_location(session, location_id, **_changes(body, ("name", "code", "parent_id")),
                                  population=population)
        return _location_out(loc, reg.level_names(session))

    @permission_required(MANAGE)
    @bp.response(204)
    def delete(self, location_id):
        """Delete a location nothing refers to (409 naming what still does)."""
        reg.delete_location(tenant_session(), location_id)


# ---- facilities ------------------------------------------------------------------------------------

FACILITY_FIELDS = ("code", "name", "level", "care_type", "location_id", "contract_start", "contract_end", "status")


@bp.route("/facilities")
class Facilities(MethodView):
    @permission_required(READ)
    @bp.arguments(s.FacilityQuerySchema, location="query")
    @bp.response(200, s.FacilitySchema(many=True))
    def get(self, query):
        """Health facilities, filtered by location (exact or ``within``), level, status, code or name."""
        return _page(reg.list_facilities(tenant_session(), **{k: query.get(k) for k in (
            "within", "location_id", "level", "status", "code", "q", "after_id")}, limit=query["limit"]), query)

    @permission_required(MANAGE)
    @bp.arguments(s.FacilityCreateSchema)
    @bp.response(201, s.FacilitySchema)
    def post(self, body):
        """Register a facility in a location of the lowest or second-lowest level."""
        facility = reg.create_facility(tenant_session(), **body)
        return facility, 201, {"Location": url_for("registry.FacilityItem", facility_id=facility.id)}


@bp.route("/facilities/<int:facility_id>")
class FacilityItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.FacilitySchema)
    def get(self, facility_id):
        """One health facility."""
        return reg.get_facility(tenant_session(), facility_id)

    @permission_required(MANAGE)
    @bp.arguments(s.FacilityUpdateSchema)
    @bp.response(200, s.FacilitySchema)
    def patch(self, body, facility_id):
        """Change a facility (set ``status`` to ``inactive`` rather than deleting it)."""
        return reg.update_facility(tenant_session(), facility_id, **_changes(body, FACILITY_FIELDS))


# ---- catalogue -------------------------------------------------------------------------------------


@bp.route("/catalogue")
class Catalogue(MethodView):
    @permission_required(READ)
    @bp.arguments(s.EntryQuerySchema, location="query")
    @bp.response(200, s.EntrySchema(many=True))
    def get(self, query):
        """Items and services, filtered by kind, type, code, name or validity on a date."""
        return _page(reg.list_entries(tenant_session(), **{k: query.get(k) for k in (
            "kind", "type", "code", "q", "valid_on", "after_id")}, limit=query["limit"]), query)

    @permission_required(MANAGE)
    @bp.arguments(s.EntryCreateSchema)
    @bp.response(201, s.EntrySchema)
    def post(self, body):
        """Add an item or a service; a default ``unit_price`` is in minor units of the tenant's currency."""
        entry = reg.create_entry(tenant_session(), **body)
        return entry, 201, {"Location": url_for("registry.CatalogueItem", entry_id=entry.id)}


@bp.route("/catalogue/<int:entry_id>")
class CatalogueItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.EntrySchema)
    def get(self, entry_id):
        """One item or service."""
        return reg.get_entry(tenant_session(), entry_id)

    @permission_required(MANAGE)
    @bp.arguments(s.EntryUpdateSchema)
    @bp.response(200, s.EntrySchema)
    def patch(self, body, entry_id):
        """Change an item or a service (its kind stays)."""
        return reg.update_entry(tenant_session(), entry_id, **body)


# ---- price lists -----------------------------------------------------------------------------------


@bp.route("/price-lists")
class PriceLists(MethodView):
    @permission_required(READ)
    @bp.arguments(s.PriceListQuerySchema, location="query")
    @bp.response(200, s.PriceListSchema(many=True))
    def get(self, query):
        """Price lists, filtered by facility (or ``shared=true``), validity on a date, code or name."""
        facility: Any = None if query.get("shared") else query.get("facility_id", UNSET)
        return _page(reg.list_price_lists(tenant_session(), facility_id=facility, valid_on=query.get("valid_on"),
                                          code=query.get("code"), q=query.get("q"), after_id=query.get("after_id"),
                                          limit=query["limit"]), query)

    @permission_required(MANAGE)
    @bp.arguments(s.PriceListCreateSchema)
    @bp.response(201, s.PriceListSchema)
    def post(self, body):
        """A new empty price list, shared or for ``facility_id``, in the tenant's currency."""
        plist = reg.create_price_list(tenant_session(), **body)
        return plist, 201, {"Location": url_for("registry.PriceListItem", price_list_id=plist.id)}


@bp.route("/price-lists/<int:price_list_id>")
class PriceListItem(MethodView):
    @permission_required(READ)
    @bp.response(200, s.PriceListSchema)
    def get(self, price_list_id):
        """One price list (its lines are at ``/lines``)."""
        return reg.get_price_list(tenant_session(), price_list_id)

    @permission_required(MANAGE)
    @bp.arguments(s.PriceListUpdateSchema)
    @bp.response(200, s.PriceListSchema)
    def patch(self, body, price_list_id):
        """Rename, re-code or change the validity of a price list."""
        return reg.update_price_list(tenant_session(), price_list_id,
                                     **_changes(body, ("code", "name", "valid_from", "valid_to")))

    @permission_required(MANAGE)
    @bp.response(204)
    def delete(self, price_list_id):
        """Delete a price list and its lines."""
        reg.delete_price_list(tenant_session(), price_list_id)


def _line_out(pl: reg.PriceLine, currency: str) -> dict[str, Any]:
    return {"entry_id": pl.entry.id, "code": pl.entry.code, "name": pl.entry.name, "kind": pl.entry.kind,
            "price": pl.line.price, "currency": currency}


@bp.route("/price-lists/<int:price_list_id>/lines")
class PriceLines(MethodView):
    @permission_required(READ)
    @bp.response(200, s.PriceLineSchema(many=True))
    def get(self, price_list_id):
        """The prices of a list, items first, by code."""
        session = tenant_session()
        currency = reg.get_price_list(session, price_list_id).currency
        return [_line_out(pl, currency) for pl in reg.price_lines(session, price_list_id)]


@bp.route("/price-lists/<int:price_list_id>/lines/<code>")
class PriceLineItem(MethodView):
    @permission_required(MANAGE)
    @bp.arguments(s.PriceSetSchema)
    @bp.response(200, s.PriceLineSchema)
    def put(self, body, price_list_id, code):
        """Set the price of the item or service ``code`` in this list."""
        session = tenant_session()
        line = reg.set_price(session, price_list_id, code, body["price"])
        plist = reg.get_price_list(session, price_list_id)
        return _line_out(reg.PriceLine(line, reg.get_entry(session, line.entry_id)), plist.currency)

    @permission_required(MANAGE)
    @bp.response(204)
    def delete(self, price_list_id, code):
        """Take the item or service ``code`` out of this list."""
        reg.remove_price(tenant_session(), price_list_id, code)


@bp.route("/prices")
class Prices(MethodView):
    @permission_required(READ)
    @bp.arguments(s.QuoteQuerySchema, location="query")
    @bp.response(200, s.QuoteSchema)
    def get(self, query):
        """The price a facility charges for an item or service on a date (its own lists, then shared ones)."""
        quote = reg.price_for(tenant_session(), query["facility_id"], query["entry"], query["date"],
                              use_default=query["use_default"])
        if quote is None:
            raise NotFound(_("No price for '%(code)s' at this facility on %(date)s.", code=query["entry"],
                             date=query["date"].isoformat()), errors={"entry": [_("no price on that date")]})
        return quote


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
