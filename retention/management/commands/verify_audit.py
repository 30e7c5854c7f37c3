"""Walk the audit trail's hash chain; exit non-zero naming the first broken entry.

    python manage.py verify_audit

Each entry must hold the previous entry's hash and a hash of its own
canonical content (`retention.audit`). An entry changed or removed behind
the database's back (the trigger disabled) breaks the chain at that point.
"""

from django.core.management.base import BaseCommand, CommandError

from retention.audit import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exit 1 at the first broken entry."

    def handle(self, *args, **options):
        status = audit_chain_verify()
        if not status.ok:
            raise CommandError(
                f"audit chain broken at entry {status.first_broken_id}: {status.reason} "
                f"({status.checked} entries before it are intact)",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {status.checked} entries"))
