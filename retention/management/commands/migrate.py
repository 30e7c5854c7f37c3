"""`migrate`, as the tables' owner when `DATABASE_OWNER_URL` is set.

Django's own command, run on a connection with the owner's role; afterwards the
app role (DATABASE_URL's) gets the grants of `retention.services.database`
(read and append only on the audit trail). Without the setting, nothing
changes: one role does both (`make run`, the tests).
"""

from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as MigrateCommand
from django.db import DEFAULT_DB_ALIAS

from retention.services.database import (
    app_role,
    database_app_role_grant,
    owner_configured,
    owner_connection,
)


class Command(MigrateCommand):
    help = MigrateCommand.help + " Runs as DATABASE_OWNER_URL's role when that is set."

    def handle(self, *args, **options):
        using = options["database"]
        if not owner_configured() or using != DEFAULT_DB_ALIAS:
            return super().handle(*args, **options)
        role = app_role(using)
        with owner_connection(using):
            super().handle(*args, **options)
            problems = database_app_role_grant(role=role, using=using)
        if problems:
            raise CommandError("the app role is not least-privilege: " + "; ".join(problems))
        if options["verbosity"] >= 1:
            self.stdout.write(f"Granted the app role {role} its privileges (audit: read, append).")
