"""``schemehost clients``: operators script a tenant's API clients."""

import json

from sqlalchemy import select

from schemehost.tenants.identity.models import AuditEntry


def ask_token(client, slug, client_id, secret):
    return client.post(f"/t/{slug}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(client_id, secret), environ_base={"REMOTE_ADDR": "10.202.0.1"})


def test_create_prints_json_whose_secret_gets_a_token(client, runner, make_tenant):
    tenant = make_tenant()
    result = runner("clients", "create", tenant.slug, "Mobile enrolment",
                    "--scopes", "registry.read registry.write", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["client_id"].startswith("shc_") and data["client_secret"].startswith("shs_")
    assert data["scopes"] == ["registry.read", "registry.write"]
    token = ask_token(client, tenant.slug, data["client_id"], data["client_secret"])
    assert token.status_code == 200 and token.json["scope"] == "registry.read registry.write"

    listed = runner("clients", "list", tenant.slug, "--json")
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [r["client_id"] for r in rows] == [data["client_id"]] and rows[0]["active"] is True
    assert data["client_secret"] not in listed.output
    plain = runner("clients", "list", tenant.slug)
    assert data["client_id"] in plain.output and data["client_secret"] not in plain.output

    rotated = runner("clients", "rotate", tenant.slug, data["client_id"], "--json")
    assert rotated.exit_code == 0
    new_secret = json.loads(rotated.stdout)["client_secret"]
    assert ask_token(client, tenant.slug, data["client_id"], data["client_secret"]).status_code == 401
    assert ask_token(client, tenant.slug, data["client_id"], new_secret).status_code == 200

    revoked = runner("clients", "revoke", tenant.slug, data["client_id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert ask_token(client, tenant.slug, data["client_id"], new_secret).status_code == 401
    again = runner("clients", "revoke", tenant.slug, data["client_id"])
    assert again.exit_code == 1 and "revoked" in again.output

    with tenant.session() as s:
        actions = s.execute(select(AuditEntry.action, AuditEntry.actor_type, AuditEntry.actor_name)
                            .where(AuditEntry.entity_id == data["client_id"]).order_by(AuditEntry.id)).all()
    assert [a[0] for a in actions] == ["create", "token_issue", "rotate_secret", "token_issue", "revoke"]
    assert actions[0][1:] == ("operator", "schemehost CLI")


def test_create_refuses_bad_scopes_and_unknown_tenants(runner, make_tenant):
    tenant = make_tenant()
    bad = runner("clients", "create", tenant.slug, "Too wide", "--scopes", "* claims.review", "--json")
    assert bad.exit_code == 1
    assert "scopes:" in bad.output and "'*'" in bad.output and "insurance" in bad.output
    assert "client_secret" not in bad.output
    unknown = runner("clients", "create", "no-such-scheme", "X", "--scopes", "audit.read")
    assert unknown.exit_code == 1 and "no-such-scheme" in unknown.output
    empty = runner("clients", "list", tenant.slug, "--json")
    assert json.loads(empty.stdout) == []
