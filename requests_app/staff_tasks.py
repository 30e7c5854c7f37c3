"""Celery tasks of the staff queue: ids in, a service called, safe to run twice.

Registered through `CELERY_IMPORTS` (settings, "Staff" block).
"""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

_RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 8}


@shared_task(name="requests_app.tasks.staff_notify", acks_late=True, **_RETRY)
def staff_notify(*, request_id: int, template: str, message_id: int) -> None:
    from requests_app.services.staff import staff_notification_send

    staff_notification_send(request_id=request_id, template=template, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.fulfilment_start", acks_late=True)
def fulfilment_start(*, request_id: int, message_id: int | None = None) -> None:
    """Start the fulfilment of an approved request (the Fulfilment issue provides it).

    Until `requests_app.services.fulfilment.fulfilment_start` exists this only
    logs: the request stays `approved` and the message can be replayed later.
    """
    try:
        from requests_app.services import fulfilment
    except ImportError:
        logger.info("fulfilment of request %s approved; no fulfilment service yet", request_id)
        return
    fulfilment.fulfilment_start(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.deadline_digest")
def deadline_digest() -> int:
    from requests_app.services.staff_digest import deadline_digest_send

    return deadline_digest_send()
