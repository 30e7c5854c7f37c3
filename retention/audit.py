"""The append-only, hash-chained audit trail.

Each entry stores the previous entry's hash and its own hash over a canonical
JSON form of its content. Writers serialise on a transaction-level advisory
lock, so the chain stays linear with many web and worker processes. The lock
is held until the surrounding transaction commits: call `log_action` inside
the transaction of the change it records, as late as possible.

Tamper evidence in production: the app's database role can only SELECT and
INSERT here (`retention.services.database`); beat checks the whole chain daily
(`audit_check_run`, its result an `AuditCheck` the staff pages show) and
exports the chain's head (last id and hash) outside the database: a line
appended to `AUDIT_HEADS_FILE` and a log line. Someone who could rewrite the
whole table and recompute every hash would still not match the heads exported
before (`audit_heads_compare`, also run by `manage.py verify_audit`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from retention.models import AuditCheck, AuditEntry, Organisation

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
_LOCK_KEY = 0x41554454  # "AUDT"


def _canonical(entry: AuditEntry) -> bytes:
    content = {
        "created_at": entry.created_at.isoformat(),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "organisation_id": entry.organisation_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "data": entry.data,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def log_action(
    *,
    action: str,
    actor_kind: str = AuditEntry.ActorKind.SYSTEM,
    actor_id: int | None = None,
    organisation: Organisation | None = None,
    object_type: str = "",
    object_id: object = "",
    data: dict | None = None,
) -> AuditEntry:
    """Append one entry. `data` holds ids, counts and codes, never personal data.

    No savepoint: inside a caller's transaction a failed entry fails the whole
    change, as an unaudited change must not commit.
    """
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
        entry = AuditEntry(
            created_at=timezone.now(),
            actor_kind=actor_kind,
            actor_id=actor_id,
            organisation=organisation,
            action=action,
            object_type=object_type,
            object_id=str(object_id) if object_id != "" else "",
            data=json.loads(json.dumps(data or {}, default=str)),
            prev_hash=last or GENESIS,
        )
        entry.hash = entry_hash(entry)
        entry.save()
    return entry


@dataclass
class ChainStatus:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str = ""


def audit_chain_verify(
    *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> ChainStatus:
    """Walk the whole chain in id order; report the first entry that does not fit.
    `progress`, if given, is called after each batch with the number of entries it had."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEntry.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return ChainStatus(ok=True, checked=checked)
        for entry in batch:
            if entry.prev_hash != prev:
                return ChainStatus(False, checked, entry.id, "previous hash does not match")
            if entry_hash(entry) != entry.hash:
                return ChainStatus(False, checked, entry.id, "content does not match its hash")
            prev = entry.hash
            checked += 1
            last_id = entry.id
        if progress:
            progress(len(batch))


# --- Tamper evidence outside the database -----------------------------------------------------

_HEAD_LINE = re.compile(r"\bid=(\d+) hash=([0-9a-f]{64})\b")


@dataclass(frozen=True)
class ExportedHead:
    line_number: int
    entry_id: int
    hash: str


def audit_heads_read(path: Path) -> list[ExportedHead]:
    """The heads exported to `path` (lines that do not parse are skipped)."""
    if not path.is_file():
        return []
    heads = []
    with path.open() as handle:
        for number, line in enumerate(handle, start=1):
            match = _HEAD_LINE.search(line)
            if match:
                heads.append(ExportedHead(number, int(match[1]), match[2]))
    return heads


def audit_heads_compare(*, path: Path) -> ChainStatus:
    """Compare the database with every head exported to `path`: each exported entry must
    still be there with the same hash. A different hash means the trail was rewritten;
    a missing entry that it was cut. One query per 1,000 exported heads."""
    heads = audit_heads_read(path)
    for start in range(0, len(heads), 1000):
        chunk = heads[start : start + 1000]
        stored = dict(
            AuditEntry.objects.filter(id__in=[h.entry_id for h in chunk]).values_list("id", "hash")
        )
        for head in chunk:
            if head.entry_id not in stored:
                return ChainStatus(
                    False,
                    0,
                    head.entry_id,
                    f"entry {head.entry_id}, exported as a head (line {head.line_number}), "
                    "is missing: the trail was cut",
                )
            if stored[head.entry_id] != head.hash:
                return ChainStatus(
                    False,
                    0,
                    head.entry_id,
                    f"entry {head.entry_id} differs from the head exported (line "
                    f"{head.line_number}): the trail was rewritten",
                )
    return ChainStatus(True, len(heads))


def audit_head() -> tuple[int, str] | None:
    """The chain's head: the last entry's id and hash."""
    return AuditEntry.objects.order_by("-id").values_list("id", "hash").first()


def audit_head_export(*, path: Path, check: AuditCheck) -> None:
    """Append the head of `check` to `path` and write it as a log line (outside the database)."""
    if check.head_id is None:
        return
    line = (
        f"{check.checked_at.isoformat()} head id={check.head_id} hash={check.head_hash} "
        f"ok={'yes' if check.ok else 'no'}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(line + "\n")
    logger.info("audit chain head id=%s hash=%s ok=%s", check.head_id, check.head_hash, check.ok)


def audit_check_run(
    *,
    heads_path: Path | None = None,
    export: bool = True,
    progress: Callable[[int], None] | None = None,
) -> AuditCheck:
    """Walk the chain, compare it with the exported heads, store the result and export the
    current head (beat, daily: `AUDIT_CHECK_SCHEDULE`)."""
    path = Path(heads_path or settings.AUDIT_HEADS_FILE)
    started = time.monotonic()
    head = audit_head()
    status = audit_chain_verify(progress=progress)
    if status.ok:
        compared = audit_heads_compare(path=path)
        if not compared.ok:
            status = ChainStatus(False, status.checked, compared.first_broken_id, compared.reason)
    check = AuditCheck.objects.create(
        checked_at=timezone.now(),
        ok=status.ok,
        entries_checked=status.checked,
        first_broken_id=status.first_broken_id,
        reason=status.reason[:200],
        head_id=head[0] if head else None,
        head_hash=head[1] if head else "",
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    if status.ok:
        logger.info("audit chain intact: %s entries", status.checked)
    else:
        logger.error("audit chain broken at entry %s: %s", status.first_broken_id, status.reason)
    if export:
        audit_head_export(path=path, check=check)
    return check


def audit_check_latest() -> AuditCheck | None:
    return AuditCheck.objects.order_by("-checked_at", "-id").first()
