"""GET /healthz: the state of the database, Redis and the Celery workers.

200 when all three are up, 503 otherwise. Workers are asked with a Celery
broadcast ping, so "up" means a worker process answered just now.
"""

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.celery import app as celery_app

PING_TIMEOUT = 1.0


def _timed(check):
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # any failure means "down"; the type is enough to diagnose
        result = {"ok": False, "error": type(exc).__name__}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _redis():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def _workers():
    replies = celery_app.control.ping(timeout=PING_TIMEOUT)
    return {"ok": len(replies) > 0, "count": len(replies)}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _timed(_database), "redis": _timed(_redis)}
    if checks["redis"]["ok"]:
        checks["workers"] = _timed(_workers)
    else:
        checks["workers"] = {"ok": False, "error": "redis unavailable", "count": 0}
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "degraded", **checks}, status=200 if ok else 503)
