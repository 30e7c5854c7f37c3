"""Celery tasks of the record store: thin wrappers that take ids and call services."""

from celery import shared_task
from django.conf import settings

from retention.models import Organisation
from retention.services.sweeps import Chunk, sweep_chunk_process, sweep_start


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_organisation(organisation_id: int, trigger: str = "schedule", user_id: int | None = None):
    """Start a sweep and fan its chunks out over the workers."""
    from django.contrib.auth import get_user_model

    organisation = Organisation.objects.get(pk=organisation_id)
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    run, chunks = sweep_start(
        organisation=organisation, trigger=trigger, user=user, parts=settings.SWEEP_PARTS
    )
    for index, chunk in enumerate(chunks):
        sweep_chunk.delay(run.pk, chunk.as_list(), index)
    return run.pk


@shared_task(acks_late=True, reject_on_worker_lost=True)
def sweep_chunk(run_id: int, chunk: list, index: int):
    sweep_chunk_process(
        run_id=run_id,
        chunk=Chunk.from_list(chunk),
        chunk_index=index,
        batch_size=settings.SWEEP_BATCH_SIZE,
    )
