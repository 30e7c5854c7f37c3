"""The embedded PostgreSQL and Redis start, keep their data, and stop cleanly."""

import os
import secrets
import socket
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis

from portal.embedded import (
    DatabaseUnavailable,
    EmbeddedPostgres,
    EmbeddedRedis,
    database_ensure,
    free_port,
    start_services,
    stop_services,
)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_redis_starts_on_a_free_loopback_port_and_stops(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    assert url == f"redis://127.0.0.1:{server.port}/0"
    client = redis.Redis.from_url(url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    server.stop()
    assert not server.running
    assert not _port_open(server.port)


def test_redis_keeps_its_data_across_a_restart_when_persistent(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis", persistent=True)
    client = redis.Redis.from_url(server.start())
    client.set("kept", "yes")
    server.stop()
    client = redis.Redis.from_url(server.start())
    try:
        assert client.get("kept") == b"yes"
    finally:
        server.stop()


def test_postgres_starts_creates_the_database_and_stops(tmp_path):
    server = EmbeddedPostgres(tmp_path / "pg", database="probe")
    url = server.start()
    assert url.startswith("postgres://postgres@/probe?host=")
    conn = psycopg2.connect(host=server.socket_dir, user="postgres", dbname="probe")
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
    conn.commit()
    conn.close()
    socket_dir = server.socket_dir
    server.stop()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host=socket_dir, user="postgres", dbname="probe", connect_timeout=2)
    # Its data is still there on the next start.
    server.start()
    conn = psycopg2.connect(host=server.socket_dir, user="postgres", dbname="probe")
    with conn.cursor() as cur:
        cur.execute("SELECT x FROM t")
        assert cur.fetchone() == (42,)
    conn.close()
    server.stop()


def test_start_services_starts_only_what_the_environment_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://given/db")
    monkeypatch.delenv("REDIS_URL", raising=False)
    exported, started = start_services(tmp_path)
    try:
        assert list(exported) == ["REDIS_URL"]
        assert [type(s) for s in started] == [EmbeddedRedis]
        assert not (tmp_path / "pg").exists()
    finally:
        stop_services(started)
    monkeypatch.setenv("REDIS_URL", "redis://given:6379/0")
    assert start_services(tmp_path) == ({}, [])


def test_a_given_database_that_does_not_exist_is_created_once():
    server_url = os.environ["DATABASE_URL"]  # the test session's server (embedded or given)
    parts = urlsplit(server_url)
    name = f"dsr_ensure_{secrets.token_hex(4)}"
    url = urlunsplit(parts._replace(path="/" + name))
    try:
        assert database_ensure(url) is True
        assert database_ensure(url) is False
        conn = psycopg2.connect(url)
        conn.close()
    finally:
        admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


def test_an_unreachable_database_server_gets_a_clear_message():
    with pytest.raises(DatabaseUnavailable, match="cannot reach the PostgreSQL server"):
        database_ensure(f"postgres://nobody@127.0.0.1:{free_port()}/dsr")
