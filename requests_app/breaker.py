"""A circuit breaker per Redis server, per process.

Every Redis call on a request path has a short connect and read timeout
(`REDIS_TIMEOUT`). That bounds one call, not a request that makes several (two
rate-limit counters and a publish), nor a burst of requests all waiting their
turn. So the first call that fails *opens* the breaker of its server: for
`REDIS_BREAKER_SECONDS` every caller is told not to try (and does what it does
when Redis is down: the rate limiter fails open or closed, the outbox leaves
the message for the relay). After the window one caller tries again; success
closes the breaker, failure opens it for another window.

A frozen Redis thus costs each process at most one timeout per window.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)


class Breaker:
    def __init__(self, name: str):
        self.name = name
        self._open_until = 0.0
        self._failures = 0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        """True when a call may be made now (closed, or the window has passed)."""
        with self._lock:
            now = time.monotonic()
            if now < self._open_until:
                return False
            if self._failures:
                # Half-open: this caller tries; the others wait for its outcome.
                self._open_until = now + settings.REDIS_TIMEOUT * 2
            return True

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._failures += 1
            self._open_until = time.monotonic() + settings.REDIS_BREAKER_SECONDS
            if self._failures == 1:
                logger.warning(
                    "Redis %s unavailable (%s); not calling it for %.0f s",
                    self.name,
                    type(exc).__name__,
                    settings.REDIS_BREAKER_SECONDS,
                )

    def succeeded(self) -> None:
        if not self._failures:
            return
        with self._lock:
            if self._failures:
                logger.warning("Redis %s reachable again", self.name)
            self._failures = 0
            self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until


_breakers: dict[str, Breaker] = {}
_lock = threading.Lock()


def breaker_for(url: str) -> Breaker:
    """The breaker of the Redis server `url` names (one per host and port, not per database)."""
    parts = urlsplit(url)
    name = f"{parts.hostname or parts.path}:{parts.port or 6379}"
    with _lock:
        breaker = _breakers.get(name)
        if breaker is None:
            breaker = _breakers[name] = Breaker(name)
        return breaker


def breakers_reset() -> None:
    """Close every breaker (tests)."""
    with _lock:
        _breakers.clear()
