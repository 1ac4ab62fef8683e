"""The operator audit log is append-only in the database itself."""

import psycopg
import pytest

from schemehost.platform.audit import record_operator
from schemehost.platform.extensions import db


@pytest.mark.parametrize("statement", [
    "UPDATE control.operator_audit SET action = 'forged' WHERE id = %s",
    "DELETE FROM control.operator_audit WHERE id = %s",
])
def test_operator_audit_rows_cannot_be_changed(app, pg, statement):
    with app.app_context():
        entry = record_operator(db.session, "tenant.suspend", target_type="tenant", target_id="x", actor="cli")
        db.session.commit()
        entry_id = entry.id
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        pg.execute(statement, (entry_id,))
    assert pg.execute("SELECT action FROM control.operator_audit WHERE id = %s", (entry_id,)).fetchone() == (
        "tenant.suspend",)
