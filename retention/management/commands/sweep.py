"""Run the retention sweep now, in this process, with the same code as the nightly task.

    python manage.py sweep                       # every organisation
    python manage.py sweep --organisation framsteget --dry-run

--dry-run counts what would be deleted, reduced, anonymised or restricted per
rule and changes nothing.
"""

from django.core.management.base import BaseCommand, CommandError

from retention.models import Organisation
from retention.services.sweeps import sweep_run_inline


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--organisation", metavar="SLUG")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, organisation=None, dry_run=False, batch_size=5000, **options):
        orgs = Organisation.objects.all()
        if organisation:
            orgs = orgs.filter(slug=organisation)
            if not orgs.exists():
                raise CommandError(f"No organisation with the slug {organisation!r}")
        for org in orgs:
            run = sweep_run_inline(organisation=org, dry_run=dry_run, batch_size=batch_size)
            verb = "would act on" if dry_run else "acted on"
            self.stdout.write(f"{org.slug}: {verb} {run.processed} records in {run.elapsed:.2f}s")
            for rule, counts in sorted(run.rule_counts.items()):
                shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
                self.stdout.write(f"  {rule}: {shown}")
