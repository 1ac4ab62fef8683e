"""tenancy.run_at_begin: a statement sent with BEGIN and the role switch runs as the tenant's role, in
the transaction the request then uses; with a transaction already open it is an ordinary query."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from schemehost.platform.extensions import db as sadb
from schemehost.platform.tenancy import open_tenant_session, run_at_begin

WHO = ("SELECT current_user AS who, txid_current() AS tx, "
       "(SELECT count(*) FROM {schema}.settings) AS settings, %(n)s::int AS n")


@pytest.fixture(scope="module")
def tenants(make_module_tenant):
    return make_module_tenant("blank", "rab"), make_module_tenant("blank", "rab")


def test_statement_runs_as_the_tenants_role_in_the_transaction_that_follows(app, tenants):
    a, _b = tenants
    with app.app_context():
        session = open_tenant_session(sadb.engine, a.schema, a.role)
        try:
            assert not session.in_transaction()
            row = run_at_begin(session, WHO, {"n": 7})
            assert (row.who, row.n) == (a.role, 7) and row.settings >= 0
            # the view's queries run in the same transaction, still as the tenant's role
            same = session.execute(text("SELECT txid_current(), current_user")).one()
            assert tuple(same) == (row.tx, a.role)
            # an open transaction: an ordinary query in it
            again = run_at_begin(session, WHO, {"n": 8})
            assert (again.who, again.tx, again.n) == (a.role, row.tx, 8)
            session.rollback()
        finally:
            session.close()


def test_no_row_is_none_and_the_schema_is_the_sessions_own(app, tenants):
    a, b = tenants
    with app.app_context():
        session = open_tenant_session(sadb.engine, a.schema, a.role)
        try:
            assert run_at_begin(session, "SELECT key FROM {schema}.settings WHERE key = %(k)s", {"k": "nope"}) is None
            session.rollback()
        finally:
            session.close()
        # tenant B's role may not read tenant A's schema, whatever the statement names
        checked_out = sadb.engine.pool.checkedout()
        session = open_tenant_session(sadb.engine, b.schema, b.role)
        try:
            with pytest.raises(sa_exc.ProgrammingError) as err:
                run_at_begin(session, f'SELECT count(*) FROM "{a.schema}".settings, {{schema}}.settings', {})
            assert err.value.orig.sqlstate == "42501"  # insufficient_privilege
            # as after any database error, the session is rolled back (a request's teardown closes it);
            # then it works again, and its connection goes back to the pool
            session.rollback()
            assert run_at_begin(session, WHO, {"n": 1}).who == b.role
            session.rollback()
        finally:
            session.close()
        assert sadb.engine.pool.checkedout() == checked_out
