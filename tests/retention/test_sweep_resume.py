"""A sweep whose chunk was lost is resumed: nothing is left unswept because a worker died.

A chunk task is lost when its worker is killed after Redis forgot the message,
when Redis restarts empty, or when a batch fails because PostgreSQL restarted
(a failed task is not retried). Every batch moves the run's heartbeat on; the
beat task `sweeps_resume` enqueues the unfinished chunks of a run whose
heartbeat stopped for `SWEEP_LEASE_SECONDS`.
"""

from __future__ import annotations

import datetime as dt

import time_machine
from django.conf import settings

from retention.models import Record, SweepRun
from retention.services.sweeps import Chunk, sweep_chunk_process, sweep_start, sweeps_stalled
from tests.retention.test_sweeps import _bulk_expired

AT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_a_run_with_a_lost_chunk_is_resumed_after_its_lease_and_completes(organisations):
    org = organisations["framsteget"]
    _bulk_expired(org, 300, prefix="r")
    with time_machine.travel(AT, tick=False):
        run, chunks = sweep_start(organisation=org, trigger="schedule", parts=3, now=AT)
        assert len(chunks) >= 2
        sweep_chunk_process(run_id=run.pk, chunk=chunks[0], chunk_index=0, batch_size=50)
        # The other chunks' tasks were lost. Within the lease, nothing is resumed ...
        assert sweeps_stalled() == []

    later = AT + dt.timedelta(seconds=settings.SWEEP_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        stalled = sweeps_stalled()
        assert [run_id for run_id, _ in stalled] == [run.pk]
        resumed = stalled[0][1]
        assert [index for index, _ in resumed] == list(range(1, len(chunks)))
        # ... and a second call within the new lease does not enqueue them twice.
        assert sweeps_stalled() == []
        for index, chunk in resumed:
            sweep_chunk_process(
                run_id=run.pk, chunk=Chunk.from_list(chunk), chunk_index=index, batch_size=50
            )

    run.refresh_from_db()
    assert run.status == SweepRun.Status.COMPLETED
    assert run.rule_counts["ip_addresses"]["deleted"] == 300
    assert not Record.objects.filter(organisation=org).exists()


def test_a_chunk_resumed_twice_counts_its_records_once(organisations):
    """Resuming is safe when the first run of the chunk had got halfway (or was only slow)."""
    org = organisations["framsteget"]
    _bulk_expired(org, 200, prefix="h")
    run, chunks = sweep_start(organisation=org, trigger="schedule", parts=1, now=AT)
    sweep_chunk_process(run_id=run.pk, chunk=chunks[0], chunk_index=0, batch_size=50)
    sweep_chunk_process(run_id=run.pk, chunk=chunks[0], chunk_index=0, batch_size=50)
    run.refresh_from_db()
    assert run.status == SweepRun.Status.COMPLETED
    assert run.rule_counts["ip_addresses"]["deleted"] == 200
