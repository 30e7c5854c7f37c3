"""Check the organisations' policy files for legal mistakes, with file and line.

    python manage.py check_policies                  # every file in retention/policies/
    python manage.py check_policies path/to/org.yaml

Reports, per organisation, what `retention.services.policy_check` finds: errors
(a file that `load_policies` refuses) and warnings ("policy gaps", stored and shown
to staff when the file is loaded). Exits with an error when any file has errors.
Reads the files only: nothing is written.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from retention.services.policies import POLICY_DIR, policy_check_file
from retention.services.policy_check import errors_of, warnings_of


class Command(BaseCommand):
    help = "Check the policy files (retention/policies/*.yaml) for legal mistakes."
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="*", type=Path, help="default: every file in retention/policies/"
        )

    def handle(self, *args, files, **options):
        paths = sorted(files or POLICY_DIR.glob("*.yaml"))
        failed = 0
        with translation.override("en"):
            for path in paths:
                doc, findings, problems = policy_check_file(path)
                errors = [*problems, *map(str, errors_of(findings))]
                warnings = [str(f) for f in warnings_of(findings)]
                slug = (doc or {}).get("organisation", {}).get("slug", path.stem)
                failed += bool(errors)
                if options["verbosity"] < 1:
                    continue
                self.stdout.write(
                    f"{slug} ({path.name}): {len(errors)} error(s), {len(warnings)} warning(s)"
                )
                for line in errors + warnings:
                    self.stdout.write(f"  {line}")
        if failed:
            raise CommandError(f"{failed} policy file(s) have errors and would not load.")
