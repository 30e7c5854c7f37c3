"""Run the retention sweep now, in this process, with the same code as the nightly task.

    python manage.py sweep                       # every organisation
    python manage.py sweep --organisation framsteget --dry-run

--dry-run counts what would be deleted, reduced, anonymised or restricted per
rule, and the subjects that would go with their last record, and changes nothing.
Policy errors (records a law keeps with no end date the policy can give) are
printed to stderr. On a terminal a progress bar shows the chunks of each
organisation (counts and rate); -v 0 prints the policy errors only. Exit status 1
when the organisation does not exist or a policy error kept records.
"""

from django.core.management.base import BaseCommand, CommandError

from retention.management.progress import progress_bar
from retention.models import Organisation
from retention.services.sweeps import sweep_run_inline


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--organisation", metavar="SLUG")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--batch-size", type=int, default=5000)

    def handle(self, *args, organisation=None, dry_run=False, batch_size=5000, **options):
        verbosity = options["verbosity"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        orgs = Organisation.objects.all()
        if organisation:
            orgs = orgs.filter(slug=organisation)
            if not orgs.exists():
                raise CommandError(f"No organisation with the slug {organisation!r}")
        errors = 0
        total_processed = 0
        for org in orgs:
            with progress_bar(
                self, verbosity=verbosity, total=None, unit="chunk", desc=org.slug
            ) as bar:

                def progress(done: int, total: int, bar=bar) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                run = sweep_run_inline(
                    organisation=org, dry_run=dry_run, batch_size=batch_size, progress=progress
                )
            total_processed += run.processed
            errors += len(run.errors)
            verb = "would act on" if dry_run else "acted on"
            if verbosity >= 1:
                self.stdout.write(
                    f"{org.slug}: {verb} {run.processed} records in {run.elapsed:.2f}s"
                )
                for rule, counts in sorted(run.rule_counts.items()):
                    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
                    self.stdout.write(f"  {rule}: {shown}")
                if run.subjects_deleted:
                    self.stdout.write(
                        f"  subjects deleted with their last record: {run.subjects_deleted}"
                    )
            for error in run.errors:
                ids = ", ".join(map(str, error["record_ids"]))
                self.stderr.write(
                    f"  POLICY ERROR: {error['records']} record(s) of rule {error['rule']} kept: "
                    f"rule {error['overriding_rule']} gives no end date; fix the policy "
                    f"(records {ids})"
                )
        if verbosity >= 1:
            verb = "would act on" if dry_run else "acted on"
            self.stdout.write(
                f"summary: {len(orgs)} organisation(s), {verb} {total_processed} records, "
                f"{errors} policy error(s)"
            )
        if errors:
            raise CommandError(
                f"{errors} policy error(s): records a law keeps have no end date; fix the "
                "policies (see above)",
                returncode=1,
            )
