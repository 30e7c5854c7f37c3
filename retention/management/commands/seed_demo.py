"""Fill the record store with realistic Swedish demo data.

The work is done by `retention.demo.demo_seed`; this command
reports what it wrote and how long it took.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from retention.demo import FIXED_PEOPLE, DemoError, demo_seed
from retention.management.progress import progress_bar


def _fixed_people_help() -> str:
    return "; ".join(
        f"{person.email} ({person.organisation}, {person.external_id})" for person in FIXED_PEOPLE
    )


class Command(BaseCommand):
    help = (
        "Add demo data subjects with records and disclosures for the five organisations "
        "(run load_policies first). N subjects are spread evenly over the organisations, with "
        "external ids demo-<org>-<n>; the data is deterministic from --seed, so running again "
        "with the same arguments changes nothing, and existing demo rows are never overwritten. "
        "The fixed demo people are always added: " + _fixed_people_help() + ". "
        "Refused when DEBUG is false."
    )

    def add_arguments(self, parser):
        parser.add_argument("--subjects", type=int, required=True, help="N: how many subjects")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    def handle(self, *args, subjects, seed, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                "DEBUG is false: no demo data outside development "
                "(docker-compose.demo.yml turns DEBUG on for the demo)"
            )
        verbosity = options["verbosity"]
        bar = progress_bar(self, verbosity=verbosity, total=subjects, unit="subject", desc="seed")

        def progress(done: int) -> None:
            bar.update(done - bar.n)
            if bar.disable and verbosity >= 2 and done % 20000 < 2000:
                self.stdout.write(f"  {done} of {subjects} subjects ...")

        try:
            with bar:
                result = demo_seed(subjects=subjects, seed=seed, progress=progress)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        if verbosity < 1:
            return
        counts = result.counts
        per_organisation = ", ".join(f"{slug} {n}" for slug, n in result.per_organisation.items())
        self.stdout.write(
            f"subjects: {subjects} requested ({per_organisation}) + {len(FIXED_PEOPLE)} fixed\n"
            f"subjects: {counts.subjects_created} created, {result.subjects_existing} existed "
            "(skipped)\n"
            f"identifiers: {counts.identifiers_created} created\n"
            f"records: {counts.records_created} created\n"
            f"disclosures: {counts.disclosures_created} created\n"
            f"time: {result.seconds:.1f} s"
        )
        for person in FIXED_PEOPLE:
            self.stdout.write(
                f"fixed: {person.email} ({person.organisation}): {person.description}"
            )
