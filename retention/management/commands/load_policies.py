from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from retention.models import Organisation
from retention.services.policies import PolicyError, policies_load
from retention.services.sweeps import sweep_schedule_ensure


class Command(BaseCommand):
    help = "Load the organisations' policy files (retention/policies/*.yaml) idempotently."

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="*", type=Path, help="default: every file in retention/policies/"
        )

    def handle(self, *args, files, **options):
        try:
            results = policies_load(paths=files or None)
        except PolicyError as exc:
            raise CommandError(f"Nothing was loaded:\n{exc}") from exc
        for result in results:
            state = "created" if result.created else ("updated" if result.changed else "unchanged")
            self.stdout.write(f"{result.slug}: {state}")
        for organisation in Organisation.objects.all():
            sweep_schedule_ensure(organisation=organisation, cron=settings.SWEEP_SCHEDULE)
