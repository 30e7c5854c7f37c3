"""Celery tasks: each takes ids only and calls a service; each is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from requests_app.services.outbox import RELAY_SWEEP_GRACE, outbox_redeliver, outbox_relay
from requests_app.services.requests import extension_notice_send, requests_purge_unverified
from requests_app.services.verification import confirmation_send, verification_send

_RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 8}


@shared_task(name="requests_app.tasks.send_verification_email", acks_late=True, **_RETRY)
def send_verification_email(*, request_id: int, message_id: int | None = None) -> None:
    verification_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.send_confirmation_email", acks_late=True, **_RETRY)
def send_confirmation_email(*, request_id: int, message_id: int | None = None) -> None:
    confirmation_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.send_extension_notice", acks_late=True, **_RETRY)
def send_extension_notice(*, request_id: int, message_id: int) -> None:
    extension_notice_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.relay_outbox")
def relay_outbox() -> int:
    """The beat sweep: publish what the relay after commit could not, and again what was lost."""
    return outbox_relay(min_age=RELAY_SWEEP_GRACE) + outbox_redeliver()


@shared_task(name="requests_app.tasks.purge_unverified_requests")
def purge_unverified_requests() -> int:
    return requests_purge_unverified()


from requests_app import fulfilment_tasks  # noqa: E402, F401  (registers the fulfilment tasks)
