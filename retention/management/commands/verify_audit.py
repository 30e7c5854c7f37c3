"""Walk the audit trail's hash chain and compare it with the exported heads; exit non-zero
naming the first broken entry.

    python manage.py verify_audit                      # chain + AUDIT_HEADS_FILE
    python manage.py verify_audit --heads copy.log     # + a copy kept elsewhere
    python manage.py verify_audit --record             # also store the result and export
                                                       # the head (what beat does daily)

Each entry must hold the previous entry's hash and a hash of its own canonical
content (`retention.audit`). An entry changed or removed behind the database's
back (the trigger disabled) breaks the chain at that point; a trail rewritten
from some entry on, hashes recomputed, or cut at its end no longer matches the
heads exported before.

On a terminal a progress bar counts the entries checked (with the rate); -v 0
prints nothing when the chain is intact. Exit status 1 when it is broken.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from retention.audit import audit_chain_verify, audit_check_run, audit_heads_compare
from retention.management.progress import progress_bar, progress_enabled
from retention.models import AuditEntry


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and its exported heads; exit 1 if broken."

    def add_arguments(self, parser):
        parser.add_argument(
            "--heads",
            action="append",
            default=[],
            metavar="FILE",
            help="a file of exported heads to compare with (default: AUDIT_HEADS_FILE)",
        )
        parser.add_argument(
            "--record", action="store_true", help="store the result and export the head"
        )

    def handle(self, *args, heads, record, **options):
        verbosity = options["verbosity"]
        files = [Path(h) for h in heads] or [Path(settings.AUDIT_HEADS_FILE)]
        # The total (a count of the whole trail) only when a bar is shown.
        total = AuditEntry.objects.count() if progress_enabled(self, verbosity=verbosity) else None
        with progress_bar(
            self, verbosity=verbosity, total=total, unit="entry", desc="audit"
        ) as bar:
            status_ok, checked, broken, reason = self._verify(files, record, bar.update)
        if record:
            files = files[1:]
        for path in files if status_ok else []:
            compared = audit_heads_compare(path=path)
            if not compared.ok:
                status_ok, broken, reason = False, compared.first_broken_id, compared.reason
                break
        if not status_ok:
            raise CommandError(
                f"audit chain broken at entry {broken}: {reason} ({checked} entries checked)",
                returncode=1,
            )
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(f"audit chain intact: {checked} entries"))

    def _verify(self, files, record, progress):
        if record:
            check = audit_check_run(heads_path=files[0], progress=progress)
            return check.ok, check.entries_checked, check.first_broken_id, check.reason
        status = audit_chain_verify(progress=progress)
        return status.ok, status.checked, status.first_broken_id, status.reason
