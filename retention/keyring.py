"""Keys of the keyed hashes (HMAC-SHA256), one keyring per purpose, each key with an id.

Every keyed hash the portal stores says which key made it: ``kid$hex``.
A keyring is a list of keys; the first signs (new hashes), every one is
accepted when checking, so a key is rotated by putting a new one first and
keeping the old one listed. A lookup by hash (a tombstone, a suppression, a
status token) computes the hash under every key and asks for any of them
(``IN (...)``, an index lookup), never scanning the table.

The purposes, each its own setting (``HMAC_KEYS_<PURPOSE>``, or
``HMAC_KEYS_<PURPOSE>_FILE``; comma-separated ``kid:base64url``, at least 32
bytes each; ``python manage.py hmac_key`` makes one):

- ``tombstone``: erasure tombstones (`retention.services.erasure`), kept for
  good. The identifiers they hash are gone, so they cannot be hashed again
  under a new key: a retired tombstone key stays listed (it only checks).
- ``suppression``: the direct-marketing suppression list
  (`retention.services.rights`), kept for good; the same applies.
- ``token``: short-lived secrets: verification codes, e-mail link tokens and
  API bearer tokens of a request (`requests_app.services`), and the hashed
  names and addresses in Redis counters (rate limits, staff lockouts). An old
  key can be dropped once the longest of them has expired
  (`STATUS_LINK_TTL_HOURS`); counters simply start again under a new key.

None of them depends on ``SECRET_KEY``: rotating ``SECRET_KEY`` after a leak
changes no stored hash. Only with ``DEBUG=true`` and nothing configured does
a purpose fall back to a key derived from ``SECRET_KEY`` (id ``derived``),
the derivation the portal used before keyrings existed, so hashes stored
then stay valid (migrations mark them ``derived$...``).

This module is imported by the settings (parsing) and has no model imports.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field

PURPOSES = ("tombstone", "suppression", "token")
SETTING_NAMES = {purpose: f"HMAC_KEYS_{purpose.upper()}" for purpose in PURPOSES}
DERIVED_KID = "derived"
SEPARATOR = "$"
MIN_KEY_BYTES = 32
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
# The longest stored value: a 16-character id, "$" and 64 hex digits.
STORED_MAX_LENGTH = 16 + 1 + 64

# How keys were derived from SECRET_KEY before keyrings (kept for DEBUG and upgrades).
_DERIVATIONS = {
    "tombstone": lambda secret: hashlib.sha256(
        b"dsr-portal erasure tombstones|" + secret.encode()
    ).digest(),
    "suppression": lambda secret: hashlib.sha256(
        b"dsr-portal suppression list|" + secret.encode()
    ).digest(),
    "token": lambda secret: secret.encode(),
}


class KeyringError(ValueError):
    """A keyring setting that cannot be used; the message says why (no key material)."""


@dataclass(frozen=True)
class HmacKey:
    kid: str
    secret: bytes = field(repr=False)

    def digest(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()

    def sign(self, message: str) -> str:
        """The stored form: ``kid$hex``."""
        return f"{self.kid}{SEPARATOR}{self.digest(message)}"


def hmac_keys_parse(raw: str) -> list[tuple[str, bytes]]:
    """``kid:base64url,kid:base64url`` as [(kid, key)]; raises `KeyringError`."""
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in (raw or "").split(",")):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not KID_PATTERN.match(kid):
            raise KeyringError(
                "each key is kid:base64url, the id 1-16 letters, digits, - or _ "
                "(make one with `python manage.py hmac_key`)"
            )
        try:
            secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            secret = b""
        if len(secret) < MIN_KEY_BYTES:
            raise KeyringError(
                f"key {kid!r}: at least {MIN_KEY_BYTES} random bytes, base64url-encoded"
            )
        if any(kid == known for known, _ in keys):
            raise KeyringError(f"key id {kid!r} appears twice")
        keys.append((kid, secret))
    return keys


def hmac_key_derived(*, purpose: str, secret_key: str) -> bytes:
    """The key this purpose used before keyrings, derived from `secret_key`."""
    return _DERIVATIONS[purpose](secret_key)


def hmac_key_generate(*, kid: str) -> str:
    """A new key in the setting's form, ``kid:base64url`` of 32 random bytes."""
    if not KID_PATTERN.match(kid):
        raise KeyringError("the key id is 1-16 letters, digits, - or _")
    return f"{kid}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"


def hmac_key_format(*, kid: str, secret: bytes) -> str:
    return f"{kid}:{base64.urlsafe_b64encode(secret).decode().rstrip('=')}"


def hmac_keys(purpose: str) -> list[HmacKey]:
    """The keyring of `purpose` from the settings, the signing key first."""
    from django.conf import settings

    return [HmacKey(kid, secret) for kid, secret in settings.HMAC_KEYS[purpose]]


def hmac_sign(*, purpose: str, message: str) -> str:
    """``kid$hex`` under the signing key."""
    return hmac_keys(purpose)[0].sign(message)


def hmac_candidates(*, purpose: str, message: str) -> list[str]:
    """The stored forms under every key (signing key first), for a lookup with IN."""
    return [key.sign(message) for key in hmac_keys(purpose)]


def hmac_verify(*, purpose: str, message: str, stored: str) -> bool:
    """Whether `stored` is the hash of `message` under the key it names (constant time)."""
    kid, sep, _digest = (stored or "").partition(SEPARATOR)
    if not sep:
        return False
    for key in hmac_keys(purpose):
        if key.kid == kid:
            return hmac.compare_digest(key.sign(message), stored)
    return False


def hmac_digest(*, purpose: str, message: str) -> str:
    """A bare hex digest under the signing key (for names that need no key id: cache keys)."""
    return hmac_keys(purpose)[0].digest(message)


def stored_kid(stored: str) -> str:
    """The key id a stored hash names ('' for none)."""
    kid, sep, _ = (stored or "").partition(SEPARATOR)
    return kid if sep else ""


def hmac_key_usage() -> dict[str, dict[str, int]]:
    """How many stored suppressions and tombstones each key id made (an operator's report:
    a key no row names can leave the keyring). One grouped query per table."""
    from django.db import connection

    usage: dict[str, dict[str, int]] = {"tombstone": {}, "suppression": {}}
    queries = {
        "suppression": "SELECT split_part(value_hash, '$', 1), count(*) "
        "FROM retention_suppression GROUP BY 1",
        "tombstone": "SELECT split_part(identifier_hashes[1], '$', 1), count(*) "
        "FROM retention_erasuretombstone GROUP BY 1",
    }
    with connection.cursor() as cursor:
        for purpose, sql in queries.items():
            cursor.execute(sql)
            usage[purpose] = {kid or "(none)": count for kid, count in cursor.fetchall()}
    return usage
