"""Operator support access: opened from the operator console with a reason, read-only inside the
tenant, bound to its tenant, ended or expired, and audited in the control plane and in the tenant."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from schemehost.platform.errors import Forbidden
from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator, OperatorAudit, SupportAccess
from schemehost.platform.tenants.models import Tenant
from schemehost.tenants.identity import support
from schemehost.tenants.identity.models import AuditEntry, SupportSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _console_support import csrf_from, form_post, make_operator, own_address, sign_in  # noqa: E402

REASON = "Ticket 4521: enrolment list shows duplicates"


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()


def console(app, role="platform_admin"):
    """A test client signed in to the operator console, and the operator's e-mail."""
    email = make_operator(app, role=role)
    client = app.test_client()
    resp = sign_in(client, email)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client, email


def open_form(client, tenant, reason=REASON, minutes="30"):
    return form_post(client, f"/console/tenants/{tenant.slug}/support", {"reason": reason, "minutes": minutes})


def tenant_audit(tenant, action):
    with tenant.session() as s:
        return s.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).scalars().all()


def operator_audit(app, action, tenant_id):
    with app.app_context():
        rows = db.session.execute(select(OperatorAudit).where(
            OperatorAudit.action == action, OperatorAudit.tenant_id == tenant_id).order_by(OperatorAudit.id)
        ).scalars().all()
        db.session.expunge_all()
        db.session.rollback()
        return rows


def cookie_value(client, name):
    cookie = next((c for c in client._cookies.values() if c.key == name), None)
    return None if cookie is None else cookie.value


def in_support(client, tenant) -> bool:
    """Whether the client gets the tenant's audit page (support sessions may read it)."""
    resp = client.get(f"/t/{tenant.slug}/audit")
    assert resp.status_code in (200, 302), resp.status_code
    return resp.status_code == 200


def sign_in_tenant_user(client, tenant, email, password):
    own_address(client)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def open_by_service(app, tenant, email, *, minutes=30, reason=REASON):
    with app.app_context():
        row = db.session.get(Tenant, tenant.id)
        op = db.session.execute(select(Operator).where(Operator.email == email)).scalar_one()
        tsession = support.open_tenant_session_for(db.session, row)
        access = support.open_support_session(db.session, tsession, row, op, reason=reason, minutes=minutes)
        tsession.commit()
        tsession.close()
        db.session.commit()
        return access.id


def support_client(app, tenant, access_id, *, cookie_tenant=None):
    """A browser holding the support cookie of ``access_id`` (signed for ``cookie_tenant``, default the tenant)."""
    target = cookie_tenant or tenant
    client = app.test_client()
    with app.app_context():
        value = support._serializer(target.id).dumps(access_id)
    client.set_cookie(support.cookie_name(target.id), value, path=f"/t/{target.slug}/")
    return client


# ---- opening -----------------------------------------------------------------------------------------------

def test_operator_opens_a_support_session_and_reads_the_tenant_read_only(app, tenant):
    client, email = console(app)
    detail = client.get(f"/console/tenants/{tenant.slug}").get_data(as_text=True)
    assert f'href="/console/tenants/{tenant.slug}/support"' in detail

    resp = open_form(client, tenant, reason=REASON, minutes="45")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/t/{tenant.slug}/"
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith(f"sh_support_{tenant.id}="))
    assert f"Path=/t/{tenant.slug}/" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Domain" not in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
    assert 44 * 60 <= max_age <= 45 * 60

    home = client.get(f"/t/{tenant.slug}/")
    html = home.get_data(as_text=True)
    assert home.status_code == 200 and 'id="support-banner"' in html
    assert f"Support session by {email}" in html and REASON in html and "End support session" in html
    # the session ends from its banner; no "Sign out" that would only drop a tenant user's session
    assert "tenant_auth" not in html and f'action="/t/{tenant.slug}/logout"' not in html

    audit_page = client.get(f"/t/{tenant.slug}/audit").get_data(as_text=True)
    assert "support_open" in audit_page
    assert client.get(f"/t/{tenant.slug}/users").status_code == 403  # read-only: no user management
    # a console principal only: the tenant API never takes the cookie
    assert client.get(f"/t/{tenant.slug}/api/v1/audit").status_code == 401
    assert client.put(f"/t/{tenant.slug}/api/v1/settings/display_name", json={"value": "x"}).status_code == 401

    with app.app_context():
        access = db.session.execute(select(SupportAccess).where(SupportAccess.tenant_id == tenant.id)).scalar_one()
        assert access.reason == REASON and access.ended_at is None
        assert timedelta(minutes=44) < access.expires_at - access.started_at <= timedelta(minutes=45)
        db.session.expunge_all()
        db.session.rollback()
    with tenant.session() as s:
        (row,) = s.execute(select(SupportSession)).scalars().all()
    assert (row.control_id, row.operator_email, row.reason) == (access.id, email, REASON)

    (opened,) = tenant_audit(tenant, "support_open")
    assert (opened.actor_type, opened.actor_id, opened.entity_id) == ("operator", email, str(row.id))
    assert opened.after["reason"] == REASON and opened.ip
    (control,) = operator_audit(app, "support.open", tenant.id)
    assert control.actor == email and control.target_id == str(access.id)
    assert control.details["reason"] == REASON and control.details["minutes"] == 45 and control.request_id


@pytest.mark.parametrize("reason, minutes, field, message", [
    ("", "30", "reason", "State the reason in at least 10 characters."),
    ("too short", "30", "reason", "State the reason in at least 10 characters."),
    (REASON, "121", "minutes", "A support session lasts 1 to 120 minutes."),
    (REASON, "0", "minutes", "A support session lasts 1 to 120 minutes."),
    (REASON, "half an hour", "minutes", "A support session lasts 1 to 120 minutes."),
])
def test_a_reason_and_a_bounded_duration_are_required(app, tenant, reason, minutes, field, message):
    client, _email = console(app)
    resp = open_form(client, tenant, reason=reason, minutes=minutes)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert not any(h.startswith("sh_support_") for h in resp.headers.getlist("Set-Cookie"))
    with tenant.session() as s:
        assert s.execute(select(SupportSession)).first() is None
    assert operator_audit(app, "support.open", tenant.id) == []


def partner_of(app, tenant) -> str:
    with app.app_context():
        slug = db.session.get(Tenant, tenant.id).partner.slug
        db.session.rollback()
        return slug


def test_support_and_own_partner_staff_may_open_other_partner_staff_may_not(app, tenant, partner):
    client, _email = console(app, role="support")
    assert open_form(client, tenant).status_code == 302

    outsider = app.test_client()
    assert sign_in(outsider, make_operator(app, role="partner_staff", partner=partner)).status_code == 302
    assert outsider.get(f"/console/tenants/{tenant.slug}/support").status_code == 404  # like an unknown tenant

    staff = app.test_client()
    assert sign_in(staff, make_operator(app, role="partner_staff", partner=partner_of(app, tenant))).status_code == 302
    assert open_form(staff, tenant).status_code == 302


def test_the_service_refuses_roles_and_tenants_that_do_not_qualify(app, tenant, partner):
    email = make_operator(app, role="partner_staff", partner=partner)
    with pytest.raises(Forbidden):
        open_by_service(app, tenant, email)
    admin = make_operator(app)
    with app.app_context():
        db.session.execute(update(Tenant).where(Tenant.id == tenant.id).values(status="suspended"))
        db.session.commit()
    from schemehost.platform.errors import Conflict

    with pytest.raises(Conflict):
        open_by_service(app, tenant, admin)


def test_opening_again_supersedes_the_open_session(app, tenant):
    email = make_operator(app)
    first = open_by_service(app, tenant, email)
    second = open_by_service(app, tenant, email)
    assert not in_support(support_client(app, tenant, first), tenant)
    assert in_support(support_client(app, tenant, second), tenant)
    (ended,) = tenant_audit(tenant, "support_end")
    assert ended.details == {"how": "superseded", "operator": email}


# ---- bound to its tenant, its time and its operator ------------------------------------------------------------

def test_a_support_cookie_of_tenant_a_is_refused_at_tenant_b(app, tenant, make_tenant):
    other = make_tenant()
    access_id = open_by_service(app, tenant, make_operator(app))
    assert in_support(support_client(app, tenant, access_id), tenant)

    client = app.test_client()
    with app.app_context():
        value = support._serializer(tenant.id).dumps(access_id)
    # the same cookie carried to tenant B, under B's name and path: its salt is A's
    client.set_cookie(support.cookie_name(other.id), value, path=f"/t/{other.slug}/")
    client.set_cookie(support.cookie_name(tenant.id), value, path=f"/t/{other.slug}/")
    assert not in_support(client, other)
    # even correctly signed for B, A's support access opens nothing at B
    assert not in_support(support_client(app, tenant, access_id, cookie_tenant=other), other)
    # and a forged value at A itself is nothing
    forged = app.test_client()
    forged.set_cookie(support.cookie_name(tenant.id), value + "x", path=f"/t/{tenant.slug}/")
    assert not in_support(forged, tenant)


def test_an_expired_session_is_refused_and_its_expiry_audited_in_both_logs(app, tenant):
    email = make_operator(app)
    access_id = open_by_service(app, tenant, email, minutes=5)
    client = support_client(app, tenant, access_id)
    assert in_support(client, tenant)
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    with app.app_context():
        db.session.execute(update(SupportAccess).where(SupportAccess.id == access_id).values(expires_at=past))
        db.session.commit()
    assert not in_support(client, tenant)

    with app.app_context():
        assert support.expire_support_sessions() >= 1
        assert db.session.get(SupportAccess, access_id).ended_at == past
        assert support.expire_support_sessions() == 0
        db.session.rollback()
    with tenant.session() as s:
        assert s.execute(select(SupportSession.ended_at)).scalar_one() is not None
    (expired,) = tenant_audit(tenant, "support_expire")
    assert expired.actor_type == "system" and expired.details == {"how": "expired", "operator": email}
    (control,) = operator_audit(app, "support.expire", tenant.id)
    assert control.actor == "system" and control.target_id == str(access_id)


def test_a_deactivated_operator_loses_the_session(app, tenant):
    email = make_operator(app)
    client = support_client(app, tenant, open_by_service(app, tenant, email))
    assert in_support(client, tenant)
    with app.app_context():
        db.session.execute(update(Operator).where(Operator.email == email).values(is_active=False))
        db.session.commit()
    assert not in_support(client, tenant)


# ---- ending ------------------------------------------------------------------------------------------------------

def test_ending_from_the_banner_closes_it_everywhere(app, tenant):
    client, email = console(app)
    assert open_form(client, tenant).status_code == 302
    old_cookie = cookie_value(client, support.cookie_name(tenant.id))
    home = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    resp = client.post(f"/t/{tenant.slug}/support/end", data={"csrf_token": csrf_from(home)})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/console/tenants/{tenant.slug}"
    assert cookie_value(client, support.cookie_name(tenant.id)) is None  # the browser forgot it
    console_page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "End support session" not in console_page  # the session is listed as ended

    replay = app.test_client()
    replay.set_cookie(support.cookie_name(tenant.id), old_cookie, path=f"/t/{tenant.slug}/")
    assert not in_support(replay, tenant)
    (ended,) = tenant_audit(tenant, "support_end")
    assert ended.actor_id == email and ended.details["how"] == "ended"
    assert ended.after["ended_at"] and ended.before == {"ended_at": None}
    (control,) = operator_audit(app, "support.end", tenant.id)
    assert control.actor == email
    with tenant.session() as s:
        assert s.execute(select(SupportSession.ended_at)).scalar_one() is not None


def test_ending_from_the_operator_console_and_only_by_its_operator_or_an_admin(app, tenant):
    owner_client, owner = console(app, role="support")
    assert open_form(owner_client, tenant).status_code == 302
    with app.app_context():
        access_id = db.session.execute(select(SupportAccess.id).where(SupportAccess.tenant_id == tenant.id)).scalar_one()
        db.session.rollback()
    detail = f"/console/tenants/{tenant.slug}"
    assert f"/console/support/{access_id}/end" in owner_client.get(detail).get_data(as_text=True)

    other, _email = console(app, role="support")
    page = other.get(detail).get_data(as_text=True)
    assert f"/console/support/{access_id}/end" not in page
    assert other.post(f"/console/support/{access_id}/end", data={"csrf_token": csrf_from(page)}).status_code == 403

    page = owner_client.get(detail).get_data(as_text=True)
    resp = owner_client.post(f"/console/support/{access_id}/end", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    assert cookie_value(owner_client, support.cookie_name(tenant.id)) is None
    assert not in_support(owner_client, tenant)
    again = owner_client.post(f"/console/support/{access_id}/end", data={"csrf_token": csrf_from(page)})
    assert again.status_code == 409
    assert [r.actor for r in operator_audit(app, "support.end", tenant.id)] == [owner]


# ---- what the tenant's admins see --------------------------------------------------------------------------------

def test_tenant_admins_see_the_support_sessions(app, client, client_token, tenant):
    email = make_operator(app)
    open_by_service(app, tenant, email)
    path = f"/t/{tenant.slug}/api/v1/support-sessions"
    assert client.get(path).status_code == 401
    for scopes in (("audit.read",), ("users.manage",)):
        resp = client.get(path, headers={"Authorization": f"Bearer {client_token(tenant, scopes=scopes)}"})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        (row,) = resp.json
        assert row["operator_email"] == email and row["reason"] == REASON and row["active"] is True
        assert row["ended_at"] is None and row["expires_at"] > row["started_at"]
    forbidden = client.get(path, headers={"Authorization": f"Bearer {client_token(tenant, scopes=('settings.manage',))}"})
    assert forbidden.status_code == 403


def test_the_support_sessions_page_lists_them(app, tenant, tenant_user):
    email = make_operator(app)
    open_by_service(app, tenant, email)
    browser = app.test_client()
    _uid, user_email, password = tenant_user(tenant, roles=("auditor",))
    sign_in_tenant_user(browser, tenant, user_email, password)
    page = browser.get(f"/t/{tenant.slug}/support-sessions")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert email in html and REASON in html and "active" in html

    officer = app.test_client()
    _uid, officer_email, password = tenant_user(tenant, roles=("enrolment_officer",))
    sign_in_tenant_user(officer, tenant, officer_email, password)
    assert officer.get(f"/t/{tenant.slug}/support-sessions").status_code == 403
