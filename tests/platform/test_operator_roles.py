"""Operator roles on the control API, the console and the CLI: platform admin, partner staff, support."""

from __future__ import annotations

import json

import pytest
from _console_support import PASSWORD, csrf_from, form_post, make_operator, sign_in

from schemehost.platform.extensions import db

PROBLEM = "application/problem+json"
HTML = {"Accept": "text/html"}


@pytest.fixture
def partners(runner, unique):
    """Two partners, each hosting one active tenant: ``{"own": (partner, tenant), "other": (...)}``."""
    made = {}
    for key in ("own", "other"):
        partner = unique("p")
        assert runner("partners", "create", partner, "--name", f"Partner {partner}").exit_code == 0
        slug = unique(f"{key}-")
        result = runner("tenants", "create", slug, "--name", f"Scheme {slug}", "--partner", partner)
        assert result.exit_code == 0, result.output
        made[key] = (partner, slug)
    return made


@pytest.fixture
def bearer(app, unique):
    """Factory: an operator of ``role`` (and ``partner``) and headers with its API token."""
    from schemehost.platform.operators.services import create_operator, issue_token

    def make(role, partner=None):
        with app.app_context():
            op = create_operator(db.session, f"{unique('op')}@example.org", password=PASSWORD, role=role,
                                 partner=partner)
            token = issue_token(db.session, op, "tests")
            db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


def _status(client, headers, slug):
    return client.get(f"/api/v1/tenants/{slug}", headers=headers).json["status"]


# ---- control API ---------------------------------------------------------------------------------


def test_partner_staff_see_only_their_partners_tenants(client, partners, bearer):
    own_partner, own = partners["own"]
    _other_partner, other = partners["other"]
    staff = bearer("partner_staff", own_partner)

    listed = {t["slug"] for t in client.get("/api/v1/tenants", headers=staff).json}
    assert own in listed and other not in listed
    assert client.get(f"/api/v1/tenants?partner={partners['other'][0]}", headers=staff).json == []
    assert client.get(f"/api/v1/tenants/{own}", headers=staff).status_code == 200
    assert client.get(f"/api/v1/tenants/{own}/events", headers=staff).status_code == 200

    hidden = client.get(f"/api/v1/tenants/{other}", headers=staff)
    unknown = client.get("/api/v1/tenants/no-such-tenant", headers=staff)
    assert hidden.status_code == unknown.status_code == 404 and hidden.mimetype == PROBLEM
    # the same answer as for a tenant that does not exist: nothing tells that it does
    assert hidden.json["detail"].replace(other, "X") == unknown.json["detail"].replace("no-such-tenant", "X")
    assert client.get(f"/api/v1/tenants/{other}/events", headers=staff).status_code == 404
    assert [p["slug"] for p in client.get("/api/v1/partners", headers=staff).json] == [own_partner]


def test_partner_staff_manage_their_tenants_and_not_others(client, partners, bearer, api):
    own_partner, own = partners["own"]
    _other_partner, other = partners["other"]
    staff = bearer("partner_staff", own_partner)

    for action, status in (("suspend", "suspended"), ("resume", "active"), ("archive", "archived")):
        resp = client.post(f"/api/v1/tenants/{own}/{action}", json={"reason": "test"}, headers=staff)
        assert resp.status_code == 200, resp.json
        assert resp.json["status"] == status
    # deletion reaches the lifecycle rule (grace period), not a permission refusal
    early = client.delete(f"/api/v1/tenants/{own}", headers=staff)
    assert early.status_code == 409

    for method, path in (("post", f"/api/v1/tenants/{other}/suspend"), ("post", f"/api/v1/tenants/{other}/archive"),
                         ("post", f"/api/v1/tenants/{other}/retry"), ("delete", f"/api/v1/tenants/{other}")):
        resp = getattr(client, method)(path, json={}, headers=staff)
        assert resp.status_code == 404, (path, resp.json)
    assert api.get(f"/api/v1/tenants/{other}").json["status"] == "active"


def test_partner_staff_create_tenants_only_for_their_partner(client, partners, bearer, unique, api):
    own_partner, _own = partners["own"]
    other_partner, _other = partners["other"]
    staff = bearer("partner_staff", own_partner)

    slug = unique("mine-")
    made = client.post("/api/v1/tenants", json={"slug": slug, "name": "Mine", "partner": own_partner},
                       headers=staff)
    assert made.status_code in (201, 202), made.json
    assert made.json["partner"] == own_partner

    theirs = unique("theirs-")
    refused = client.post("/api/v1/tenants", json={"slug": theirs, "name": "Theirs", "partner": other_partner},
                          headers=staff)
    assert refused.status_code == 403 and refused.mimetype == PROBLEM
    assert "partner" in refused.json["errors"]
    assert api.get(f"/api/v1/tenants/{theirs}").status_code == 404

    partner = client.post("/api/v1/partners", json={"slug": unique("np"), "name": "New"}, headers=staff)
    assert partner.status_code == 403


def test_support_reads_everything_and_changes_nothing(client, partners, bearer, unique, api):
    own_partner, own = partners["own"]
    _other_partner, other = partners["other"]
    support = bearer("support")

    listed = {t["slug"] for t in client.get("/api/v1/tenants", headers=support).json}
    assert {own, other} <= listed
    assert client.get(f"/api/v1/tenants/{other}", headers=support).status_code == 200
    assert client.get(f"/api/v1/tenants/{other}/events", headers=support).status_code == 200
    assert len(client.get("/api/v1/partners", headers=support).json) >= 2

    attempts = [
        ("post", "/api/v1/tenants", {"slug": unique("sup-"), "name": "S", "partner": own_partner}),
        ("post", f"/api/v1/tenants/{own}/suspend", {}),
        ("post", f"/api/v1/tenants/{own}/read-only", {}),
        ("post", f"/api/v1/tenants/{own}/archive", {}),
        ("post", f"/api/v1/tenants/{own}/retry", {}),
        ("delete", f"/api/v1/tenants/{own}", None),
        ("post", "/api/v1/partners", {"slug": unique("sp"), "name": "S"}),
    ]
    for method, path, body in attempts:
        resp = getattr(client, method)(path, json=body, headers=support)
        assert resp.status_code == 403 and resp.mimetype == PROBLEM, (path, resp.status_code)
    assert api.get(f"/api/v1/tenants/{own}").json["status"] == "active"


def test_platform_admin_sees_and_manages_every_partner(client, partners, bearer, unique):
    admin = bearer("platform_admin")
    for partner, slug in partners.values():
        listed = [t["slug"] for t in client.get(f"/api/v1/tenants?partner={partner}", headers=admin).json]
        assert listed == [slug]
    resp = client.post(f"/api/v1/tenants/{partners['other'][1]}/suspend", json={}, headers=admin)
    assert resp.status_code == 200
    assert client.post("/api/v1/partners", json={"slug": unique("ap"), "name": "A"}, headers=admin).status_code == 201


def test_tenant_list_is_paged_by_slug_within_the_operators_scope(client, runner, partners, bearer, unique):
    own_partner, first = partners["own"]
    made = [first]
    for _ in range(2):
        slug = unique("own-")
        assert runner("tenants", "create", slug, "--name", "S", "--partner", own_partner).exit_code == 0
        made.append(slug)
    staff = bearer("partner_staff", own_partner)

    page1 = client.get("/api/v1/tenants?limit=2", headers=staff)
    assert [t["slug"] for t in page1.json] == sorted(made)[:2]
    link = page1.headers["Link"]
    assert link.endswith('; rel="next"') and f"after={sorted(made)[1]}" in link
    page2 = client.get(link[1:link.index(">")], headers=staff)
    assert [t["slug"] for t in page2.json] == sorted(made)[2:]
    assert "Link" not in page2.headers  # a short page is the last one

    bad = client.get("/api/v1/tenants?limit=0", headers=staff)
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    assert "limit" in json.dumps(bad.json)


def test_operator_roles_and_partners_are_checked_together(app, partners, unique):
    from schemehost.platform.errors import ValidationError
    from schemehost.platform.operators.services import create_operator

    with app.app_context():
        for role, partner, field_error in (("partner_staff", None, "need a partner"),
                                          ("support", partners["own"][0], "Only partner staff"),
                                          ("platform_admin", partners["own"][0], "Only partner staff"),
                                          ("partner_staff", "no-such-partner", "unknown partner")):
            with pytest.raises(ValidationError) as err:
                create_operator(db.session, f"{unique('op')}@example.org", password=PASSWORD, role=role,
                                partner=partner)
            assert field_error in err.value.errors["partner"][0]
            db.session.rollback()


# ---- CLI -------------------------------------------------------------------------------------------


def test_cli_creates_partner_staff_for_a_partner(runner, partners, unique, client):
    own_partner, own = partners["own"]
    email = f"{unique('staff')}@example.org"
    result = runner("operators", "create", email, "--role", "partner_staff", "--partner", own_partner,
                    "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    token = runner("operators", "token", email).output.splitlines()[0]
    headers = {"Authorization": f"Bearer {token}"}
    assert {t["slug"] for t in client.get("/api/v1/tenants", headers=headers).json} == {own}


@pytest.mark.parametrize("role,partner,expected", [
    ("partner_staff", None, "need a partner"),
    ("support", "OWN", "Only partner staff"),
    ("platform_admin", "OWN", "Only partner staff"),
    ("partner_staff", "no-such-partner", "unknown partner"),
])
def test_cli_refuses_a_wrong_partner_before_asking_the_password(runner, partners, unique, role, partner, expected):
    email = f"{unique('bad')}@example.org"
    args = ["operators", "create", email, "--role", role]
    if partner:
        args += ["--partner", partners["own"][0] if partner == "OWN" else partner]
    result = runner(*args, input="")  # no password given: the partner is refused first
    assert result.exit_code != 0
    assert expected in result.output
    listed = json.loads(runner("operators", "list", "--json").output)
    assert email not in {o["email"] for o in listed}


# ---- console -------------------------------------------------------------------------------------


def _console(app, role, partner=None):
    client = app.test_client()
    sign_in(client, make_operator(app, role=role, partner=partner))
    return client


def test_console_partner_staff_see_and_act_on_their_tenants_only(app, partners, api):
    own_partner, own = partners["own"]
    other_partner, other = partners["other"]
    staff = _console(app, "partner_staff", own_partner)

    listing = staff.get("/console/tenants/").get_data(as_text=True)
    assert f'data-slug="{own}"' in listing and f'data-slug="{other}"' not in listing
    assert other_partner not in listing  # nor the other partner in the filter
    assert staff.get(f"/console/tenants/{own}").status_code == 200
    assert staff.get(f"/console/tenants/{other}", headers=HTML).status_code == 404
    assert staff.get(f"/console/tenants/{other}/suspend", headers=HTML).status_code == 404

    form = staff.get("/console/tenants/new").get_data(as_text=True)
    assert f'value="{own_partner}"' in form and f'value="{other_partner}"' not in form

    done = form_post(staff, f"/console/tenants/{own}/suspend", {"reason": "test"})
    assert done.status_code == 302
    assert api.get(f"/api/v1/tenants/{own}").json["status"] == "suspended"
    page = staff.get(f"/console/tenants/{own}/suspend").get_data(as_text=True)
    refused = staff.post(f"/console/tenants/{other}/suspend", data={"csrf_token": csrf_from(page)}, headers=HTML)
    assert refused.status_code == 404
    assert api.get(f"/api/v1/tenants/{other}").json["status"] == "active"


def test_console_support_reads_but_every_change_is_403(app, partners, api):
    _own_partner, own = partners["own"]
    support = _console(app, "support")
    assert support.get(f"/console/tenants/{own}").status_code == 200
    listing = support.get("/console/tenants/").get_data(as_text=True)
    assert f'data-slug="{partners["other"][1]}"' in listing
    token = csrf_from(support.get(f"/console/tenants/{own}").get_data(as_text=True))
    for action in ("suspend", "archive", "delete"):
        resp = support.post(f"/console/tenants/{own}/{action}", data={"csrf_token": token, "confirm_slug": own},
                            headers=HTML)
        assert resp.status_code == 403, action
    assert support.get("/console/tenants/new", headers=HTML).status_code == 403
    assert api.get(f"/api/v1/tenants/{own}").json["status"] == "active"
