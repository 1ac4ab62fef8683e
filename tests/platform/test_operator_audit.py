"""The control plane's audit log of operator actions: what is recorded (sign-in, failed sign-in,
sign-out, accounts and tokens, every tenant lifecycle action), who may read it, and how."""

from __future__ import annotations

import json
import re
import shutil

from _console_support import PASSWORD, csrf_from, make_operator, own_address, sign_in
from sqlalchemy import select

from schemehost.platform.extensions import db
from schemehost.platform.operators.models import Operator, OperatorAudit


def rows(app, **where):
    with app.app_context():
        stmt = select(OperatorAudit).order_by(OperatorAudit.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(OperatorAudit, k) == v)
        found = db.session.execute(stmt).scalars().all()
        db.session.expunge_all()
        db.session.rollback()
        return found


def operator_id(app, email):
    with app.app_context():
        found = db.session.execute(select(Operator.id).where(Operator.email == email)).scalar_one()
        db.session.rollback()
        return found


# ---- sign-in and sign-out ----------------------------------------------------------------------------------

def test_sign_in_failed_sign_in_and_sign_out_are_recorded(app):
    email = make_operator(app)
    op_id = operator_id(app, email)
    client = app.test_client()
    address = own_address(client)

    assert sign_in(client, email, "not the password at all").status_code == 401
    (failed,) = rows(app, action="operator.sign_in_failed", operator_id=op_id)
    assert failed.actor == email and failed.ip == address and failed.request_id

    assert sign_in(client, email).status_code == 302
    (signed_in,) = rows(app, action="operator.sign_in", operator_id=op_id)
    assert signed_in.actor == email and signed_in.ip == address and signed_in.target_id == str(op_id)

    page = client.get("/console/tenants/").get_data(as_text=True)
    assert client.post("/console/sign-out", data={"csrf_token": csrf_from(page)}).status_code == 302
    (signed_out,) = rows(app, action="operator.sign_out", operator_id=op_id)
    assert signed_out.actor == email


def test_a_failed_sign_in_with_an_unknown_address_stores_no_address(app):
    client = app.test_client()
    address = own_address(client)
    typed = "Sup3r-secret-typed-in-the-wrong-field@example.org"
    assert sign_in(client, typed).status_code == 401
    found = [r for r in rows(app, action="operator.sign_in_failed") if r.ip == address]
    assert len(found) == 1
    entry = found[0]
    assert entry.actor == "anonymous" and entry.operator_id is None and entry.details == {"account": "unknown"}
    assert typed.lower() not in json.dumps([entry.actor, entry.details, entry.target_id])


# ---- accounts and tokens ---------------------------------------------------------------------------------------

def test_operator_accounts_passwords_and_tokens_are_recorded(app, runner, unique):
    email = f"{unique('op')}@example.org"
    assert runner("operators", "create", email, "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    op_id = operator_id(app, email)
    assert runner("operators", "token", email, "--name", "deploy").exit_code == 0
    assert runner("operators", "password", email, "--password-stdin", input="another long pass phrase\n").exit_code == 0

    entries = rows(app, target_type="operator", target_id=str(op_id))
    assert [(e.action, e.actor) for e in entries] == [
        ("operator.create", "cli"), ("operator.token_issue", "cli"), ("operator.password", "cli")]
    assert entries[0].details == {"email": email, "role": "platform_admin"}
    assert entries[1].details["name"] == "deploy" and "token" not in json.dumps(entries[1].details).replace(
        "token_id", "")  # never the token itself


# ---- tenant lifecycle ------------------------------------------------------------------------------------------

def test_every_lifecycle_action_is_recorded_with_its_operator(app, api, operator_token, make_tenant):
    tenant = make_tenant()
    (created,) = rows(app, tenant_id=tenant.id, action="tenant.provisioning_started")
    assert created.actor == "cli" and created.target_id == tenant.slug

    for action, body in (("suspend", {"reason": "unpaid invoice 2026-04"}), ("resume", {}), ("read-only", {}),
                         ("archive", {})):
        resp = api.post(f"/api/v1/tenants/{tenant.slug}/{action}", json=body)
        assert resp.status_code == 200, resp.get_data(as_text=True)
    entries = [e for e in rows(app, tenant_id=tenant.id) if e.action.startswith("tenant.")][-4:]
    assert [e.action for e in entries] == ["tenant.suspended", "tenant.resumed", "tenant.read_only", "tenant.archived"]
    with app.app_context():
        email = db.session.execute(select(Operator.email).where(Operator.id == entries[0].operator_id)).scalar_one()
        db.session.rollback()
    assert all(e.actor == email and e.operator_id == entries[0].operator_id and e.request_id for e in entries)
    assert entries[0].details == {"from": "active", "to": "suspended", "reason": "unpaid invoice 2026-04"}

    resp = api.delete(f"/api/v1/tenants/{tenant.slug}", query_string={"force": "true"})
    assert resp.status_code in (200, 204), resp.get_data(as_text=True)
    (deleted,) = rows(app, tenant_id=tenant.id, action="tenant.deleted")
    assert deleted.actor == email and deleted.details == {"from": "archived", "data": {"force": True}}


def test_a_fleet_migration_run_is_recorded_and_the_log_outlives_the_tenant(app, runner, make_tenant, tmp_path):
    from schemehost.provisioning.migrate import head, migrations_dir

    tree = tmp_path / "tenant"
    shutil.copytree(migrations_dir() / "tenant", tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "versions" / "29991231_t9audit01_audit_test.py").write_text(
        f'revision = "t9audit01"\ndown_revision = "{head("tenant")}"\nbranch_labels = None\n'
        "depends_on = None\n\n\ndef upgrade():\n    pass\n\n\ndef downgrade():\n    pass\n")
    tenant = make_tenant()
    result = runner("tenants", "migrate", tenant.slug, "--migrations", str(tree))
    assert result.exit_code == 0, result.output
    (run,) = rows(app, action="tenants.migrate", tenant_id=tenant.id)
    assert run.actor == "cli" and run.details["upgraded"] == 1 and run.details["tenants"] == [tenant.slug]
    assert run.details["head"] == "t9audit01"

    # the tenant goes (it is at a revision only this test knows); its entries stay
    assert runner("tenants", "archive", tenant.slug).exit_code == 0
    assert runner("tenants", "delete", tenant.slug, "--force", "--yes").exit_code == 0
    listed = runner("audit", "list", "--tenant", tenant.slug, "--json")
    assert listed.exit_code == 0, listed.output
    actions = [e["action"] for e in json.loads(listed.output)]
    assert actions[:3] == ["tenant.deleted", "tenant.archived", "tenants.migrate"]


# ---- reading ----------------------------------------------------------------------------------------------------

def test_cli_lists_with_filters(app, runner, make_tenant):
    tenant = make_tenant()
    assert runner("tenants", "suspend", tenant.slug).exit_code == 0
    email = make_operator(app)
    out = runner("audit", "list", "--tenant", tenant.slug, "--json")
    assert out.exit_code == 0, out.output
    entries = json.loads(out.output)
    assert entries and all(e["tenant"] == tenant.slug for e in entries)
    assert entries[0]["id"] > entries[-1]["id"]  # newest first

    assert sign_in(app.test_client(), email).status_code == 302
    mine = json.loads(runner("audit", "list", "--operator", email.upper(), "--json").output)
    assert [(e["action"], e["actor"]) for e in mine] == [("operator.sign_in", email)]
    one = json.loads(runner("audit", "list", "--limit", "1", "--json").output)
    assert len(one) == 1
    text = runner("audit", "list", "--tenant", tenant.slug)
    assert text.exit_code == 0 and "tenant.provisioning_started" in text.output and tenant.slug in text.output
    assert runner("audit", "list", "--limit", "0").exit_code != 0


def test_console_page_for_admins_and_support_not_partner_staff(app, make_tenant, partner, runner):
    tenant = make_tenant()
    assert runner("tenants", "suspend", tenant.slug, "--reason", "checking the audit page").exit_code == 0
    admin = app.test_client()
    assert sign_in(admin, make_operator(app)).status_code == 302
    home = admin.get("/console/tenants/").get_data(as_text=True)
    assert 'href="/console/audit/"' in home
    page = admin.get("/console/audit/", query_string={"tenant": tenant.slug, "action": "tenant.suspended"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('<tr data-action="tenant.suspended">') == 1 and "checking the audit page" in html
    assert "tenant.provisioning_started" not in html
    assert admin.get("/console/audit/", query_string={"from": "May 1st"}).status_code == 422

    helper = app.test_client()
    assert sign_in(helper, make_operator(app, role="support")).status_code == 302
    assert helper.get("/console/audit/", query_string={"tenant": tenant.slug}).status_code == 200

    staff = app.test_client()
    assert sign_in(staff, make_operator(app, role="partner_staff", partner=partner)).status_code == 302
    assert staff.get("/console/audit/").status_code == 403
    assert 'href="/console/audit/"' not in staff.get("/console/tenants/").get_data(as_text=True)


def test_console_page_pages_older_entries(app, make_tenant):
    from schemehost.platform.audit import record_operator

    tenant = make_tenant()
    with app.app_context():
        for n in range(52):  # with its creation, 53 entries for this tenant
            record_operator(db.session, "tenant.note", target_type="tenant", target_id=tenant.slug,
                            tenant_id=tenant.id, details={"n": n}, actor="cli")
        db.session.commit()
    admin = app.test_client()
    assert sign_in(admin, make_operator(app)).status_code == 302
    first = admin.get("/console/audit/", query_string={"tenant": tenant.slug}).get_data(as_text=True)
    assert first.count("<tr data-action=") == 50
    older = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = admin.get(older).get_data(as_text=True)
    assert 1 <= second.count("<tr data-action=") <= 5 and "tenant.provisioning_started" in second
