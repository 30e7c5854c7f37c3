"""Celery tasks of the record store: thin wrappers that take ids and call services."""

from functools import partial

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from retention.models import Organisation
from retention.services.sweeps import Chunk, sweep_chunk_process, sweep_start


def sweep_begin(*, organisation: Organisation, trigger: str, user_id: int | None = None) -> int:
    """Start a sweep and fan its chunks out over the workers once the run is committed.

    The one way a sweep starts in the background: the schedule's
    `sweep_organisation` and the staff's request (`requests_app.tasks.sweep_requested`,
    inside the transaction that records its outbox message as done). Outside a
    transaction the chunks are enqueued at once. A chunk lost on the way is enqueued
    again by `sweeps_resume`.
    """
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    run, chunks = sweep_start(
        organisation=organisation, trigger=trigger, user=user, parts=settings.SWEEP_PARTS
    )
    indexed = [(index, chunk.as_list()) for index, chunk in enumerate(chunks)]
    transaction.on_commit(partial(_chunks_enqueue, run.pk, indexed))
    return run.pk


def _chunks_enqueue(run_id: int, chunks: list[tuple[int, list]]) -> None:
    for index, chunk in chunks:
        sweep_chunk.delay(run_id, chunk, index)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_organisation(organisation_id: int, trigger: str = "schedule", user_id: int | None = None):
    """Start a sweep and fan its chunks out over the workers."""
    organisation = Organisation.objects.get(pk=organisation_id)
    return sweep_begin(organisation=organisation, trigger=trigger, user_id=user_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_chunk(run_id: int, chunk: list, index: int):
    sweep_chunk_process(
        run_id=run_id,
        chunk=Chunk.from_list(chunk),
        chunk_index=index,
        batch_size=settings.SWEEP_BATCH_SIZE,
    )


@shared_task
def sweeps_resume():
    """Beat, every minute: enqueue again the chunks of sweeps that stopped making progress."""
    from retention.services.sweeps import sweeps_stalled

    for run_id, chunks in sweeps_stalled():
        _chunks_enqueue(run_id, chunks)


def _worker_id() -> str:
    import os
    import socket
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@shared_task(acks_late=True, reject_on_worker_lost=True)
def job_run(job_id: int):
    """Claim a record-store job and carry it out (no-op if another worker holds it)."""
    from retention.models import RecordStoreJob
    from retention.services.erasure import erasure_execute
    from retention.services.jobs import JobLeaseLost, job_claim, job_fail

    runners = {RecordStoreJob.Kind.ERASURE: erasure_execute}
    worker = _worker_id()
    job = job_claim(job_id=job_id, worker=worker)
    if job is None:
        return
    try:
        runners[job.kind](job=job, worker=worker)
    except JobLeaseLost:
        return
    except Exception as exc:
        job_fail(job_id=job_id, worker=worker, error=type(exc).__name__)
        raise


@shared_task
def jobs_reclaim():
    """Beat, every minute: hand jobs whose worker died to a live worker."""
    from retention.services.jobs import jobs_reclaimable

    for job_id in jobs_reclaimable():
        job_run.delay(job_id)


@shared_task
def audit_check():
    """Beat, daily (AUDIT_CHECK_SCHEDULE): check the audit chain, export its head."""
    from retention.audit import audit_check_run

    return audit_check_run().pk
