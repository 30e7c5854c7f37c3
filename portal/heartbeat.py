"""Heartbeats of the Celery worker and beat processes, read without asking them.

Every worker writes, every `INTERVAL` seconds from its own timer (a worker
bootstep, so a worker whose event loop is stuck stops beating), its name and
the time into a Redis sorted set, and touches a file of its own. Beat does the
same from its scheduler's tick
(`portal.beat.HeartbeatScheduler`). `/healthz` reads the sorted set (one Redis
command, no broadcast ping to the workers); the containers' health checks
read the files:

    python -m portal.heartbeat worker      # exit 0 if this host's worker beat recently
    python -m portal.heartbeat beat

A heartbeat older than `STALE_AFTER` seconds counts as gone.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from pathlib import Path

import redis
from celery import bootsteps
from django.conf import settings

logger = logging.getLogger(__name__)

INTERVAL = 10.0
STALE_AFTER = 3 * INTERVAL
WORKERS_KEY = "dsr:heartbeat:workers"
BEAT_KEY = "dsr:heartbeat:beat"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def heartbeat_file(kind: str, host: str | None = None) -> Path:
    return Path(settings.VAR_DIR) / "heartbeat" / f"{kind}-{host or socket.gethostname()}"


def _touch(kind: str) -> None:
    path = heartbeat_file(kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def heartbeat_write(kind: str, name: str, *, now: float | None = None) -> None:
    """Record that the process `name` of `kind` ("worker" or "beat") is alive now.

    Failures are logged, never raised: a heartbeat must not stop the process."""
    now = time.time() if now is None else now
    try:
        _touch(kind)
    except OSError as exc:
        logger.warning("heartbeat file not written: %s", type(exc).__name__)
    client = _redis()
    try:
        if kind == "worker":
            pipe = client.pipeline()
            pipe.zadd(WORKERS_KEY, {name: now})
            pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - STALE_AFTER)
            pipe.execute()
        else:
            client.set(BEAT_KEY, now, ex=int(STALE_AFTER) * 10)
    except redis.RedisError as exc:
        logger.warning("heartbeat not written to Redis: %s", type(exc).__name__)
    finally:
        client.close()


def heartbeat_forget(name: str) -> None:
    """A worker shutting down cleanly takes itself off the list."""
    client = _redis()
    try:
        client.zrem(WORKERS_KEY, name)
    except redis.RedisError:
        pass
    finally:
        client.close()


def workers_alive(client: redis.Redis, *, now: float | None = None) -> list[str]:
    """The workers that beat within `STALE_AFTER` seconds (one Redis command)."""
    now = time.time() if now is None else now
    names = client.zrangebyscore(WORKERS_KEY, now - STALE_AFTER, "+inf")
    return sorted(n.decode() if isinstance(n, bytes) else n for n in names)


def beat_age(client: redis.Redis, *, now: float | None = None) -> float | None:
    """Seconds since beat last ticked, or None if it never did (or long ago)."""
    value = client.get(BEAT_KEY)
    if value is None:
        return None
    return max(0.0, (time.time() if now is None else now) - float(value))


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Registered in portal/celery.py: beats on the worker's own timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        self._beat(worker)
        self.tref = worker.timer.call_repeatedly(INTERVAL, self._beat, (worker,), priority=10)

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        heartbeat_forget(worker.hostname)

    def _beat(self, worker):
        heartbeat_write("worker", worker.hostname)


def heartbeat_check(kind: str, *, max_age: float = STALE_AFTER) -> bool:
    """Whether this host's `kind` process touched its file within `max_age` seconds."""
    try:
        return time.time() - heartbeat_file(kind).stat().st_mtime <= max_age
    except OSError:
        return False


def main(argv: list[str]) -> int:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    if len(argv) != 1 or argv[0] not in ("worker", "beat"):
        sys.stderr.write("usage: python -m portal.heartbeat worker|beat\n")
        return 2
    if heartbeat_check(argv[0]):
        return 0
    sys.stderr.write(f"no {argv[0]} heartbeat within {STALE_AFTER:.0f} s\n")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
