"""Rate limits in Redis, shared by every web process.

A fixed window per (action, dimension, key): one Lua script increments the
counter and sets its expiry atomically, and answers the count and the
seconds left. Keys never hold the e-mail address or IP in clear: they hold an
HMAC of it.

When Redis cannot be reached, submission goes through (fails open) and the
limiter logs that it did: a person's request must never be lost because Redis
is down. Every call has the `REDIS_TIMEOUT` connect and read timeouts and goes
through the server's circuit breaker (`requests_app.breaker`): while Redis is
frozen, a request waits for at most one timeout per breaker window, not one
per counter. Checking a code and asking for a new one fail closed
(`RateLimiterUnavailable`, answered 503 "try again shortly"): with no limit on
new codes, five tries per code would add up to a brute force of the code.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings

from requests_app.breaker import breaker_for
from retention.keyring import hmac_digest

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
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=settings.REDIS_TIMEOUT,
            socket_timeout=settings.REDIS_TIMEOUT,
        )
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


# Actions that are refused, not let through, while the counters cannot be reached.
FAIL_CLOSED = frozenset({"verify", "resend"})
UNAVAILABLE_RETRY_AFTER = 60


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"rate limited; retry after {self.retry_after}s")


class RateLimiterUnavailable(Exception):
    """Redis is down and the action fails closed: answer 503 with Retry-After."""

    retry_after = UNAVAILABLE_RETRY_AFTER


def _digest(value: str) -> str:
    # The `token` keyring's signing key (not SECRET_KEY); a new key starts the counters anew.
    return hmac_digest(purpose="token", message=f"rate-limit:{value}")[:32]


def rate_limit_hit(*, action: str, dimension: str, value: str) -> Verdict:
    """Count one attempt; `allowed` is False when the limit for this window is used up."""
    limit = rate_limit_for(action=action, dimension=dimension)
    if limit is None or not value:
        return Verdict(True)
    key = f"{KEY_PREFIX}{action}:{dimension}:{_digest(value)}"
    breaker = breaker_for(settings.RATE_LIMIT_REDIS_URL)
    try:
        if not breaker.allow():
            raise redis.ConnectionError("circuit open")
        try:
            count, ttl = _client().eval(_SCRIPT, 1, key, limit.window)
        except redis.RedisError as exc:
            breaker.failed(exc)
            raise
        breaker.succeeded()
    except redis.RedisError as exc:
        closed = action in FAIL_CLOSED
        logger.warning(
            "rate limit %s/%s not checked, Redis unavailable (%s): %s",
            action,
            dimension,
            type(exc).__name__,
            "refusing it" if closed else "letting it through",
        )
        if closed:
            raise RateLimiterUnavailable from None
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
    """Count the attempt against every dimension; raise `RateLimited` if any is exhausted
    (`RateLimiterUnavailable` for an action in `FAIL_CLOSED` while Redis is down).

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


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, proxies) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_ip(request) -> str:
    """The client's address: the one place every rate limit, lockout and log reads it.

    `REMOTE_ADDR`, unless that is one of `TRUSTED_PROXIES`: then the rightmost
    address of `X-Forwarded-For` that is not itself a trusted proxy (each proxy
    appends the address it saw, so everything left of the first untrusted hop
    was written by the client and is ignored). A request from anywhere else
    cannot choose its address by sending the header.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    if not proxies or not _trusted(_address(remote), proxies):
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    client = remote
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # not an address: stop at the last hop a trusted proxy vouched for
        client = str(address)
        if not _trusted(address, proxies):
            break
    return client
