"""Cash-transfer pages in a real browser (Debian's Chromium driven by Playwright): a payment officer
adds a payment point, uploads a paid list with mistakes (each row's problem is listed and nothing is
applied), uploads it right, and reads the programme's reports (planned vs paid per cycle, failed
payments) with their bars and CSV links."""

from __future__ import annotations

import csv
import io

import pytest

from tests.tenants.transfers.test_transfers import MAKER, _programme, _url, village  # noqa: F401  (fixture)

from .._browser import sign_in

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_payment_points_paid_list_and_reports_in_a_browser(page, client, village, client_token, tenant_user):
    from playwright.sync_api import expect

    tenant, _ids, _hh = village
    maker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    checker = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    pid = _programme(client, tenant, maker)["id"]
    client.post(_url(tenant, f"/programmes/{pid}/enrol"), headers=maker, json={"reason": "targeting round"})
    ids = [b["id"] for b in client.get(_url(tenant, f"/programmes/{pid}/beneficiaries"), headers=maker).json]
    client.post(_url(tenant, f"/programmes/{pid}/beneficiaries/status"), headers=maker,
                json={"ids": ids, "status": "active", "reason": "validated"})
    cycle = client.post(_url(tenant, f"/programmes/{pid}/cycles"), headers=maker, json={"period_start": "2026-11-01"}).json
    payroll = client.post(_url(tenant, f"/cycles/{cycle['id']}/payrolls"), headers=maker).json
    client.post(_url(tenant, f"/payrolls/{payroll['id']}/approve"), headers=checker)
    client.post(_url(tenant, f"/payrolls/{payroll['id']}/pay"), headers=checker, json={})
    lines = [r["line_id"] for r in csv.DictReader(io.StringIO(client.get(
        _url(tenant, f"/payrolls/{payroll['id']}/export"), headers=maker).get_data(as_text=True)))]

    _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
    slug = tenant.slug
    sign_in(page, slug, email, password)

    page.goto(f"/t/{slug}/transfers/")
    page.locator("#payment-points-link").click()
    form = page.locator("#point-form")
    form.locator("input[name=code]").fill("PP-LN")
    form.locator("input[name=name]").fill("Lower Niumi agent")
    form.locator("select[name=kind]").select_option("agent")
    form.locator("input[name=location]").fill("LN-E")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator('#points tr[data-code="PP-LN"]')).to_contain_text("Lower Niumi agent")

    page.goto(f"/t/{slug}/transfers/programmes/{pid}")
    page.locator(f'#payrolls tr[data-id="{payroll["id"]}"] a').first.click()
    expect(page.locator("#payroll-status")).to_have_attribute("data-status", "paid")
    bad = f"line_id,status,reference\nx,paid,\n{lines[0]},paid,R1\n{lines[0]},paid,R1\n".encode()
    page.locator("#paid-list-form input[type=file]").set_input_files(
        files=[{"name": "paid.csv", "mimeType": "text/csv", "buffer": bad}])
    page.locator("#paid-list-form button[type=submit]").click()
    problems = page.locator("#upload-problems")
    expect(problems).to_contain_text("row 2")
    expect(problems).to_contain_text("line_id is not a number")
    expect(problems).to_contain_text("listed twice")
    good = ("line_id,status,reference\n" + "".join(f"{n},paid,R{n}\n" for n in lines[:-1])
            + f"{lines[-1]},failed,\n").encode()
    page.locator("#paid-list-form input[type=file]").set_input_files(
        files=[{"name": "paid.csv", "mimeType": "text/csv", "buffer": good}])
    page.locator("#paid-list-form button[type=submit]").click()
    expect(page.locator('#upload-counts dd[data-count="paid"]')).to_have_text(str(len(lines) - 1))
    expect(page.locator("#payroll-status")).to_have_attribute("data-status", "reconciled")

    page.goto(f"/t/{slug}/transfers/programmes/{pid}")
    page.locator("#reports-link").click()
    row = page.locator('#report-cycles tr[data-cycle="2026-11-01"]')
    expect(row.locator("td").nth(1)).to_have_text(str(len(lines)))
    expect(row.locator(".bar.paid")).to_be_visible()
    expect(page.locator("#report-failed tbody tr")).to_have_count(1)
    expect(page.locator('#report-beneficiaries tr[data-area="LN"]')).to_be_visible()
    with page.expect_download() as download:  # the signed-in user's CSV (not the API's, which wants a token)
        page.locator("#csv-cycles").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [(r["period_start"], r["lines"]) for r in rows] == [("2026-11-01", str(len(lines)))]
