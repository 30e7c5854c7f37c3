"""Celery tasks of access and portability packages: ids in, a service called, safe to run twice.

Registered through `CELERY_IMPORTS` (settings, "Access and portability packages").
The build itself is started by the fulfilment dispatcher
(`requests_app.tasks.fulfilment_start`), which calls `package_start`.
"""

from __future__ import annotations

from celery import shared_task

_RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 8}


@shared_task(name="requests_app.tasks.package_build", acks_late=True, **_RETRY)
def package_build(*, request_id: int, message_id: int | None = None) -> None:
    """Build (or finish building) the package of an approved access or portability request."""
    from requests_app.services.packages import package_start

    package_start(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.package_ready_email", acks_late=True, **_RETRY)
def package_ready_email(*, request_id: int, message_id: int) -> None:
    from requests_app.services.packages import package_ready_email_send

    package_ready_email_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.packages_expire")
def packages_expire() -> int:
    """Beat: delete the files of expired packages (every PACKAGE_EXPIRY_INTERVAL seconds)."""
    from requests_app.services.packages import packages_expire as expire

    return expire()


@shared_task(name="requests_app.tasks.packages_resume")
def packages_resume() -> int:
    """Beat: start again the builds whose worker died (every JOB_RECLAIM_INTERVAL seconds)."""
    from requests_app.services.packages import packages_resume as resume

    return resume()
