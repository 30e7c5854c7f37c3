"""Celery tasks of fulfilment: ids in, a service of `requests_app.services.fulfilment` called.

Each is written to the outbox by the transaction that needs it and is safe to
run twice: the service recognises a repeat by its outbox message (or a row
that records the step). Registered by importing this module from
`requests_app.tasks` (autodiscovered by workers, imported by the tests).
"""

from __future__ import annotations

from celery import shared_task

_RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 8}


@shared_task(name="requests_app.tasks.fulfilment_honour", acks_late=True, **_RETRY)
def fulfilment_honour(*, request_id: int, message_id: int | None = None) -> None:
    from requests_app.services.fulfilment import fulfilment_honour as honour

    honour(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.erasure_job_run", acks_late=True, reject_on_worker_lost=True)
def erasure_job_run(*, job_id: int, message_id: int | None = None) -> None:
    """Run an approved erasure job (retention's `job_run`: only the lease holder acts).

    A failure is retried by the job's lease (`retention.tasks.jobs_reclaim`), not here.
    """
    from requests_app.services.fulfilment import outbox_message_complete
    from retention.tasks import job_run

    job_run(job_id)
    outbox_message_complete(outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.recipient_notify", acks_late=True, **_RETRY)
def recipient_notify(*, notification_id: int, message_id: int | None = None) -> None:
    from requests_app.services.fulfilment import recipient_notify as notify

    notify(notification_id=notification_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.restriction_lift_notice", acks_late=True, **_RETRY)
def restriction_lift_notice(*, request_id: int, message_id: int | None = None) -> None:
    from requests_app.services.fulfilment import restriction_lift_notice_send

    restriction_lift_notice_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.restriction_lift", acks_late=True, **_RETRY)
def restriction_lift(*, request_id: int, message_id: int | None = None) -> None:
    from requests_app.services.fulfilment import restriction_lift_carry_out

    restriction_lift_carry_out(request_id=request_id, outbox_message_id=message_id)
