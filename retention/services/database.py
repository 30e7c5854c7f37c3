"""The least-privilege database set-up: an owner role that migrates, an app role that works.

In production two PostgreSQL roles share the database:

- the **owner** (`DATABASE_OWNER_URL`) owns every table and runs the migrations
  (`manage.py migrate`, which switches to it when the setting is there) and
  nothing else;
- the **app** (`DATABASE_URL`: web, workers, beat) may read and write the
  tables it works with, but the audit trail only read and append to: no
  UPDATE, DELETE or TRUNCATE, and, as it owns nothing, no ALTER TABLE (so it
  cannot disable the append-only trigger or drop the table).

`database_app_role_grant` gives the app role exactly that, including default
privileges for the tables later migrations create; `migrate` runs it after
migrating, and `manage.py grant_app_role` on its own. docker compose sets the
roles up (`docker/postgres/initdb/10-roles.sh`). `make run` keeps one role for
both (nothing to set up on a development machine).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

# Tables the app may only read and append to.
APPEND_ONLY_TABLES = ("retention_auditentry",)
_CONNECTION_KEYS = ("NAME", "USER", "PASSWORD", "HOST", "PORT")


def owner_configured() -> bool:
    return settings.DATABASE_OWNER is not None


@contextlib.contextmanager
def owner_connection(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """While the block runs, the connection `using` is the owner's (`DATABASE_OWNER_URL`)."""
    if not owner_configured():
        yield
        return
    connection = connections[using]
    saved = {key: connection.settings_dict.get(key) for key in _CONNECTION_KEYS}
    connection.close()
    connection.settings_dict.update(
        {key: settings.DATABASE_OWNER.get(key, "") for key in _CONNECTION_KEYS}
    )
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def app_role(using: str = DEFAULT_DB_ALIAS) -> str:
    """The role the app connects as (DATABASE_URL's user)."""
    return connections[using].settings_dict.get("USER") or ""


def database_app_role_grant(*, role: str, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Grant `role` what the app needs and no more; run as the tables' owner. Idempotent.

    Returns the problems that grants cannot fix (the role owns the audit table, or is a
    superuser): each defeats the set-up and must be fixed by the database administrator.
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(%s), quote_ident(current_database()), "
            "quote_ident(current_schema())",
            [role],
        )
        quoted, database, schema = cursor.fetchone()
        statements = [
            f"GRANT CONNECT ON DATABASE {database} TO {quoted}",
            f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
            f"REVOKE CREATE ON SCHEMA {schema} FROM {quoted}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quoted}",
            f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {quoted}",
        ]
        for table in APPEND_ONLY_TABLES:
            statements.append(
                f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {quoted}"
            )
        for statement in statements:
            cursor.execute(statement)
        return database_app_role_problems(role=role, using=using)


def database_app_role_problems(*, role: str, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """What would let `role` change the audit trail despite the grants."""
    problems = []
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role])
        row = cursor.fetchone()
        if row is None:
            return [f"role {role} does not exist"]
        if row[0]:
            problems.append(f"role {role} is a superuser")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(
                "SELECT pg_has_role(%s, relowner, 'USAGE') FROM pg_class "
                "WHERE oid = to_regclass(%s)",
                [role, table],
            )
            owned = cursor.fetchone()
            if owned and owned[0]:
                problems.append(f"role {role} owns (or is a member of the owner of) {table}")
    return problems
