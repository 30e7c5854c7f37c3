import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import kombu.pools
import pytest
from django.test import override_settings

from portal.celery import app as celery_app
from portal.embedded import EmbeddedRedis

BASE_DIR = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """STATIC_ROOT exists, as after `collectstatic` (which `make run` and the image run).

    The tests run with DEBUG, so WhiteNoise serves the static files from the finders and
    nothing is collected; without the folder it would warn in every test that makes a
    request ("No directory at: .../var/static/").
    """
    from django.conf import settings

    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _redis_breakers_closed():
    """Every test starts with every Redis circuit breaker closed (requests_app.breaker): one
    test's stopped Redis does not make the next one skip its calls."""
    from requests_app.breaker import breakers_reset

    breakers_reset()
    yield
    breakers_reset()


@pytest.fixture
def organisations(db):
    """The five organisations, loaded from their policy files."""
    from retention.models import Organisation
    from retention.services.policies import policies_load

    policies_load()
    return {org.slug: org for org in Organisation.objects.all()}


def _use_broker(url: str) -> None:
    """Point the Celery app (and its connection pools) at another broker."""
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # kombu keeps one pool per broker URL in a global registry: forget the closed ones,
    # or switching back to a URL hands out its closed pool ("Acquire on closed pool").
    kombu.pools.reset()
    celery_app.conf.broker_url = url


@contextlib.contextmanager
def redis_of_its_own(directory: Path) -> Iterator[EmbeddedRedis]:
    """A throwaway Redis in `directory`, used by the app as broker, cache and rate-limit
    store while the block runs. `private_redis` (one test) and the browser tests' Redis
    (their whole package) are made with it."""
    server = EmbeddedRedis(directory, persistent=False)
    url = server.start()
    previous = celery_app.conf.broker_url
    _use_broker(url)
    try:
        with override_settings(
            REDIS_URL=url,
            CELERY_BROKER_URL=url,
            RATE_LIMIT_REDIS_URL=url,
            CACHES={
                "default": {
                    "BACKEND": "django.core.cache.backends.redis.RedisCache",
                    "LOCATION": url,
                    "KEY_PREFIX": "dsr",
                    "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
                }
            },
        ):
            yield server
    finally:
        server.stop()
        _use_broker(previous)


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of this test's own, used by the app as broker, cache and rate-limit store.

    Stopping it (`private_redis.stop()`) disturbs no other test; `start()`
    brings it back on the same port.
    """
    with redis_of_its_own(tmp_path / "redis") as server:
        yield server


def worker_database_url() -> str:
    """The URL of the database the tests use (test_<name>), for worker processes."""
    from urllib.parse import quote

    from django.db import connection

    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s["OPTIONS"].get("host") or ""
    if host.startswith("/"):
        return f"postgres://{auth}@/{s['NAME']}?host={quote(host, safe='/')}"
    host = s["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(
    redis_url: str,
    *extra: str,
    env: dict | None = None,
    loglevel: str = "WARNING",
    log: Path | None = None,
) -> subprocess.Popen:
    """A real Celery worker process on the test database, ready when this returns.

    `log`: a file that gets everything the worker writes (stdout and stderr)."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": worker_database_url(),
        **(env or {}),
    }
    output = log.open("ab") if log is not None else None
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            loglevel,
            "--without-mingle",
            "--without-gossip",
            *extra,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
    )
    if output is not None:
        output.close()  # the child has its own copy
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(timeout=0.5):
        if proc.poll() is not None:
            raise RuntimeError("the worker exited at start-up")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the worker did not answer a ping within 60 s")
    return proc


def stop_worker(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def worker(private_redis):
    """A real Celery worker process consuming from the private Redis."""
    proc = start_worker(private_redis.url)
    yield proc
    stop_worker(proc)
