"""The keyrings of the keyed hashes: the first key signs, every listed key checks, each stored
hash names its key; `hmac_key` makes keys; hashes stored before keyrings stay valid."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from retention.keyring import (
    KeyringError,
    hmac_candidates,
    hmac_keys_parse,
    hmac_sign,
    hmac_verify,
)
from retention.models import Organisation, Suppression
from retention.services.rights import is_suppressed

K1, K2 = secrets.token_bytes(32), secrets.token_bytes(32)


@pytest.fixture
def two_keys(settings):
    settings.HMAC_KEYS = {**settings.HMAC_KEYS, "token": [("new", K2), ("old", K1)]}


def test_it_signs_with_the_first_key_and_names_it(two_keys):
    stored = hmac_sign(purpose="token", message="m")
    assert stored == "new$" + hmac.new(K2, b"m", hashlib.sha256).hexdigest()


def test_it_accepts_every_listed_key_and_nothing_else(two_keys, settings):
    old = "old$" + hmac.new(K1, b"m", hashlib.sha256).hexdigest()
    assert hmac_verify(purpose="token", message="m", stored=old)
    assert not hmac_verify(purpose="token", message="other", stored=old)
    assert not hmac_verify(purpose="token", message="m", stored=old.split("$")[1])  # no id
    assert not hmac_verify(purpose="token", message="m", stored="gone$" + old.split("$")[1])
    # A hash that names one key but was made with another is refused.
    assert not hmac_verify(purpose="token", message="m", stored="new$" + old.split("$")[1])


def test_a_lookup_asks_for_the_hash_under_every_key_signing_key_first(two_keys):
    candidates = hmac_candidates(purpose="token", message="m")
    assert [c.split("$")[0] for c in candidates] == ["new", "old"]


@pytest.mark.parametrize(
    "raw",
    [
        "nokid",
        ":" + "A" * 43,
        "k1:short",
        "k1:" + "A" * 43 + ",k1:" + "B" * 43,
        "way-too-long-key-id:" + "A" * 43,
        "k$1:" + "A" * 43,
    ],
)
def test_it_refuses_a_malformed_keyring(raw):
    with pytest.raises(KeyringError):
        hmac_keys_parse(raw)


def test_the_new_key_command_prints_a_key_the_settings_accept():
    out = StringIO()
    call_command("hmac_key", "--id", "k2027", stdout=out)
    ((kid, secret),) = hmac_keys_parse(out.getvalue().strip())
    assert kid == "k2027" and len(secret) == 32


def test_the_derived_keys_are_those_of_the_current_secret_key(settings):
    out = StringIO()
    call_command("hmac_key", "--derived", stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    assert set(lines) == {"HMAC_KEYS_TOMBSTONE", "HMAC_KEYS_SUPPRESSION", "HMAC_KEYS_TOKEN"}
    derived = hmac_keys_parse(lines["HMAC_KEYS_TOMBSTONE"].split(",", 1)[1])
    assert derived == [
        (
            "derived",
            hashlib.sha256(
                b"dsr-portal erasure tombstones|" + settings.SECRET_KEY.encode()
            ).digest(),
        )
    ]


def test_a_suppression_stored_before_keyrings_still_blocks_after_the_migration(organisations):
    """The data migration names the key of rows hashed the old way (from SECRET_KEY):
    with DEBUG's derived keys, or the derived entry listed in production, they still match."""
    from django.conf import settings

    org: Organisation = organisations["framsteget"]
    legacy_key = hashlib.sha256(b"dsr-portal suppression list|" + settings.SECRET_KEY.encode())
    legacy = hmac.new(legacy_key.digest(), b"email:bo@example.se", "sha256").hexdigest()
    Suppression.objects.create(organisation=org, kind="email", value_hash=legacy, reason="x")
    assert not is_suppressed(organisation=org, email="bo@example.se")

    migration = importlib.import_module("retention.migrations.0011_keyed_hashes_name_their_key")
    with connection.cursor() as cursor:
        cursor.execute(migration.FORWARD)

    assert Suppression.objects.get().value_hash == f"derived${legacy}"
    assert is_suppressed(organisation=org, email="bo@example.se")


def test_a_tombstone_stored_before_keyrings_still_refuses_the_import_after_the_migration(
    organisations,
):
    from tests.retention.test_erasure_tombstones import erase
    from tests.retention.test_import_records import run_import, subject_line

    run_import([subject_line(1)])
    erase(organisations["framsteget"], "cust-1")
    migration = importlib.import_module("retention.migrations.0011_keyed_hashes_name_their_key")
    with connection.cursor() as cursor:
        cursor.execute(migration.BACKWARD)  # as stored before: bare hex digests
    assert run_import([subject_line(1)]).counts.records_skipped_erased == 0
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM retention_record WHERE external_id = 'ip-1'")
        cursor.execute(migration.FORWARD)

    assert run_import([subject_line(1)]).counts.records_skipped_erased == 2
