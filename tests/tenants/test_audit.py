"""The tenant audit log: what is written (settings, bulk jobs), reading it (API, console page, CSV
export) with filters and keyset pages, who may read it, and that nobody can change an entry."""

from __future__ import annotations

import csv
import io
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from schemehost.platform.extensions import db
from schemehost.tenants.identity import audit
from schemehost.tenants.identity.models import AuditEntry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def entries(tenant, **where):
    with tenant.session() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(AuditEntry, k) == v)
        return s.execute(stmt).scalars().all()


def seed(tenant, rows):
    """Audit entries written through the service: ``rows`` of (action, entity_type, entity_id, actor)."""
    with tenant.session() as s:
        for action, etype, eid, actor in rows:
            audit.record(s, action, etype, eid, actor=actor, after={"n": eid})


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()


@pytest.fixture
def reader(client_token, tenant):
    return client_token(tenant, scopes=("audit.read",))


# ---- writing ---------------------------------------------------------------------------------------------

def test_settings_changes_are_audited_with_before_and_after(client, client_token, tenant):
    token = client_token(tenant, scopes=("settings.manage",))
    path = f"/t/{tenant.slug}/api/v1/settings/display_name"
    assert client.put(path, json={"value": "North scheme"}, headers=bearer(token)).status_code == 200
    assert client.put(path, json={"value": "North scheme"}, headers=bearer(token)).status_code == 200  # no change
    resp = client.put(path, json={"value": "Northern scheme"}, headers={**bearer(token), "X-Request-Id": "req-42"})
    assert resp.status_code == 200

    rows = entries(tenant, entity_type="setting", entity_id="display_name")
    assert [(r.action, r.before, r.after) for r in rows] == [
        ("create", None, {"value": "North scheme"}),
        ("update", {"value": "North scheme"}, {"value": "Northern scheme"}),
    ]
    last = rows[-1]
    assert last.actor_type == "client" and last.actor_id and last.request_id == "req-42" and last.ip


def test_a_refused_setting_change_leaves_no_entry(client, client_token, tenant):
    token = client_token(tenant, scopes=("settings.manage",))
    resp = client.put(f"/t/{tenant.slug}/api/v1/settings/currency", json={"value": 12}, headers=bearer(token))
    assert resp.status_code == 422
    assert entries(tenant, entity_type="setting") == []


def test_a_bulk_job_writes_one_entry_with_counts_and_its_input(tenant):
    with tenant.session() as s:
        audit.record_bulk(s, "import", "household", counts={"created": 1200, "rejected": 3},
                          input_ref={"file": "north.csv", "sha256": "ab" * 32}, details={"job": 7})
    (row,) = entries(tenant, action="import")
    assert row.entity_type == "household" and row.entity_id is None and row.actor_type == "system"
    assert row.details == {"job": 7, "counts": {"created": 1200, "rejected": 3},
                           "input": {"file": "north.csv", "sha256": "ab" * 32}}


def test_diff_lists_added_removed_and_changed_fields_with_nested_paths():
    before = {"name": "A", "phone": "1", "address": {"city": "Garoua", "zip": "1"}, "tags": [1]}
    after = {"name": "B", "email": "x@example.org", "address": {"city": "Maroua", "zip": "1"}, "tags": [1]}
    assert audit.diff(before, after) == [
        ("address.city", "changed", "Garoua", "Maroua"),
        ("email", "added", None, "x@example.org"),
        ("name", "changed", "A", "B"),
        ("phone", "removed", "1", None),
    ]
    assert audit.diff(None, {"a": 1}) == [("a", "added", None, 1)]
    assert audit.diff({"a": 1}, {"a": 1}) == []


# ---- nobody changes an entry ------------------------------------------------------------------------------

def test_the_tenant_role_cannot_change_or_delete_an_entry_through_the_app_session(tenant):
    seed(tenant, [("create", "setting", "currency", ("system", None, None))])
    with pytest.raises(DBAPIError, match="permission denied|append-only"), tenant.session() as s:
        row = s.execute(select(AuditEntry)).scalars().one()
        row.action = "forged"
        s.flush()
    with pytest.raises(DBAPIError, match="permission denied|append-only"), tenant.session() as s:
        s.delete(s.execute(select(AuditEntry)).scalars().one())
        s.flush()
    assert [r.action for r in entries(tenant)] == ["create"]


@pytest.mark.parametrize("statement", ["UPDATE {schema}.audit_log SET after = '{{}}'",
                                       "DELETE FROM {schema}.audit_log"])
def test_even_the_apps_own_role_is_refused_by_the_trigger(app, tenant, statement):
    seed(tenant, [("create", "setting", "currency", ("system", None, None))])
    with app.app_context():
        # the app's role (a superuser in tests) bypasses every grant: only the trigger stops it
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement.format(schema=tenant.schema)))
    assert [(r.action, r.after) for r in entries(tenant)] == [("create", {"n": "currency"})]


# ---- the API ------------------------------------------------------------------------------------------------

def test_api_needs_a_principal_with_audit_read(client, client_token, tenant):
    path = f"/t/{tenant.slug}/api/v1/audit"
    anonymous = client.get(path)
    assert anonymous.status_code == 401 and anonymous.mimetype == "application/problem+json"
    other = client_token(tenant, scopes=("settings.manage",))
    forbidden = client.get(path, headers=bearer(other))
    assert forbidden.status_code == 403 and forbidden.mimetype == "application/problem+json"
    assert "audit.read" in forbidden.get_data(as_text=True)


def test_api_filters_and_keyset_pages(client, tenant, reader):
    seed(tenant, [
        ("create", "household", "1", ("user", "5", "Awa")),
        ("update", "household", "1", ("user", "5", "Awa")),
        ("update", "household", "2", ("client", "c-9", "Payroll bot")),
        ("delete", "household", "1", ("user", "6", "Bello")),
        ("update", "setting", "currency", ("user", "5", "Awa")),
    ])
    path = f"/t/{tenant.slug}/api/v1/audit"

    def get(**params):
        resp = client.get(path, query_string=params, headers=bearer(reader))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.json

    def ids(body):
        return [(e["action"], e["entity_type"], e["entity_id"]) for e in body["entries"]]

    assert ids(get(entity_type="household", entity_id="1")) == [
        ("delete", "household", "1"), ("update", "household", "1"), ("create", "household", "1")]
    assert ids(get(action="update", actor_type="user")) == [("update", "setting", "currency"),
                                                            ("update", "household", "1")]
    assert ids(get(actor_type="client", actor_id="c-9")) == [("update", "household", "2")]
    one = get(actor_id="6")["entries"][0]
    assert one["actor_name"] == "Bello" and one["after"] == {"n": "1"} and "at" in one and "request_id" in one

    # pages of 2, newest first, each page strictly older than the one before, no overlap, no gap
    seen, cursor, pages = [], None, 0
    while True:
        body = get(limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [e["id"] for e in body["entries"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    all_ids = [e["id"] for e in get(limit=500)["entries"]]
    assert seen == all_ids == sorted(all_ids, reverse=True) and pages == -(-len(all_ids) // 2) >= 3


def test_api_date_range_is_read_in_the_tenants_time_zone(client, tenant, reader):
    seed(tenant, [("create", "household", "old", ("system", None, None)),
                  ("create", "household", "new", ("system", None, None))])
    with tenant.session() as s:
        # entries cannot be moved back in time: insert one that was written long ago
        s.execute(AuditEntry.__table__.insert().values(
            at=datetime(2024, 3, 1, 23, 30, tzinfo=timezone.utc), actor_type="system", action="create",
            entity_type="household", entity_id="march"))
    path = f"/t/{tenant.slug}/api/v1/audit"
    day = client.get(path, query_string={"from": "2024-03-01", "to": "2024-03-01"}, headers=bearer(reader)).json
    assert [e["entity_id"] for e in day["entries"]] == ["march"]  # the tenant's zone is UTC (blank template)
    today = datetime.now(timezone.utc).date()
    recent = client.get(path, query_string={"from": (today - timedelta(days=1)).isoformat(),
                                            "entity_type": "household"}, headers=bearer(reader)).json
    assert {e["entity_id"] for e in recent["entries"]} == {"old", "new"}
    exact = client.get(path, query_string={"from": "2024-03-01T23:00:00Z", "to": "2024-03-01T23:45:00+00:00"},
                       headers=bearer(reader)).json
    assert [e["entity_id"] for e in exact["entries"]] == ["march"]


@pytest.mark.parametrize("params, field", [
    ({"cursor": "abc"}, "cursor"),
    ({"from": "yesterday"}, "from"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
    ({"limit": "0"}, "limit"),
    ({"actor_type": "robot"}, "actor_type"),
])
def test_api_bad_filters_are_field_errors(client, tenant, reader, params, field):
    resp = client.get(f"/t/{tenant.slug}/api/v1/audit", query_string=params, headers=bearer(reader))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert field in str(resp.json.get("errors")), resp.json


def test_api_token_of_another_tenant_reads_nothing(client, client_token, make_tenant, tenant):
    seed(tenant, [("create", "secret-thing", "1", ("system", None, None))])
    other = make_tenant()
    foreign = client_token(other, scopes=("audit.read",))
    resp = client.get(f"/t/{tenant.slug}/api/v1/audit", headers=bearer(foreign))
    assert resp.status_code in (401, 403)
    assert "secret-thing" not in resp.get_data(as_text=True)


# ---- the console page and the CSV export --------------------------------------------------------------------

def sign_in_tenant_user(client, tenant, email, password):
    own_address(client)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)


@pytest.fixture
def admin_client(app, tenant, tenant_user):
    client = app.test_client()
    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    sign_in_tenant_user(client, tenant, email, password)
    return client


def test_console_page_filters_and_shows_changes_as_a_diff(admin_client, tenant):
    with tenant.session() as s:
        audit.record(s, "update", "household", "77", before={"head": "Awa", "size": 4},
                     after={"head": "Awa", "size": 5}, actor=("user", "5", "Awa Diallo"))
        audit.record(s, "create", "facility", "9", after={"name": "Garoua clinic"}, actor=("user", "5", "Awa Diallo"))
    page = admin_client.get(f"/t/{tenant.slug}/audit", query_string={"entity_type": "household"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Awa Diallo" in html and "Garoua clinic" not in html
    assert re.search(r"<th scope=\"row\">size</th>\s*<td><del>4</del> → <ins>5</ins>", html), html
    assert ">head<" not in html  # unchanged fields are not listed
    assert 'href="/t/%s/audit.csv?entity_type=household"' % tenant.slug in html


def test_console_page_pages_with_an_older_link(admin_client, tenant):
    seed(tenant, [("create", "household", str(i), ("system", None, None)) for i in range(55)])
    first = admin_client.get(f"/t/{tenant.slug}/audit", query_string={"entity_type": "household"})
    html = first.get_data(as_text=True)
    assert html.count('<tr data-id=') == 50
    older = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    second = admin_client.get(older).get_data(as_text=True)
    assert second.count('<tr data-id=') == 5 and 'rel="next"' not in second


def test_console_page_shows_filter_errors(admin_client, tenant):
    page = admin_client.get(f"/t/{tenant.slug}/audit", query_string={"from": "2026-05-02", "to": "2026-05-01"})
    assert page.status_code == 422
    assert "The end of the period must come after its start." in page.get_data(as_text=True)


def test_console_page_without_audit_read_is_forbidden(app, tenant, tenant_user):
    client = app.test_client()
    _uid, email, password = tenant_user(tenant, roles=("enrolment_officer",))
    sign_in_tenant_user(client, tenant, email, password)
    assert client.get(f"/t/{tenant.slug}/audit").status_code == 403
    assert client.get(f"/t/{tenant.slug}/audit.csv").status_code == 403
    assert "/audit\"" not in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)  # not in the menu


def test_csv_export_has_the_filtered_entries_and_is_audited(admin_client, tenant):
    with tenant.session() as s:
        audit.record(s, "update", "household", "1", before={"size": 4}, after={"size": 5},
                     actor=("user", "5", "=HYPERLINK(\"http://evil\")"))
        audit.record(s, "update", "facility", "2", after={"name": "x"}, actor=("system", None, None))
    resp = admin_client.get(f"/t/{tenant.slug}/audit.csv", query_string={"entity_type": "household"})
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"].startswith(f'attachment; filename="audit-{tenant.slug}-')
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [(r["action"], r["entity_type"], r["entity_id"]) for r in rows] == [("update", "household", "1")]
    row = rows[0]
    assert row["before"] == '{"size": 4}' and row["after"] == '{"size": 5}'
    assert row["actor_name"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    (export,) = entries(tenant, action="export")
    assert export.entity_type == "audit_log" and export.actor_type == "user"
    assert export.details == {"format": "csv", "filters": {"entity_type": "household"}}


def test_csv_export_streams_every_batch(app, admin_client, tenant):
    from schemehost.tenants.identity import audit_query

    with tenant.session() as s:
        s.execute(AuditEntry.__table__.insert(), [
            {"actor_type": "system", "action": "create", "entity_type": "household", "entity_id": str(i)}
            for i in range(2 * audit_query.EXPORT_BATCH + 5)])
    resp = admin_client.get(f"/t/{tenant.slug}/audit.csv", query_string={"action": "create"})
    assert resp.is_streamed
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == 2 * audit_query.EXPORT_BATCH + 5
    assert len({r["id"] for r in rows}) == len(rows)
    assert [int(r["id"]) for r in rows] == sorted((int(r["id"]) for r in rows), reverse=True)


def test_a_time_zone_that_does_not_exist_is_refused_and_the_setting_kept(client, client_token, tenant):
    token = client_token(tenant, scopes=("settings.manage",))
    path = f"/t/{tenant.slug}/api/v1/settings/timezone"
    assert client.put(path, json={"value": "Africa/Douala"}, headers=bearer(token)).status_code == 200
    for bad in ("Mars/Olympus_Mons", "", "../../etc/passwd", "UTC+1", "Africa"):
        resp = client.put(path, json={"value": bad}, headers=bearer(token))
        assert resp.status_code == 422 and resp.mimetype == "application/problem+json", (bad, resp.status_code)
        assert "Africa/Douala" in resp.json["errors"]["value"][0]
    assert client.get(path, headers=bearer(token)).json["value"] == "Africa/Douala"
    assert len(entries(tenant, entity_type="setting", entity_id="timezone")) == 1  # the refusals left none
