"""Load the organisations' policy files idempotently, and each one's nightly sweep.

    python manage.py load_policies                  # every file in retention/policies/
    python manage.py load_policies --dry-run -v 2   # what would change, gaps listed

--dry-run loads the files in a transaction that is rolled back: the report says
what would be created or updated, and nothing is written. A file that would not
load fails the command (exit status 1) and nothing is loaded.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from retention.management.progress import dry_run_atomic
from retention.models import Organisation
from retention.services.policies import PolicyError, policies_load
from retention.services.sweeps import sweep_schedule_ensure


class Command(BaseCommand):
    help = "Load the organisations' policy files (retention/policies/*.yaml) idempotently."

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="*", type=Path, help="default: every file in retention/policies/"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate and report what would change; write nothing",
        )

    def handle(self, *args, files, dry_run=False, **options):
        verbosity = options["verbosity"]
        with dry_run_atomic(dry_run):
            try:
                results = policies_load(paths=files or None)
            except PolicyError as exc:
                raise CommandError(f"Nothing was loaded:\n{exc}") from exc
            for organisation in Organisation.objects.all():
                sweep_schedule_ensure(organisation=organisation, cron=settings.SWEEP_SCHEDULE)
        if verbosity < 1:
            return
        if dry_run:
            self.stdout.write("DRY RUN: nothing was written; a real run would report:")
        for result in results:
            state = "created" if result.created else ("updated" if result.changed else "unchanged")
            gaps = f", {len(result.gaps)} policy gap(s)" if result.gaps else ""
            self.stdout.write(f"{result.slug}: {state}{gaps}")
            if verbosity > 1:
                with translation.override("en"):
                    for gap in result.gaps:
                        self.stdout.write(f"  {gap}")
