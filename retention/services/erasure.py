"""Erasure (Art. 17) in two phases: a plan, then its execution.

The plan says, for each of the subject's records, **delete**, **reduce**
(keep only the fields a legal obligation requires, until the date that
obligation ends) or **keep** (a legal hold, or data processed under a legal
obligation), with the legal reason and the date until which it is kept.
Staff approve the plan; then a worker executes it in batches of set-based
SQL, each batch one transaction that also records the job's progress.
Records that are kept are restricted and carry their expiry, so the
retention sweep erases them when their time comes.

Execution re-checks legal holds: a hold placed after the plan was approved
still protects its records.

When the job completes, each erased subject leaves an `ErasureTombstone`:
keyed hashes of its external id, e-mail addresses, personnummer and customer
numbers (phone numbers are left out: they are passed on to other people), the
time and the job. The importer refuses the subject's records collected at or
before that time, so the organisation's next import cannot bring them back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from retention.audit import log_action
from retention.models import (
    DataCategory,
    DataSubject,
    ErasureTombstone,
    Organisation,
    RecordStoreJob,
    SubjectIdentifier,
)
from retention.services.expiry import expiry_sql, records_refresh
from retention.services.jobs import job_finish, job_progress

DELETE, REDUCE, KEEP = "delete", "reduce", "keep"

# The identifiers a tombstone remembers, as the importer normalises them.
TOMBSTONE_KINDS = ("external_id", "email", "personnummer", "customer_number")


def tombstone_key() -> bytes:
    """The HMAC key of the tombstones (derived from SECRET_KEY, like the suppression list's)."""
    return hashlib.sha256(b"dsr-portal erasure tombstones|" + settings.SECRET_KEY.encode()).digest()


def tombstone_hash(*, kind: str, value: str, key: bytes | None = None) -> str:
    """The keyed hash of an identifier already normalised as on import (`value` as stored)."""
    return hmac.new(key or tombstone_key(), f"{kind}:{value}".encode(), "sha256").hexdigest()


def erasure_tombstones_write(*, job: RecordStoreJob, erased_at: dt.datetime) -> int:
    """One tombstone per subject of the job; call before its identifiers are deleted."""
    key = tombstone_key()
    hashes: dict[int, set[str]] = {}
    for pk, external_id in DataSubject.objects.filter(
        organisation_id=job.organisation_id, pk__in=job.subject_ids
    ).values_list("pk", "external_id"):
        hashes[pk] = {tombstone_hash(kind="external_id", value=external_id, key=key)}
    for subject_id, kind, value in SubjectIdentifier.objects.filter(
        subject_id__in=list(hashes), kind__in=TOMBSTONE_KINDS
    ).values_list("subject_id", "kind", "value"):
        hashes[subject_id].add(tombstone_hash(kind=kind, value=value, key=key))
    categories = (job.params or {}).get("categories") or []
    category_ids = sorted(
        DataCategory.objects.filter(
            organisation_id=job.organisation_id, key__in=categories
        ).values_list("pk", flat=True)
    )
    if categories and not category_ids:
        return 0  # a partial erasure of categories the organisation does not have
    ErasureTombstone.objects.bulk_create(
        ErasureTombstone(
            organisation_id=job.organisation_id,
            identifier_hashes=sorted(subject_hashes),
            category_ids=category_ids,
            erased_at=erased_at,
            job=job,
            reference=job.reference,
        )
        for subject_hashes in hashes.values()
    )
    return len(hashes)


PLAN_SQL = f"""
SELECT r.id, c.key, p.key, p.legal_basis, rr.key, rr.legal_basis, r.expires_at,
       ov.key, ov.fields, ({expiry_sql("ov")}) AS ov_expires_at,
       hold.id, hold.ends_at
  FROM retention_record r
  JOIN retention_datacategory c ON c.id = r.category_id
  JOIN retention_purpose p ON p.id = r.purpose_id
  JOIN retention_organisation o ON o.id = r.organisation_id
  LEFT JOIN retention_retentionrule rr ON rr.id = r.rule_id
  LEFT JOIN LATERAL (
      SELECT x.id, x.key, x.fields, x.action, x.start_event, x.end_of_calendar_year,
             x.period_unit, x.period_value
        FROM retention_retentionrule_overrides link
        JOIN retention_retentionrule x ON x.id = link.from_retentionrule_id
       WHERE link.to_retentionrule_id = r.rule_id
       ORDER BY x.key LIMIT 1
  ) ov ON true
  LEFT JOIN LATERAL (
      SELECT h.id, h.ends_at FROM retention_legalhold h
       WHERE h.organisation_id = r.organisation_id AND h.lifted_at IS NULL
         AND (h.ends_at IS NULL OR h.ends_at > %(now)s)
         AND (h.subject_id IS NULL OR h.subject_id = r.subject_id)
         AND (h.category_id IS NULL OR h.category_id = r.category_id)
       ORDER BY h.ends_at DESC NULLS FIRST LIMIT 1
  ) hold ON true
 WHERE r.organisation_id = %(org)s AND r.subject_id = ANY(%(subjects)s)
   AND (%(categories)s::text[] IS NULL OR c.key = ANY(%(categories)s))
 ORDER BY r.id
"""


def erasure_plan(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    categories: list[str] | None = None,
    now: dt.datetime | None = None,
) -> list[dict]:
    """What erasure would do to each of the subjects' records, and why."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            PLAN_SQL,
            {"org": organisation.pk, "subjects": subject_ids, "categories": categories, "now": now},
        )
        rows = cursor.fetchall()
    plan = []
    for (
        record_id,
        category,
        purpose,
        purpose_basis,
        rule_key,
        rule_basis,
        expires_at,
        over_key,
        over_fields,
        over_expires_at,
        hold_id,
        hold_ends_at,
    ) in rows:
        item = {"record": record_id, "category": category, "purpose": purpose}
        if hold_id is not None:
            item.update(action=KEEP, reason="legal_hold", until=hold_ends_at, rule=rule_key)
        elif over_key and (over_expires_at is None or over_expires_at > now):
            # An invoice (say) that bookkeeping law keeps: until the end of
            # its period, or, while unpaid, until it is settled and then that.
            item.update(
                action=REDUCE,
                reason="legal_obligation",
                rule=over_key,
                fields=sorted(json.loads(over_fields) if over_fields else []),
                until=over_expires_at,
            )
        elif _kept_by_law(rule_basis, purpose_basis, expires_at, now):
            item.update(action=KEEP, reason="legal_obligation", rule=rule_key, until=expires_at)
        else:
            item.update(action=DELETE, reason="erased", rule=rule_key)
        if item.get("until") is not None:
            item["until"] = item["until"].isoformat()
        plan.append(item)
    return plan


def _kept_by_law(rule_basis: str, purpose_basis: str, expires_at, now) -> bool:
    """Art. 17(3)(b): data a law requires us to keep, until its rule lets it go."""
    not_yet_expired = expires_at is None or expires_at > now
    if rule_basis == "legal_obligation":
        return not_yet_expired
    return purpose_basis == "legal_obligation" and expires_at is not None and not_yet_expired


def erasure_job_create(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    categories: list[str] | None = None,
    reference: str = "",
) -> RecordStoreJob:
    """Plan the erasure and store it as a job waiting for approval."""
    subjects = list(
        DataSubject.objects.filter(organisation=organisation, pk__in=subject_ids).values_list(
            "pk", flat=True
        )
    )
    with transaction.atomic():
        job = RecordStoreJob.objects.create(
            organisation=organisation,
            kind=RecordStoreJob.Kind.ERASURE,
            reference=reference,
            subject_ids=subjects,
            params={"categories": categories},
            plan=erasure_plan(
                organisation=organisation, subject_ids=subjects, categories=categories
            ),
        )
        log_action(
            action="retention.erasure.planned",
            organisation=organisation,
            object_type="job",
            object_id=job.pk,
            data={"reference": reference, **plan_counts(job.plan)},
        )
    return job


def plan_counts(plan: list[dict]) -> dict:
    counts = {DELETE: 0, REDUCE: 0, KEEP: 0}
    for item in plan:
        counts[item["action"]] += 1
    return counts


# One statement per batch: deletes, reductions and restrictions together.
# Holds are checked again here: a held record is restricted, never touched.
EXECUTE_SQL = """
WITH items AS (
    SELECT (i->>'record')::bigint AS id, i->>'action' AS action,
           i->'fields' AS fields, i->>'rule' AS rule_key
      FROM jsonb_array_elements(%(items)s::jsonb) i
),
target AS (
    SELECT items.*, r.subject_id,
           EXISTS (
               SELECT 1 FROM retention_legalhold h
                WHERE h.organisation_id = r.organisation_id AND h.lifted_at IS NULL
                  AND (h.ends_at IS NULL OR h.ends_at > %(now)s)
                  AND (h.subject_id IS NULL OR h.subject_id = r.subject_id)
                  AND (h.category_id IS NULL OR h.category_id = r.category_id)
           ) AS held
      FROM items JOIN retention_record r ON r.id = items.id
     WHERE r.organisation_id = %(org)s
     FOR UPDATE OF r
),
unlinked AS (
    UPDATE retention_disclosure d SET record_id = NULL
      FROM target t WHERE d.record_id = t.id AND t.action = 'delete' AND NOT t.held
    RETURNING d.id
),
deleted AS (
    DELETE FROM retention_record r USING target t
     WHERE r.id = t.id AND t.action = 'delete' AND NOT t.held
    RETURNING r.id
),
reduced AS (
    UPDATE retention_record r
       SET data = COALESCE(
               (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(r.data) e
                 WHERE t.fields ? e.key), '{}'::jsonb),
           rule_id = (SELECT id FROM retention_retentionrule
                       WHERE organisation_id = %(org)s AND key = t.rule_key),
           restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = 'erasure_exception', updated_at = %(now)s
      FROM target t WHERE r.id = t.id AND t.action = 'reduce' AND NOT t.held
    RETURNING r.id
),
kept AS (
    UPDATE retention_record r
       SET restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = CASE WHEN r.restriction_ground = ''
                                     THEN 'erasure_exception' ELSE r.restriction_ground END,
           -- kept because erasure was refused: lifting an Art. 18 restriction no longer
           -- ends its restriction
           restriction_references = '{}',
           updated_at = %(now)s
      FROM target t WHERE r.id = t.id AND (t.action = 'keep' OR t.held)
    RETURNING r.id
)
SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM reduced),
       (SELECT count(*) FROM kept), (SELECT array_agg(id) FROM reduced)
"""


def erasure_execute(*, job: RecordStoreJob, worker: str) -> None:
    """Carry out an approved (or reclaimed) erasure job; safe to call again."""
    batch_size = settings.JOB_BATCH_SIZE
    pause = settings.JOB_BATCH_PAUSE_SECONDS
    while job.progress < len(job.plan):
        chunk = job.plan[job.progress : job.progress + batch_size]
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    EXECUTE_SQL,
                    {"items": json.dumps(chunk), "org": job.organisation_id, "now": timezone.now()},
                )
                deleted, reduced, kept, reduced_ids = cursor.fetchone()
            if reduced_ids:
                records_refresh(organisation=job.organisation, record_ids=reduced_ids)
            job = job_progress(
                job=job,
                worker=worker,
                advance=len(chunk),
                counts={"deleted": deleted, "reduced": reduced, "kept": kept},
            )
        if pause:
            time.sleep(pause)

    def cleanup() -> None:
        # Remember the erased subjects, so an import cannot bring their data back.
        erasure_tombstones_write(job=job, erased_at=timezone.now())
        # Subjects with no record left lose their identifiers too, and the row keeps
        # nothing of the person: the organisation's id for them becomes `erased-<id>` (the
        # tombstone has it as a keyed hash) and their Art. 16 statement goes.
        emptied = list(
            DataSubject.objects.filter(pk__in=job.subject_ids, records__isnull=True).values_list(
                "pk", flat=True
            )
        )
        SubjectIdentifier.objects.filter(subject_id__in=emptied).delete()
        DataSubject.objects.filter(pk__in=emptied).update(
            external_id=Concat(Value("erased-"), Cast("id", CharField())),
            supplementary_statement="",
        )

    job_finish(job=job, worker=worker, action="retention.erasure.completed", before=cleanup)
