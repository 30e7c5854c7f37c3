"""Import data subjects and their records from a JSON Lines file.

The work is done by `retention.services.record_import.records_import`; this
command opens the file, streams its lines in and reports.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from retention.management.progress import dry_run_atomic, progress_bar, progress_enabled
from retention.services.record_import import records_import


def _count_lines(path: Path) -> int | None:
    """The file's lines, for the bar's total (a second, cheap pass); None for stdin."""
    if str(path) == "-":
        return None
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


class Command(BaseCommand):
    help = (
        "Import data subjects, their identifiers, records and disclosures from a JSON Lines "
        "file (one subject per line; format in retention/services/record_import.py). Lines are "
        "validated one by one: valid lines are imported, invalid lines are skipped and "
        "reported as 'line N: reason'. Importing the same file again changes nothing. "
        "With --dry-run the same import runs in a transaction that is rolled back: the "
        "summary says what would change, and nothing is written. "
        "Exit status: 0 when every line was valid, 1 when any line was invalid (the valid "
        "lines are imported all the same) or the file cannot be read."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the JSON Lines file ('-' for stdin)")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="subjects per transaction (1000)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate and count what would change; write nothing",
        )

    def handle(self, *args, file, batch_size, dry_run=False, **options):
        verbosity = options["verbosity"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        try:
            stream = sys.stdin.buffer if str(file) == "-" else file.open("rb")
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        total = _count_lines(file) if progress_enabled(self, verbosity=verbosity) else None
        bar = progress_bar(self, verbosity=verbosity, total=total, unit="line", desc="import")
        with stream, bar, dry_run_atomic(dry_run):
            result = records_import(
                organisation_lines=enumerate(stream, start=1),
                batch_size=batch_size,
                progress=bar.update,
            )
        if verbosity >= 1:
            self._summary(result, dry_run=dry_run)
        for line_no, reason in result.invalid:
            self.stderr.write(f"line {line_no}: {reason}")
        if result.invalid:
            done = "would be imported" if dry_run else "were imported"
            raise CommandError(
                f"{len(result.invalid)} invalid line(s) skipped; the valid lines {done}.",
                returncode=1,
            )

    def _summary(self, result, *, dry_run: bool) -> None:
        counts = result.counts
        if dry_run:
            self.stdout.write("DRY RUN: nothing was written; a real run would report:")
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
