"""Health endpoints, one per question an orchestrator or an operator asks.

- GET /healthz/live: is this web process answering? Always 200, no I/O (the
  containers' health check; a database or Redis outage must not get web
  restarted).
- GET /healthz/ready: can it serve requests? The database and Redis, each with a
  short timeout; 200 or 503 (a load balancer takes it out of rotation).
- GET /healthz: the full report: the database, Redis, the Celery workers and
  beat, read from the heartbeats they write (portal/heartbeat.py), never by a
  broadcast ping. 200 when all are up, 503 otherwise. Rate-limited per client
  address (INTAKE_RATE_LIMITS["healthz"]), answering 429.
"""

import time

import redis
from django.conf import settings
from django.db import connection, transaction
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.heartbeat import STALE_AFTER, beat_age, workers_alive
from requests_app.ratelimit import client_ip, rate_limit_hit

TIMEOUT_SECONDS = 1


def _timed(check):
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # any failure means "down"; the type is enough to diagnose
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = %s", [TIMEOUT_SECONDS * 1000])
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=min(TIMEOUT_SECONDS, settings.REDIS_TIMEOUT),
        socket_timeout=min(TIMEOUT_SECONDS, settings.REDIS_TIMEOUT),
    )


def _redis():
    client = _redis_client()
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def _workers():
    client = _redis_client()
    try:
        names = workers_alive(client)
    finally:
        client.close()
    return {"ok": bool(names), "count": len(names)}


def _beat():
    client = _redis_client()
    try:
        age = beat_age(client)
    finally:
        client.close()
    ok = age is not None and age <= STALE_AFTER
    return {"ok": ok, "seconds_since_tick": None if age is None else round(age, 1)}


@never_cache
@require_GET
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request):
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", **checks}, status=200 if ok else 503
    )


@never_cache
@require_GET
def healthz(request):
    verdict = rate_limit_hit(action="healthz", dimension="ip", value=client_ip(request))
    if not verdict.allowed:
        response = JsonResponse({"status": "rate_limited"}, status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    if checks["redis"]["ok"]:
        checks["workers"] = _timed(_workers)
        checks["beat"] = _timed(_beat)
    else:
        checks["workers"] = {"ok": False, "error": "redis unavailable", "count": 0}
        checks["beat"] = {"ok": False, "error": "redis unavailable"}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "degraded", **checks}, status=200 if ok else 503)
