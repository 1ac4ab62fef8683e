"""The console's strings are all in the French catalogue, and the committed .mo files match the .po files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "platform" / "translations"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None,
            "lazy_ngettext": (1, 2)}
SOURCES = [
    *sorted((ROOT / "platform" / "console").glob("*.py")),
    *sorted((ROOT / "platform" / "operators").glob("*.py")),
    ROOT / "platform" / "tenants" / "views.py",
    ROOT / "platform" / "tenants" / "forms.py",
    ROOT / "platform" / "errors.py",
    ROOT / "platform" / "tenancy.py",
]
TEMPLATES = sorted((ROOT / "platform" / "templates").rglob("*.html"))


def _console_msgids() -> set:
    ids = set()
    for path in SOURCES:
        for _lineno, msg, _comments, _ctx in extract_from_file("python", str(path), keywords=KEYWORDS):
            ids.add(msg if isinstance(msg, str) else msg[0])
    for path in TEMPLATES:
        for _lineno, msg, _comments, _ctx in extract_from_file(
                "jinja2", str(path), keywords=KEYWORDS, options={"extensions": "jinja2.ext.i18n"}):
            ids.add(msg if isinstance(msg, str) else msg[0])
    return ids


def _catalogue(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=lang)


def test_every_console_string_has_a_french_translation():
    ids = _console_msgids()
    assert len(ids) > 100
    fr = _catalogue("fr")
    missing = []
    for msgid in sorted(ids):
        message = fr.get(msgid)
        translated = message is not None and not message.fuzzy and (
            all(message.string) if isinstance(message.string, (list, tuple)) else bool(message.string))
        if not translated:
            missing.append(msgid)
    assert not missing, f"untranslated (run scripts/i18n and fill fr/messages.po): {missing}"


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_committed_mo_files_match_their_po_files(lang):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").open("rb") as f:
        mo = read_mo(f)
    stale = []
    for message in _catalogue(lang):
        if not message.id or message.fuzzy:
            continue
        done = all(message.string) if isinstance(message.string, (list, tuple)) else bool(message.string)
        compiled = mo.get(message.id, context=message.context)
        norm = (lambda s: tuple(s) if isinstance(s, (list, tuple)) else s)
        if done and (compiled is None or norm(compiled.string) != norm(message.string)):
            stale.append(message.id)
    assert not stale, f"run scripts/i18n compile: {stale[:5]}"


def test_placeholders_survive_translation():
    for message in _catalogue("fr"):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        wanted = set(re.findall(r"%\(\w+\)[sd]", ids[-1]))
        for s in strings:
            assert set(re.findall(r"%\(\w+\)[sd]", s)) == wanted, (message.id, s)
