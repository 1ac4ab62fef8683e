"""Bulk enrolment and bulk validation as jobs with progress, audited with their reason; payment points
changed and deactivated; reports (beneficiaries by status and district, planned vs paid per cycle,
failed payments) against sums worked out by hand, as JSON and CSV, within a user's locations.

One scheme for the whole file: each test works on its own programme of the same registry."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from schemehost.tenants.identity.models import AuditEntry
from tests.tenants.test_audit import sign_in_tenant_user
from tests.tenants.transfers.test_transfers import MAKER, _paid_cycle, _programme, _url, build_two_districts

@pytest.fixture(scope="module")
def scheme(make_module_tenant):
    """(tenant, {location code: id}, {household: id}): the households of test_transfers' village."""
    tenant = make_module_tenant("cash-transfer", prefix="ctb")
    return (tenant, *build_two_districts(tenant))


@pytest.fixture
def inline_jobs(app, monkeypatch):
    monkeypatch.setitem(app.config, "TRANSFERS_JOBS_INLINE", True)


def _audit(tenant, action):
    with tenant.session() as s:
        return list(s.execute(select(AuditEntry).where(AuditEntry.action == action)
                              .order_by(AuditEntry.id)).scalars())


def test_bulk_enrolment_job_enrols_the_preview_count_with_progress_and_its_reason(client, scheme, client_token,
                                                                                  inline_jobs):
    tenant, _ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    programme = _programme(client, tenant, headers, code="BULK1")
    pid = programme["id"]
    preview = client.post(_url(tenant, f"/programmes/{pid}/preview"), json={}, headers=headers).json
    refused = client.post(_url(tenant, f"/programmes/{pid}/enrolment-jobs"), json={"reason": ""}, headers=headers)
    assert refused.status_code == 422 and "reason" in refused.json["errors"]
    started = client.post(_url(tenant, f"/programmes/{pid}/enrolment-jobs"), headers=headers,
                          json={"reason": "targeting round of December"})
    assert started.status_code == 202, started.get_data(as_text=True)
    job = client.get(_url(tenant, f"/jobs/{started.json['job_id']}"), headers=headers).json
    assert job["status"] == "succeeded" and job["kind"] == "transfers.enrol_bulk"
    assert job["result"]["enrolled"] == preview["count"] == 4 == job["progress"]["done"] == job["progress"]["total"]
    listed = client.get(_url(tenant, f"/programmes/{pid}/beneficiaries?status=potential"), headers=headers).json
    assert len(listed) == 4
    entry = [e for e in _audit(tenant, "transfers.enrolment") if e.details["input"]["programme"] == "BULK1"][-1]
    assert entry.details["reason"] == "targeting round of December" and entry.details["counts"]["enrolled"] == 4
    again = client.post(_url(tenant, f"/programmes/{pid}/enrolment-jobs"), headers=headers, json={"reason": "again"})
    assert again.json["result"]["enrolled"] == 0  # nobody twice
    other = client.get(_url(tenant, "/jobs/999999999"), headers=headers)
    assert other.status_code == 404 and other.mimetype == "application/problem+json"


def test_bulk_validation_by_district_moves_only_what_the_filter_selects(client, scheme, client_token, inline_jobs):
    tenant, ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(client, tenant, headers, code="BULK2")["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "targeting round"})
    count = client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/count"), headers=headers,
                        json={"filter": {"status": "potential", "location_id": ids["LN"]}})
    assert count.json == {"count": 3}
    bad = client.post(_url(tenant, f"/programmes/{pid}/status-jobs"), headers=headers,
                      json={"status": "graduated", "reason": "x", "filter": {"status": "potential"}})
    assert bad.status_code == 422 and "filter.status" in bad.json["errors"]
    unknown = client.post(_url(tenant, f"/programmes/{pid}/status-jobs"), headers=headers,
                          json={"status": "active", "reason": "x", "filter": {"status": "potential", "location_id": 0}})
    assert unknown.status_code == 422 and "filter.location_id" in unknown.json["errors"]
    no_reason = client.post(_url(tenant, f"/programmes/{pid}/status-jobs"), headers=headers,
                            json={"status": "active", "reason": " ", "filter": {"status": "potential"}})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    done = client.post(_url(tenant, f"/programmes/{pid}/status-jobs"), headers=headers,
                       json={"status": "active", "reason": "validated at the Lower Niumi meeting",
                             "filter": {"status": "potential", "location_id": ids["LN"]}})
    assert done.status_code == 202 and done.json["result"] == {"matched": 3, "changed": 3}
    active = client.get(_url(tenant, f"/programmes/{pid}/beneficiaries?status=active"), headers=headers).json
    assert len(active) == 3 and {b["status_reason"] for b in active} == {"validated at the Lower Niumi meeting"}
    assert len(client.get(_url(tenant, f"/programmes/{pid}/beneficiaries?status=potential"), headers=headers).json) == 1
    entry = _audit(tenant, "transfers.beneficiaries.status")[-1]
    assert entry.details["reason"] == "validated at the Lower Niumi meeting"
    assert entry.details["counts"]["changed"] == 3 and entry.details["to"] == "active"


def test_payment_points_are_changed_deactivated_and_assigned_by_filter(client, scheme, client_token):
    tenant, ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(client, tenant, headers, code="BULK3")["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "targeting round"})
    point = client.post(_url(tenant, "/payment-points"), headers=headers,
                        json={"code": "PP-LN3", "name": "Essau agent", "kind": "agent", "location_id": ids["LN-E"]}).json
    moved = client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/payment-point-by-filter"), headers=headers,
                        json={"payment_point_id": point["id"], "filter": {"location_id": ids["LN"]}})
    assert moved.json == {"count": 3}
    bad = client.patch(_url(tenant, f"/payment-points/{point['id']}"), headers=headers,
                       json={"name": "", "location_id": 0})
    assert bad.status_code == 422 and {"name", "location_id"} <= set(bad.json["errors"])
    off = client.patch(_url(tenant, f"/payment-points/{point['id']}"), headers=headers,
                       json={"name": "Essau agent (closed)", "active": False})
    assert off.status_code == 200 and off.json["active"] is False and off.json["name"] == "Essau agent (closed)"
    refused = client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/payment-point-by-filter"), headers=headers,
                          json={"payment_point_id": point["id"], "filter": {"location_id": ids["NE"]}})
    assert refused.status_code == 422 and "payment_point_id" in refused.json["errors"]
    one = client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json[0]["id"]
    by_id = client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/payment-point"), headers=headers,
                        json={"ids": [one], "payment_point_id": point["id"]})
    assert by_id.status_code == 422 and "payment_point_id" in by_id.json["errors"]
    entry = _audit(tenant, "transfers.payment_point.updated")[-1]
    assert entry.before["active"] is True and entry.after["active"] is False


def test_reports_match_hand_computed_sums_in_json_and_csv_and_honour_locations(app, client, scheme, client_token,
                                                                             tenant_user):
    from schemehost.tenants.identity.models import UserLocation

    tenant, ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(client, tenant, headers, code="REP1")["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "targeting round"})
    listed = client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json
    by_household = {b["household_id"]: b["id"] for b in listed}
    hh = scheme[2]
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": [by_household[hh[h]] for h in ("A1", "A3", "B1")], "status": "active", "reason": "ok"})
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": [by_household[hh["A3"]]], "status": "suspended", "reason": "moved away"})
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": [by_household[hh["A3"]]], "status": "active", "reason": "came back"})
    # benefit: 100000 + 25000 per child (at most 3), capped at 160000: A1 150000, A3 160000, B1 125000
    payroll = _paid_cycle(client, tenant, headers, checker, pid, "2026-10-01")
    assert payroll["total"] == 435000
    lines = {row["beneficiary_id"]: row for row in csv.DictReader(io.StringIO(client.get(
        _url(tenant, f"/payrolls/{payroll['id']}/export"), headers=headers).get_data(as_text=True)))}
    paid_list = "line_id,status,reference\n{},paid,R1\n{},failed,\n".format(
        lines[str(by_household[hh["A1"]])]["line_id"], lines[str(by_household[hh["B1"]])]["line_id"])
    up = client.post(_url(tenant, f"/payrolls/{payroll['id']}/reconcile"), headers=headers,
                     data={"file": (io.BytesIO(paid_list.encode()), "paid.csv")})
    assert up.status_code == 200, up.get_data(as_text=True)
    client.post(_url(tenant, f"/programmes/{pid}/cycles"), headers=headers, json={"period_start": "2026-11-01"})

    base = _url(tenant, f"/programmes/{pid}/reports")
    benef = {r["area"]: r for r in client.get(f"{base}/beneficiaries", headers=headers).json}
    assert benef["LN"]["active"] == 2 and benef["LN"]["potential"] == 1 and benef["LN"]["total"] == 3
    assert benef["NE"]["active"] == 1 and benef["NE"]["total"] == 1 and benef["LN"]["suspended"] == 0
    cycles = client.get(f"{base}/cycles", headers=headers).json
    assert [(c["period_start"], c["planned"], c["paid"], c["failed"], c["pending"], c["lines"]) for c in cycles] == [
        ("2026-10-01", 435000, 150000, 125000, 160000, 3), ("2026-11-01", 0, 0, 0, 0, 0)]
    failed = client.get(f"{base}/failed", headers=headers).json
    assert [(f["beneficiary_id"], f["amount"], f["district"]) for f in failed] == [
        (by_household[hh["B1"]], 125000, "Place NE")]
    as_csv = client.get(f"{base}/cycles?format=csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    assert as_csv.mimetype == "text/csv" and rows[0]["planned"] == "435000" and rows[0]["paid"] == "150000"
    assert client.get(f"{base}/nonsense", headers=headers).status_code == 422
    reader = {"Authorization": f"Bearer {client_token(tenant, scopes=('registry.read',))}"}
    assert client.get(f"{base}/cycles", headers=reader).status_code == 403

    # a user restricted to Niamina East sees only its beneficiaries' figures
    user_id, email, password = tenant_user(tenant, roles=("tenant_admin",))
    with tenant.session() as s:
        s.add(UserLocation(user_id=user_id, location_id=ids["NE"]))
    officer = app.test_client()
    sign_in_tenant_user(officer, tenant, email, password)
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.transfers import reports as rp

    district = Principal(kind="user", id=str(user_id), name="officer", tenant_id=0, permissions=frozenset({"*"}),
                         location_ids=frozenset({ids["NE"]}))
    with tenant.session() as s:
        mine = rp.report(s, pid, "beneficiaries", principal=district)
        assert [(r["area"], r["total"]) for r in mine] == [("NE", 1)]
        first = rp.report(s, pid, "cycles", principal=district)[0]
        assert (first["planned"], first["failed"], first["paid"]) == (125000, 125000, 0)
    page = officer.get(f"/t/{tenant.slug}/transfers/programmes/{pid}/reports")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-area="NE"' in html and 'data-area="LN"' not in html
    assert 'data-amount="125000"' in html and 'data-amount="435000"' not in html
    mine_csv = officer.get(f"/t/{tenant.slug}/transfers/programmes/{pid}/reports/cycles.csv")
    assert mine_csv.status_code == 200 and mine_csv.mimetype == "text/csv"
    assert list(csv.DictReader(io.StringIO(mine_csv.get_data(as_text=True))))[0]["planned"] == "125000"


def test_payroll_totals_count_only_the_lines_within_a_restricted_users_locations(app, client, scheme, client_token,
                                                                                   tenant_user):
    from schemehost.tenants.identity.models import UserLocation
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.transfers import services as tr

    tenant, ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(client, tenant, headers, code="TOT1")["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "first round"})
    listed = [b["id"] for b in client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json]
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": listed, "status": "active", "reason": "ok"})
    payroll = _paid_cycle(client, tenant, headers, checker, pid, "2026-10-01")
    totals_url = _url(tenant, f"/payrolls/{payroll['id']}/totals")

    def figures(totals):
        return ({(d["code"], d["lines"], d["amount"]) for d in totals["districts"]},
                {(p["code"], p["lines"], p["amount"]) for p in totals["payment_points"]})

    # A1 150000, A2 100000, A3 160000 in Lower Niumi; B1 125000 in Niamina East
    everyone = client.get(totals_url, headers=headers)
    assert figures(everyone.json) == ({("LN", 3, 410000), ("NE", 1, 125000)}, {(None, 4, 535000)})

    user_id, email, password = tenant_user(tenant, roles=("tenant_admin",))
    with tenant.session() as s:
        s.add(UserLocation(user_id=user_id, location_id=ids["NE"]))
    officer = app.test_client()
    sign_in_tenant_user(officer, tenant, email, password)
    page = officer.get(f"/t/{tenant.slug}/transfers/payrolls/{payroll['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-code="NE"' in html and 'data-code="LN"' not in html
    tables = html[html.index('id="by-district"'):html.index("</table>", html.index('id="by-point"'))]
    assert "1,250.00" in tables and "4,100.00" not in tables and "5,350.00" not in tables
    # the service the API and the page call: the district, and a village below another district
    district = Principal(kind="user", id=str(user_id), name="officer", tenant_id=0, permissions=frozenset({"*"}),
                         location_ids=frozenset({ids["NE"]}))
    village = Principal(kind="user", id=str(user_id), name="officer", tenant_id=0, permissions=frozenset({"*"}),
                        location_ids=frozenset({ids["LN-E"]}))
    with tenant.session() as s:
        assert figures(tr.payroll_totals(s, payroll["id"], principal=district)) == (
            {("NE", 1, 125000)}, {(None, 1, 125000)})
        assert figures(tr.payroll_totals(s, payroll["id"], principal=village)) == (
            {("LN", 3, 410000)}, {(None, 3, 410000)})


def _csrf(html: str) -> str:
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_console_payment_points_bulk_enrolment_and_bulk_validation(app, scheme, client_token, tenant_user,
                                                                   inline_jobs):
    tenant, ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(app.test_client(), tenant, headers, code="CONS1")["id"]
    manager_id, email, password = tenant_user(tenant, roles=("tenant_admin",), name="Awa Manager")
    browser = app.test_client()
    sign_in_tenant_user(browser, tenant, email, password)
    base = f"/t/{tenant.slug}/transfers"
    token = _csrf(browser.get(f"{base}/payment-points").get_data(as_text=True))
    bad = browser.post(f"{base}/payment-points", data={"csrf_token": token, "code": "PP C", "name": "Kudang",
                                                      "kind": "agent", "location": "NOPE"})
    assert bad.status_code == 422 and "unknown location" in bad.get_data(as_text=True)
    made = browser.post(f"{base}/payment-points", follow_redirects=True, data={
        "csrf_token": token, "code": "PP-KUD", "name": "Kudang agent", "kind": "agent", "location": "NE-K",
        "manager_user_id": str(manager_id)})
    html = made.get_data(as_text=True)
    assert 'data-code="PP-KUD" data-active="yes"' in html and "Awa Manager" in html
    with tenant.session() as s:
        from schemehost.tenants.transfers.models import PaymentPoint

        point_id = s.execute(select(PaymentPoint.id).where(PaymentPoint.code == "PP-KUD")).scalar_one()
    edited = browser.post(f"{base}/payment-points/{point_id}", follow_redirects=True, data={
        "csrf_token": token, "code": "PP-KUD", "name": "Kudang agent", "kind": "branch", "location": "NE-K",
        "manager_user_id": ""})
    assert 'data-code="PP-KUD" data-active="no"' in edited.get_data(as_text=True)  # the box was left unticked

    page = f"{base}/programmes/{pid}"
    no_reason = browser.post(f"{page}/enrolment-job", data={"csrf_token": token, "reason": ""}, follow_redirects=True)
    assert "Say why." in no_reason.get_data(as_text=True)
    enrolled = browser.post(f"{page}/enrolment-job", data={"csrf_token": token, "reason": "first round"},
                            follow_redirects=True).get_data(as_text=True)
    assert "4 newly enrolled" in enrolled and 'data-status="succeeded"' in enrolled and "4 / 4" in enrolled
    listing = browser.get(f"{page}/beneficiaries?status=potential&location=LN").get_data(as_text=True)
    assert 'data-count="3"' in listing
    moved = browser.post(f"{page}/beneficiaries/status", follow_redirects=True, data={
        "csrf_token": token, "status": "potential", "location": "LN", "point": "", "to": "active",
        "reason": "community validation"}).get_data(as_text=True)
    assert "3 beneficiaries are now Active" in moved
    refused = browser.post(f"{page}/beneficiaries/status", data={
        "csrf_token": token, "status": "potential", "location": "", "point": "", "to": "graduated", "reason": "x"})
    assert refused.status_code == 422 and "cannot become graduated" in refused.get_data(as_text=True)
    bad_filter = browser.get(f"{page}/beneficiaries?location=NOWHERE")
    assert bad_filter.status_code == 422 and "unknown location" in bad_filter.get_data(as_text=True)
    inactive = browser.post(f"{page}/beneficiaries/payment-point", data={
        "csrf_token": token, "status": "potential", "location": "", "point": "", "payment_point_id": str(point_id)})
    assert inactive.status_code == 422
    active = browser.get(f"{page}/beneficiaries?status=active").get_data(as_text=True)
    assert active.count('data-status="active"') == 3 and "community validation" in active


def test_console_paid_list_upload_reports_each_row_and_applies_nothing_until_clean(app, scheme, client_token,
                                                                                  tenant_user):
    tenant, _ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    api = app.test_client()
    pid = _programme(api, tenant, headers, code="CONS2")["id"]
    api.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "targeting round"})
    ids = [b["id"] for b in api.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json]
    api.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
             json={"ids": ids, "status": "active", "reason": "ok"})
    payroll = _paid_cycle(api, tenant, headers, checker, pid, "2026-09-01")
    lines = [int(r["line_id"]) for r in csv.DictReader(io.StringIO(api.get(
        _url(tenant, f"/payrolls/{payroll['id']}/export"), headers=headers).get_data(as_text=True)))]
    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    browser = app.test_client()
    sign_in_tenant_user(browser, tenant, email, password)
    page = f"/t/{tenant.slug}/transfers/payrolls/{payroll['id']}"
    html = browser.get(page).get_data(as_text=True)
    assert 'id="paid-list-form"' in html and 'data-code="LN"' in html
    token = _csrf(html)
    bad = f"line_id,status,reference\nabc,paid,R1\n{lines[0]},maybe,R2\n999999,paid,R3\n{lines[1]},paid,R4\n"
    refused = browser.post(f"{page}/paid-list", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "paid.csv")})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and 'id="upload-problems"' in text
    assert "row 2" in text and "line_id is not a number" in text and "row 3" in text and "status must be paid or failed" in text
    assert "line 999999" in text and "not a line of this payroll" in text
    with tenant.session() as s:
        from schemehost.tenants.transfers.models import PayrollLine

        assert set(s.execute(select(PayrollLine.status).where(PayrollLine.payroll_id == payroll["id"])).scalars()) == {"pending"}
    good = "line_id,status,reference\n" + "".join(f"{n},paid,R{n}\n" for n in lines[:-1]) + f"{lines[-1]},failed,\n"
    applied = browser.post(f"{page}/paid-list", content_type="multipart/form-data",
                           data={"csrf_token": token, "file": (io.BytesIO(good.encode()), "paid.csv")})
    text = applied.get_data(as_text=True)
    assert applied.status_code == 200 and f'data-count="paid">{len(lines) - 1}<' in text
    assert 'data-status="reconciled"' in text


def test_two_enrolment_jobs_at_once_enrol_each_household_once_in_slices(app, scheme, client_token, monkeypatch,
                                                                         make_tenant, inline_jobs):
    from concurrent.futures import ThreadPoolExecutor

    from schemehost.tenants.transfers import enrolment as en
    from schemehost.tenants.transfers.models import Beneficiary

    tenant, _ids, _hh = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(app.test_client(), tenant, headers, code="RACE1")["id"]
    monkeypatch.setattr(en, "BULK_SLICE", 1)  # one household per statement: the progress moves four times
    seen: list[list[tuple[int, int | None]]] = [[], []]

    def run(n):
        with tenant.session() as s:
            return en.enrol_bulk(s, pid, reason="race", progress=lambda d, t=None: seen[n].append((d, t)))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, [0, 1]))
    assert sorted(r["enrolled"] for r in results) == [0, 4]
    with tenant.session() as s:
        assert s.execute(select(Beneficiary.id).where(Beneficiary.programme_id == pid)).all().__len__() == 4
    assert max(seen, key=len) == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]

    # another scheme cannot read this scheme's job
    job = app.test_client().post(_url(tenant, f"/programmes/{pid}/enrolment-jobs"), headers=headers,
                                 json={"reason": "again"}).json
    other = make_tenant("cash-transfer", prefix="ctx")
    theirs = {"Authorization": f"Bearer {client_token(other, scopes=MAKER)}"}
    assert app.test_client().get(_url(other, f"/jobs/{job['job_id']}"), headers=theirs).status_code == 404
