"""The tenant's own billing: page ``/t/<slug>/billing`` (plan, usage of the period, invoices), a printable
invoice ``/t/<slug>/billing/invoices/<id>``, and API ``GET /t/<slug>/api/v1/billing/{usage,invoices}``.

All need ``billing.manage`` and read only the request's tenant (``g.tenant.id``): another tenant's
invoice answers 404. The page and the printable invoice stay open while the tenant is read-only or
suspended (routing's open paths include ``billing``), so a suspended scheme can still see what to pay.
Reads run on the control session, never under the tenant's role.
"""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_smorest import Blueprint as ApiBlueprint

from schemehost.platform.billing import schemas as s
from schemehost.platform.billing import services as billing
from schemehost.platform.errors import NotFound
from schemehost.platform.extensions import db
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.console import tenant_blueprint
from schemehost.tenants.identity.principal import permission_required

bp = tenant_blueprint("tenant_billing", __name__, "/billing")
api_bp = ApiBlueprint("tenant_billing_api", __name__, url_prefix="/t/<slug>/api/v1/billing",
                      description="The scheme's own plan, usage and invoices")
bind_to_tenant(api_bp)


def _own_invoice(invoice_id: int):
    invoice = billing.get_invoice(db.session, invoice_id)
    if invoice.tenant_id != g.tenant.id or invoice.status == "draft":
        raise NotFound(_("No invoice %(id)s.", id=invoice_id), errors={"invoice": [_("unknown invoice")]})
    return invoice


def _usage():
    from schemehost.platform.billing.api import usage_window
    from schemehost.platform.tenants.models import Tenant

    tenant = db.session.get(Tenant, g.tenant.id)
    start, end = usage_window(tenant, None, None)
    return billing.tenant_usage(db.session, tenant.id, start=start, end=end)


def _invoices():
    return [i for i in billing.list_invoices(db.session, tenant_id=g.tenant.id) if i.status != "draft"]


@bp.get("/")
@permission_required("billing.manage")
def index():
    from schemehost.platform.billing import control_numbers

    from schemehost.platform.billing import stripe_connect

    sub = billing.live_subscription(db.session, g.tenant.id)
    invoices = _invoices()
    if request.args.get("card") == "done":
        flash(_("Thank you. Your card payment is being confirmed; the invoice shows it as paid once Stripe "
                "has told us."), "success")
    return render_template("tenant/billing.html", subscription=sub, usage=_usage(), invoices=invoices,
                           outstanding=billing.outstanding,
                           card_payable={i.id for i in invoices if stripe_connect.takes_cards(db.session, i)},
                           control_numbers=control_numbers.issued_for([i.id for i in invoices if i.status == "issued"],
                                                                     db.session))


@bp.post("/invoices/<int:invoice_id>/card")
@permission_required("billing.manage")
def pay_by_card(invoice_id: int):
    """To Stripe's Checkout page for what is outstanding on one of the scheme's invoices (open while the
    scheme is read-only or suspended, like the rest of this page)."""
    from schemehost.platform.billing import stripe_connect

    back = url_for("tenant_billing.index", _external=True)
    url = stripe_connect.start_checkout(db.session, _own_invoice(invoice_id), success_url=f"{back}?card=done",
                                        cancel_url=back)
    return redirect(url, code=303)


@bp.get("/invoices/<int:invoice_id>")
@permission_required("billing.manage")
def invoice(invoice_id: int):
    from schemehost.platform.billing.views import printable

    return printable(_own_invoice(invoice_id))


@api_bp.route("/usage")
class Usage(MethodView):
    @permission_required("billing.manage")
    @api_bp.response(200, s.UsageSchema)
    def get(self):
        """The scheme's daily usage per meter in the current period, and each meter's maximum."""
        return _usage()


@api_bp.route("/invoices")
class Invoices(MethodView):
    @permission_required("billing.manage")
    @api_bp.response(200, s.InvoiceSchema(many=True))
    def get(self):
        """The scheme's invoices and credit notes, newest first."""
        return [billing.invoice_dict(i) for i in _invoices()]


@api_bp.route("/invoices/<int:invoice_id>")
class InvoiceItem(MethodView):
    @permission_required("billing.manage")
    @api_bp.response(200, s.InvoiceSchema)
    def get(self, invoice_id):
        """One of the scheme's invoices."""
        return billing.invoice_dict(_own_invoice(invoice_id))


