"""Insurance API under ``/t/<slug>/api/v1``: products, policies, contributions, renewals, an
insuree's coverage, and eligibility.

Reading products needs ``insurance.read``, ``insurance.products.manage`` or
``insurance.policies.manage``; changing them ``insurance.products.manage``. Policies and
contributions are read with ``insurance.read`` or ``insurance.policies.manage`` and written with
``insurance.policies.manage``; activating a policy that is not fully paid also needs
``insurance.policies.activate``. Eligibility answers ``insurance.eligibility``, ``claims.submit``
(facility staff) or ``insurance.read``. Ids of another tenant's records are simply unknown (404).
"""

from __future__ import annotations

from datetime import date
from functools import wraps
from typing import Any

from flask import Flask, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint

from schemehost.platform.errors import ValidationError
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.identity.principal import current_principal, permission_required, require
from schemehost.tenants.insurance import schemas as s
from schemehost.tenants.insurance import services as ins
from schemehost.tenants.insurance.models import InsuranceProduct, Policy
from schemehost.tenants.insurance.services.products import FIELDS

bp = Blueprint("insurance", __name__, url_prefix="/t/<slug>/api/v1",
               description="Insurance: products, policies, contributions, eligibility")
bind_to_tenant(bp, module="insurance")

PRODUCTS = "insurance.products.manage"
POLICIES = "insurance.policies.manage"
ACTIVATE = "insurance.policies.activate"
READ_PRODUCTS = ("insurance.read", PRODUCTS, POLICIES)
READ_POLICIES = ("insurance.read", POLICIES)
ELIGIBILITY = ("insurance.eligibility", "claims.submit", "insurance.read")


def any_permission_required(*permissions: str):
    """Decorator: the principal needs one of ``permissions`` (403 naming the first otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if principal is None or not any(principal.can(p) for p in permissions):
                require(permissions[0])
            return view(*args, **kwargs)

        wrapper.__permission__ = permissions[0]
        wrapper.__any_permission__ = tuple(permissions)
        return wrapper

    return decorator


def _page(items: list, query: dict) -> tuple[list, int, dict[str, str]]:
    headers = {}
    if items and len(items) == query["limit"]:
        args = request.args.to_dict()
        args["after_id"] = str(items[-1].id)
        headers["Link"] = f'<{url_for(request.endpoint, _external=False, **args)}>; rel="next"'
    return items, 200, headers


def product_out(session, product: InsuranceProduct) -> dict[str, Any]:
    out = {f: getattr(product, f) for f in ("id", "code", "version", "currency", "created_at", "updated_at", *FIELDS)}
    out["coverage"] = ins.coverage(session, product.id)
    out["in_use"] = ins.in_use(session, product.id)
    return out


def policy_out(session, policy: Policy) -> dict[str, Any]:
    out = {f: getattr(policy, f) for f in (
        "id", "product_id", "holder", "household_id", "employer_id", "previous_id", "stage", "enrol_date",
        "start_date", "effective_date",
        "expiry_date", "value", "paid", "currency", "adults", "children", "breakdown", "activation_forced",
        "created_at")}
    out["status"] = ins.status_on(policy, date.today())
    out["stored_status"] = policy.status
    out["members"] = ins.policy_members(session, policy.id)
    return out


# ---- products ----------------------------------------------------------------------------------------


@bp.route("/insurance/products")
class Products(MethodView):
    @any_permission_required(*READ_PRODUCTS)
    @bp.arguments(s.ProductQuerySchema, location="query")
    @bp.response(200, s.ProductSchema(many=True))
    def get(self, query):
        """Product versions, filtered by code, validity on a date, or only the latest of each code."""
        session = tenant_session()
        items, status, headers = _page(ins.list_products(session, code=query.get("code"),
                                                         valid_on=query.get("valid_on"),
                                                         latest=bool(query.get("latest")),
                                                         after_id=query.get("after_id"), limit=query["limit"]),
                                       query)
        return [product_out(session, p) for p in items], status, headers

    @permission_required(PRODUCTS)
    @bp.arguments(s.ProductCreateSchema)
    @bp.response(201, s.ProductSchema)
    def post(self, body):
        """Define a product (version 1); 409 for a taken code, 422 naming every bad field."""
        session = tenant_session()
        product = ins.create_product(session, **body)
        return product_out(session, product), 201, {
            "Location": url_for("insurance.ProductItem", product_id=product.id)}


@bp.route("/insurance/products/<int:product_id>")
class ProductItem(MethodView):
    @any_permission_required(*READ_PRODUCTS)
    @bp.response(200, s.ProductSchema)
    def get(self, product_id):
        """One product version with its covered items and services."""
        session = tenant_session()
        return product_out(session, ins.get_product(session, product_id))

    @permission_required(PRODUCTS)
    @bp.arguments(s.ProductUpdateSchema)
    @bp.response(200, s.ProductSchema)
    @bp.alt_response(201, schema=s.ProductSchema, description="a new version was made (the product is in use)")
    def patch(self, body, product_id):
        """Change a product. When policies use it and the change would alter them, a new version is made
        instead (201, ``Location`` of the new version); the name and end of validity change in place."""
        session = tenant_session()
        product, new = ins.update_product(session, product_id, **body)
        if new:
            return product_out(session, product), 201, {
                "Location": url_for("insurance.ProductItem", product_id=product.id)}
        return product_out(session, product)


# ---- policies ----------------------------------------------------------------------------------------


@bp.route("/insurance/policies")
class Policies(MethodView):
    @any_permission_required(*READ_POLICIES)
    @bp.arguments(s.PolicyQuerySchema, location="query")
    @bp.response(200, s.PolicySchema(many=True))
    def get(self, query):
        """Policies (of households in the caller's area), filtered by household, product or stored status."""
        session = tenant_session()
        items, status, headers = _page(ins.list_policies(
            session, principal=current_principal(), household_id=query.get("household_id"),
            product_id=query.get("product_id"), status=query.get("status"), after_id=query.get("after_id"),
            limit=query["limit"]), query)
        return [policy_out(session, p) for p in items], status, headers

    @permission_required(POLICIES)
    @bp.arguments(s.EnrolSchema)
    @bp.response(201, s.PolicySchema)
    def post(self, body):
        """Enrol a household in a product (by ``product_id``, or ``product_code`` for the version valid on
        the enrolment date): a new, idle policy whose value comes from the household's composition."""
        if ("product_id" in body) == ("product_code" in body):
            raise ValidationError(_("Give the product by id or by code."),
                                  errors={"product_id": [_("give product_id or product_code")]})
        session = tenant_session()
        policy = ins.enrol(session, household_id=body["household_id"], product_id=body.get("product_id"),
                           product_code=body.get("product_code"), enrol_date=body.get("enrol_date"),
                           principal=current_principal())
        return policy_out(session, policy), 201, {"Location": url_for("insurance.PolicyItem", policy_id=policy.id)}


@bp.route("/insurance/policies/<int:policy_id>")
class PolicyItem(MethodView):
    @any_permission_required(*READ_POLICIES)
    @bp.response(200, s.PolicySchema)
    def get(self, policy_id):
        """One policy: dates, value and its parts, what is paid, insured members."""
        session = tenant_session()
        return policy_out(session, ins.get_policy(session, policy_id, principal=current_principal()))


@bp.route("/insurance/policies/<int:policy_id>/<any(renew, suspend, resume):action>")
class PolicyAction(MethodView):
    @permission_required(POLICIES)
    @bp.response(200, s.PolicySchema)
    @bp.alt_response(201, schema=s.PolicySchema, description="the renewal policy")
    def post(self, policy_id, action):
        """``renew`` (201, the renewal policy; body ``enrol_date``), ``suspend`` (body ``reason``) or
        ``resume``."""
        session = tenant_session()
        principal = current_principal()
        raw = request.get_json(silent=True)
        raw = raw if isinstance(raw, dict) else {}
        if action == "renew":
            policy = ins.renew(session, policy_id, enrol_date=raw.get("enrol_date"), principal=principal)
            return policy_out(session, policy), 201, {
                "Location": url_for("insurance.PolicyItem", policy_id=policy.id)}
        if action == "suspend":
            reason = raw.get("reason")
            policy = ins.suspend(session, policy_id, principal=principal,
                                 reason=reason[:500] if isinstance(reason, str) else None)
        else:
            policy = ins.resume(session, policy_id, principal=principal)
        return policy_out(session, policy)


@bp.route("/insurance/policies/<int:policy_id>/activate")
class PolicyActivation(MethodView):
    @permission_required(ACTIVATE)
    @bp.arguments(s.ActivateSchema)
    @bp.response(200, s.PolicySchema)
    def post(self, body, policy_id):
        """Activate an idle policy that is not fully paid (body ``on``: the date coverage is counted from)."""
        session = tenant_session()
        policy = ins.activate(session, policy_id, principal=current_principal(), on=body.get("on"))
        return policy_out(session, policy)


@bp.route("/insurance/policies/<int:policy_id>/contributions")
class PolicyContributions(MethodView):
    @any_permission_required(*READ_POLICIES)
    @bp.response(200, s.ContributionSchema(many=True))
    def get(self, policy_id):
        """The policy's contributions, oldest first."""
        session = tenant_session()
        policy = ins.get_policy(session, policy_id, principal=current_principal())
        return ins.contributions(session, policy.id)

    @permission_required(POLICIES)
    @bp.arguments(s.ContributionCreateSchema)
    @bp.response(201, s.ContributionSchema)
    def post(self, body, policy_id):
        """Record a payment; full payment activates the policy, ``activate`` forces a partial one (needs
        ``insurance.policies.activate``); 409 for a receipt number already recorded."""
        return ins.record_contribution(tenant_session(), policy_id, principal=current_principal(), **body), 201


@bp.route("/insurance/renewals")
class Renewals(MethodView):
    @any_permission_required(*READ_POLICIES)
    @bp.response(200, s.RenewalDueSchema(many=True))
    def get(self):
        """Policies due for renewal (within their product's reminder days), soonest first."""
        today = date.today()
        return [{"policy_id": p.id, "household_id": p.household_id, "employer_id": p.employer_id,
                 "product_code": pr.code,
                 "expiry_date": p.expiry_date, "status": ins.status_on(p, today)}
                for p, pr in ins.renewal_reminders(tenant_session(), principal=current_principal(), today=today)]


@bp.route("/insurance/insurees/<int:individual_id>/coverage")
class InsureeCoverage(MethodView):
    @any_permission_required(*READ_POLICIES)
    @bp.response(200, s.CoverageDatesSchema(many=True))
    def get(self, individual_id):
        """An insuree's coverage dates: every policy insuring them, latest first."""
        return ins.insuree_coverage(tenant_session(), individual_id, principal=current_principal())


# ---- eligibility -------------------------------------------------------------------------------------


@bp.route("/eligibility")
class Eligibility(MethodView):
    @any_permission_required(*ELIGIBILITY)
    @bp.arguments(s.EligibilityQuerySchema, location="query")
    @bp.response(200, s.EligibilitySchema)
    def get(self, query):
        """Is the insuree covered for this item or service today (or on ``date``)? ``covered``, the
        ``reason`` when not, the policy, and the remaining limits (count and amount)."""
        return eligibility_answer(query)


def eligibility_answer(query: dict) -> dict[str, Any]:
    if ("item" in query) == ("service" in query):
        raise ValidationError(_("Name one item or one service."),
                              errors={"item": [_("give item or service (one of them)")]})
    kind = "item" if "item" in query else "service"
    answer = ins.eligibility.check(tenant_session(), insuree=query["insuree"].strip(), code=query[kind].strip(),
                                   kind=kind, day=query.get("date") or date.today(), principal=current_principal())
    out = answer.as_dict()
    return {k: v if k == "date" else _jsonable(v) for k, v in out.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    return value


def init_app(app: Flask) -> None:
    from schemehost.platform.extensions import api

    api.register_blueprint(bp)
