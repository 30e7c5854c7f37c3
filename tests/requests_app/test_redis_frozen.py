"""A frozen Redis costs a request at most one short timeout: bounded waits and the breaker.

SIGSTOP is what a network partition looks like to a client: connections are
accepted by the kernel, but nothing ever answers. Issue: "With Redis frozen or
down, submission answers within 2 s at p99, the public pages stay usable, and
`/healthz` says what is wrong within 2 s."
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import time

import time_machine
from django.conf import settings

from requests_app.breaker import breaker_for, breakers_reset
from requests_app.models import OutboxMessage, SubjectRequest
from requests_app.services.outbox import outbox_relay

from .conftest import run_queued_tasks


@contextlib.contextmanager
def frozen(server):
    os.kill(server._process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server._process.pid, signal.SIGCONT)


def _body(n: int) -> dict:
    return {
        "organisation": "testorg",
        "type": "erasure",
        "email": f"person{n}@example.org",
        "full_name": "Anna Andersson",
        "language": "sv",
        "scope": "all",
    }


def test_submissions_answer_quickly_and_are_kept_while_redis_is_frozen(
    client, org, private_redis, django_capture_on_commit_callbacks
):
    """Twenty submissions with Redis frozen: each answers 201 well within 2 s, together they
    wait for about one timeout (the breaker), and every code goes out once Redis is back."""
    timings = []
    with frozen(private_redis):
        for n in range(20):
            started = time.monotonic()
            with django_capture_on_commit_callbacks(execute=True):
                response = client.post(
                    "/api/v1/requests", _body(n), content_type="application/json"
                )
            timings.append(time.monotonic() - started)
            assert response.status_code == 201, response.content

    assert max(timings) < 2.0, timings
    # Two rate-limit counters and a publish per request, twenty requests: without the
    # breaker each would wait its timeout (30 s in all); with it, the first one does.
    assert sum(timings) < 3 * settings.REDIS_TIMEOUT + 1.0, timings
    assert SubjectRequest.objects.count() == 20
    messages = OutboxMessage.objects.all()
    assert all(m.dispatched_at is None and m.attempts == 1 for m in messages)

    breakers_reset()  # the window has passed
    with time_machine.travel(dt.timedelta(minutes=1)):
        assert outbox_relay() == 20
    assert len(run_queued_tasks(private_redis.url)) == 20


def test_the_breaker_lets_one_caller_try_after_the_window_and_closes_when_it_succeeds(settings):
    settings.REDIS_BREAKER_SECONDS = 0.2
    breaker = breaker_for("redis://127.0.0.1:1/0")
    assert breaker.allow()
    breaker.failed(TimeoutError())
    assert not breaker.allow()
    time.sleep(0.25)
    assert breaker.allow()  # the one that tries ...
    assert not breaker.allow()  # ... while the others do not
    breaker.succeeded()
    assert breaker.allow() and breaker.allow()


def test_healthz_says_redis_is_down_within_two_seconds_while_it_is_frozen(
    client, db, private_redis
):
    with frozen(private_redis):
        started = time.monotonic()
        response = client.get("/healthz")
        elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["ok"] is False and body["redis"]["error"] == "TimeoutError"
    assert body["database"]["ok"] is True
