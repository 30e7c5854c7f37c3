"""Swedish is complete, and the committed .mo is the compiled .po (no gettext needed)."""

from __future__ import annotations

import gettext
from pathlib import Path

from requests_app.i18n import mo_bytes, po_parse

LOCALE = Path(__file__).resolve().parents[2] / "locale"
PO = LOCALE / "sv" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def test_every_message_has_a_swedish_translation():
    entries = [e for e in po_parse(PO) if e.msgid]
    assert len(entries) > 200
    missing = [e.msgid for e in entries if not e.translated]
    assert missing == []


def test_placeholders_survive_translation():
    import re

    for entry in po_parse(PO):
        if not entry.msgid or entry.msgid_plural is not None:
            continue
        placeholders = sorted(re.findall(r"%\(\w+\)[sd]", entry.msgid))
        assert sorted(re.findall(r"%\(\w+\)[sd]", entry.msgstr)) == placeholders, entry.msgid


def test_the_committed_mo_is_the_compiled_po():
    assert MO.is_file(), "run `python manage.py compile_translations` and commit the .mo"
    assert MO.read_bytes() == mo_bytes(po_parse(PO))


def test_the_mo_is_readable_by_gettext():
    with MO.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)
    assert catalog.gettext("Send request") == "Skicka begäran"
    assert catalog.ngettext("%(n)d year", "%(n)d years", 2) == "%(n)d år"
