"""Compile locale/*/LC_MESSAGES/django.po to .mo without GNU gettext.

Run it after editing a .po file and commit both files:

    python manage.py compile_translations
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from requests_app.i18n import compile_po, po_parse


class Command(BaseCommand):
    help = "Compile the .po translation catalogues to .mo (pure Python, no gettext needed)."

    def handle(self, *args, **options):
        for locale_dir in settings.LOCALE_PATHS:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                entries = po_parse(po_path)
                missing = [e.msgid for e in entries if e.msgid and not e.translated]
                mo_path = compile_po(po_path)
                if options["verbosity"] < 1:
                    continue
                self.stdout.write(f"{mo_path}: {len(entries) - 1} messages")
                for msgid in missing:
                    self.stderr.write(f"  untranslated: {msgid!r}")
