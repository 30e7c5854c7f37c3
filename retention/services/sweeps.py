"""Retention sweeps: every expired record is deleted, anonymised or restricted.

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
- A rule that another rule overrides for some fields (paid invoices vs.
  bookkeeping) is "reduced" at expiry: every field but the overriding rule's
  is dropped and the record moves on to that rule, which deletes it later.
- A sweep is split into chunks of the expiry range; each chunk is a Celery
  task, so more worker processes or machines sweep faster. Counts are added
  to the run in the same transaction as each batch, so they are exact even
  when a worker dies and its chunk is redelivered.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from retention.audit import log_action
from retention.models import Organisation, RetentionRule, SweepRun
from retention.services.expiry import records_refresh

ACTIONS = ("deleted", "reduced", "anonymised", "restricted")
DEFAULT_BATCH_SIZE = 5000

HOLD_FILTER = """
NOT EXISTS (
    SELECT 1 FROM retention_legalhold h
     WHERE h.organisation_id = r.organisation_id
       AND h.lifted_at IS NULL
       AND (h.ends_at IS NULL OR h.ends_at > %(now)s)
       AND (h.subject_id IS NULL OR h.subject_id = r.subject_id)
       AND (h.category_id IS NULL OR h.category_id = r.category_id)
)
"""

# Picks one batch of expired, unheld records after the keyset position, in
# (expires_at, id) order, inside the chunk's bounds, and locks it.
PICK_SQL = f"""
SELECT r.id, r.rule_id, r.expires_at
  FROM retention_record r
 WHERE r.organisation_id = %(org)s
   AND r.expires_at IS NOT NULL
   AND r.expires_at <= %(cutoff)s
   AND (r.expires_at, r.id) > (%(after_at)s, %(after_id)s)
   AND (r.expires_at, r.id) <= (%(upto_at)s, %(upto_id)s)
   AND {HOLD_FILTER}
 ORDER BY r.expires_at, r.id
 LIMIT %(limit)s
"""

PLAN_SQL = """
SELECT b.id, b.rule_id, b.expires_at, rr.action, rr.anonymise_fields,
       ov.id AS over_id, ov.fields AS over_fields
  FROM batch b
  JOIN retention_retentionrule rr ON rr.id = b.rule_id
  LEFT JOIN LATERAL (
      SELECT o.id, o.fields
        FROM retention_retentionrule_overrides x
        JOIN retention_retentionrule o ON o.id = x.from_retentionrule_id
       WHERE x.to_retentionrule_id = b.rule_id
       ORDER BY o.key
       LIMIT 1
  ) ov ON true
"""

APPLY_SQL = f"""
WITH batch AS ({PICK_SQL} FOR UPDATE OF r SKIP LOCKED),
plan AS ({PLAN_SQL}),
unlinked AS (
    UPDATE retention_disclosure d SET record_id = NULL
      FROM plan
     WHERE d.record_id = plan.id AND plan.over_id IS NULL AND plan.action = 'delete'
    RETURNING d.id
),
deleted AS (
    DELETE FROM retention_record r USING plan
     WHERE r.id = plan.id AND plan.over_id IS NULL AND plan.action = 'delete'
    RETURNING plan.rule_id
),
reduced AS (
    UPDATE retention_record r
       SET data = COALESCE(
               (SELECT jsonb_object_agg(e.key, e.value)
                  FROM jsonb_each(r.data) e
                 WHERE plan.over_fields ? e.key),
               '{{}}'::jsonb),
           rule_id = plan.over_id,
           updated_at = %(now)s
      FROM plan
     WHERE r.id = plan.id AND plan.over_id IS NOT NULL
    RETURNING plan.rule_id, r.id
),
anonymised AS (
    UPDATE retention_record r
       SET data = r.data - ARRAY(SELECT jsonb_array_elements_text(plan.anonymise_fields)),
           anonymised_at = %(now)s, expires_at = NULL, updated_at = %(now)s
      FROM plan
     WHERE r.id = plan.id AND plan.over_id IS NULL AND plan.action = 'anonymise'
    RETURNING plan.rule_id
),
restricted AS (
    UPDATE retention_record r
       SET restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = 'retention', expires_at = NULL, updated_at = %(now)s
      FROM plan
     WHERE r.id = plan.id AND plan.over_id IS NULL AND plan.action = 'restrict'
    RETURNING plan.rule_id
)
SELECT 'deleted', rule_id, count(*), NULL::bigint[], NULL::timestamptz FROM deleted GROUP BY rule_id
UNION ALL
SELECT 'reduced', rule_id, count(*), array_agg(id), NULL FROM reduced GROUP BY rule_id
UNION ALL
SELECT 'anonymised', rule_id, count(*), NULL, NULL FROM anonymised GROUP BY rule_id
UNION ALL
SELECT 'restricted', rule_id, count(*), NULL, NULL FROM restricted GROUP BY rule_id
UNION ALL
SELECT 'size', NULL, count(*), NULL, NULL FROM plan
UNION ALL
SELECT 'last', id, 0, NULL, expires_at
  FROM (SELECT id, expires_at FROM plan ORDER BY expires_at DESC, id DESC LIMIT 1) l
"""

DRY_SQL = f"""
WITH batch AS ({PICK_SQL}),
plan AS ({PLAN_SQL}),
last AS (SELECT expires_at, id FROM plan ORDER BY expires_at DESC, id DESC LIMIT 1)
SELECT CASE WHEN over_id IS NOT NULL THEN 'reduced'
            WHEN action = 'delete' THEN 'deleted'
            WHEN action = 'anonymise' THEN 'anonymised'
            ELSE 'restricted' END,
       rule_id, count(*), NULL::bigint[], NULL::timestamptz
  FROM plan GROUP BY 1, 2
UNION ALL
SELECT 'size', NULL, count(*), NULL, NULL FROM plan
UNION ALL
SELECT 'last', id, 0, NULL, expires_at FROM last
"""

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


def _run_batch(*, sql: str, params: dict) -> tuple[dict, tuple | None, int, list[int]]:
    """Run one batch statement.

    Returns the counts per rule and action, the last (expires_at, id) of a
    dry run's batch, the batch size and the ids of reduced records.
    """
    counts: dict = defaultdict(lambda: dict.fromkeys(ACTIONS, 0))
    last, size, reduced_ids = None, 0, []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for action, rule_id, n, ids, last_at in cursor.fetchall():
            if action == "size":
                size = n
            elif action == "last":
                last = (last_at, rule_id)
            else:
                counts[rule_id][action] += n
                reduced_ids.extend(ids or [])
    return counts, last, size, reduced_ids


def sweep_chunk_process(
    *,
    run_id: int,
    chunk: Chunk,
    chunk_index: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> None:
    """Sweep one chunk of a run, batch after batch, then mark the chunk done.

    Each batch starts after the last (expires_at, id) of the one before, so
    held rows are read once per run, not once per batch. A record reduced to
    its bookkeeping fields whose new expiry is already past waits for the
    next run (with the five policies that cannot happen: the bookkeeping
    period always ends later).
    """
    run = SweepRun.objects.select_related("organisation").get(pk=run_id)
    if run.status != SweepRun.Status.RUNNING or chunk_index in run.counts.get("_done", []):
        return  # finished already (a redelivered task)
    org = run.organisation
    rule_keys = dict(RetentionRule.objects.filter(organisation=org).values_list("id", "key"))
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
            counts, last, size, reduced_ids = _run_batch(
                sql=DRY_SQL if run.dry_run else APPLY_SQL, params=params
            )
            if reduced_ids:
                records_refresh(organisation=org, record_ids=reduced_ids)
            _add_counts(run_id=run_id, counts=counts, size=size, rule_keys=rule_keys)
        if size < batch_size:
            break
        after = last
    _finish_chunk(run_id=run_id, chunk_index=chunk_index)


def _add_counts(*, run_id: int, counts: dict, size: int, rule_keys: dict) -> None:
    run = SweepRun.objects.select_for_update().get(pk=run_id)
    for rule_id, per_action in counts.items():
        key = rule_keys.get(rule_id, str(rule_id))
        entry = run.counts.setdefault(key, dict.fromkeys(ACTIONS, 0))
        for action, n in per_action.items():
            entry[action] = entry.get(action, 0) + n
    run.processed += size
    run.save(update_fields=["counts", "processed"])


def _finish_chunk(*, run_id: int, chunk_index: int) -> None:
    with transaction.atomic():
        run = SweepRun.objects.select_for_update().get(pk=run_id)
        done = run.counts.setdefault("_done", [])
        if chunk_index in done:
            return
        done.append(chunk_index)
        run.chunks_pending = max(0, run.chunks_pending - 1)
        if run.chunks_pending == 0:
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
                },
            )
        run.save(update_fields=["counts", "chunks_pending", "status", "finished_at"])


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
) -> SweepRun:
    """Sweep one organisation in this process (the command and the tests)."""
    started = time.monotonic()
    run, chunks = sweep_start(organisation=organisation, trigger=trigger, dry_run=dry_run, now=now)
    for index, chunk in enumerate(chunks):
        sweep_chunk_process(run_id=run.pk, chunk=chunk, chunk_index=index, batch_size=batch_size)
    run.refresh_from_db()
    run.elapsed = time.monotonic() - started
    return run
