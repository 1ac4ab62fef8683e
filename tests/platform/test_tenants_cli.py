"""The lifecycle from the CLI: list, show, suspend, resume, read-only, archive, delete."""

import json

import pytest


@pytest.fixture
def tenant(app, runner, partner, unique):
    from schemehost.platform.extensions import db
    from schemehost.provisioning.pool import refill_pool

    with app.app_context():
        refill_pool(db.session, size=1)
    slug = unique("cli-")
    assert runner("tenants", "create", slug, "--name", "CLI scheme", "--partner", partner,
                  "--template", "blank").exit_code == 0
    return slug


def test_list_and_show(runner, tenant, partner):
    listed = json.loads(runner("tenants", "list", "--json", "--partner", partner).output)
    assert [t["slug"] for t in listed] == [tenant]
    table = runner("tenants", "list").output
    assert tenant in table and "active" in table and "blank@1" in table
    shown = json.loads(runner("tenants", "show", tenant, "--json").output)
    assert shown["status"] == "active" and shown["partner"] == partner
    assert [e["kind"] for e in shown["events"]] == ["created"]
    assert "events:" in runner("tenants", "show", tenant).output


def test_full_lifecycle(runner, tenant, pg):
    assert "is suspended" in runner("tenants", "suspend", tenant, "--reason", "invoice overdue").output
    assert "is active" in runner("tenants", "resume", tenant).output
    assert "is read_only" in runner("tenants", "read-only", tenant).output
    assert "is archived" in runner("tenants", "archive", tenant).output
    early = runner("tenants", "delete", tenant, "--yes")
    assert early.exit_code == 1 and "grace period" in early.output
    role = pg.execute("SELECT role_name FROM control.tenants WHERE slug = %s", (tenant,)).fetchone()[0]
    done = runner("tenants", "delete", tenant, "--yes", "--force")
    assert done.exit_code == 0, done.output
    assert pg.execute("SELECT 1 FROM control.tenants WHERE slug = %s", (tenant,)).fetchone() is None
    assert pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
    events = [r[0] for r in pg.execute(
        "SELECT kind FROM control.tenant_events WHERE tenant_slug = %s ORDER BY id", (tenant,)).fetchall()]
    assert events == ["created", "suspended", "resumed", "read_only", "archived", "deleted"]
    reason = pg.execute("SELECT reason FROM control.tenant_events WHERE tenant_slug = %s AND kind = 'suspended'",
                        (tenant,)).fetchone()[0]
    assert reason == "invoice overdue"


def test_delete_asks_for_confirmation(runner, tenant, pg):
    runner("tenants", "archive", tenant)
    answer_no = runner("tenants", "delete", tenant, "--force", input="n\n")
    assert answer_no.exit_code == 1 and "Aborted" in answer_no.output
    assert pg.execute("SELECT status FROM control.tenants WHERE slug = %s", (tenant,)).fetchone()[0] == "archived"
    answer_yes = runner("tenants", "delete", tenant, "--force", input="y\n")
    assert answer_yes.exit_code == 0


def test_refused_transitions_change_nothing(runner, tenant, pg):
    active_delete = runner("tenants", "delete", tenant, "--yes")
    assert active_delete.exit_code == 1 and "Archive tenant" in active_delete.output
    again = runner("tenants", "resume", tenant)
    assert again.exit_code == 1 and "already active" in again.output
    runner("tenants", "archive", tenant)
    back = runner("tenants", "resume", tenant)
    assert back.exit_code == 1 and "cannot become active" in back.output
    assert pg.execute("SELECT count(*) FROM control.tenant_events WHERE tenant_slug = %s",
                      (tenant,)).fetchone()[0] == 2


@pytest.mark.parametrize("args, needle", [
    (["show", "nobody-here"], "No tenant 'nobody-here'"),
    (["suspend", "nobody-here"], "No tenant 'nobody-here'"),
    (["delete", "nobody-here", "--yes"], "No tenant 'nobody-here'"),
    (["list", "--status", "sleeping"], "Unknown status 'sleeping'"),
    (["retry", "nobody-here"], "No tenant 'nobody-here'"),
])
def test_unknown_names_are_clear_errors(runner, args, needle):
    result = runner("tenants", *args)
    assert result.exit_code == 1
    assert needle in result.output
    assert "Traceback" not in result.output


def test_only_failed_tenants_are_retried(runner, tenant):
    result = runner("tenants", "retry", tenant)
    assert result.exit_code == 1 and "Only a failed tenant" in result.output


def test_pool_refill_and_status(runner, app):
    from schemehost.platform.extensions import db
    from schemehost.provisioning.pool import drain_pool

    with app.app_context():
        drain_pool(db.session)
    assert "pool is empty" in runner("tenants", "pool", "status").output
    assert "built 2 spare" in runner("tenants", "pool", "refill", "--size", "2").output
    assert "built 0 spare" in runner("tenants", "pool", "refill", "--size", "2").output
    status = runner("tenants", "pool", "status").output
    assert "2  (head)" in status
