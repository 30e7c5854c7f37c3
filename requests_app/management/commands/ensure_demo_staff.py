"""Ensure the demo staff account exists (used by `make run`).

The credentials come from DEMO_STAFF_USERNAME / DEMO_STAFF_PASSWORD, or a
password is generated and printed once, when the account is created. The
account is an approver and admin in every organisation, and a superuser only
with --superuser. A generated password is printed even with -v 0 (it is shown
nowhere else); the other messages need -v 1. Refused when DEBUG is false.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from retention.models import Organisation, StaffMembership


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--superuser", action="store_true")

    @transaction.atomic
    def handle(self, *args, superuser=False, **options):
        if not settings.DEMO_DATA_ALLOWED:
            raise CommandError(
                "DEBUG is false: no demo staff account outside development "
                "(docker-compose.demo.yml turns DEBUG on for the demo)"
            )
        verbosity = options["verbosity"]
        username = os.environ.get("DEMO_STAFF_USERNAME") or "demo-staff"
        password = os.environ.get("DEMO_STAFF_PASSWORD") or ""
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"is_staff": True, "email": f"{username}@example.org"}
        )
        if created:
            generated = not password
            password = password or secrets.token_urlsafe(12)
            user.set_password(password)
            user.is_superuser = superuser
            user.save()
            shown = password if generated else "(from DEMO_STAFF_PASSWORD)"
            if generated or verbosity >= 1:
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Demo staff account created: {username} / {shown}\n"
                        "This password is shown only once; reset it with "
                        f"`python manage.py changepassword {username}`."
                    )
                )
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            if verbosity >= 1:
                self.stdout.write(
                    f"Demo staff account {username}: password set from DEMO_STAFF_PASSWORD"
                )
        elif verbosity >= 1:
            self.stdout.write(f"Demo staff account {username} exists")
        memberships = [
            StaffMembership(user=user, organisation=org, role=StaffMembership.Role.ADMIN)
            for org in Organisation.objects.all()
        ]
        StaffMembership.objects.bulk_create(memberships, ignore_conflicts=True)
