"""Single sign-on pages and API: sign-in redirect and callback, the settings page, ``/api/v1/sso``.

The views parse input and call :mod:`schemehost.tenants.identity.sso`; the
browser session keeps the pending sign-in (state, nonce, PKCE verifier) under
a key holding the tenant id, so a callback only completes a sign-in started
on the same scheme.
"""

from __future__ import annotations

from flask import Flask, flash, g, redirect, render_template, request, session, url_for
from flask.views import MethodView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint as ApiBlueprint
from flask_wtf import FlaskForm
from marshmallow import Schema, fields
from wtforms import BooleanField, PasswordField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from schemehost.platform.errors import ValidationError
from schemehost.platform.extensions import api
from schemehost.platform.ratelimit import limiter, signin_failed, signin_limit
from schemehost.platform.tenancy import tenant_session
from schemehost.tenants.blueprints import bind_to_tenant
from schemehost.tenants.console import add_nav, tenant_blueprint
from schemehost.tenants.identity import sessions, sso
from schemehost.tenants.identity.principal import permission_required

bp = tenant_blueprint("sso", __name__)
api_bp = ApiBlueprint("sso_api", __name__, url_prefix="/t/<slug>/api/v1",
                      description="The scheme's OpenID Connect single sign-on")


def _pending_key() -> str:
    return f"sso_pending:{g.tenant.id}"


def _redirect_uri() -> str:
    return url_for("sso.callback", _external=True)


# ---- signing in ---------------------------------------------------------------------------------------


@bp.get("/login/sso")
@limiter.limit(signin_limit)  # every start counts: each one makes the server fetch the provider's metadata
def start():
    """Send the browser to the scheme's identity provider."""
    try:
        url, pending = sso.begin_sign_in(tenant_session(), redirect_uri=_redirect_uri())
    except sso.SsoFailed as failure:
        return _refused(failure)
    pending["next"] = sessions.safe_next(request.args.get("next"))
    session[_pending_key()] = pending
    return redirect(url)


@bp.get("/login/sso/callback")
@limiter.limit(signin_limit, deduct_when=signin_failed)
def callback():
    """The provider sends the browser back here with a code; sign the user in or say why not."""
    pending = session.pop(_pending_key(), None)
    tsession = tenant_session()
    try:
        user = sso.finish_sign_in(tsession, pending=pending, params=request.args.to_dict(),
                                  redirect_uri=_redirect_uri())
    except sso.SsoFailed as failure:
        return _refused(failure)
    # the provider authenticated the person (with its own second factor, if any): no local TOTP step
    sessions.complete_sign_in(user, method="sso")
    return redirect(sessions.safe_next(pending.get("next")))


def _refused(failure: sso.SsoFailed):
    """Keep the refusal in the audit log and explain it. The failure is committed here because the
    request boundary rolls back every 4xx answer."""
    tsession = tenant_session()
    tsession.rollback()
    sso.record_failure(tsession, failure)
    tsession.commit()
    return render_template("tenant/sso_failed.html", failure=failure), failure.status


# ---- settings page ------------------------------------------------------------------------------------


class SsoSettingsForm(FlaskForm):
    issuer = StringField(_l("Issuer URL"), validators=[Length(max=500)],
                         render_kw={"autocomplete": "off", "spellcheck": "false", "inputmode": "url"},
                         description=_l("The provider's issuer, exactly as its discovery document names it, "
                                        "e.g. https://login.example.org/realms/scheme."))
    client_id = StringField(_l("Client id"), validators=[Length(max=255)],
                            render_kw={"autocomplete": "off", "spellcheck": "false"})
    client_secret = PasswordField(_l("Client secret"), validators=[Optional(), Length(max=2000)],
                                  render_kw={"autocomplete": "new-password"},
                                  description=_l("Leave empty to keep the secret already saved."))
    role_claim = StringField(_l("Role claim"), validators=[Optional(), Length(max=100)],
                             render_kw={"autocomplete": "off", "spellcheck": "false"},
                             description=_l("The ID token claim listing the person's groups or roles, e.g. "
                                            "roles. Leave empty to manage roles in this console."))
    role_map = TextAreaField(_l("Role map"), validators=[Optional(), Length(max=20000)],
                             render_kw={"rows": 6, "spellcheck": "false"},
                             description=_l("One line per claim value: value = role code, e.g. "
                                            "scheme-admins = tenant_admin. At each sign-in the person gets "
                                            "exactly the roles their claim values map to."))
    auto_create = BooleanField(_l("Create an account for people without one"),
                               description=_l("Otherwise only people invited here (same verified e-mail) "
                                              "can sign in with the provider."))
    enabled = BooleanField(_l("Offer single sign-on on the sign-in page"), default=True)


class SsoRemoveForm(FlaskForm):
    """Only a CSRF token: removing the provider is a POST."""


def _parse_role_map(text: str | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        value, sep, code = line.rpartition("=")
        if not sep or not value.strip() or not code.strip():
            raise ValidationError(_("Line %(n)s of the role map is not 'value = role code'.", n=number),
                                  errors={"role_map": [_("Line %(n)s is not 'value = role code'.", n=number)]})
        mapping[value.strip()] = code.strip()
    return mapping


def _format_role_map(mapping: dict[str, str]) -> str:
    return "\n".join(f"{value} = {code}" for value, code in mapping.items())


@bp.route("/settings/sso", methods=["GET", "POST"])
@permission_required("users.manage")
def settings():
    """Configure the scheme's identity provider."""
    tsession = tenant_session()
    provider = sso.get_provider(tsession)
    form = SsoSettingsForm()
    if request.method == "GET" and provider is not None:
        current = sso.provider_settings(tsession)
        form.issuer.data, form.client_id.data = current.issuer, current.client_id
        form.role_claim.data, form.role_map.data = current.role_claim, _format_role_map(current.role_map)
        form.auto_create.data, form.enabled.data = current.auto_create, current.enabled
    status = 200
    if form.validate_on_submit():
        try:
            sso.configure_provider(tsession, issuer=form.issuer.data or "", client_id=form.client_id.data or "",
                                   client_secret=form.client_secret.data or None,
                                   role_claim=form.role_claim.data or None,
                                   role_map=_parse_role_map(form.role_map.data),
                                   auto_create=bool(form.auto_create.data), enabled=bool(form.enabled.data))
        except ValidationError as err:
            tsession.rollback()
            for field, messages in err.errors.items():
                target = getattr(form, field, None)
                if target is not None:
                    target.errors = list(target.errors) + [str(m) for m in messages]
                else:
                    form.form_errors.append(str(err.detail))
            status = 422
        else:
            flash(_("Single sign-on settings saved."), "success")
            return redirect(url_for(".settings"))
    elif request.method == "POST":
        status = 422
    return render_template("tenant/sso_settings.html", form=form, remove_form=SsoRemoveForm(),
                           configured=provider is not None, redirect_uri=_redirect_uri()), status


@bp.post("/settings/sso/remove")
@permission_required("users.manage")
def remove():
    """Remove the scheme's identity provider."""
    form = SsoRemoveForm()
    if form.validate_on_submit():
        sso.remove_provider(tenant_session())
        flash(_("Single sign-on removed: people sign in with their password again."), "success")
    return redirect(url_for(".settings"))


# ---- API ----------------------------------------------------------------------------------------------


class SsoSettingsSchema(Schema):
    issuer = fields.String(load_default=None)
    client_id = fields.String(load_default=None)
    client_secret = fields.String(load_only=True, load_default=None)
    client_secret_set = fields.Boolean(dump_only=True)
    role_claim = fields.String(load_default=None, allow_none=True)
    role_map = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    auto_create = fields.Boolean(load_default=False)
    enabled = fields.Boolean(load_default=True)
    redirect_uri = fields.String(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


def _with_redirect(settings: sso.ProviderSettings) -> dict:
    return {**settings.__dict__, "redirect_uri": _redirect_uri()}


bind_to_tenant(api_bp)


@api_bp.url_defaults
def _add_slug(endpoint, values):
    if g.get("tenant") is not None:
        values.setdefault("slug", g.tenant.slug)


@api_bp.route("/sso")
class SsoSettings(MethodView):
    @permission_required("users.manage")
    @api_bp.response(200, SsoSettingsSchema)
    def get(self):
        """The scheme's identity provider (never its client secret)."""
        return _with_redirect(sso.provider_settings(tenant_session()))

    @permission_required("users.manage")
    @api_bp.arguments(SsoSettingsSchema)
    @api_bp.response(200, SsoSettingsSchema)
    def put(self, body):
        """Configure the identity provider; an enabled one must answer its discovery document."""
        return _with_redirect(sso.configure_provider(tenant_session(), **body))

    @permission_required("users.manage")
    @api_bp.response(204)
    def delete(self):
        """Remove the identity provider."""
        sso.remove_provider(tenant_session())


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    api.register_blueprint(api_bp)
    add_nav("sso.settings", _l("Single sign-on"), permission="users.manage", order=70)
    app.jinja_env.globals.setdefault("sso_sign_in_link", sso_sign_in_link)


def sso_sign_in_link(next_url: str | None = None) -> dict[str, str] | None:
    """For the sign-in page: ``{"url", "label"}`` of its "Sign in with <provider>" link, or None when
    the scheme offers no single sign-on (also a template global)."""
    if g.get("tenant") is None:
        return None
    name = sso.provider_name(tenant_session())
    if name is None:
        return None
    args = {"next": next_url} if next_url else {}
    return {"url": url_for("sso.start", **args), "label": _("Sign in with %(provider)s", provider=name)}
