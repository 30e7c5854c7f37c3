"""The least-privilege database set-up: the app's role cannot change the audit trail.

Issue 12 §8: the app's role owned the audit table, so whoever got the app's database
password could disable the append-only trigger or truncate the trail. Here a real
PostgreSQL role is set up as production does (`grant_app_role`, or `migrate` as the
owner), and the app's connection tries what an attacker holding its password would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from requests_app.models import SubjectRequest
from retention.audit import audit_chain_verify, log_action
from retention.models import AuditEntry
from retention.services.database import database_app_role_problems
from tests.conftest import worker_database_url
from tests.requests_app.conftest import org  # noqa: F401, F811  (fixture)

BASE_DIR = Path(__file__).resolve().parents[2]
INIT_SCRIPT = BASE_DIR / "docker" / "postgres" / "initdb" / "10-roles.sh"
TRIGGER = "retention_auditentry_append_only"

pytestmark = pytest.mark.django_db(transaction=True)


def _admin(sql: str, params=None, *, dbname: str | None = None) -> None:
    """A statement as the test server's superuser, committed at once."""
    params_ = connection.get_connection_params()
    if dbname:
        params_["dbname"] = dbname
    conn = psycopg2.connect(**params_)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        conn.close()


@pytest.fixture
def app_role():
    """A login role like production's app role, granted by `grant_app_role`."""
    role = f"dsr_test_app_{secrets.token_hex(4)}"
    _admin(f"CREATE ROLE {role} LOGIN")
    try:
        call_command("grant_app_role", role)
        yield role
    finally:
        _admin(f"DROP OWNED BY {role}")
        _admin(f"DROP ROLE {role}")


@contextlib.contextmanager
def connected_as(role: str):
    """Django's connection uses `role` while the block runs (as web and workers would)."""
    saved = connection.settings_dict["USER"]
    connection.close()
    connection.settings_dict["USER"] = role
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["USER"] = saved


def as_role(role: str):
    params = connection.get_connection_params()
    params["user"] = role
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE retention_auditentry",
        f"ALTER TABLE retention_auditentry DISABLE TRIGGER {TRIGGER}",
        "ALTER TABLE retention_auditentry DISABLE TRIGGER ALL",
        "UPDATE retention_auditentry SET action = 'rewritten'",
        "DELETE FROM retention_auditentry",
        f"DROP TRIGGER {TRIGGER} ON retention_auditentry",
        "DROP TABLE retention_auditentry CASCADE",
        "CREATE OR REPLACE FUNCTION retention_audit_append_only() RETURNS trigger "
        "AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
    ],
)
def test_the_app_role_cannot_change_the_audit_trail(app_role, sql):
    log_action(action="test.before")
    conn = as_role(app_role)
    try:
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn.cursor() as cursor:
            cursor.execute(sql)
    finally:
        conn.close()
    assert AuditEntry.objects.filter(action="test.before").exists()
    assert audit_chain_verify().ok


def test_the_app_role_appends_with_log_action_and_reads(app_role):
    with connected_as(app_role):
        entry = log_action(action="test.appended", data={"n": 1})
        assert AuditEntry.objects.get(pk=entry.pk).action == "test.appended"
    assert audit_chain_verify().ok


def test_the_app_role_runs_the_portal(app_role, org):  # noqa: F811
    """Least privilege, not no privilege: a person files and confirms a request as the app."""
    with connected_as(app_role):
        response = Client().post(
            "/api/v1/requests",
            {
                "organisation": "testorg",
                "type": "access",
                "email": "anna@example.org",
                "full_name": "Anna Andersson",
                "language": "en",
                "format": "json",
            },
            content_type="application/json",
        )
        assert response.status_code == 201
        assert SubjectRequest.objects.count() == 1


def test_tables_created_later_by_the_owner_are_usable_by_the_app_role(app_role):
    """Default privileges: a later migration's table needs no new grant."""
    _admin("CREATE TABLE dsr_test_later (id int)")
    try:
        conn = as_role(app_role)
        try:
            with conn.cursor() as cursor:
                cursor.execute("INSERT INTO dsr_test_later VALUES (1)")
                cursor.execute("SELECT count(*) FROM dsr_test_later")
                assert cursor.fetchone() == (1,)
        finally:
            conn.close()
    finally:
        _admin("DROP TABLE dsr_test_later")


def test_a_role_that_owns_the_audit_table_is_reported(app_role):
    assert database_app_role_problems(role=app_role) == []
    owner = connection.settings_dict["USER"]
    problems = database_app_role_problems(role=owner)
    assert any("superuser" in p or "owns" in p for p in problems)


# --- The whole set-up: migrate as the owner, work as the app -----------------------------------


def _url(role: str, dbname: str) -> str:
    parts = urlsplit(worker_database_url())
    host = parts.netloc.split("@", 1)[1] if "@" in parts.netloc else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{role}@{host}", path=f"/{dbname}"))


def test_migrate_runs_as_the_owner_and_grants_the_app_role():
    """What docker compose does: its postgres init script makes the two roles on a fresh
    database, `migrate` runs with DATABASE_OWNER_URL, and the app connects as the app role."""
    suffix = secrets.token_hex(4)
    owner, app, dbname = f"dsr_test_owner_{suffix}", f"dsr_test_app_{suffix}", f"dsr_roles_{suffix}"
    _admin(f"CREATE DATABASE {dbname}")
    params = connection.get_connection_params()
    try:
        init = subprocess.run(
            ["sh", str(INIT_SCRIPT)],
            env={
                "PATH": f"{Path(pgserver_bin())}:{os.environ['PATH']}",
                "PGHOST": params.get("host", ""),
                "PGPORT": str(params.get("port") or 5432),
                "POSTGRES_USER": params["user"],
                "POSTGRES_DB": dbname,
                "PORTAL_OWNER_ROLE": owner,
                "PORTAL_OWNER_PASSWORD": secrets.token_urlsafe(16),
                "PORTAL_APP_ROLE": app,
                "PORTAL_APP_PASSWORD": secrets.token_urlsafe(16),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert init.returncode == 0, init.stderr
        env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": _url(app, dbname),
            "DATABASE_OWNER_URL": _url(owner, dbname),
        }
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "1"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"Granted the app role {app}" in result.stdout

        conn = psycopg2.connect(**{**params, "dbname": dbname, "user": app})
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_get_userbyid(relowner) FROM pg_class "
                    "WHERE relname = 'retention_auditentry'"
                )
                assert cursor.fetchone() == (owner,)
                cursor.execute(
                    "INSERT INTO retention_auditentry (created_at, actor_kind, action, "
                    "object_type, object_id, data, prev_hash, hash) VALUES (now(), 'system', "
                    "'test', '', '', '{}', %s, %s)",
                    ["0" * 64, "a" * 64],
                )
                for sql in (
                    "TRUNCATE retention_auditentry",
                    f"ALTER TABLE retention_auditentry DISABLE TRIGGER {TRIGGER}",
                    "UPDATE retention_auditentry SET action = 'x'",
                    "CREATE TABLE dsr_app_made (id int)",
                ):
                    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                        cursor.execute(sql)
                # Its other tables it works with as usual.
                cursor.execute("INSERT INTO django_session VALUES ('k', 'd', now())")
                cursor.execute("DELETE FROM django_session")
        finally:
            conn.close()
    finally:
        _admin(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
        _admin(f"DROP ROLE IF EXISTS {app}")
        _admin(f"DROP ROLE IF EXISTS {owner}")


def pgserver_bin() -> str:
    """The directory of the PostgreSQL client programs (psql) of the embedded server."""
    import shutil

    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
    if (bundled / "psql").exists():
        return str(bundled)
    found = shutil.which("psql")
    if not found:
        pytest.skip("no psql to run the init script with")
    return str(Path(found).parent)
