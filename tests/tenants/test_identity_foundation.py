"""The identity foundation: built-in roles seeded from the template, and an append-only audit log."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import AuditEntry, Role


def test_template_roles_are_seeded_into_the_roles_table(make_tenant):
    tenant = make_tenant("blank")
    with tenant.session() as s:
        roles = {r.code: r for r in s.execute(select(Role)).scalars()}
    assert roles["tenant_admin"].permissions == ["*"] and roles["tenant_admin"].builtin
    assert "registry.read" in roles["enrolment_officer"].permissions


@pytest.mark.parametrize("statement", [
    "UPDATE tenant.audit_log SET action = 'forged'",
    "DELETE FROM tenant.audit_log",
    "TRUNCATE tenant.audit_log",
])
def test_audit_rows_cannot_be_changed_or_deleted(make_tenant, statement):
    tenant = make_tenant("blank")
    with tenant.session() as s:
        audit.record(s, "create", "setting", "currency", after={"value": "XOF"})
    with pytest.raises(DBAPIError), tenant.session() as s:
        s.execute(text(statement.replace("tenant.", f"{tenant.schema}.")))
    with tenant.session() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.actor_type)).all()
    assert rows == [("create", "system")]
