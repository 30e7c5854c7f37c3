"""Health endpoints (portal/health.py, issue 17):

- /healthz/live: the web process answers; no I/O, so an outage of the database or
  Redis never gets web restarted.
- /healthz/ready: the database and Redis, with short timeouts; 200 or 503.
- /healthz: the full report, workers and beat from the heartbeats they write
  (never a broadcast ping), rate-limited per client address.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal.heartbeat import (
    STALE_AFTER,
    WORKERS_KEY,
    heartbeat_check,
    heartbeat_file,
    heartbeat_write,
    workers_alive,
)
from tests.conftest import BASE_DIR, worker_database_url


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


# --- /healthz/live -----------------------------------------------------------------------------


def test_live_answers_200_without_touching_database_or_redis(client, db, private_redis):
    client.get("/healthz/live")  # the first request of the process imports the URLconf
    private_redis.stop()
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert time.monotonic() - started < 0.5


# --- /healthz/ready -------------------------------------------------------------------------------


def test_ready_answers_200_when_database_and_redis_are_up_with_no_worker(client, db, private_redis):
    response = client.get("/healthz/ready")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert "workers" not in body


def test_ready_answers_503_quickly_when_redis_is_stopped(client, db, private_redis):
    private_redis.stop()
    started = time.monotonic()
    response = client.get("/healthz/ready")
    assert time.monotonic() - started < 3, "a stopped Redis must not hang the readiness check"
    assert response.status_code == 503
    assert response.json()["redis"]["ok"] is False
    assert response.json()["database"]["ok"] is True


# --- /healthz, the full report ----------------------------------------------------------


def test_it_answers_200_when_database_redis_a_worker_and_beat_are_up(client, db, worker):
    heartbeat_write("beat", "beat-host")
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["workers"] == {**body["workers"], "ok": True, "count": 1}
    assert body["beat"]["ok"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_workers_are_read_from_their_heartbeat_not_a_broadcast(client, db, private_redis):
    """No worker process at all: a heartbeat in Redis is what makes them count."""
    heartbeat_write("beat", "beat-host")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["workers"] == {**response.json()["workers"], "ok": False, "count": 0}
    heartbeat_write("worker", "celery@elsewhere")
    body = client.get("/healthz").json()
    assert body["workers"]["count"] == 1 and body["status"] == "ok"


def test_a_stale_heartbeat_does_not_count(db, private_redis):
    now = time.time()
    heartbeat_write("worker", "celery@old", now=now - STALE_AFTER - 1)
    heartbeat_write("worker", "celery@new", now=now)
    assert workers_alive(_redis(), now=now) == ["celery@new"]


def test_it_answers_503_when_redis_is_stopped(client, db, private_redis):
    private_redis.stop()
    started = time.monotonic()
    response = client.get("/healthz")
    assert time.monotonic() - started < 5, "a stopped Redis must not hang the health check"
    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["ok"] is False
    assert body["workers"]["ok"] is False
    assert body["database"]["ok"] is True


def test_the_full_report_is_rate_limited_per_client(client, db, private_redis, settings):
    settings.INTAKE_RATE_LIMITS = {**settings.INTAKE_RATE_LIMITS, "healthz": {"ip": (2, 60)}}
    assert client.get("/healthz").status_code == 503
    assert client.get("/healthz").status_code == 503
    limited = client.get("/healthz")
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert client.get("/healthz/live").status_code == 200
    assert client.get("/healthz/ready").status_code == 200


# --- the processes write their heartbeats --------------------------------------------------------


@pytest.mark.worker
def test_a_real_worker_writes_its_heartbeat_and_takes_it_back_when_it_stops(db, worker):
    names = _redis().zrange(WORKERS_KEY, 0, -1)
    assert len(names) == 1 and names[0].startswith(b"celery@")
    assert heartbeat_check("worker")
    from tests.conftest import stop_worker

    stop_worker(worker)
    assert _redis().zrange(WORKERS_KEY, 0, -1) == []


@pytest.mark.worker
def test_a_real_beat_writes_its_heartbeat_for_the_health_check(db, private_redis, tmp_path):
    """Compose's beat health check is `python -m portal.heartbeat beat`."""
    env = {
        **os.environ,
        "REDIS_URL": private_redis.url,
        "DATABASE_URL": worker_database_url(),
        "VAR_DIR": str(tmp_path / "var"),
    }
    check = [sys.executable, "-m", "portal.heartbeat", "beat"]
    assert subprocess.run(check, cwd=BASE_DIR, env=env, capture_output=True).returncode == 1  # noqa: S603
    beat = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "celery", "-A", "portal", "beat", "--loglevel", "WARNING"],
        cwd=BASE_DIR,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not _redis().get("dsr:heartbeat:beat"):
            assert beat.poll() is None, "beat exited"
            assert time.monotonic() < deadline, "no beat heartbeat within 60 s"
            time.sleep(0.5)
        result = subprocess.run(check, cwd=BASE_DIR, env=env, capture_output=True)  # noqa: S603
        assert result.returncode == 0, result.stderr
    finally:
        beat.terminate()
        beat.wait(30)
    assert Path(tmp_path / "var" / "heartbeat").is_dir()


def test_the_heartbeat_file_names_the_host(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert heartbeat_file("worker", "web-1") == tmp_path / "heartbeat" / "worker-web-1"
    assert not heartbeat_check("worker")
