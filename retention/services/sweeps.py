"""Retention sweeps: every expired record is deleted, reduced, anonymised or restricted.

Design (after djangoproject.com's `delete_unactivated_users` and pretix's
shredder):

- What has expired is known ahead: `Record.expires_at` (see `expiry.py`), so
  finding work is a range scan on the partial index
  (organisation, expires_at, id) WHERE expires_at IS NOT NULL.
- Work is done in batches of set-based SQL, one transaction per batch: a
  single statement picks the batch (`FOR UPDATE SKIP LOCKED`, so two sweeps
  never process the same record), applies every action with data-modifying
  CTEs and returns the counts per rule. A stopped sweep resumes where it
  stopped; a rerun finds nothing left to do.
- Records under an active legal hold are never picked.
- Records restricted under Art. 18 (ground `art18*`, or a request's reference
  in `restriction_references`) are never picked either: a person who asked
  for restriction, e.g. because they need the data for a legal claim
  (Art. 18(1)(c)), must still find it there. They keep their expiry; when the
  restriction is lifted the expiry applies again, and a date already passed is
  handled by the next sweep. Records restricted on other grounds are swept at
  their expiry as any other: an erasure exception keeps data only for as long
  as the law that required it (its expiry is that law's end), an objection or
  a withdrawn consent stopped the processing, and keeping such data past its
  period would turn a restriction meant to protect the person into a reason to
  store their data longer.
- A rule that another rule overrides for some fields (Coachen's `customer`
  vs bookkeeping) is "reduced" at expiry, record by record: a record that
  holds at least one of the overriding rule's fields keeps only those, moves
  on to that rule and gets its end date (computed in the same statement);
  a record with none of them (health notes, contact details) is deleted. A
  record that holds such fields but for which the overriding rule gives no
  date (its event never happened: an unpaid invoice when the contract's
  period ends) is a policy error: it is left as it is, past its expiry, and
  every run records it in `SweepRun.errors` (counts and record ids) until
  the policy or the record is fixed. It is never kept silently.
- A subject whose last record a batch deletes is deleted in the same
  statement, with its identifiers, disclosures, processing stops and lifted
  legal holds (this is expiry, not an erasure request: no tombstone). It
  stays while an active legal hold names it, while a planned or running
  erasure job lists it (the job still writes its tombstone), and while a row
  outside the record store points at it (a request's subject match: the
  person's open request must still be answered). When every chunk of a run is
  done, one more statement deletes the subjects of the organisation that are
  left with no record and nothing pointing at them (those kept back earlier,
  those two concurrent batches each left for the other).
- When a run completes (not a dry run), `signals.sweep_finished` is sent after
  the commit: `requests_app` anonymises the organisation's closed requests
  whose retention period ended, with the same nightly schedule.
- The statements are in `sweep_sql.py`; this module cuts the work into
  chunks and batches, runs them and keeps the run's counts.
- A sweep is split into chunks of the expiry range; each chunk is a Celery
  task, so more worker processes or machines sweep faster. Counts are added
  to the run in the same transaction as each batch, so they are exact even
  when a worker dies and its chunk is redelivered.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from retention.audit import log_action
from retention.models import Organisation, Record, RetentionRule, SweepRun

# ART18_FILTER re-exported: `requests_app` reads from here which records a sweep leaves alone.
from retention.services.sweep_sql import ART18_FILTER as ART18_FILTER
from retention.services.sweep_sql import apply_sql, dry_sql, leftovers_sql
from retention.signals import sweep_finished

logger = logging.getLogger(__name__)

ACTIONS = ("deleted", "reduced", "anonymised", "restricted")
# A record to reduce for which the overriding rule gives no end date (`SweepRun.errors`).
POLICY_ERROR = "no_keep_until"
DEFAULT_BATCH_SIZE = 5000
# Record ids a run keeps per policy error (enough to find and fix them).
ERROR_IDS_MAX = 20


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Chunk:
    """An inclusive-exclusive slice of the expiry order: (after, upto]."""

    after_at: dt.datetime
    after_id: int
    upto_at: dt.datetime
    upto_id: int

    def as_list(self) -> list:
        return [self.after_at.isoformat(), self.after_id, self.upto_at.isoformat(), self.upto_id]

    @classmethod
    def from_list(cls, values: list) -> Chunk:
        return cls(
            dt.datetime.fromisoformat(values[0]),
            int(values[1]),
            dt.datetime.fromisoformat(values[2]),
            int(values[3]),
        )


WHOLE = Chunk(EPOCH, 0, FAR_FUTURE, 2**62)


def sweep_chunks(*, organisation_id: int, cutoff: dt.datetime, parts: int) -> list[Chunk]:
    """Split the expired records into about `parts` chunks of equal size.

    One index-only pass numbers the expired rows in (expires_at, id) order
    and keeps every n-th as a boundary.
    """
    if parts <= 1:
        return [WHOLE]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM retention_record r WHERE r.organisation_id = %s "
            "AND r.expires_at IS NOT NULL AND r.expires_at <= %s",
            [organisation_id, cutoff],
        )
        total = cursor.fetchone()[0]
        step = max(1, -(-total // parts))
        cursor.execute(
            """
            SELECT expires_at, id FROM (
                SELECT r.expires_at, r.id, row_number() OVER (ORDER BY r.expires_at, r.id) AS n
                  FROM retention_record r
                 WHERE r.organisation_id = %s AND r.expires_at IS NOT NULL
                   AND r.expires_at <= %s
            ) numbered
            WHERE n %% %s = 0
            ORDER BY expires_at, id
            """,
            [organisation_id, cutoff, step],
        )
        bounds = cursor.fetchall()
    chunks, after = [], (EPOCH, 0)
    for upto in bounds:
        chunks.append(Chunk(after[0], after[1], upto[0], upto[1]))
        after = upto
    chunks.append(Chunk(after[0], after[1], FAR_FUTURE, 2**62))
    return chunks


@dataclass
class BatchResult:
    """What one batch statement did (or, in a dry run, would do)."""

    counts: dict
    errors: dict  # {rule id: (records, [record ids])}: reduced records with no end date
    subjects: int = 0
    size: int = 0
    last: tuple | None = None


def _run_batch(*, sql: str, params: dict) -> BatchResult:
    """Run one batch statement and read its counts."""
    result = BatchResult(counts=defaultdict(lambda: dict.fromkeys(ACTIONS, 0)), errors={})
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "ids": ERROR_IDS_MAX})
        for action, rule_id, n, ids, last_at in cursor.fetchall():
            if action == "size":
                result.size = n
            elif action == "last":
                result.last = (last_at, rule_id)
            elif action == "subjects":
                result.subjects = n
            elif action == "error":
                result.errors[rule_id] = (n, list(ids or []))
            else:
                result.counts[rule_id][action] += n
    return result


def sweep_chunk_process(
    *,
    run_id: int,
    chunk: Chunk,
    chunk_index: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Sweep one chunk of a run, batch after batch, then mark the chunk done.

    Each batch starts after the last (expires_at, id) of the one before, so
    held and restricted rows are read once per run, not once per batch. A
    reduced record gets its new expiry in the same statement; one whose new
    expiry has passed already is deleted at once.
    """
    run = SweepRun.objects.select_related("organisation").get(pk=run_id)
    if run.status != SweepRun.Status.RUNNING or chunk_index in run.counts.get("_done", []):
        return  # finished already (a redelivered task)
    org = run.organisation
    rule_keys = dict(RetentionRule.objects.filter(organisation=org).values_list("id", "key"))
    sql = dry_sql() if run.dry_run else apply_sql()
    after = (chunk.after_at, chunk.after_id)
    while True:
        params = {
            "org": org.pk,
            "cutoff": run.cutoff,
            "now": timezone.now(),
            "after_at": after[0],
            "after_id": after[1],
            "upto_at": chunk.upto_at,
            "upto_id": chunk.upto_id,
            "limit": batch_size,
        }
        with transaction.atomic():
            result = _run_batch(sql=sql, params=params)
            _add_counts(run_id=run_id, result=result, rule_keys=rule_keys)
        if result.size < batch_size:
            break
        after = result.last
    _finish_chunk(run_id=run_id, chunk_index=chunk_index)


def _add_counts(*, run_id: int, result: BatchResult, rule_keys: dict) -> None:
    run = SweepRun.objects.select_for_update().get(pk=run_id)
    for rule_id, per_action in result.counts.items():
        key = rule_keys.get(rule_id, str(rule_id))
        entry = run.counts.setdefault(key, dict.fromkeys(ACTIONS, 0))
        for action, n in per_action.items():
            entry[action] = entry.get(action, 0) + n
    run.counts["_subjects_deleted"] = run.counts.get("_subjects_deleted", 0) + result.subjects
    _add_errors(run, result.errors, rule_keys)
    run.processed += result.size
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["counts", "processed", "errors", "heartbeat_at"])


def _add_errors(run: SweepRun, errors: dict, rule_keys: dict) -> None:
    """One entry per rule whose records the sweep could not reduce (no end date)."""
    if not errors:
        return
    overriding: dict[int, str] = {}
    for overridden_id, key in (
        RetentionRule.objects.filter(overrides__in=list(errors))
        .order_by("-key")  # the first by key wins, as in PLAN_SQL
        .values_list("overrides", "key")
    ):
        overriding[overridden_id] = key
    for rule_id, (n, ids) in errors.items():
        key = rule_keys.get(rule_id, str(rule_id))
        entry = next(
            (e for e in run.errors if e.get("code") == POLICY_ERROR and e.get("rule") == key),
            None,
        )
        if entry is None:
            entry = {
                "code": POLICY_ERROR,
                "rule": key,
                "overriding_rule": overriding.get(rule_id, ""),
                "records": 0,
                "record_ids": [],
            }
            run.errors.append(entry)
        entry["records"] += n
        entry["record_ids"] = sorted(set(entry["record_ids"]) | set(ids))[:ERROR_IDS_MAX]


def _finish_chunk(*, run_id: int, chunk_index: int) -> None:
    with transaction.atomic():
        run = SweepRun.objects.select_for_update().get(pk=run_id)
        done = run.counts.setdefault("_done", [])
        if chunk_index in done:
            return
        done.append(chunk_index)
        run.heartbeat_at = timezone.now()
        completed = False
        run.chunks_pending = max(0, run.chunks_pending - 1)
        if run.chunks_pending == 0:
            completed = True
            if not run.dry_run:
                run.counts["_subjects_deleted"] = run.counts.get(
                    "_subjects_deleted", 0
                ) + subjects_leftover_delete(organisation_id=run.organisation_id, cutoff=run.cutoff)
            run.status = SweepRun.Status.COMPLETED
            run.finished_at = timezone.now()
            log_action(
                action="retention.sweep.completed",
                organisation=run.organisation,
                object_type="sweep",
                object_id=run.pk,
                data={
                    "dry_run": run.dry_run,
                    "counts": run.rule_counts,
                    "processed": run.processed,
                    "subjects_deleted": run.subjects_deleted,
                    "policy_errors": [
                        {"rule": e["rule"], "records": e["records"]} for e in run.errors
                    ],
                },
            )
        run.save(
            update_fields=["counts", "chunks_pending", "status", "finished_at", "heartbeat_at"]
        )
    if completed and not run.dry_run:
        _sweep_finished_send(run)


def _sweep_finished_send(run: SweepRun) -> None:
    """Tell the apps that keep their own data with the sweep (`signals.sweep_finished`)."""
    try:
        sweep_finished.send(sender=SweepRun, run=run)
    except Exception as exc:  # the sweep is done; the receiver runs again with the next one
        # The class name only: an exception's message may hold personal data.
        logger.error("sweep %s: a sweep_finished receiver failed (%s)", run.pk, type(exc).__name__)


def subjects_leftover_delete(*, organisation_id: int, cutoff: dt.datetime) -> int:
    """Delete the organisation's subjects left with no record and nothing keeping them.

    One statement. Subjects created less than a day before the cutoff are left
    alone (an import or the API may still be adding their records).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            leftovers_sql(), {"org": organisation_id, "cutoff": cutoff, "now": timezone.now()}
        )
        return cursor.fetchone()[0]


def sweep_start(
    *,
    organisation: Organisation,
    trigger: str,
    user=None,
    dry_run: bool = False,
    parts: int = 1,
    now: dt.datetime | None = None,
) -> tuple[SweepRun, list[Chunk]]:
    """Create a run and split it into chunks (the caller processes or enqueues them)."""
    cutoff = now or timezone.now()
    chunks = sweep_chunks(organisation_id=organisation.pk, cutoff=cutoff, parts=parts)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM retention_record r WHERE r.organisation_id = %s "
            "AND r.expires_at IS NOT NULL AND r.expires_at <= %s",
            [organisation.pk, cutoff],
        )
        expected = cursor.fetchone()[0]
    with transaction.atomic():
        run = SweepRun.objects.create(
            organisation=organisation,
            trigger=trigger,
            triggered_by=user,
            dry_run=dry_run,
            cutoff=cutoff,
            expected=expected,
            chunks_pending=len(chunks),
            counts={"_chunks": [c.as_list() for c in chunks], "_done": []},
            heartbeat_at=timezone.now(),
        )
        log_action(
            action="retention.sweep.started",
            actor_kind="staff" if user else "system",
            actor_id=user.pk if user else None,
            organisation=organisation,
            object_type="sweep",
            object_id=run.pk,
            data={"trigger": trigger, "dry_run": dry_run, "expected": expected},
        )
    return run, chunks


def sweeps_stalled(*, now: dt.datetime | None = None) -> list[tuple[int, list[tuple[int, list]]]]:
    """Running sweeps with no progress for `SWEEP_LEASE_SECONDS`, and their unfinished chunks.

    A chunk task can be lost: its worker killed after Redis forgot the message,
    Redis restarted empty, a batch failed because PostgreSQL restarted (a
    failed task is not retried). Each chunk records when it is done
    (`counts["_done"]`) and every batch moves the heartbeat on, so a run whose
    heartbeat stopped has chunks nobody is working on. Returns
    `[(run id, [(chunk index, chunk), ...])]` and moves each run's heartbeat to
    now, so the next call leaves it alone for another lease. Resuming a chunk
    is safe: it continues with what is still expired; counts were added with
    each committed batch.
    """
    now = now or timezone.now()
    stale = now - dt.timedelta(seconds=settings.SWEEP_LEASE_SECONDS)
    stalled = []
    with transaction.atomic():
        runs = SweepRun.objects.select_for_update(skip_locked=True).filter(
            Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, started_at__lt=stale),
            status=SweepRun.Status.RUNNING,
        )
        for run in runs:
            done = set(run.counts.get("_done", []))
            chunks = [(i, c) for i, c in enumerate(run.counts.get("_chunks", [])) if i not in done]
            run.heartbeat_at = now
            run.save(update_fields=["heartbeat_at"])
            logger.warning("sweep %s stalled; resuming %s chunk(s)", run.pk, len(chunks))
            stalled.append((run.pk, chunks))
    return stalled


def sweep_schedule_ensure(*, organisation: Organisation, cron: str) -> None:
    """A nightly sweep per organisation in django-celery-beat, created once.

    Staff may change or disable it in the admin; later calls leave it alone.
    """
    import json

    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    minute, hour, day_of_month, month_of_year, day_of_week = cron.split()
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=organisation.time_zone,
    )
    PeriodicTask.objects.get_or_create(
        name=f"retention sweep: {organisation.slug}",
        defaults={
            "task": "retention.tasks.sweep_organisation",
            "crontab": schedule,
            "kwargs": json.dumps({"organisation_id": organisation.pk}),
        },
    )


def sweep_run_inline(
    *,
    organisation: Organisation,
    trigger: str = SweepRun.Trigger.COMMAND,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SweepRun:
    """Sweep one organisation in this process (the command and the tests).
    `progress`, if given, is called with (chunks done, chunks in all) before and after each."""
    started = time.monotonic()
    run, chunks = sweep_start(organisation=organisation, trigger=trigger, dry_run=dry_run, now=now)
    if progress:
        progress(0, len(chunks))
    for index, chunk in enumerate(chunks):
        sweep_chunk_process(run_id=run.pk, chunk=chunk, chunk_index=index, batch_size=batch_size)
        if progress:
            progress(index + 1, len(chunks))
    run.refresh_from_db()
    run.elapsed = time.monotonic() - started
    return run


def records_kept_without_end(*, organisation: Organisation) -> int:
    """Records kept for a law with no date until which they are kept: a policy error.

    Under an overriding (legal-obligation) rule, or kept by an erasure because a law
    requires it, and with no expiry. The sweep never leaves such a record now; an erasure
    plan keeps one when the law's rule gives no date (`erasure.POLICY_ERROR`), and older
    sweeps left some. Staff see the count and fix the policy or the records' data.
    """
    overriding = RetentionRule.objects.filter(
        organisation=organisation, overrides__isnull=False
    ).values("pk")
    return (
        Record.objects.filter(organisation=organisation, expires_at__isnull=True)
        .filter(anonymised_at__isnull=True)
        .filter(Q(rule_id__in=overriding) | Q(restriction_ground="erasure_exception"))
        .count()
    )
