"""Keys of the keyed hashes (retention.keyring): make one, or see which are still in use.

    python manage.py hmac_key                 # a new key, kid:base64url (id k<YYYYMMDD>)
    python manage.py hmac_key --id k2         # ... with this id
    python manage.py hmac_key --derived       # the keys derived from the current SECRET_KEY,
                                              # to keep hashes stored before keyrings valid
    python manage.py hmac_key --usage         # stored tombstones / suppressions per key id

Rotation (README, "Rotating keys"): put the new key first in HMAC_KEYS_<PURPOSE>,
keep the old ones after it. Nothing else has to happen: new hashes use the first
key, every listed key is accepted.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from retention.keyring import (
    DERIVED_KID,
    PURPOSES,
    SETTING_NAMES,
    KeyringError,
    hmac_key_derived,
    hmac_key_format,
    hmac_key_generate,
    hmac_key_usage,
    hmac_keys,
)


class Command(BaseCommand):
    help = "Print a new key for HMAC_KEYS_<PURPOSE>, the derived keys, or the keys in use."

    def add_arguments(self, parser):
        parser.add_argument("--id", dest="kid", default="", help="the key id (default k<date>)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--derived",
            action="store_true",
            help="print the keys derived from the current SECRET_KEY (for upgrades)",
        )
        group.add_argument("--usage", action="store_true", help="count stored hashes per key id")

    def handle(self, *args, kid, derived, usage, **options):
        if derived:
            for purpose in PURPOSES:
                secret = hmac_key_derived(purpose=purpose, secret_key=settings.SECRET_KEY)
                line = hmac_key_format(kid=DERIVED_KID, secret=secret)
                self.stdout.write(f"{SETTING_NAMES[purpose]}=<new key>,{line}")
            return
        if usage:
            counts = hmac_key_usage()
            for purpose, by_kid in counts.items():
                listed = [key.kid for key in hmac_keys(purpose)]
                self.stdout.write(f"{SETTING_NAMES[purpose]} (listed: {', '.join(listed)})")
                for key_id, count in sorted(by_kid.items()):
                    mark = "" if key_id in listed else "  NOT LISTED: these no longer match"
                    self.stdout.write(f"  {key_id}: {count}{mark}")
            return
        try:
            self.stdout.write(hmac_key_generate(kid=kid or f"k{timezone.now():%Y%m%d}"))
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
