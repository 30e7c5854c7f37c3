"""Import data subjects and their records from a JSON Lines file.

The work is done by `retention.services.records.records_import`; this
command opens the file, streams its lines in and reports.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from retention.services.records import records_import


class Command(BaseCommand):
    help = (
        "Import data subjects, their identifiers, records and disclosures from a JSON Lines "
        "file (one subject per line; format in retention/services/records.py). Lines are "
        "validated one by one: valid lines are imported, invalid lines are skipped and "
        "reported as 'line N: reason'. Importing the same file again changes nothing. "
        "Exit status: 0 when every line was valid, 1 when any line was invalid (the valid "
        "lines are imported all the same)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the JSON Lines file ('-' for stdin)")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="subjects per transaction (1000)"
        )

    def handle(self, *args, file, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            stream = sys.stdin.buffer if str(file) == "-" else file.open("rb")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        with stream:
            result = records_import(
                organisation_lines=enumerate(stream, start=1), batch_size=batch_size
            )
        counts = result.counts
        self.stdout.write(
            f"lines: {result.lines}\n"
            f"subjects: {counts.subjects_created} created, {counts.subjects_updated} updated, "
            f"{counts.subjects_unchanged} unchanged\n"
            f"identifiers: {counts.identifiers_created} created\n"
            f"records: {counts.records_created} created, {counts.records_updated} updated, "
            f"{counts.records_unchanged} unchanged\n"
            f"disclosures: {counts.disclosures_created} created, "
            f"{counts.disclosures_unchanged} unchanged\n"
            f"erased subjects: {counts.subjects_skipped_erased} skipped, "
            f"{counts.records_skipped_erased} records and "
            f"{counts.disclosures_skipped_erased} disclosures not re-imported\n"
            f"invalid lines: {len(result.invalid)}"
        )
        for line_no, reason in result.invalid:
            self.stderr.write(f"line {line_no}: {reason}")
        if result.invalid:
            raise CommandError(
                f"{len(result.invalid)} invalid line(s) skipped; the valid lines were imported.",
                returncode=1,
            )
