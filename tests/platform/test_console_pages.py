"""Console tenant pages through the Flask test client: list, create form, detail, actions."""

from __future__ import annotations

import json
import re

import pytest
from _console_support import csrf_from, form_post, make_operator, sign_in

HTML = {"Accept": "text/html"}


@pytest.fixture
def admin(app, client):
    """The test client signed in as a platform admin."""
    sign_in(client, make_operator(app))
    return client


@pytest.fixture
def active_tenant(runner, partner, unique):
    """An active tenant made with the CLI (which waits for the build)."""
    slug = unique("con-")
    result = runner("tenants", "create", slug, "--name", f"Scheme {slug}", "--partner", partner,
                    "--template", "blank", "--json")
    assert result.exit_code == 0, result.output
    return slug


def _tenants(runner) -> dict[str, dict]:
    return {t["slug"]: t for t in json.loads(runner("tenants", "list", "--json").output)}


def _field_errors(html: str) -> list[str]:
    return [m.replace("&#39;", "'") for m in re.findall(r'class="field-error"[^>]*>([^<]+)<', html)]


def test_create_form_lists_partners_and_templates(admin, partner):
    html = admin.get("/console/tenants/new").get_data(as_text=True)
    assert f'value="{partner}"' in html
    for name in ("blank", "health-insurance", "maternal-voucher", "employment-injury", "cash-transfer"):
        assert f'value="{name}"' in html
    assert 'name="demo_data"' in html


def test_create_form_shows_errors_next_to_fields_and_changes_nothing(admin, runner, partner):
    resp = form_post(admin, "/console/tenants/new",
                     {"slug": "Bad_Slug", "name": "", "partner": partner, "template": "blank"})
    assert resp.status_code == 422
    errors = _field_errors(resp.get_data(as_text=True))
    assert any("starts with a lowercase letter" in e for e in errors)
    assert "Give the scheme a name." in errors
    assert "Bad_Slug" not in _tenants(runner)
    reserved = form_post(admin, "/console/tenants/new",
                         {"slug": "admin", "name": "X", "partner": partner, "template": "blank"})
    assert "'admin' is reserved; choose another slug." in _field_errors(reserved.get_data(as_text=True))
    unknown = form_post(admin, "/console/tenants/new",
                        {"slug": "fine-slug", "name": "X", "partner": "no-such-partner", "template": "nope"})
    assert unknown.status_code == 422
    assert len(_field_errors(unknown.get_data(as_text=True))) == 2
    assert "fine-slug" not in _tenants(runner)


def test_create_form_errors_in_french(admin, partner):
    admin.get("/console/tenants/?lang=fr")
    resp = form_post(admin, "/console/tenants/new", {"slug": "ab", "name": "", "partner": "", "template": "blank"})
    errors = _field_errors(resp.get_data(as_text=True))
    assert "Un identifiant comporte de 3 à 40 caractères." in errors
    assert "Donnez un nom au régime." in errors
    assert "Choisissez le partenaire qui héberge le régime." in errors
    assert "<h1>Nouveau locataire</h1>" in resp.get_data(as_text=True)


def test_create_form_taken_slug(admin, active_tenant, partner):
    resp = form_post(admin, "/console/tenants/new",
                     {"slug": active_tenant, "name": "Again", "partner": partner, "template": "blank"})
    assert resp.status_code == 409
    assert "This slug is already taken; choose another one." in _field_errors(resp.get_data(as_text=True))


def test_create_from_the_form_queues_a_build_and_shows_it(admin, runner, partner, unique):
    slug = unique("form-")
    resp = form_post(admin, "/console/tenants/new",
                     {"slug": slug, "name": "From the form", "partner": partner, "template": "health-insurance",
                      "demo_data": "y"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == f"/console/tenants/{slug}"
    tenant = _tenants(runner)[slug]
    assert tenant["template"] == "health-insurance" and tenant["name"] == "From the form"
    detail = admin.get(resp.headers["Location"]).get_data(as_text=True)
    assert f"Tenant {slug} is" in detail  # the flash message
    assert 'data-kind="provisioning_started"' in detail
    assert "tenant.build" in detail
    assert '<meta http-equiv="refresh"' in detail  # follows the build without scripts
    assert "operator:op-" in detail  # the actor is the signed-in operator


def test_list_shows_status_template_and_filters(admin, active_tenant, partner):
    html = admin.get("/console/tenants/").get_data(as_text=True)
    row = re.search(rf'<tr data-slug="{active_tenant}">(.*?)</tr>', html, re.S).group(1)
    assert 'badge-active">active<' in row
    assert "blank" in row and "v1" in row
    assert re.search(r"<code>[0-9a-z_]+</code>", row)  # the schema version
    only_archived = admin.get("/console/tenants/?status=archived").get_data(as_text=True)
    assert f'data-slug="{active_tenant}"' not in only_archived
    by_partner = admin.get(f"/console/tenants/?partner={partner}").get_data(as_text=True)
    assert f'data-slug="{active_tenant}"' in by_partner
    french = admin.get("/console/tenants/?lang=fr").get_data(as_text=True)
    assert 'badge-active">actif<' in french


def test_detail_of_unknown_tenant_is_404(admin):
    resp = admin.get("/console/tenants/no-such-tenant", headers=HTML)
    assert resp.status_code == 404
    assert "No tenant" in resp.get_data(as_text=True)


def test_lifecycle_actions_ask_for_confirmation_then_act(admin, runner, active_tenant):
    detail = admin.get(f"/console/tenants/{active_tenant}").get_data(as_text=True)
    assert f"/console/tenants/{active_tenant}/suspend" in detail
    assert f"/console/tenants/{active_tenant}/delete" not in detail  # only archived tenants offer delete

    confirm = admin.get(f"/console/tenants/{active_tenant}/suspend")
    assert confirm.status_code == 200
    assert "Suspend this tenant?" in confirm.get_data(as_text=True)
    assert _tenants(runner)[active_tenant]["status"] == "active"  # a GET changes nothing

    done = form_post(admin, f"/console/tenants/{active_tenant}/suspend", {"reason": "unpaid invoice"})
    assert done.status_code == 302
    assert _tenants(runner)[active_tenant]["status"] == "suspended"
    detail = admin.get(f"/console/tenants/{active_tenant}").get_data(as_text=True)
    assert "unpaid invoice" in detail and 'data-kind="suspended"' in detail

    again = form_post(admin, f"/console/tenants/{active_tenant}/suspend", {})
    assert again.status_code == 409  # already suspended: explained, not a crash
    assert "This is not possible while the tenant is suspended." in again.get_data(as_text=True)

    assert form_post(admin, f"/console/tenants/{active_tenant}/resume", {}).status_code == 302
    assert _tenants(runner)[active_tenant]["status"] == "active"
    assert form_post(admin, f"/console/tenants/{active_tenant}/archive", {}).status_code == 302
    assert _tenants(runner)[active_tenant]["status"] == "archived"

    wrong = form_post(admin, f"/console/tenants/{active_tenant}/delete", {"confirm_slug": "other", "force": "y"})
    assert wrong.status_code == 422
    assert f"Type {active_tenant} exactly to confirm." in _field_errors(wrong.get_data(as_text=True))
    early = form_post(admin, f"/console/tenants/{active_tenant}/delete", {"confirm_slug": active_tenant})
    assert early.status_code == 409  # grace period
    assert "when its grace period ends" in early.get_data(as_text=True)
    admin.get(f"/console/tenants/{active_tenant}?lang=fr")
    early_fr = form_post(admin, f"/console/tenants/{active_tenant}/delete", {"confirm_slug": active_tenant})
    assert "à la fin de son délai de grâce" in early_fr.get_data(as_text=True)
    admin.get(f"/console/tenants/{active_tenant}?lang=en")
    assert active_tenant in _tenants(runner)

    gone = form_post(admin, f"/console/tenants/{active_tenant}/delete", {"confirm_slug": active_tenant, "force": "y"})
    assert gone.status_code == 302 and gone.headers["Location"] == "/console/tenants/"
    assert active_tenant not in _tenants(runner)


def test_actions_need_csrf_and_a_managing_role(app, client, runner, active_tenant):
    sign_in(client, make_operator(app))
    refused = client.post(f"/console/tenants/{active_tenant}/suspend", data={}, headers=HTML)
    assert refused.status_code == 400
    assert _tenants(runner)[active_tenant]["status"] == "active"

    support = app.test_client()
    sign_in(support, make_operator(app, role="support"))
    page = support.get(f"/console/tenants/{active_tenant}").get_data(as_text=True)
    assert f"/console/tenants/{active_tenant}/suspend" not in page
    token = csrf_from(page)
    denied = support.post(f"/console/tenants/{active_tenant}/suspend", data={"csrf_token": token}, headers=HTML)
    assert denied.status_code == 403
    assert _tenants(runner)[active_tenant]["status"] == "active"


def test_partner_staff_cannot_force_a_delete(app, runner, active_tenant, partner):
    staff = app.test_client()
    sign_in(staff, make_operator(app, role="partner_staff", partner=partner))
    assert form_post(staff, f"/console/tenants/{active_tenant}/archive", {}).status_code == 302
    page = staff.get(f"/console/tenants/{active_tenant}/delete").get_data(as_text=True)
    assert 'name="force"' not in page
    forced = form_post(staff, f"/console/tenants/{active_tenant}/delete",
                       {"confirm_slug": active_tenant, "force": "y"}, headers=HTML)
    assert forced.status_code == 403
    assert active_tenant in _tenants(runner)


def test_unknown_action_is_404(admin, active_tenant):
    assert admin.get(f"/console/tenants/{active_tenant}/explode", headers=HTML).status_code == 404


def test_list_is_paged(admin, runner, partner, unique, monkeypatch):
    from schemehost.platform.tenants import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    slugs = []
    for _ in range(2):
        slug = unique("page-")
        assert runner("tenants", "create", slug, "--name", slug, "--partner", partner).exit_code == 0
        slugs.append(slug)
    first = admin.get(f"/console/tenants/?partner={partner}").get_data(as_text=True)
    assert "page 1 of 2" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = admin.get(f"/console/tenants/?partner={partner}&page=2").get_data(as_text=True)
    assert "page 2 of 2" in second and 'rel="prev"' in second
    shown = [s for s in slugs if f'data-slug="{s}"' in first] + [s for s in slugs if f'data-slug="{s}"' in second]
    assert sorted(shown) == sorted(slugs)
    assert "page 2 of 2" in admin.get(f"/console/tenants/?partner={partner}&page=99").get_data(as_text=True)
