"""Claims console pages with signed-in users: a facility cashier enters a claim (errors beside their
field or line row, nothing saved), saves and goes on to the next one, uploads a CSV file (per-row
problems); a claims reviewer runs the checks, reviews a claim line by line (a stale form is refused)
and sees the queue; permissions of each page."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from schemehost.tenants.insurance.claims.models import InsuranceClaim

from .claims_world import VISIT, build_world

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "platform"))
from _console_support import csrf_from, own_address  # noqa: E402


@pytest.fixture(scope="module")
def world(make_module_tenant):
    return build_world(make_module_tenant("health-insurance"))


def _signed_in(app, tenant, tenant_user, roles):
    client = app.test_client()
    own_address(client)
    _uid, email, password = tenant_user(tenant, roles=roles)
    page = client.get(f"/t/{tenant.slug}/login")
    resp = client.post(f"/t/{tenant.slug}/login", data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": password, "next": ""})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def _form(world, code, **over):
    data = {"facility": "HC1", "code": code, "insuree": world.numbers[0], "visit_type": "out_patient",
            "date_from": VISIT.isoformat(), "date_to": "", "icd_code": "B54", "icd_codes": "R50", "date_claimed": "",
            "rows": "8", "line-0-code": "CONS", "line-0-quantity": "1", "line-0-price": "",
            "line-1-code": "PARA", "line-1-quantity": "10", "line-1-price": "2.00"}
    data.update(over)
    return data


def _count(world) -> int:
    with world.tenant.session() as s:
        return s.execute(select(func.count()).select_from(InsuranceClaim)).scalar_one()


def test_a_cashier_enters_claims_and_a_reviewer_decides_them(app, world, tenant_user, monkeypatch):
    monkeypatch.setitem(app.config, "CLAIMS_JOBS_INLINE", True)  # the check button's job runs in the request
    cashier = _signed_in(app, world.tenant, tenant_user, ("facility_cashier",))
    base = f"/t/{world.slug}/claims"
    page = cashier.get(f"{base}/new")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="claim-form"' in html and '<option value="CONS">' in html
    assert '<option value="B54">Unspecified malaria</option>' in html
    token = csrf_from(html)
    before = _count(world)
    bad = cashier.post(f"{base}/new", data={"csrf_token": token, **_form(
        world, "K-1", insuree="NOBODY", icd_code="Z99", **{"line-1-code": "NOPE", "line-1-price": "abc"})})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "No insuree has this number." in text and "Z99 is not in the ICD-10 list." in text
    assert "No item or service of the catalogue has the code NOPE." in text
    assert 'value="NOPE"' in text  # what was typed stays in its row
    assert _count(world) == before
    saved = cashier.post(f"{base}/new", data={"csrf_token": token, **_form(world, "K-1"), "next": "1"})
    assert saved.status_code == 302 and "facility=HC1" in saved.headers["Location"]
    again = cashier.get(saved.headers["Location"])
    assert "Claim K-1 saved" in again.get_data(as_text=True)
    listing = cashier.get(f"{base}/?status=entered").get_data(as_text=True)
    assert ">K-1</a>" in listing
    assert cashier.get(f"{base}/review/").status_code == 403

    reviewer = _signed_in(app, world.tenant, tenant_user, ("claims_reviewer",))
    html = reviewer.get(f"{base}/").get_data(as_text=True)
    ran = reviewer.post(f"{base}/run", data={"csrf_token": csrf_from(html), "action": "check"})
    assert ran.status_code == 302
    with world.tenant.session() as s:
        claim = s.execute(select(InsuranceClaim).where(InsuranceClaim.code == "K-1")).scalar_one()
        claim_id, version = claim.id, claim.version
        assert claim.status == "checked"
    assert ">K-1</a>" in reviewer.get(f"{base}/?feedback=not_selected&review=not_selected").get_data(as_text=True)
    assert ">K-1</a>" not in reviewer.get(f"{base}/?feedback=selected").get_data(as_text=True)
    queue = reviewer.get(f"{base}/review/").get_data(as_text=True)
    assert ">K-1</a>" in queue
    page = reviewer.get(f"{base}/{claim_id}").get_data(as_text=True)
    assert 'id="review-form"' in page
    token = csrf_from(page)
    refused = reviewer.post(f"{base}/{claim_id}", data={"csrf_token": token, "version": str(version),
                                                        "decision-1": "approve", "decision-2": "reject"})
    assert refused.status_code == 422 and "A rejected line needs a reason." in refused.get_data(as_text=True)
    stale = reviewer.post(f"{base}/{claim_id}", data={"csrf_token": token, "version": str(version - 1),
                                                      "decision-1": "approve", "decision-2": "approve"})
    assert stale.status_code == 409 and "Someone else changed this claim" in stale.get_data(as_text=True)
    done = reviewer.post(f"{base}/{claim_id}", data={"csrf_token": token, "version": str(version),
                                                     "decision-1": "approve", "decision-2": "adjust",
                                                     "quantity-2": "5", "reason-2": "not_provided"})
    assert done.status_code == 302
    shown = reviewer.get(f"{base}/{claim_id}").get_data(as_text=True)
    assert "Processed" in shown and "10 → 5" in shown and "Not provided to the insuree." in shown
    own = csrf_from(cashier.get(f"{base}/{claim_id}").get_data(as_text=True))
    assert cashier.post(f"{base}/{claim_id}", data={"csrf_token": own, "version": "9"}).status_code == 403


def test_a_csv_upload_from_the_console_reports_each_bad_row(app, world, tenant_user):
    cashier = _signed_in(app, world.tenant, tenant_user, ("facility_cashier",))
    url = f"/t/{world.slug}/claims/batch"
    token = csrf_from(cashier.get(url).get_data(as_text=True))
    day = VISIT.isoformat()
    rows = ("claim_code,facility,insuree,visit_type,date_from,icd_code,item,quantity,price\n"
            f"U-1,HC1,{world.numbers[1]},out_patient,{day},B54,CONS,1,\n"
            f"U-2,HC1,{world.numbers[1]},out_patient,{day},B54,CONS,0,\n")
    before = _count(world)
    bad = cashier.post(url, data={"csrf_token": token, "file": (io.BytesIO(rows.encode()), "claims.csv")},
                       content_type="multipart/form-data")
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'id="problems"' in html and "<td data-label=\"Row\">3</td>" in html
    assert _count(world) == before
    good = cashier.post(url, data={"csrf_token": token, "partial": "1",
                                   "file": (io.BytesIO(rows.encode()), "claims.csv")},
                        content_type="multipart/form-data")
    assert good.status_code == 200 and "1 claims entered, 0 already entered." in good.get_data(as_text=True)
    assert _count(world) == before + 1


def test_an_entered_claim_is_changed_from_its_page(app, world, tenant_user):
    cashier = _signed_in(app, world.tenant, tenant_user, ("facility_cashier",))
    base = f"/t/{world.slug}/claims"
    token = csrf_from(cashier.get(f"{base}/new").get_data(as_text=True))
    saved = cashier.post(f"{base}/new", data={"csrf_token": token, **_form(world, "K-EDIT")})
    assert saved.status_code == 302
    claim_id = int(saved.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    page = cashier.get(f"{base}/{claim_id}/edit").get_data(as_text=True)
    assert 'name="version" value="1"' in page and 'value="PARA"' in page and 'value="2.00"' in page
    changed = cashier.post(f"{base}/{claim_id}/edit", data={
        "csrf_token": token, "version": "1", **_form(world, "K-EDIT", **{"line-1-quantity": "4"})})
    assert changed.status_code == 302
    stale = cashier.post(f"{base}/{claim_id}/edit", data={"csrf_token": token, "version": "1", **_form(world, "K-EDIT")})
    assert stale.status_code == 409 and "Someone else changed this claim" in stale.get_data(as_text=True)
    with world.tenant.session() as s:
        claim = s.get(InsuranceClaim, claim_id)
        assert (claim.version, claim.claimed) == (2, 5_000 + 4 * 200)
