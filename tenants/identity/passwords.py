"""Tenant users' passwords: argon2 hashing (shared with operators) and the password policy.

The policy refuses what is easy to guess rather than demanding character
classes: 12 to 128 characters; not mostly one repeated character or a simple
run (``abcd…``, ``1234…``, keyboard rows); not the user's e-mail, name or the
scheme's slug; not a common breached password or one of its usual variants
(``Password2024!``, ``p@ssw0rd``). Every problem is reported at once.
"""

from __future__ import annotations

import re
from collections import Counter

from flask_babel import gettext as _

from schemehost.platform.errors import ValidationError
from schemehost.platform.passwords import burn_time, hash_password, verify_password

__all__ = ["MIN_LENGTH", "MAX_LENGTH", "hash_password", "verify_password", "burn_time",
           "password_problems", "validate_password"]

MIN_LENGTH = 12
MAX_LENGTH = 128

#: Runs a person types without thinking: alphabet, digits, keyboard rows (QWERTY and AZERTY).
_RUNS = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm",
         "azertyuiop", "qsdfghjklm", "wxcvbn", "qwertzuiop", "yxcvbnm")
_NEXT: set[tuple[str, str]] = set()
for _run in _RUNS:
    for _a, _b in zip(_run, _run[1:]):
        _NEXT.update({(_a, _b), (_b, _a)})

#: The most common breached passwords and the words they are built on (compared after undoing
#: leetspeak and stripping leading/trailing digits and symbols).
COMMON = frozenset("""
password passw0rd passwort motdepasse secret letmein welcome admin administrator root login
qwerty azerty qwertz iloveyou monkey dragon football baseball soccer sunshine princess shadow
master superman batman trustno trustnoone starwars whatever freedom charlie michael jordan
hello bonjour soleil loveme changeme default guest test tester access flower killer ninja
mustang hunter ranger buster pepper cheese summer winter spring autumn computer internet
schemehost scheme health insurance voucher
""".split())
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_WORDS = re.compile(r"[^\W\d_]+")


def _mostly_repeated(pw: str) -> bool:
    counts = Counter(pw.lower())
    return len(counts) < 5 or counts.most_common(1)[0][1] * 2 > len(pw)


def _simple_sequence(pw: str) -> bool:
    low = pw.lower()
    steps = list(zip(low, low[1:]))
    return bool(steps) and sum(pair in _NEXT for pair in steps) >= 0.75 * len(steps)


def _is_common(pw: str) -> bool:
    low = pw.lower()
    if not low.strip("0123456789"):  # only digits: 123456789012, 111111111111, a date, a phone number
        return True
    core = _EDGES.sub("", low)
    for candidate in {core, core.translate(_LEET)}:
        if candidate in COMMON:
            return True
        # one or two common words joined by digits or symbols: "Password2024!", "admin!admin2"
        words = _WORDS.findall(candidate)
        if 0 < len(words) <= 2 and all(w in COMMON for w in words):
            return True
        # a common word repeated: "passwordpassword"
        if any(len(candidate) > len(w) and candidate == w * (len(candidate) // len(w)) for w in COMMON):
            return True
    return False


def _personal_parts(email: str | None, name: str | None) -> set[str]:
    parts: set[str] = set()
    local = (email or "").split("@", 1)[0].lower()
    if len(local) >= 3:
        parts.add(local)
    parts.update(p for p in re.split(r"[._+\-]+", local) if len(p) >= 4)
    parts.update(w for w in _WORDS.findall((name or "").lower()) if len(w) >= 4)
    return parts


def password_problems(password: str | None, *, email: str | None = None, name: str | None = None,
                      slug: str | None = None) -> list[str]:
    """Every reason ``password`` is refused (empty when it is acceptable), as sentences for the user."""
    pw = password or ""
    problems: list[str] = []
    if len(pw) < MIN_LENGTH:
        problems.append(_("Use at least %(count)s characters.", count=MIN_LENGTH))
    if len(pw) > MAX_LENGTH:
        problems.append(_("Use at most %(count)s characters.", count=MAX_LENGTH))
    if not pw:
        return problems
    if _mostly_repeated(pw):
        problems.append(_("Use more different characters: this password is mostly one character repeated."))
    elif _simple_sequence(pw):
        problems.append(_("Avoid simple sequences such as 'abcd', '1234' or a row of the keyboard."))
    if _is_common(pw):
        problems.append(_("This password is one of the most commonly used (and guessed) ones; choose another."))
    low = pw.lower()
    compact = re.sub(r"\s+", "", low)
    if any(part in low or part in compact for part in _personal_parts(email, name)):
        problems.append(_("Do not use your e-mail address or your name in your password."))
    if slug and (slug.lower() in low or slug.replace("-", "").lower() in compact):
        problems.append(_("Do not use the scheme's short name '%(slug)s' in your password.", slug=slug))
    return problems


def validate_password(password: str | None, *, email: str | None = None, name: str | None = None,
                      slug: str | None = None) -> None:
    """Raise ValidationError with every problem under ``errors["password"]`` when refused."""
    problems = password_problems(password, email=email, name=name, slug=slug)
    if problems:
        raise ValidationError(_("Choose another password."), errors={"password": problems})
