"""Record-store jobs that are never lost and never act twice.

A job is a row. `job_approve` moves a planned job on; `job_claim` takes it
with a lease (a conditional UPDATE: only one worker can win); the worker
renews the lease and records its progress in the same transaction as each
batch (`job_progress`); `job_finish` completes it with exactly one audit
entry (a conditional UPDATE again). A job whose worker died keeps its state
`running` until its lease runs out; `jobs_reclaim` (beat, every minute)
hands it to a worker again, which resumes from the recorded progress. After
JOB_MAX_ATTEMPTS the job is `failed` and stays so until staff hand it out
again (`job_retry`), once the cause is fixed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from retention.audit import log_action
from retention.models import RecordStoreJob
from retention.signals import job_finished


class JobLeaseLost(Exception):
    """Another worker holds the job now: stop without touching anything."""


def _lease_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.JOB_LEASE_SECONDS)


def _job_log(job: RecordStoreJob, event: str, data: dict, user=None) -> None:
    """One audit entry about a job: `retention.<kind>.<event>`, by a staff member or the system."""
    log_action(
        action=f"retention.{job.kind}.{event}",
        actor_kind="staff" if user else "system",
        actor_id=user.pk if user else None,
        organisation=job.organisation,
        object_type="job",
        object_id=job.pk,
        data=data,
    )


def job_approve(*, job: RecordStoreJob, user=None) -> RecordStoreJob:
    updated = RecordStoreJob.objects.filter(pk=job.pk, state=RecordStoreJob.State.PLANNED).update(
        state=RecordStoreJob.State.APPROVED, approved_at=timezone.now()
    )
    job.refresh_from_db()
    if updated:
        _job_log(job, "approved", {"reference": job.reference}, user)
    return job


def job_claim(*, job_id: int, worker: str) -> RecordStoreJob | None:
    """Take the job if it is approved, or running with an expired lease."""
    now = timezone.now()
    claimable = Q(state=RecordStoreJob.State.APPROVED) | Q(
        state=RecordStoreJob.State.RUNNING, lease_expires_at__lt=now
    )
    updated = RecordStoreJob.objects.filter(
        claimable, pk=job_id, attempts__lt=settings.JOB_MAX_ATTEMPTS
    ).update(
        state=RecordStoreJob.State.RUNNING,
        lease_owner=worker,
        lease_expires_at=_lease_until(),
        attempts=F("attempts") + 1,
    )
    if not updated:
        return None
    RecordStoreJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    return RecordStoreJob.objects.select_related("organisation").get(pk=job_id)


def job_progress(*, job: RecordStoreJob, worker: str, advance: int, counts: dict) -> RecordStoreJob:
    """Inside the batch's transaction: check the lease, add counts, move on, renew."""
    locked = RecordStoreJob.objects.select_for_update().get(pk=job.pk)
    if locked.state != RecordStoreJob.State.RUNNING or locked.lease_owner != worker:
        raise JobLeaseLost(f"job {job.pk} is no longer held by {worker}")
    for key, value in counts.items():
        locked.result[key] = locked.result.get(key, 0) + value
    locked.progress += advance
    locked.lease_expires_at = _lease_until()
    locked.save(update_fields=["result", "progress", "lease_expires_at"])
    locked.organisation = job.organisation
    return locked


def job_finish(
    *, job: RecordStoreJob, worker: str, action: str, before: Callable[[], None] | None = None
) -> bool:
    """Complete the job with one audit entry; False if someone else already did.

    `job_finished` is sent in the same transaction, so what its receivers write
    (a request's completion, say) happens exactly once, together with it.
    """
    with transaction.atomic():
        updated = RecordStoreJob.objects.filter(
            pk=job.pk, state=RecordStoreJob.State.RUNNING, lease_owner=worker
        ).update(
            state=RecordStoreJob.State.COMPLETED, finished_at=timezone.now(), lease_expires_at=None
        )
        if not updated:
            return False
        if before is not None:
            before()
        job.refresh_from_db()
        log_action(
            action=action,
            organisation=job.organisation,
            object_type="job",
            object_id=job.pk,
            data={"reference": job.reference, "attempts": job.attempts, **job.result},
        )
        job_finished.send(sender=RecordStoreJob, job=job)
    return True


def job_fail(*, job_id: int, worker: str, error: str) -> None:
    """Note an error; the job is retried when its lease runs out, up to JOB_MAX_ATTEMPTS."""
    RecordStoreJob.objects.filter(pk=job_id, lease_owner=worker).update(
        error=error[:500], lease_expires_at=timezone.now()
    )


def job_retry(*, job: RecordStoreJob, user=None) -> bool:
    """Hand a failed job to the workers again (staff, once its cause is fixed); False if not failed.

    Back to `approved` with its attempts, error and lease cleared and its progress
    kept: the worker resumes after the last batch that was carried out. The caller
    enqueues the run; `jobs_reclaim` hands it out too if that message is lost.
    """
    updated = RecordStoreJob.objects.filter(pk=job.pk, state=RecordStoreJob.State.FAILED).update(
        state=RecordStoreJob.State.APPROVED,
        attempts=0,
        error="",
        lease_owner="",
        lease_expires_at=None,
        finished_at=None,
    )
    if updated:
        _job_log(
            job,
            "retried",
            {"reference": job.reference, "attempts": job.attempts, "progress": job.progress},
            user,
        )
    job.refresh_from_db()
    return bool(updated)


def jobs_reclaimable() -> list[int]:
    """Approved jobs never started and running jobs whose lease ran out.

    Jobs that failed JOB_MAX_ATTEMPTS times are marked failed instead.
    """
    now = timezone.now()
    exhausted = RecordStoreJob.objects.filter(
        state=RecordStoreJob.State.RUNNING,
        lease_expires_at__lt=now,
        attempts__gte=settings.JOB_MAX_ATTEMPTS,
    )
    for job in exhausted.select_related("organisation"):
        if RecordStoreJob.objects.filter(pk=job.pk, state=RecordStoreJob.State.RUNNING).update(
            state=RecordStoreJob.State.FAILED, finished_at=now
        ):
            _job_log(job, "failed", {"attempts": job.attempts})
    stale = timezone.now() - dt.timedelta(seconds=settings.JOB_LEASE_SECONDS)
    return list(
        RecordStoreJob.objects.filter(
            Q(state=RecordStoreJob.State.RUNNING, lease_expires_at__lt=now)
            | Q(state=RecordStoreJob.State.APPROVED, approved_at__lt=stale)
        ).values_list("pk", flat=True)
    )
