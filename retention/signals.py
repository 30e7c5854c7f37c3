"""Signals of the record store, for apps that build on it.

`retention` never imports the apps that use it (`requests_app` depends on
`retention`, not the other way round). When such an app must act on
something that happened in the record store, it connects a receiver here.

- `job_finished(sender=RecordStoreJob, job=job)`: sent by
  `retention.services.jobs.job_finish` *inside* the transaction that marks the
  job completed, after its audit entry, exactly once per job. A receiver's
  writes commit or roll back with the completion; a receiver that raises
  rolls the completion back and the job is finished again on its next run.
- `sweep_finished(sender=SweepRun, run=run)`: sent by
  `retention.services.sweeps` *after* the transaction that marks a sweep run
  completed has committed, once per run, never for a dry run. Receivers apply
  their own retention with the nightly sweep (`requests_app` anonymises the
  organisation's closed requests). A receiver that raises is logged (its
  class name only) and the sweep stays completed: its work is done again with
  the next sweep.
"""

from django.dispatch import Signal

job_finished = Signal()
sweep_finished = Signal()
