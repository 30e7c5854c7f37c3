"""The daily audit check: beat walks the chain, stores the result and exports the chain's
head outside the database, so even a trail rewritten with recomputed hashes is caught."""

from __future__ import annotations

import json
import logging

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from retention.audit import (
    GENESIS,
    audit_chain_verify,
    audit_check_run,
    audit_heads_read,
    entry_hash,
    log_action,
)
from retention.models import AuditCheck, AuditEntry
from retention.tasks import audit_check

TRIGGER = "retention_auditentry_append_only"

pytestmark = pytest.mark.django_db


@pytest.fixture
def heads(settings, tmp_path):
    settings.AUDIT_HEADS_FILE = tmp_path / "audit" / "chain-heads.log"
    return settings.AUDIT_HEADS_FILE


@pytest.fixture
def entries(db):
    return [log_action(action="test.action", data={"n": i}) for i in range(6)]


def _unguarded(*statements: tuple[str, list]) -> None:
    """What someone owning the table could do: the trigger off, then anything."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE retention_auditentry DISABLE TRIGGER {TRIGGER}")
        try:
            for sql, params in statements:
                cursor.execute(sql, params)
        finally:
            cursor.execute(f"ALTER TABLE retention_auditentry ENABLE TRIGGER {TRIGGER}")


def rewrite_from(entry_id: int) -> None:
    """Change an entry and recompute every hash after it: the chain itself stays valid."""
    rows = list(AuditEntry.objects.filter(id__gte=entry_id).order_by("id"))
    prev = AuditEntry.objects.filter(id__lt=entry_id).order_by("-id").first()
    prev_hash = prev.hash if prev else GENESIS
    statements = []
    for row in rows:
        if row.id == entry_id:
            row.data = {"n": "forged"}
        row.prev_hash = prev_hash
        row.hash = entry_hash(row)
        prev_hash = row.hash
        statements.append(
            (
                "UPDATE retention_auditentry SET data = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                [json.dumps(row.data), row.prev_hash, row.hash, row.id],
            )
        )
    _unguarded(*statements)


def test_beat_checks_the_chain_every_day():
    entry = django_settings.CELERY_BEAT_SCHEDULE["retention-audit-check"]
    assert entry["task"] == "retention.tasks.audit_check"
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"] == crontab(minute="15", hour="3")


def test_the_check_stores_its_result_and_exports_the_head(entries, heads, caplog):
    caplog.set_level(logging.INFO, logger="retention.audit")
    check = AuditCheck.objects.get(pk=audit_check.run())

    assert check.ok and check.entries_checked == 6
    assert (check.head_id, check.head_hash) == (entries[-1].pk, entries[-1].hash)
    (exported,) = audit_heads_read(heads)
    assert (exported.entry_id, exported.hash) == (entries[-1].pk, entries[-1].hash)
    assert f"audit chain head id={entries[-1].pk} hash={entries[-1].hash}" in caplog.text


def test_a_rewritten_trail_passes_the_chain_but_not_the_exported_heads(entries, heads):
    audit_check_run()
    rewrite_from(entries[2].pk)
    assert audit_chain_verify().ok  # every hash recomputed: the chain alone cannot tell

    check = audit_check_run()

    assert not check.ok
    assert check.first_broken_id == entries[-1].pk
    assert "rewritten" in check.reason
    with pytest.raises(CommandError) as exc:
        call_command("verify_audit")
    assert "rewritten" in str(exc.value) and exc.value.returncode == 1


def test_a_trail_cut_at_its_end_is_caught(entries, heads):
    audit_check_run()
    _unguarded(("DELETE FROM retention_auditentry WHERE id >= %s", [entries[4].pk]))
    assert audit_chain_verify().ok

    with pytest.raises(CommandError) as exc:
        call_command("verify_audit")
    assert "missing" in str(exc.value)


def test_verify_audit_compares_with_a_copy_of_the_heads_kept_elsewhere(entries, heads, tmp_path):
    audit_check_run()
    copy = tmp_path / "offsite.log"
    copy.write_text(heads.read_text())
    heads.unlink()  # whoever rewrote the trail also removed the local file
    rewrite_from(entries[1].pk)

    call_command("verify_audit")  # nothing to compare with: the chain alone looks fine
    with pytest.raises(CommandError):
        call_command("verify_audit", "--heads", str(copy))


def test_verify_audit_can_record_a_check_as_beat_does(entries, heads, capsys):
    call_command("verify_audit", "--record")
    assert AuditCheck.objects.get().ok
    assert len(audit_heads_read(heads)) == 1
    assert "intact: 6 entries" in capsys.readouterr().out
