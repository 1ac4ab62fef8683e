"""The cash-transfers console: a programme's page shows who qualifies, enrols, generates a payroll, and
refuses its approval to the person who generated it while another user approves it."""

from __future__ import annotations

import re

from tests.tenants.test_audit import sign_in_tenant_user
from tests.tenants.transfers.test_transfers import MAKER, _programme, village  # noqa: F401  (fixture)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_console_enrols_generates_and_keeps_maker_and_checker_apart(app, village, client_token, tenant_user):
    tenant, _ids, _hh = village
    headers = {"Authorization": f"Bearer {client_token(tenant, scopes=MAKER)}"}
    programme = _programme(app.test_client(), tenant, headers)
    maker, checker = app.test_client(), app.test_client()
    for browser in (maker, checker):
        _uid, email, password = tenant_user(tenant, roles=("tenant_admin",))
        sign_in_tenant_user(browser, tenant, email, password)
    base = f"/t/{tenant.slug}/transfers/programmes/{programme['id']}"
    page = maker.get(base)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "4 qualify under the programme" in html
    token = _csrf(html)
    refused = maker.post(f"{base}/enrol", data={"csrf_token": token, "reason": " "}, follow_redirects=True)
    assert "Say why." in refused.get_data(as_text=True)
    maker.post(f"{base}/enrol", data={"csrf_token": token, "reason": "targeting round"})
    with tenant.session() as s:
        from sqlalchemy import select

        from schemehost.tenants.identity.models import AuditEntry

        reasons = [e.details["reason"] for e in s.execute(select(AuditEntry).where(
            AuditEntry.action == "transfers.enrolment")).scalars()]
    assert reasons == ["targeting round"]
    with tenant.session() as s:
        from sqlalchemy import update

        from schemehost.tenants.transfers.models import Beneficiary

        s.execute(update(Beneficiary).values(status="active"))
    maker.post(f"{base}/cycles", data={"csrf_token": token, "period_start": "2026-12-01"})
    html = maker.get(base).get_data(as_text=True)
    cycle_id = re.search(r'<tr data-id="(\d+)"><td>2026-12-01', html).group(1)
    generated = maker.post(f"{base}/cycles/{cycle_id}/payroll", data={"csrf_token": token}, follow_redirects=True)
    assert "another person must approve it" in generated.get_data(as_text=True)
    payroll_id = re.search(r'<tr data-id="(\d+)" data-status="pending_approval"', generated.get_data(as_text=True)).group(1)
    refused = maker.post(f"{base}/payrolls/{payroll_id}/approve", data={"csrf_token": token}, follow_redirects=True)
    assert "cannot approve it" in refused.get_data(as_text=True)
    assert f'data-id="{payroll_id}" data-status="pending_approval"' in refused.get_data(as_text=True)
    checker_token = _csrf(checker.get(base).get_data(as_text=True))
    approved = checker.post(f"{base}/payrolls/{payroll_id}/approve", data={"csrf_token": checker_token},
                            follow_redirects=True)
    assert f'data-id="{payroll_id}" data-status="approved"' in approved.get_data(as_text=True)
    listing = maker.get(f"/t/{tenant.slug}/transfers/").get_data(as_text=True)
    assert 'data-code="NAFA"' in listing
    export = maker.get(f"/t/{tenant.slug}/transfers/payrolls/{payroll_id}/export.csv")
    assert export.status_code == 200 and export.get_data(as_text=True).count("\n") == 5
