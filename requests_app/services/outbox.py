"""The transactional outbox: work for Celery that cannot be lost.

A service that needs a task run writes an `OutboxMessage` in its own
transaction. After commit, `outbox_relay` publishes it to the broker; if Redis
is down the message stays in the database and the beat task
`requests_app.tasks.relay_outbox` publishes it later (with back-off). A
message may be published twice (a crash between publishing and marking it),
so every task it names must be safe to run twice: the tasks get the message
id and use it to recognise a repeat.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from portal.celery import app as celery_app
from requests_app.models import OutboxMessage

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300
_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def outbox_enqueue(*, task_name: str, payload: dict) -> OutboxMessage:
    """Store a message in the current transaction; relay it once the transaction commits."""
    now = timezone.now()
    message = OutboxMessage.objects.create(
        task_name=task_name, payload=payload, created_at=now, available_at=now
    )
    transaction.on_commit(partial(_relay_after_commit, message.pk), robust=True)
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


def _relay_after_commit(message_id: int) -> None:
    try:
        outbox_relay(message_ids=[message_id])
    except Exception as exc:  # never fail the request that was just stored
        logger.warning("outbox relay after commit failed (%s)", type(exc).__name__)


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))


def outbox_relay(*, message_ids: list[int] | None = None, limit: int = 200) -> int:
    """Publish due, undispatched messages; return how many were handed over.

    Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several relays (web
    processes, the beat sweep) never publish the same row at the same time.
    The first failure to publish stops the batch: the broker is down.
    """
    now = timezone.now()
    sent = 0
    with transaction.atomic():
        pending = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            dispatched_at__isnull=True, available_at__lte=now
        )
        if message_ids is not None:
            pending = pending.filter(pk__in=message_ids)
        messages = list(pending.order_by("available_at", "id")[:limit])
        if not messages:
            return 0
        # A connection of its own (not the pool): after a Redis restart no stale
        # pooled connection is reused, and the current broker URL is always used.
        connection = celery_app.connection_for_write()
        try:
            sent = _publish(messages, connection, now)
        finally:
            connection.release()
    return sent


def _publish(messages: list[OutboxMessage], connection, now) -> int:
    sent = 0
    for message in messages:
        try:
            celery_app.send_task(
                message.task_name,
                kwargs={**message.payload, "message_id": message.pk},
                connection=connection,
                retry=True,
                retry_policy=_RETRY_POLICY,
            )
        except Exception as exc:
            message.attempts += 1
            message.last_error = type(exc).__name__[:200]
            message.available_at = now + _backoff(message.attempts)
            message.save(update_fields=["attempts", "last_error", "available_at"])
            logger.warning(
                "outbox message %s not published (%s); attempt %s, will retry",
                message.pk,
                message.last_error,
                message.attempts,
            )
            break
        message.dispatched_at = now
        message.save(update_fields=["dispatched_at"])
        sent += 1
    return sent
