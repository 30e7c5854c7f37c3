"""Files encrypted at rest: a chunked AES-256-GCM stream (the `cryptography` package).

Access and portability packages are written straight into an `EncryptedWriter`
and read back through an `EncryptedReader`: the plaintext never touches the
disk, and neither side holds more than one chunk (64 KiB) in memory.

File layout (version 1)::

    magic    8 bytes   b"DSRPKG\\x00\\x01"
    key id   8 bytes   HMAC-SHA256(key, "dsr-portal key id")[:8]: which key wrote it
    salt    16 bytes   random; HKDF-SHA256(key, salt) gives this file's own key
    chunks             AES-256-GCM of 64 KiB plaintext each (+ 16-byte tag); the last
                       chunk is shorter (possibly empty) and marked in its nonce

The nonce of chunk i is i (11 bytes, big-endian) followed by 1 for the last
chunk and 0 otherwise, so chunks cannot be reordered, dropped or the file
truncated without the tag check failing (the STREAM construction of Hoang,
Reyhanitabar, Rogaway and Vizár). The header and a caller-given context (the
package's id) are authenticated with every chunk, so a file cannot be swapped
for another package's.

Keys: `PACKAGE_ENCRYPTION_KEY` (32 bytes, base64url; several comma-separated
keys: the first encrypts, all decrypt, for rotation), else a key derived
from `SECRET_KEY` with HKDF.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

MAGIC = b"DSRPKG\x00\x01"
CHUNK = 64 * 1024
TAG = 16
HEADER = len(MAGIC) + 8 + 16


class DecryptionError(Exception):
    """The file is not ours, was written with a key we no longer have, or was altered."""


def key_generate() -> str:
    """A new key for PACKAGE_ENCRYPTION_KEY."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _hkdf(key: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def package_keys() -> list[bytes]:
    """The configured keys, first the one that encrypts; else one derived from SECRET_KEY."""
    keys = list(getattr(settings, "PACKAGE_ENCRYPTION_KEYS", []) or [])
    if keys:
        return keys
    return [_hkdf(settings.SECRET_KEY.encode(), salt=None, info=b"dsr-portal package key v1")]


def key_id(key: bytes) -> bytes:
    return hmac.new(key, b"dsr-portal key id", hashlib.sha256).digest()[:8]


def _nonce(index: int, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class EncryptedWriter(io.RawIOBase):
    """A write-only, unseekable binary stream that encrypts into `raw`.

    `sha256` and `size` describe the plaintext. `close()` writes the last
    chunk (it does not close `raw`).
    """

    def __init__(self, raw, *, context: bytes, key: bytes | None = None):
        super().__init__()
        key = key or package_keys()[0]
        salt = os.urandom(16)
        self._header = MAGIC + key_id(key) + salt
        self._aead = AESGCM(_hkdf(key, salt=salt, info=b"dsr-portal package file v1"))
        self._aad = self._header + context
        self._raw = raw
        self._buffer = bytearray()
        self._index = 0
        self._hash = hashlib.sha256()
        self.size = 0
        raw.write(self._header)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptedWriter")
        data = bytes(data)
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        # Keep at least one byte back: the last chunk is written by close().
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), last=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        self._raw.write(self._aead.encrypt(_nonce(self._index, last), plaintext, self._aad))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._raw.flush()
        super().close()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class EncryptedReader(io.RawIOBase):
    """A readable, seekable view of the plaintext of an encrypted file (one chunk in memory)."""

    def __init__(self, raw, *, context: bytes, keys: list[bytes] | None = None):
        super().__init__()
        self._raw = raw
        header = raw.read(HEADER)
        if len(header) != HEADER or header[: len(MAGIC)] != MAGIC:
            raise DecryptionError("not a package file")
        wanted = header[len(MAGIC) : len(MAGIC) + 8]
        key = next((k for k in (keys or package_keys()) if key_id(k) == wanted), None)
        if key is None:
            raise DecryptionError("written with a key that is not configured")
        salt = header[len(MAGIC) + 8 :]
        self._aead = AESGCM(_hkdf(key, salt=salt, info=b"dsr-portal package file v1"))
        self._aad = header + context
        raw.seek(0, os.SEEK_END)
        body = raw.tell() - HEADER
        self._chunks = max(1, -(-body // (CHUNK + TAG)))
        self.size = body - self._chunks * TAG
        if self.size < 0:
            raise DecryptionError("the file is truncated")
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def _chunk(self, index: int) -> bytes:
        if self._cached and self._cached[0] == index:
            return self._cached[1]
        self._raw.seek(HEADER + index * (CHUNK + TAG))
        sealed = self._raw.read(CHUNK + TAG)
        try:
            plain = self._aead.decrypt(_nonce(index, index == self._chunks - 1), sealed, self._aad)
        except InvalidTag as exc:
            raise DecryptionError("the file was altered or belongs to another package") from exc
        self._cached = (index, plain)
        return plain

    def readinto(self, buffer) -> int:
        if self._pos >= self.size:
            return 0
        index, offset = divmod(self._pos, CHUNK)
        data = self._chunk(index)[offset : offset + len(buffer)]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        out = bytearray()
        while len(out) < size:
            index, offset = divmod(self._pos, CHUNK)
            if self._pos >= self.size:
                break
            data = self._chunk(index)[offset : offset + size - len(out)]
            out += data
            self._pos += len(data)
        return bytes(out)

    def iter_chunks(self):
        """The plaintext from the start, chunk by chunk (for a streaming response)."""
        for index in range(self._chunks):
            data = self._chunk(index)
            if data:
                yield data
