"""The tenant password policy (every problem at once, in the user's language) and argon2 rehashing."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from flask_babel import force_locale

from schemehost.platform.errors import ValidationError
from schemehost.platform.passwords import hasher, verify_password
from schemehost.tenants.identity.passwords import password_problems, validate_password

PERSON = {"email": "ana.banda@example.org", "name": "Kofi Mensah", "slug": "north-scheme"}


@pytest.fixture
def ctx(app):
    with app.test_request_context("/"):
        yield


@pytest.mark.parametrize("password", [
    "correct horse battery staple",
    "Tr0ub4dor&3xyz!",
    "plantain market at dawn",
    "x7#Qm2!vLp9@Rz",
])
def test_good_passwords_pass(ctx, password):
    assert password_problems(password, **PERSON) == []
    validate_password(password, **PERSON)


@pytest.mark.parametrize("password, fragment", [
    ("", "at least 12 characters"),
    ("short1!", "at least 12 characters"),
    ("x" * 129, "at most 128 characters"),
    ("aaaaaaaaaaab", "mostly one character repeated"),
    ("abababababab", "mostly one character repeated"),
    ("abcdefghijklm", "simple sequences"),
    ("987654321098", "simple sequences"),
    ("qwertyuiop[]", "simple sequences"),
    ("azertyuiop!!", "simple sequences"),
    ("Password2024!", "most commonly used"),
    ("p@ssw0rd2024", "most commonly used"),
    ("passwordpassword", "most commonly used"),
    ("schemehost12", "most commonly used"),
    ("Welcome123456", "most commonly used"),
    ("555123987654", "most commonly used"),  # only digits
    ("ana.banda.2024x", "your e-mail address or your name"),
    ("Kofi Mensah rules!", "your e-mail address or your name"),
    ("north-scheme-x!", "'north-scheme'"),
    ("northscheme 2024", "'north-scheme'"),
])
def test_weak_passwords_are_refused_with_a_clear_reason(ctx, password, fragment):
    problems = password_problems(password, **PERSON)
    assert any(fragment in p for p in problems), problems


def test_every_problem_is_reported_at_once_under_the_password_field(ctx):
    with pytest.raises(ValidationError) as err:
        validate_password("anabanda", **PERSON)
    assert err.value.status == 422 and list(err.value.errors) == ["password"]
    problems = err.value.errors["password"]
    assert len(problems) == 3, problems  # too short, too few different characters, personal
    assert any("12 characters" in p for p in problems)
    assert any("e-mail address or your name" in p for p in problems)


def test_messages_are_in_the_users_language(ctx):
    with force_locale("fr"):
        problems = password_problems("court", **PERSON)
    assert problems == ["Utilisez au moins 12 caractères."]


def test_a_hash_with_old_parameters_is_upgraded_and_a_wrong_password_is_not():
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("correct horse battery staple")
    assert verify_password(old, "wrong horse battery staple") == (False, None)
    ok, new_hash = verify_password(old, "correct horse battery staple")
    assert ok and new_hash and new_hash != old and not hasher.check_needs_rehash(new_hash)
    current = hasher.hash("correct horse battery staple")
    assert verify_password(current, "correct horse battery staple") == (True, None)
    assert verify_password(None, "anything at all") == (False, None)
    assert verify_password("not-a-hash", "anything at all") == (False, None)
