"""Invitations and password resets in a real browser (Debian's Chromium driven by Playwright).

An administrator invites a person from the console; the person opens the link
from the e-mail the local SMTP server caught, is told why a first password is
refused, chooses a good one, lands on the sign-in page and signs in; later
they reset it through the "forgot your password" page.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ._browser import sign_in

LINK_RE = re.compile(r"https?://\S+?/login/(?:invite|reset)/[A-Za-z0-9_\-]+")
FIRST = "plantain market at dawn"
SECOND = "seven quiet rivers north"

pytestmark = pytest.mark.browser(viewport="phone")  # Chromium and the live server: fixtures in tests/conftest.py


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    from schemehost.platform.ratelimit import limiter

    limiter.reset()
    yield
    limiter.reset()


def _link(smtp_server, email: str) -> str:
    text = smtp_server.text(smtp_server.to(email)[-1])
    match = LINK_RE.search(text)
    assert match, text
    return match.group(0)


def test_invited_person_chooses_a_password_and_later_resets_it(base_url, new_context, make_tenant, tenant_user,
                                                                smtp_server):
    tenant = make_tenant("blank")
    slug = tenant.slug
    _admin, admin_email, admin_password = tenant_user(tenant, name="Adjoa Admin")
    email = f"kwesi.{slug}@example.org"

    admin = new_context().new_page()
    sign_in(admin, slug, admin_email, admin_password)
    admin.goto(f"{base_url}/t/{slug}/users/invite")
    admin.get_by_label("E-mail", exact=True).fill(email)
    admin.get_by_label("Name").fill("Kwesi Appiah")
    admin.get_by_label("Auditor").check()
    admin.get_by_role("button", name="Send the invitation").click()
    expect(admin.get_by_role("status")).to_contain_text("The invitation was sent to Kwesi Appiah")
    expect(admin.locator("h1")).to_contain_text("Kwesi Appiah")

    person = new_context().new_page()
    link = _link(smtp_server, email)
    assert link.startswith(f"{base_url}/t/{slug}/login/invite/")
    person.goto(link)
    expect(person.locator("h1")).to_contain_text("Welcome to")
    person.get_by_label("New password", exact=True).fill("Password2024!")
    person.get_by_label("Repeat the password").fill("Password2024!")
    person.get_by_role("button", name="Save the password").click()
    expect(person.locator(".field-error").first).to_contain_text("most commonly used")
    assert person.url == link  # still on the form, the link still valid
    person.get_by_label("New password", exact=True).fill(FIRST)
    person.get_by_label("Repeat the password").fill(FIRST)
    person.get_by_role("button", name="Save the password").click()
    expect(person).to_have_url(re.compile(rf"/t/{slug}/login(\?.*)?$"))
    expect(person.get_by_role("status").first).to_contain_text("Your password is set")

    sign_in(person, slug, email, FIRST)
    expect(person).to_have_url(re.compile(rf"/t/{slug}/$"))

    # the same link again is refused
    person.goto(link)
    expect(person.locator("h1")).to_contain_text("This link cannot be used")

    # forgot the password: ask for a link, choose a new one, sign in with it
    reset_page = new_context().new_page()
    reset_page.goto(f"{base_url}/t/{slug}/login/reset")
    reset_page.get_by_label("E-mail", exact=True).fill(email)
    reset_page.get_by_role("button", name="Send me a link").click()
    expect(reset_page.locator("h1")).to_contain_text("Check your e-mail")
    reset_link = _link(smtp_server, email)
    assert "/login/reset/" in reset_link
    reset_page.goto(reset_link)
    reset_page.get_by_label("New password", exact=True).fill(SECOND)
    reset_page.get_by_label("Repeat the password").fill(SECOND)
    reset_page.get_by_role("button", name="Save the password").click()
    expect(reset_page).to_have_url(re.compile(rf"/t/{slug}/login(\?.*)?$"))
    expect(reset_page.get_by_role("status").first).to_contain_text("Your password is changed")
    sign_in(reset_page, slug, email, SECOND)
    expect(reset_page).to_have_url(re.compile(rf"/t/{slug}/$"))

    # the reset signed the person out of the browser where they were signed in
    person.goto(f"{base_url}/t/{slug}/")
    expect(person).to_have_url(re.compile(rf"/t/{slug}/login"))
