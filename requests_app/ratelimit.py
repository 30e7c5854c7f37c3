"""Rate limits in Redis, shared by every web process.

A fixed window per (action, dimension, key): one Lua script increments the
counter and sets its expiry atomically, and answers the count and the
seconds left. Keys never hold the e-mail address or IP in clear: they hold an
HMAC of it.

When Redis cannot be reached the limiter lets the request through (fails
open) and logs that it did: a person's request must never be lost because
Redis is down. The database-backed limit of 5 tries per code always applies.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""

KEY_PREFIX = "dsr:rl:"

_clients: dict[str, redis.Redis] = {}


def _client() -> redis.Redis:
    url = settings.RATE_LIMIT_REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        _clients[url] = client
    return client


@dataclass(frozen=True)
class Limit:
    limit: int
    window: int  # seconds


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"rate limited; retry after {self.retry_after}s")


def _digest(value: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def rate_limit_hit(*, action: str, dimension: str, value: str) -> Verdict:
    """Count one attempt; `allowed` is False when the limit for this window is used up."""
    limit = rate_limit_for(action=action, dimension=dimension)
    if limit is None or not value:
        return Verdict(True)
    key = f"{KEY_PREFIX}{action}:{dimension}:{_digest(value)}"
    try:
        count, ttl = _client().eval(_SCRIPT, 1, key, limit.window)
    except redis.RedisError as exc:
        logger.warning(
            "rate limit %s/%s not checked, Redis unavailable (%s): letting it through",
            action,
            dimension,
            type(exc).__name__,
        )
        return Verdict(True)
    if int(count) > limit.limit:
        return Verdict(False, retry_after=max(1, int(ttl)))
    return Verdict(True)


def rate_limit_for(*, action: str, dimension: str) -> Limit | None:
    configured = settings.INTAKE_RATE_LIMITS.get(action, {}).get(dimension)
    if not configured:
        return None
    limit, window = configured
    return Limit(limit=int(limit), window=int(window))


def rate_limit_check(*, action: str, ip: str = "", email: str = "") -> None:
    """Count the attempt against every dimension; raise `RateLimited` if any is exhausted.

    Every dimension is counted (no short-circuit), so a blocked IP keeps
    counting against the address as well.
    """
    verdicts = [
        rate_limit_hit(action=action, dimension="ip", value=ip),
        rate_limit_hit(action=action, dimension="email", value=email),
    ]
    blocked = [v.retry_after for v in verdicts if not v.allowed]
    if blocked:
        raise RateLimited(math.ceil(max(blocked)))


def client_ip(request) -> str:
    """The client's address as the web server saw it (`REMOTE_ADDR`)."""
    return request.META.get("REMOTE_ADDR", "")
