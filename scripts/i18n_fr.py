"""Fill French translations: reads a JSON object {msgid: msgstr} on stdin and writes them into
platform/translations/fr/LC_MESSAGES/messages.po (run `scripts/i18n` first to bring new msgids in,
and again afterwards to compile).

    echo '{"Home": "Accueil"}' | .venv/bin/python scripts/i18n_fr.py
"""

import json
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "platform/translations/fr/LC_MESSAGES/messages.po"

pairs = json.load(sys.stdin)
with PO.open("rb") as f:
    catalog = read_po(f, locale="fr")
unknown = []
for msgid, msgstr in pairs.items():
    message = catalog.get(msgid)
    if message is None:
        unknown.append(msgid)
        continue
    message.string = msgstr
    message.flags.discard("fuzzy")
with PO.open("wb") as f:
    write_po(f, catalog, omit_header=False, sort_output=True, width=120)
if unknown:
    sys.exit(f"not in the catalogue (run scripts/i18n first): {unknown}")
