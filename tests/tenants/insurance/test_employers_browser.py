"""An employer and its workers in a real browser (Debian's Chromium driven by Playwright): an
enrolment officer registers an employer (a mistake shown beside its field, then fixed), enrols it in
the employment-injury product, adds a worker by card number and wage, and sees the policy's balance."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from schemehost.tenants.insurance import services as ins

from .._browser import sign_in
from .conftest import build_scheme

pytestmark = pytest.mark.browser  # Chromium and the live server: fixtures in tests/conftest.py


def test_register_an_employer_and_enrol_a_worker(page, make_tenant, tenant_user):
    from playwright.sync_api import expect

    scheme = build_scheme(make_tenant("employment-injury"))
    with scheme.tenant.session() as s:
        ins.create_product(s, code="EII", name="Employment injury", valid_from=date(2020, 1, 1),
                           insurance_period_months=12, holder="employer", wage_rate_percent="1.4",
                           coverage=[{"code": "CONS"}])
    _household, _ids, numbers = scheme.household("1990-03-03")
    _uid, email, password = tenant_user(scheme.tenant, roles=("enrolment_officer",))
    sign_in(page, scheme.slug, email, password)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Employers").click()
    page.get_by_role("link", name="New employer").click()
    form = page.locator("#employer-form")
    form.get_by_label("Code", exact=True).fill("EMP-7")
    form.get_by_label("Name", exact=True).fill("Valley Garments")
    form.get_by_label("Sector").fill("manufacturing")
    form.get_by_label("Location (code)").fill("NOWHERE")
    form.get_by_role("button", name="Register").click()
    expect(page.locator(".field-error")).to_contain_text(["No location with code 'NOWHERE'."])
    page.locator("#employer-form").get_by_label("Location (code)").fill("R-D-W-V")
    page.locator("#employer-form").get_by_role("button", name="Register").click()
    expect(page.locator(".flash-success")).to_contain_text("Employer EMP-7 registered.")

    enrol = page.locator("#employer-enrol-form")
    enrol.get_by_label("Product (code)").fill("EII")
    enrol.get_by_label("Enrolment date").fill((date.today() - timedelta(days=3)).isoformat())
    enrol.get_by_role("button", name="Enrol").click()
    expect(page.locator(".flash-success")).to_contain_text("Add its workers.")

    worker = page.locator("#worker-form")
    worker.get_by_label("Worker (number on the card)").fill(numbers[0])
    worker.get_by_label("Monthly wage").fill("20000")
    worker.get_by_role("button", name="Add").click()
    expect(page.locator(".flash-success")).to_contain_text("Worker added.")
    expect(page.locator(f'#workers-table tr[data-worker="{numbers[0]}"]')).to_contain_text("20,000")
    expect(page.locator("#balance")).to_be_visible()
    expect(page.locator("#status")).to_have_text("Idle (not paid)")
