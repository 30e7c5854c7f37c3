"""The transactional outbox: work for Celery that cannot be lost.

A service that needs a task run writes an `OutboxMessage` in its own
transaction. After commit, the web process publishes it to the broker
directly (no row lock: one UPDATE marks it sent); if Redis is down the message
stays in the database and the beat task `requests_app.tasks.relay_outbox`
publishes it later (with back-off). The sweep leaves messages younger than
`RELAY_SWEEP_GRACE` to the process that wrote them. A message may be
published twice (a crash between publishing and marking it, or a web process
that stalled past the grace period), so every task it names must be safe to
run twice: the tasks get the message id and use it to recognise a repeat.

Published is not done: Redis may lose a message (restarted without
persistence, a worker killed while holding it, a task out of retries). Every
task records its end in the message (`completed_at`, in the transaction of its
work), and the same beat task publishes again a message not completed
`OUTBOX_REDELIVER_AFTER` seconds after it was published (`outbox_redeliver`),
with back-off, at most `OUTBOX_REDELIVER_MAX` times; then it gives up, logs
it, and the staff digest names the request.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from functools import partial

from celery import current_app as celery_app
from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, F, Value, When
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from requests_app.breaker import breaker_for
from requests_app.models import OutboxMessage, SubjectRequest

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300
RELAY_SWEEP_GRACE = dt.timedelta(seconds=5)
REDELIVER_BACKOFF_MAX = dt.timedelta(hours=6)
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def outbox_enqueue(*, task_name: str, payload: dict) -> OutboxMessage:
    """Store a message in the current transaction; relay it once the transaction commits."""
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task_name=task_name, payload=payload, created_at=now, available_at=now
    )
    transaction.on_commit(partial(_relay_after_commit, message), robust=True)
    return message


def outbox_message_claim(outbox_message_id: int | None) -> tuple[OutboxMessage | None, bool]:
    """In a transaction: lock the message; (message, True) when a run of it already finished.

    The task that handles the message calls `outbox_message_done` in the same
    transaction as its work, so a redelivered message does nothing twice.
    """
    if outbox_message_id is None:
        return None, False
    message = OutboxMessage.objects.select_for_update().filter(pk=outbox_message_id).first()
    return message, message is None or message.completed_at is not None


def outbox_message_done(message: OutboxMessage | None) -> None:
    if message is not None:
        message.completed_at = timezone.now()
        message.save(update_fields=["completed_at"])


def outbox_request_claim(
    outbox_message_id: int | None, request_id: int
) -> tuple[OutboxMessage | None, SubjectRequest | None]:
    """In a transaction: claim the message of a task about one request, and load the request.

    The request is None when the task has nothing to do: a run of the message
    already finished, or the request is gone (then the message is recorded as
    done, so it is not published again).
    """
    message, done = outbox_message_claim(outbox_message_id)
    if done:
        return message, None
    request = SubjectRequest.objects.select_related("organisation").filter(pk=request_id).first()
    if request is None:  # deleted meanwhile: nothing to do
        outbox_message_done(message)
    return message, request


def outbox_message_finish(outbox_message_id: int | None) -> None:
    """In the transaction of the work: record that a run of the message finished (one UPDATE).

    For tasks that recognise a repeat by a row of their own (a code, a token, a
    package) rather than by `outbox_message_claim`: without it the message
    would be published again (`outbox_redeliver`).
    """
    if outbox_message_id is not None:
        OutboxMessage.objects.filter(pk=outbox_message_id, completed_at__isnull=True).update(
            completed_at=timezone.now()
        )


def _relay_after_commit(message: OutboxMessage) -> None:
    """Publish the message just committed: one publish and one UPDATE, no transaction.

    While the broker's circuit breaker is open (a publish timed out or failed
    a moment ago) nothing is tried: the message stays in the database and the
    relay publishes it, so a frozen Redis does not hold up the request.
    """
    breaker = breaker_for(celery_app.conf.broker_url)
    if not breaker.allow():
        _publish_failed(message, "BrokerUnavailable (circuit open)", timezone.now())
        return
    try:
        sent = _publish([message], _broker_connection(), timezone.now())
    except Exception as exc:  # never fail the request that was just stored
        breaker.failed(exc)
        logger.warning("outbox relay after commit failed (%s)", type(exc).__name__)
        return
    if sent:
        breaker.succeeded()
    else:
        breaker.failed(RuntimeError(message.last_error))


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))


def outbox_relay(*, limit: int = 200, min_age: dt.timedelta | None = None) -> int:
    """Publish due, undispatched messages; return how many were handed over.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so two sweeps never
    publish the same row at the same time. `min_age` leaves younger messages
    to the web process that is publishing them after its commit. The first
    failure to publish stops the batch: the broker is down.
    """
    now = timezone.now()
    sent = 0
    with transaction.atomic():
        pending = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            dispatched_at__isnull=True, available_at__lte=now
        )
        if min_age is not None:
            pending = pending.filter(created_at__lte=now - min_age)
        messages = list(pending.order_by("available_at", "id")[:limit])
        if not messages:
            return 0
        sent = _publish(messages, _broker_connection(), now)
    return sent


def _redeliver_backoff(redeliveries: int) -> dt.timedelta:
    """The wait after a message's `redeliveries`-th redelivery before the next one."""
    after = dt.timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER)
    return min(after * 2 ** min(redeliveries, 20), REDELIVER_BACKOFF_MAX)


def outbox_redeliver(*, limit: int = 100) -> int:
    """Publish again what no run finished in time; give up after `OUTBOX_REDELIVER_MAX` times.

    A message published `OUTBOX_REDELIVER_AFTER` seconds ago and not completed
    is published again, the next time after twice that wait, then four times
    ... (at most `REDELIVER_BACKOFF_MAX`). Once it has been published again
    `OUTBOX_REDELIVER_MAX` times and still not completed, it is marked given up
    (`gave_up_at`, `last_error`) and logged by id and task name; the staff
    digest lists its request. Returns how many were published again.

    Set-based: one SELECT claims the rows with `FOR UPDATE SKIP LOCKED` (so two
    sweeps never publish the same message, and a task running its message
    holds the row through `outbox_message_claim` and is skipped); then the
    publishes, one UPDATE for those published and one for those given up.
    """
    now = timezone.now()
    cap = settings.OUTBOX_REDELIVER_MAX
    with transaction.atomic():
        due = _redeliver_claim(now, limit)
        if not due:
            return 0
        exhausted = [m for m in due if m.redeliveries >= cap]
        if exhausted:
            _redeliver_give_up(exhausted, now)
        sent = _redeliver_publish([m for m in due if m.redeliveries < cap], cap)
        if sent:
            _redeliver_mark_sent(sent, now)
    return len(sent)


def _redeliver_claim(now: dt.datetime, limit: int) -> list[OutboxMessage]:
    """In the sweep's transaction: lock (SKIP LOCKED) the published messages not completed."""
    return list(
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(
            dispatched_at__isnull=False,
            dispatched_at__lte=now - dt.timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER),
            completed_at__isnull=True,
            gave_up_at__isnull=True,
            available_at__lte=now,
        )
        .only("id", "task_name", "payload", "redeliveries")
        .order_by("dispatched_at", "id")[:limit]
    )


def _redeliver_give_up(exhausted: list[OutboxMessage], now: dt.datetime) -> None:
    """Mark the messages given up (one UPDATE) and log each by id and task name."""
    OutboxMessage.objects.filter(pk__in=[m.pk for m in exhausted]).update(
        gave_up_at=now,
        last_error=Concat(
            Value("gave up after "),
            Cast("redeliveries", CharField()),
            Value(" redeliveries"),
            output_field=CharField(),
        ),
    )
    for message in exhausted:
        logger.error(
            "outbox message %s (%s) not completed after %s redeliveries; gave up",
            message.pk,
            message.task_name,
            message.redeliveries,
        )


def _redeliver_publish(again: list[OutboxMessage], cap: int) -> list[OutboxMessage]:
    """Publish the messages again until the broker fails; return those published."""
    connection = _broker_connection() if again else None
    sent = []
    for message in again:
        try:
            _send(message, connection)
        except Exception as exc:  # the broker is down: the next sweep tries again
            _broker_connection_drop()
            logger.warning("outbox redelivery stopped (%s)", type(exc).__name__)
            break
        sent.append(message)
        logger.warning(
            "outbox message %s (%s) not completed; published again (%s of %s)",
            message.pk,
            message.task_name,
            message.redeliveries + 1,
            cap,
        )
    return sent


def _redeliver_mark_sent(sent: list[OutboxMessage], now: dt.datetime) -> None:
    """Record the redelivery of the messages published again, with back-off (one UPDATE)."""
    OutboxMessage.objects.filter(pk__in=[m.pk for m in sent]).update(
        dispatched_at=now,
        redeliveries=F("redeliveries") + 1,
        available_at=Case(
            *(
                When(redeliveries=n, then=Value(now + _redeliver_backoff(n + 1)))
                for n in {m.redeliveries for m in sent}
            ),
            default=F("available_at"),
        ),
    )


_local = threading.local()


def _broker_connection():
    """This thread's broker connection, kept between relays.

    Opening a connection (and declaring the queue on it) per relay cost more
    than the rest of an intake request. The connection is per process and
    thread (never shared across a fork) and per broker URL; after a failed
    publish it is dropped, so the next relay starts on a fresh one.
    """
    key = (os.getpid(), celery_app.conf.broker_url)
    cached = getattr(_local, "broker", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    _broker_connection_drop()
    # Short timeouts (REDIS_TIMEOUT) for this connection only: the workers' own broker
    # connections keep Celery's settings (their BRPOP waits longer than a request may).
    connection = celery_app.connection_for_write(
        connect_timeout=settings.REDIS_TIMEOUT,
        transport_options={
            "socket_connect_timeout": settings.REDIS_TIMEOUT,
            "socket_timeout": settings.REDIS_TIMEOUT,
        },
    )
    _local.broker = (key, connection)
    return connection


def _broker_connection_drop() -> None:
    cached = getattr(_local, "broker", None)
    _local.broker = None
    if cached is not None and cached[0][0] == os.getpid():
        try:
            cached[1].release()
        except Exception:  # a dead connection may fail to close; it is dropped either way
            logger.debug("closing the outbox broker connection failed", exc_info=True)


def _send(message: OutboxMessage, connection) -> None:
    celery_app.send_task(
        message.task_name,
        kwargs={**message.payload, "message_id": message.pk},
        connection=connection,
        retry=True,
        retry_policy=_RETRY_POLICY,
    )


def _publish(messages: list[OutboxMessage], connection, now) -> int:
    sent = 0
    for message in messages:
        try:
            _send(message, connection)
        except Exception as exc:
            _broker_connection_drop()
            _publish_failed(message, type(exc).__name__, now)
            break
        message.dispatched_at = now
        message.save(update_fields=["dispatched_at"])
        sent += 1
    return sent


def _publish_failed(message: OutboxMessage, error: str, now) -> None:
    message.attempts += 1
    message.last_error = error[:200]
    message.available_at = now + _backoff(message.attempts)
    message.save(update_fields=["attempts", "last_error", "available_at"])
    logger.warning(
        "outbox message %s not published (%s); attempt %s, will retry",
        message.pk,
        message.last_error,
        message.attempts,
    )
