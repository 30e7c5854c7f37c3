"""Print a new key for PACKAGE_ENCRYPTION_KEY (32 random bytes, base64url)."""

from django.core.management.base import BaseCommand

from requests_app.encryption import key_generate


class Command(BaseCommand):
    help = "Print a new random key for PACKAGE_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        self.stdout.write(key_generate())
