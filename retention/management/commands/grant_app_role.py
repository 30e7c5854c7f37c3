"""Give the app's database role its least privileges (run as the tables' owner).

    python manage.py grant_app_role            # DATABASE_URL's role
    python manage.py grant_app_role portal_app

It may read and write the tables it works with, and only read and append to the
audit trail; default privileges cover tables later migrations create. `migrate`
does this by itself when DATABASE_OWNER_URL is set. See the README, "Database
roles".
"""

from django.core.management.base import BaseCommand, CommandError

from retention.services.database import app_role, database_app_role_grant, owner_connection


class Command(BaseCommand):
    help = "Grant the app's database role its least privileges (audit trail: read, append)."

    def add_arguments(self, parser):
        parser.add_argument("role", nargs="?", default="", help="default: DATABASE_URL's user")

    def handle(self, *args, role, **options):
        role = role or app_role()
        with owner_connection():
            problems = database_app_role_grant(role=role)
        if problems:
            raise CommandError("; ".join(problems))
        if options["verbosity"] >= 1:
            self.stdout.write(f"{role}: read and append on the audit trail, its tables otherwise.")
