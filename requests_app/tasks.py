"""Every Celery task of the request workflow: ids in, one service called, safe to run twice.

Found by the workers' autodiscovery (`portal.celery`). Each task that a
service needs is written to the outbox in that service's transaction
(`requests_app.services.outbox`) and names the task by its `name=`, which
stays as it is when code moves: queued messages, outbox rows and beat's
schedule rows (django-celery-beat) name tasks by it. A repeat is recognised
by the outbox message id (`message_id`) or by a row the step wrote.

- intake: `send_verification_email`, `send_confirmation_email`, `send_extension_notice`;
- staff: `staff_notify`, `deadline_digest` (beat, 07:00), `sweep_requested` (a sweep
  staff started: `retention.tasks.sweep_begin`);
- fulfilment: `fulfilment_start` (the dispatcher), `fulfilment_honour`, `erasure_job_run`,
  `recipient_notify`, `restriction_lift_notice`, `restriction_lift`;
- packages: `package_build` (builds an access or portability package),
  `package_ready_email`, `packages_expire` and `packages_resume` (beat);
- outbox and clean-up: `relay_outbox`, `purge_unverified_requests` (beat).
"""

from __future__ import annotations

from celery import shared_task

from requests_app.services import fulfilment, packages, staff, staff_digest, sweeps
from requests_app.services.outbox import RELAY_SWEEP_GRACE, outbox_redeliver, outbox_relay
from requests_app.services.requests import extension_notice_send, requests_purge_unverified
from requests_app.services.verification import confirmation_send, verification_send
from retention import tasks as retention_tasks

# Retried with back-off: the message is recorded as done only when the work is.
_RETRY = {"acks_late": True, "autoretry_for": (Exception,), "retry_backoff": True, "max_retries": 8}


# --- Intake --------------------------------------------------------------------------------
@shared_task(name="requests_app.tasks.send_verification_email", **_RETRY)
def send_verification_email(*, request_id: int, message_id: int | None = None) -> None:
    verification_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.send_confirmation_email", **_RETRY)
def send_confirmation_email(*, request_id: int, message_id: int | None = None) -> None:
    confirmation_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.send_extension_notice", **_RETRY)
def send_extension_notice(*, request_id: int, message_id: int) -> None:
    extension_notice_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.relay_outbox")
def relay_outbox() -> int:
    """The beat sweep: publish what the relay after commit could not, and again what was lost."""
    return outbox_relay(min_age=RELAY_SWEEP_GRACE) + outbox_redeliver()


@shared_task(name="requests_app.tasks.purge_unverified_requests")
def purge_unverified_requests() -> int:
    return requests_purge_unverified()


# --- Staff ---------------------------------------------------------------------------------
@shared_task(name="requests_app.tasks.staff_notify", **_RETRY)
def staff_notify(*, request_id: int, template: str, message_id: int) -> None:
    staff.staff_notification_send(
        request_id=request_id, template=template, outbox_message_id=message_id
    )


@shared_task(name="requests_app.tasks.sweep_requested", **_RETRY)
def sweep_requested(*, organisation_id: int, user_id: int | None, message_id: int | None = None):
    """Start the sweep staff asked for (once per message) and fan its chunks out."""
    return sweeps.sweep_requested_start(
        organisation_id=organisation_id, user_id=user_id, outbox_message_id=message_id
    )


@shared_task(name="requests_app.tasks.deadline_digest")
def deadline_digest() -> int:
    return staff_digest.deadline_digest_send()


# --- Fulfilment ----------------------------------------------------------------------------
@shared_task(name="requests_app.tasks.fulfilment_start", acks_late=True)
def fulfilment_start(*, request_id: int, message_id: int | None = None) -> None:
    """Start the fulfilment of an approved request (the dispatcher)."""
    fulfilment.fulfilment_start(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.fulfilment_honour", **_RETRY)
def fulfilment_honour(*, request_id: int, message_id: int | None = None) -> None:
    fulfilment.fulfilment_honour(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.erasure_job_run", acks_late=True, reject_on_worker_lost=True)
def erasure_job_run(*, job_id: int, message_id: int | None = None) -> None:
    """Run an approved erasure job (retention's `job_run`: only the lease holder acts).

    A failure is retried by the job's lease (`retention.tasks.jobs_reclaim`), not here.
    """
    retention_tasks.job_run(job_id)
    fulfilment.outbox_message_complete(outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.recipient_notify", **_RETRY)
def recipient_notify(*, notification_id: int, message_id: int | None = None) -> None:
    fulfilment.recipient_notify(notification_id=notification_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.restriction_lift_notice", **_RETRY)
def restriction_lift_notice(*, request_id: int, message_id: int | None = None) -> None:
    fulfilment.restriction_lift_notice_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.restriction_lift", **_RETRY)
def restriction_lift(*, request_id: int, message_id: int | None = None) -> None:
    fulfilment.restriction_lift_carry_out(request_id=request_id, outbox_message_id=message_id)


# --- Access and portability packages -------------------------------------------------------
@shared_task(name="requests_app.tasks.package_build", **_RETRY)
def package_build(*, request_id: int, message_id: int | None = None) -> None:
    """Build (or finish building) the package of an approved access or portability request."""
    packages.package_start(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.package_ready_email", **_RETRY)
def package_ready_email(*, request_id: int, message_id: int) -> None:
    packages.package_ready_email_send(request_id=request_id, outbox_message_id=message_id)


@shared_task(name="requests_app.tasks.packages_expire")
def packages_expire() -> int:
    """Beat: delete the files of expired packages (every PACKAGE_EXPIRY_INTERVAL seconds)."""
    return packages.packages_expire()


@shared_task(name="requests_app.tasks.packages_resume")
def packages_resume() -> int:
    """Beat: start again the builds whose worker died (every JOB_RECLAIM_INTERVAL seconds)."""
    return packages.packages_resume()
