"""Helpers of the tenant-side browser tests (imported, not a conftest); the fixtures are in tests/conftest.py."""

from __future__ import annotations


def sign_in(page, slug: str, email: str, password: str) -> None:
    """Sign a tenant user in through the scheme's sign-in form, whatever the scheme's language (its fields
    are found by name); returns once the browser has left the form."""
    page.goto(f"/t/{slug}/login")
    form = page.locator("form", has=page.locator("input[name=password]"))
    form.locator("input[name=email]").fill(email)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)
