"""The audit trail is append-only and tamper-evident: the database refuses changes, and
`verify_audit` finds what was changed behind its back."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from retention.audit import audit_chain_verify, log_action
from retention.models import AuditEntry

TRIGGER = "retention_auditentry_append_only"


@pytest.fixture
def entries(db):
    return [log_action(action="test.action", data={"n": i}) for i in range(5)]


def test_verify_audit_reports_an_intact_chain(entries, capsys):
    call_command("verify_audit")
    assert "intact: 5 entries" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE retention_auditentry SET action = 'changed' WHERE id = %s",
        "DELETE FROM retention_auditentry WHERE id = %s",
    ],
)
def test_the_database_refuses_to_change_or_delete_an_entry(entries, sql):
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [entries[2].pk])
    assert AuditEntry.objects.get(pk=entries[2].pk).action == "test.action"


def test_the_model_refuses_to_delete_or_resave(entries):
    with pytest.raises(PermissionError):
        entries[0].delete()
    with pytest.raises(PermissionError):
        entries[0].save()


def _tamper(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks on the table
        cursor.execute(f"ALTER TABLE retention_auditentry DISABLE TRIGGER {TRIGGER}")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute(f"ALTER TABLE retention_auditentry ENABLE TRIGGER {TRIGGER}")


def test_verify_audit_names_the_first_altered_entry(entries):
    _tamper("UPDATE retention_auditentry SET data = '{\"n\": 99}' WHERE id = %s", [entries[2].pk])
    with pytest.raises(CommandError) as exc:
        call_command("verify_audit")
    assert exc.value.returncode == 1
    assert f"entry {entries[2].pk}" in str(exc.value)
    assert "content does not match" in str(exc.value)


def test_verify_audit_notices_a_deleted_entry(entries):
    _tamper("DELETE FROM retention_auditentry WHERE id = %s", [entries[1].pk])
    status = audit_chain_verify()
    assert not status.ok
    assert status.first_broken_id == entries[2].pk
    assert status.reason == "previous hash does not match"


def test_the_trigger_is_back_after_tampering(entries):
    _tamper("UPDATE retention_auditentry SET action = 'x' WHERE id = %s", [entries[0].pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM retention_auditentry WHERE id = %s", [entries[3].pk])


def test_admins_see_the_chain_status(organisations, entries):
    """The staff page shows a broken chain (see tests/requests_app/test_staff_reports.py)."""
    status = audit_chain_verify()
    assert status.ok and status.checked >= 5
