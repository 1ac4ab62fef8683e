"""What a location-restricted user (a district officer) may do with a payroll (decision 0417): upload a
paid list naming only the lines within their locations (any other line reads as "not a line of this
payroll", like a line of no payroll); not generate, approve, pay, reject a payroll or carry its failed
lines (403; disabled buttons with why in the console); and see the beneficiary counts by status within
their locations. Unrestricted users and API clients keep the whole payroll.

One scheme for the whole file (the households of ``test_restricted_payroll``): district LN (village
LN-E) with A1 150,000, A2 100,000 and A3 160,000, and district NE (village NE-K) with B1 125,000; B2
(one person) qualifies for nothing."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from tests.tenants.transfers.test_restricted_payroll import _paid_payroll, _user, scheme  # noqa: F401  (fixture)
from tests.tenants.transfers.test_transfers import MAKER, _programme, _url


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _tokens(client_token, tenant):
    return ({"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"},
            {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"})


def _lines_by_district(client, tenant, headers, payroll_id) -> dict[str, list[int]]:
    rows = csv.DictReader(io.StringIO(client.get(_url(tenant, f"/payrolls/{payroll_id}/export?format=csv"),
                                                 headers=headers).get_data(as_text=True)))
    out: dict[str, list[int]] = {}
    for r in rows:
        out.setdefault(r["district"], []).append(int(r["line_id"]))
    return out


def _statuses(tenant, payroll_id) -> dict[int, tuple[str, str | None]]:
    from schemehost.tenants.transfers.models import PayrollLine

    with tenant.session() as s:
        rows = s.execute(select(PayrollLine.id, PayrollLine.status, PayrollLine.reference)
                         .where(PayrollLine.payroll_id == payroll_id))
        return {i: (st, ref) for i, st, ref in rows}


def _payroll(tenant, payroll_id):
    from schemehost.tenants.transfers.models import Payroll

    with tenant.session() as s:
        p = s.get(Payroll, payroll_id)
        return p.status, p.lines, p.total


def _upload(browser, page, token, body: str):
    return browser.post(f"{page}/paid-list", content_type="multipart/form-data",
                        data={"csrf_token": token, "file": (io.BytesIO(body.encode()), "paid.csv")})


def _problems(html: str) -> dict[str, str]:
    table = html[html.index('id="upload-problems"'):]
    return dict(re.findall(r'<tr><td data-label="Where">([^<]+)</td><td data-label="Problem">([^<]+)</td></tr>', table))


# ---- 1. the paid list ------------------------------------------------------------------------------


def test_a_restricted_users_paid_list_names_only_their_lines_and_reveals_none_of_the_others(
        app, client, scheme, client_token, tenant_user):
    tenant, ids = scheme
    headers, checker = _tokens(client_token, tenant)
    _pid, payroll = _paid_payroll(client, tenant, headers, checker, "RUP1", "2026-09-01")
    lines = _lines_by_district(client, tenant, headers, payroll["id"])
    (ne,), (ln1, ln2, ln3) = lines["Place NE"], lines["Place LN"]

    # an API client (never restricted) reports one LN line paid: applied as before
    partial = client.post(_url(tenant, f"/payrolls/{payroll['id']}/reconcile"), headers=headers,
                          data={"file": (io.BytesIO(f"line_id,status,reference\n{ln1},paid,API1\n".encode()), "p.csv")})
    assert partial.status_code == 200 and partial.json["paid"] == 1, partial.get_data(as_text=True)
    before = _statuses(tenant, payroll["id"])

    officer = _user(app, tenant, tenant_user, ids["NE"])
    page = f"/t/{tenant.slug}/transfers/payrolls/{payroll['id']}"
    html = officer.get(page).get_data(as_text=True)
    assert 'id="paid-list-form"' in html
    token = _csrf(html)
    # another district's pending line, another district's line already paid (listed as failed), a line of
    # no payroll: the same message for all three; the officer's own line is fine but nothing is applied
    refused = _upload(officer, page, token, "line_id,status,reference\n"
                      f"{ne},paid,NE1\n{ln2},paid,X\n{ln1},failed,X\n999999999,paid,X\n")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422, text
    assert _problems(text) == {f"line {ln2}": "not a line of this payroll", f"line {ln1}": "not a line of this payroll",
                               "line 999999999": "not a line of this payroll"}
    assert "already" not in text and "API1" not in text
    assert _statuses(tenant, payroll["id"]) == before

    # the officer's own line alone: applied; the payroll stays paid (the other district's lines are pending)
    applied = _upload(officer, page, token, f"line_id,status,reference\n{ne},paid,NE1\n")
    text = applied.get_data(as_text=True)
    assert applied.status_code == 200 and 'data-count="paid">1<' in text, text
    after = _statuses(tenant, payroll["id"])
    assert after[ne] == ("paid", "NE1") and {i: after[i] for i in (ln1, ln2, ln3)} == {
        i: before[i] for i in (ln1, ln2, ln3)}
    assert _payroll(tenant, payroll["id"])[0] == "paid"
    # the same file again changes nothing (already paid with the same status)
    again = _upload(officer, page, token, f"line_id,status,reference\n{ne},paid,NE1\n")
    assert again.status_code == 200 and 'data-count="unchanged">1<' in again.get_data(as_text=True)

    # an unrestricted user names any line of the payroll; a line of no payroll is still refused
    everyone = _user(app, tenant, tenant_user)
    token = _csrf(everyone.get(page).get_data(as_text=True))
    refused = _upload(everyone, page, token, f"line_id,status,reference\n{ln2},paid,A\n999999999,paid,X\n")
    assert refused.status_code == 422
    assert _problems(refused.get_data(as_text=True)) == {"line 999999999": "not a line of this payroll"}
    assert _statuses(tenant, payroll["id"]) == after
    done = _upload(everyone, page, token, f"line_id,status,reference\n{ln2},paid,A\n{ln3},failed,\n")
    assert done.status_code == 200 and 'data-status="reconciled"' in done.get_data(as_text=True)


def test_the_paid_list_service_checks_a_restricted_principals_lines_set_wise(client, scheme, client_token):
    from schemehost.platform.errors import ValidationError
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.transfers import services as tr

    tenant, ids = scheme
    headers, checker = _tokens(client_token, tenant)
    _pid, payroll = _paid_payroll(client, tenant, headers, checker, "RUP2", "2026-09-01")
    lines = _lines_by_district(client, tenant, headers, payroll["id"])
    village = Principal(kind="user", id="7", name="officer", tenant_id=tenant.id, permissions=frozenset({"*"}),
                        location_ids=frozenset({ids["LN-E"]}))  # a village: its subtree is the LN lines' place
    body = "line_id,status,reference\n" + "".join(f"{i},paid,R{i}\n" for i in lines["Place LN"] + lines["Place NE"])
    with tenant.session() as s, pytest.raises(ValidationError) as refused:
        tr.reconcile_upload(s, payroll["id"], body.encode(), principal=village)
    assert refused.value.errors == {f"line {lines['Place NE'][0]}": ["not a line of this payroll"]}
    assert {st for st, _r in _statuses(tenant, payroll["id"]).values()} == {"pending"}
    mine = "line_id,status,reference\n" + "".join(f"{i},paid,R{i}\n" for i in lines["Place LN"])
    with tenant.session() as s:
        assert tr.reconcile_upload(s, payroll["id"], mine.encode(), principal=village)["paid"] == 3
    with tenant.session() as s:  # the system (None) and an unrestricted principal name any line
        result = tr.reconcile_upload(s, payroll["id"], body.encode(), principal=None)
    assert (result["paid"], result["unchanged"], result["payroll_status"]) == (1, 3, "reconciled")


# ---- 2. payroll-wide actions -------------------------------------------------------------------------


def test_payroll_wide_actions_are_refused_to_a_restricted_principal_and_change_nothing(client, scheme,
                                                                                      client_token):
    from schemehost.platform.errors import Forbidden
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.transfers import services as tr
    from schemehost.tenants.transfers.models import Payroll, PayrollLine

    tenant, ids = scheme
    headers, checker = _tokens(client_token, tenant)
    pid, first = _paid_payroll(client, tenant, headers, checker, "RWA1", "2026-09-01")
    failed_line = _lines_by_district(client, tenant, headers, first["id"])["Place NE"][0]
    client.post(_url(tenant, f"/payrolls/{first['id']}/reconcile"), headers=headers,
                data={"file": (io.BytesIO(f"line_id,status,reference\n{failed_line},failed,\n".encode()), "p.csv")})
    cycles = [client.post(_url(tenant, f"/programmes/{pid}/cycles"), headers=headers, json={"period_start": day}).json
              for day in ("2026-10-01", "2026-11-01", "2026-12-01")]
    pending = client.post(_url(tenant, f"/cycles/{cycles[0]['id']}/payrolls"), headers=headers).json
    approved = client.post(_url(tenant, f"/cycles/{cycles[1]['id']}/payrolls"), headers=headers).json
    assert client.post(_url(tenant, f"/payrolls/{approved['id']}/approve"), headers=checker).status_code == 200

    officer = Principal(kind="user", id="7", name="officer", tenant_id=tenant.id, permissions=frozenset({"*"}),
                        location_ids=frozenset({ids["NE"]}))
    admin = Principal(kind="user", id="8", name="admin", tenant_id=tenant.id, permissions=frozenset({"*"}))

    def state():
        with tenant.session() as s:
            return (sorted(s.execute(select(Payroll.id, Payroll.status, Payroll.total)).all()),
                    sorted(s.execute(select(PayrollLine.id, PayrollLine.amount, PayrollLine.status,
                                            PayrollLine.failure)).all()))

    before = state()
    refusals = {
        "generate": lambda s: tr.generate_payroll(s, cycles[2]["id"], principal=officer),
        "approve": lambda s: tr.approve_payroll(s, pending["id"], principal=officer),
        "reject": lambda s: tr.reject_payroll(s, pending["id"], reason="not mine", principal=officer),
        "pay": lambda s: tr.pay_payroll(s, approved["id"], via="offline", principal=officer),
        "carry": lambda s: tr.carry_failed(s, first["id"], into_payroll_id=pending["id"], principal=officer),
    }
    for name, action in refusals.items():
        with tenant.session() as s, pytest.raises(Forbidden) as refused:
            action(s)
        assert refused.value.status == 403 and refused.value.errors == {"locations": ["restricted to locations"]}, name
        assert "not restricted to locations" in str(refused.value.detail), name
    assert state() == before

    # an unrestricted principal does each of them
    with tenant.session() as s:
        assert tr.carry_failed(s, first["id"], into_payroll_id=pending["id"], principal=admin) == {
            "carried": 1, "amount": 125000}
        assert tr.approve_payroll(s, pending["id"], principal=admin).status == "approved"
        assert tr.pay_payroll(s, approved["id"], via="offline", principal=admin)[0].status == "paid"
        assert tr.reject_payroll(s, pending["id"], reason="wrong month", principal=admin).status == "rejected"
        assert tr.generate_payroll(s, cycles[2]["id"], principal=admin).lines == 4
        assert s.execute(select(func.count()).select_from(Payroll)
                         .where(Payroll.cycle_id == cycles[2]["id"])).scalar_one() == 1


def test_the_console_disables_payroll_wide_buttons_for_a_restricted_user_and_refuses_them(
        app, client, scheme, client_token, tenant_user):
    from schemehost.tenants.transfers.models import Payroll

    tenant, ids = scheme
    headers, checker = _tokens(client_token, tenant)
    pid = _programme(client, tenant, headers, code="RWA2")["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "first round"})
    listed = [b["id"] for b in client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json]
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": listed, "status": "active", "reason": "ok"})
    cycle = client.post(_url(tenant, f"/programmes/{pid}/cycles"), headers=headers,
                        json={"period_start": "2026-09-01"}).json
    spare = client.post(_url(tenant, f"/programmes/{pid}/cycles"), headers=headers,
                        json={"period_start": "2026-10-01"}).json
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=headers).json
    base = f"/t/{tenant.slug}/transfers/programmes/{pid}"

    officer = _user(app, tenant, tenant_user, ids["NE"])
    html = officer.get(base).get_data(as_text=True)
    assert 'id="cycles-restricted"' in html and 'id="payrolls-restricted"' in html
    assert 'disabled aria-describedby="cycles-restricted">Generate the payroll' in html
    assert 'disabled aria-describedby="payrolls-restricted">Approve' in html
    token = _csrf(html)
    approve = officer.post(f"{base}/payrolls/{payroll['id']}/approve", data={"csrf_token": token},
                           follow_redirects=True)
    text = approve.get_data(as_text=True)
    assert "it needs a user who is not restricted to locations" in text
    assert f'data-id="{payroll["id"]}" data-status="pending_approval"' in text
    generate = officer.post(f"{base}/cycles/{spare['id']}/payroll", data={"csrf_token": token}, follow_redirects=True)
    assert "it needs a user who is not restricted to locations" in generate.get_data(as_text=True)
    with tenant.session() as s:
        assert s.execute(select(Payroll.cycle_id, Payroll.status).where(Payroll.cycle_id.in_(
            [cycle["id"], spare["id"]]))).all() == [(cycle["id"], "pending_approval")]
    french = officer.get(base + "?lang=fr").get_data(as_text=True)
    assert "restreint" in french[french.index('id="payrolls-restricted"'):].split("</p>")[0]

    everyone = _user(app, tenant, tenant_user)
    html = everyone.get(base).get_data(as_text=True)
    assert 'id="payrolls-restricted"' not in html and 'id="cycles-restricted"' not in html and "disabled" not in html
    approved = everyone.post(f"{base}/payrolls/{payroll['id']}/approve", data={"csrf_token": _csrf(html)},
                             follow_redirects=True)
    assert f'data-id="{payroll["id"]}" data-status="approved"' in approved.get_data(as_text=True)


# ---- 3. beneficiary counts by status -----------------------------------------------------------------


def test_beneficiary_counts_by_status_count_only_a_restricted_users_locations(app, client, scheme, client_token,
                                                                              tenant_user):
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.transfers import services as tr

    tenant, ids = scheme
    headers, _checker = _tokens(client_token, tenant)
    pid = _programme(client, tenant, headers, code="RBC1")["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "first round"})
    listed = [b["id"] for b in client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json]
    assert len(listed) == 4  # A1, A2, A3 (LN) and B1 (NE)
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": listed[:2], "status": "active", "reason": "ok"})  # A1 and A2 (LN)

    def row(html):
        start = html.index('<tr data-code="RBC1"')
        cells = re.findall(r'<td data-label="(Potential|Active|Suspended|Graduated)">(\d+)</td>',
                           html[start:html.index("</tr>", start)])
        return {k: int(v) for k, v in cells}

    everyone = _user(app, tenant, tenant_user)
    html = everyone.get(f"/t/{tenant.slug}/transfers/").get_data(as_text=True)
    assert row(html) == {"Potential": 2, "Active": 2, "Suspended": 0, "Graduated": 0}
    assert 'id="counts-scope"' not in html
    page = everyone.get(f"/t/{tenant.slug}/transfers/programmes/{pid}").get_data(as_text=True)
    enrolled = page[page.index('id="enrolled"'):].split("</p>")[0]
    assert "potential 2" in enrolled and "active 2" in enrolled and "within your locations" not in enrolled

    officer = _user(app, tenant, tenant_user, ids["NE"])
    html = officer.get(f"/t/{tenant.slug}/transfers/").get_data(as_text=True)
    assert row(html) == {"Potential": 1, "Active": 0, "Suspended": 0, "Graduated": 0}  # B1, not yet active
    assert 'id="counts-scope"' in html and "Beneficiaries within your locations." in html
    page = officer.get(f"/t/{tenant.slug}/transfers/programmes/{pid}").get_data(as_text=True)
    enrolled = page[page.index('id="enrolled"'):].split("</p>")[0]
    assert 'data-scope="within-locations"' in enrolled and "within your locations" in enrolled
    assert "potential 1" in enrolled and "active" not in enrolled

    restricted = Principal(kind="user", id="7", name="officer", tenant_id=tenant.id, permissions=frozenset({"*"}),
                           location_ids=frozenset({ids["LN"]}))
    with tenant.session() as s:
        assert sum(tr.beneficiary_counts(s, [pid], principal=restricted)[pid].values()) == 3
        assert tr.beneficiary_counts(s, [pid], principal=None)[pid] == {"potential": 2, "active": 2}
        assert tr.beneficiary_counts(s, [pid, 999999999], principal=restricted).get(999999999) is None
