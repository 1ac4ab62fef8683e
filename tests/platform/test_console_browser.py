"""The console in a real browser: Debian's Chromium driven by Playwright (never a downloaded browser).

The app is served for real on a free localhost port in a thread; the tenant is
created through the form and built by the job worker, as in production.
"""

from __future__ import annotations

import threading

import pytest
from _console_support import make_operator, sign_in_page
from playwright.sync_api import expect

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


def _drain_jobs(app) -> None:
    """Run the job worker until the queue is empty (in a thread: Playwright owns this thread's loop)."""
    from schemehost.platform.jobs import run_worker

    errors: list[BaseException] = []

    def work():
        try:
            run_worker(app, concurrency=1, wait=False, periodic=False, install_signal_handlers=False)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    thread = threading.Thread(target=work, name="worker")
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the worker did not drain the queue"
    if errors:
        raise errors[0]


def test_sign_in_create_tenant_and_see_it_active(app, base_url, page, partner, unique):
    email = make_operator(app)
    sign_in_page(page, base_url, email)
    page.wait_for_url(f"{base_url}/console/tenants/")
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()

    page.get_by_role("link", name="New tenant").click()
    slug = unique("web-")
    page.get_by_label("Slug").fill(slug)
    page.get_by_label("Name").fill("North region maternal voucher")
    page.get_by_label("Partner").select_option(partner)
    page.locator("label.choice", has_text="maternal-voucher").click()
    page.get_by_role("button", name="Create tenant").click()
    page.wait_for_url(f"{base_url}/console/tenants/{slug}")

    _drain_jobs(app)  # the cold build runs in the worker, as in production

    page.goto(f"{base_url}/console/tenants/")
    row = page.locator(f'tr[data-slug="{slug}"]')
    expect(row.locator(".badge")).to_have_text("active")
    expect(row).to_contain_text("maternal-voucher")

    row.get_by_role("link", name=slug).click()
    page.wait_for_url(f"{base_url}/console/tenants/{slug}")
    expect(page.get_by_role("heading", name="North region maternal voucher")).to_be_visible()
    created = page.locator('#events li[data-kind="created"]')
    expect(created).to_have_count(1)
    expect(created.locator("strong")).to_have_text("created")
    expect(page.locator("#events")).to_contain_text(f"operator:{email}")
    expect(page.locator("#jobs .badge").first).to_have_text("succeeded")


def test_switch_to_french(app, base_url, page):
    sign_in_page(page, base_url, make_operator(app))
    page.wait_for_url(f"{base_url}/console/tenants/")
    page.get_by_role("link", name="Français").click()
    expect(page.get_by_role("heading", name="Locataires", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    page.goto(f"{base_url}/console/tenants/new")  # the choice is remembered
    expect(page.get_by_role("heading", name="Nouveau locataire")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "fr")


def test_wrong_password_shows_error_and_no_session(app, base_url, page):
    email = make_operator(app)
    sign_in_page(page, base_url, email, "this is not the password", second_factor=False)
    expect(page.locator(".form-errors")).to_have_text("The e-mail address or the password is wrong.")
    assert "/console/sign-in" in page.url
    page.goto(f"{base_url}/console/tenants/")
    assert "/console/sign-in" in page.url  # still not signed in
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.get_by_role("heading", name="Sign in to the console")).to_be_visible()
