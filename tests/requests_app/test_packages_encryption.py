"""The encrypted file format of packages: round trips, random access, tampering, keys."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from requests_app.encryption import (
    CHUNK,
    HEADER,
    TAG,
    DecryptionError,
    EncryptedReader,
    EncryptedWriter,
    key_generate,
    package_keys,
)

KEY = os.urandom(32)
BASE_DIR = Path(__file__).resolve().parents[2]


def encrypt(plain: bytes, *, context=b"package 1", key=KEY, piece=10_000) -> bytes:
    raw = io.BytesIO()
    writer = EncryptedWriter(raw, context=context, key=key)
    for start in range(0, len(plain), piece):
        writer.write(plain[start : start + piece])
    writer.close()
    return raw.getvalue()


def decrypt(sealed: bytes, *, context=b"package 1", keys=None) -> bytes:
    return EncryptedReader(io.BytesIO(sealed), context=context, keys=keys or [KEY]).read()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_it_round_trips_any_size(size):
    plain = os.urandom(size)
    sealed = encrypt(plain)
    chunks = max(1, -(-size // CHUNK))
    assert len(sealed) == HEADER + size + chunks * TAG
    assert decrypt(sealed) == plain
    reader = EncryptedReader(io.BytesIO(sealed), context=b"package 1", keys=[KEY])
    assert reader.size == size
    assert b"".join(reader.iter_chunks()) == plain


def test_it_reads_at_any_offset_as_zipfile_needs():
    plain = os.urandom(2 * CHUNK + 500)
    reader = EncryptedReader(io.BytesIO(encrypt(plain)), context=b"package 1", keys=[KEY])
    for offset, length in [(CHUNK - 3, 10), (0, 5), (2 * CHUNK + 490, 100), (5, CHUNK * 2)]:
        reader.seek(offset)
        assert reader.read(length) == plain[offset : offset + length]
    reader.seek(-4, os.SEEK_END)
    assert reader.read() == plain[-4:]


def test_the_same_content_never_encrypts_the_same_way():
    plain = b"Anna Andersson" * 100
    assert encrypt(plain) != encrypt(plain)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # cut short inside the last chunk
        lambda b: b[: HEADER + CHUNK + TAG],  # cut at a chunk boundary: the end is missing
        lambda b: b[:100] + bytes([b[100] ^ 1]) + b[101:],  # one bit flipped
        lambda b: b[:HEADER] + b[HEADER + CHUNK + TAG :],  # a chunk dropped
    ],
)
def test_any_change_to_the_file_is_detected(damage):
    sealed = encrypt(os.urandom(2 * CHUNK + 10))
    with pytest.raises(DecryptionError):
        decrypt(damage(sealed))


def test_a_file_cannot_pass_for_another_packages():
    sealed = encrypt(b"data of package 1")
    with pytest.raises(DecryptionError):
        decrypt(sealed, context=b"package 2")


def test_a_rotated_key_still_opens_old_files_and_an_unknown_key_is_named():
    old, new = os.urandom(32), os.urandom(32)
    sealed = encrypt(b"written with the old key", key=old)
    assert decrypt(sealed, keys=[new, old]) == b"written with the old key"
    with pytest.raises(DecryptionError, match="key"):
        decrypt(sealed, keys=[new])


def test_without_a_configured_key_one_is_derived_from_the_secret_key(settings):
    settings.PACKAGE_ENCRYPTION_KEYS = []
    derived = package_keys()
    assert len(derived) == 1 and len(derived[0]) == 32
    assert derived[0] not in (settings.SECRET_KEY.encode()[:32],)
    settings.SECRET_KEY = settings.SECRET_KEY + "-rotated"
    assert package_keys() != derived
    settings.PACKAGE_ENCRYPTION_KEYS = [KEY]
    assert package_keys() == [KEY]


def load_settings(**overrides: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter and print the package keys."""
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DEBUG": "true",
        **overrides,
    }
    code = (
        "import base64, django; django.setup(); from django.conf import settings; "
        "print(','.join(base64.urlsafe_b64encode(k).decode() "
        "for k in settings.PACKAGE_ENCRYPTION_KEYS))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_setting_takes_base64_keys_and_refuses_anything_else(tmp_path):
    first, second = key_generate(), key_generate()
    result = load_settings(PACKAGE_ENCRYPTION_KEY=f"{first}, {second}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{first},{second}"
    key_file = tmp_path / "key"
    key_file.write_text(first + "\n")
    assert load_settings(PACKAGE_ENCRYPTION_KEY_FILE=str(key_file)).stdout.strip() == first
    result = load_settings(PACKAGE_ENCRYPTION_KEY="too-short")
    assert result.returncode != 0
    assert "ImproperlyConfigured: PACKAGE_ENCRYPTION_KEY" in result.stderr
