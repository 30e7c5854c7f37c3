"""The append-only, hash-chained audit trail.

Each entry stores the previous entry's hash and its own hash over a canonical
JSON form of its content. Writers serialise on a transaction-level advisory
lock, so the chain stays linear with many web and worker processes. The lock
is held until the surrounding transaction commits: call `log_action` inside
the transaction of the change it records, as late as possible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from retention.models import AuditEntry, Organisation

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


def audit_chain_verify(*, batch_size: int = 5000) -> ChainStatus:
    """Walk the whole chain in id order; report the first entry that does not fit."""
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
