"""A payroll seen by a location-restricted user (a district officer): the payroll page's header and the
programme's list of payrolls give the line count and amount within their locations, labelled so; the
bank / mobile-money file holds only their lines (decision 0416). Unrestricted users and API clients
keep the whole payroll.

One scheme for the whole file: two districts, LN (villages LN-E) with A1 150,000, A2 100,000 and
A3 160,000, and NE (village NE-K) with B1 125,000."""

from __future__ import annotations

import csv
import io

import pytest

from tests.tenants.test_audit import sign_in_tenant_user
from tests.tenants.transfers.test_transfers import MAKER, _paid_cycle, _programme, _url, build_two_districts

@pytest.fixture(scope="module")
def scheme(make_module_tenant):
    """(tenant, {location code: id}): two districts and their households."""
    tenant = make_module_tenant("cash-transfer", prefix="ctr")
    ids, _households = build_two_districts(tenant, phone_prefix="+2207100")
    return tenant, ids


def _paid_payroll(client, tenant, headers, checker, code, start):
    pid = _programme(client, tenant, headers, code=code)["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=headers, json={"reason": "first round"})
    listed = [b["id"] for b in client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=headers).json]
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=headers,
                json={"ids": listed, "status": "active", "reason": "ok"})
    return pid, _paid_cycle(client, tenant, headers, checker, pid, start)


def _user(app, tenant, tenant_user, location_id=None):
    """A signed-in console client of a tenant admin, restricted to ``location_id`` when given."""
    from schemehost.tenants.identity.models import UserLocation

    user_id, email, password = tenant_user(tenant, roles=("tenant_admin",))
    if location_id is not None:
        with tenant.session() as s:
            s.add(UserLocation(user_id=user_id, location_id=location_id))
    browser = app.test_client()
    sign_in_tenant_user(browser, tenant, email, password)
    return browser


def _payroll_row(html: str, payroll_id: int) -> str:
    table = html[html.index('id="payrolls"'):]
    row = table[table.index(f'<tr data-id="{payroll_id}"'):]
    return row[:row.index("</tr>")]


def _header(html: str) -> str:
    start = html.index('id="payroll-status"')
    return html[start:html.index("</p>", start)]


def test_a_restricted_user_sees_their_districts_count_and_amount_labelled_within_their_locations(
        app, client, scheme, client_token, tenant_user):
    from schemehost.tenants.identity.principal import Principal
    from schemehost.tenants.transfers import services as tr

    tenant, ids = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid, payroll = _paid_payroll(client, tenant, headers, checker, "RST1", "2026-09-01")
    assert (payroll["lines"], payroll["total"]) == (4, 535000)
    page_url = f"/t/{tenant.slug}/transfers/payrolls/{payroll['id']}"

    officer = _user(app, tenant, tenant_user, ids["NE"])
    header = _header(officer.get(page_url).get_data(as_text=True))
    assert 'data-scope="within-locations"' in header and "1 line " in header and "1,250.00" in header
    assert "within your locations" in header and "4 lines" not in header and "5,350.00" not in header
    listed = officer.get(f"/t/{tenant.slug}/transfers/programmes/{pid}").get_data(as_text=True)
    assert 'id="payrolls-scope"' in listed
    row = _payroll_row(listed, payroll["id"])
    assert '<td data-scope="within-locations">1</td>' in row and "1,250.00" in row and "5,350.00" not in row
    french = _header(officer.get(page_url + "?lang=fr").get_data(as_text=True))  # the choice sticks (cookie)
    assert "dans vos lieux" in french and "within your locations" not in french

    # a village of the other district: its district's three lines (the restriction covers subtrees)
    village = _user(app, tenant, tenant_user, ids["LN-E"])
    header = _header(village.get(page_url).get_data(as_text=True))
    assert "3 lines" in header and "4,100.00" in header and "within your locations" in header

    everyone = _user(app, tenant, tenant_user)
    header = _header(everyone.get(page_url).get_data(as_text=True))
    assert 'data-scope="all"' in header and "4 lines" in header and "5,350.00" in header
    assert "within your locations" not in header
    listed = everyone.get(f"/t/{tenant.slug}/transfers/programmes/{pid}").get_data(as_text=True)
    assert 'id="payrolls-scope"' not in listed
    row = _payroll_row(listed, payroll["id"])
    assert "<td>4</td>" in row and "5,350.00" in row and "within-locations" not in row

    # the service: one grouped query for a restricted principal (a payroll without their lines: zeros),
    # nothing to compute for an unrestricted one
    district = Principal(kind="user", id="1", name="officer", tenant_id=0, permissions=frozenset({"*"}),
                         location_ids=frozenset({ids["NE"]}))
    unrestricted = Principal(kind="user", id="1", name="admin", tenant_id=0, permissions=frozenset({"*"}))
    with tenant.session() as s:
        assert tr.payroll_figures_within(s, [payroll["id"], 999999999], principal=district) == {
            payroll["id"]: {"lines": 1, "amount": 125000}, 999999999: {"lines": 0, "amount": 0}}
        assert tr.payroll_figures_within(s, [payroll["id"]], principal=unrestricted) is None
        assert tr.payroll_figures_within(s, [payroll["id"]], principal=None) is None


def test_a_restricted_user_exports_only_the_lines_within_their_locations(app, client, scheme, client_token,
                                                                         tenant_user):
    tenant, ids = scheme
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    _pid, payroll = _paid_payroll(client, tenant, headers, checker, "RST2", "2026-09-01")
    export = f"/t/{tenant.slug}/transfers/payrolls/{payroll['id']}/export"

    def rows(resp):
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))

    officer = _user(app, tenant, tenant_user, ids["NE"])
    mine = officer.get(export + ".csv")
    assert f'filename="payroll-{payroll["id"]}-within-locations.csv"' in mine.headers["Content-Disposition"]
    assert [(r["district"], r["amount"], r["phone"]) for r in rows(mine)] == [("Place NE", "1250.00", "+2207100003")]
    book = officer.get(export + ".xlsx")
    assert book.status_code == 200 and "within-locations.xlsx" in book.headers["Content-Disposition"]
    sheet = _xlsx_rows(book.data)
    assert len(sheet) == 2 and sheet[1][5] == "Place NE"

    everyone = _user(app, tenant, tenant_user)
    whole = everyone.get(export + ".csv")
    assert f'filename="payroll-{payroll["id"]}.csv"' in whole.headers["Content-Disposition"]
    assert sorted(r["district"] for r in rows(whole)) == ["Place LN"] * 3 + ["Place NE"]
    assert len(_xlsx_rows(everyone.get(export + ".xlsx").data)) == 5

    # API clients are never restricted (tokens carry no locations): the whole file and the stored totals
    api = client.get(_url(tenant, f"/payrolls/{payroll['id']}/export?format=csv"), headers=headers)
    assert len(rows(api)) == 4
    detail = client.get(_url(tenant, f"/payrolls/{payroll['id']}"), headers=headers).json
    assert (detail["lines"], detail["total"]) == (4, 535000)


def _xlsx_rows(data: bytes) -> list[list]:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return [list(r) for r in book.active.iter_rows(values_only=True)]
