"""Erasure (Art. 17) in two phases: a plan, then its execution.

The plan says, for each of the subject's records, **delete**, **reduce**
(keep only the fields a legal obligation requires, until the date that
obligation ends) or **keep** (a legal hold, or data processed under a legal
obligation), with the legal reason and the date until which it is kept.
Staff approve the plan; then a worker executes it in batches of set-based
SQL, each batch one transaction that also records the job's progress.
Records that are kept are restricted and carry their expiry, so the
retention sweep erases them when their time comes.

Execution re-checks, in the statement that acts, each record against the plan:
a legal hold placed after approval still protects its records (restricted,
not touched), and a record moved to another subject or category after
planning is left alone and reported (`result["moved"]`, `params["moved"]`).
Records of the subjects that arrived after planning (an import in between)
are planned by the same rules and carried out before the job completes
(`result["late"]`; `params["late"]` holds their Art. 19 disclosures): the
last check runs in the transaction that completes the job.

Erased stays erased: when the plan is approved (`erasure_job_approve`, in the
approval's transaction) each subject gets an `ErasureTombstone`: keyed hashes
of its external id, e-mail addresses, personnummer and customer numbers (phone
numbers are left out: they are passed on to other people), the time and the
job. The importer refuses the subject's records collected at or before that
time, so an import cannot bring them back while the job waits, fails or is
retried. When the job completes, each tombstone is brought up to date (the
identifiers the subject had by then, and the completion time).
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from retention.audit import log_action
from retention.keyring import HmacKey, hmac_candidates, hmac_keys
from retention.models import (
    DataCategory,
    DataSubject,
    Disclosure,
    ErasureTombstone,
    Organisation,
    RecordStoreJob,
    SubjectIdentifier,
)
from retention.selectors.plans import DELETE, KEEP, REDUCE, action_counts
from retention.services.expiry import expiry_sql, records_refresh
from retention.services.holds import held_sql
from retention.services.jobs import JobLeaseLost, job_approve, job_finish, job_progress

# The identifiers a tombstone remembers, as the importer normalises them.
TOMBSTONE_KINDS = ("external_id", "email", "personnummer", "customer_number")


def tombstone_key() -> HmacKey:
    """The key that signs new tombstones (the `tombstone` keyring, not SECRET_KEY)."""
    return hmac_keys("tombstone")[0]


def tombstone_hash(*, kind: str, value: str, key: HmacKey | None = None) -> str:
    """The keyed hash (``kid$hex``) of an identifier normalised as on import."""
    return (key or tombstone_key()).sign(f"{kind}:{value}")


def tombstone_hash_candidates(*, kind: str, value: str) -> list[str]:
    """The identifier's hash under every tombstone key: what a lookup must ask for."""
    return hmac_candidates(purpose="tombstone", message=f"{kind}:{value}")


def erasure_tombstones_write(*, job: RecordStoreJob, erased_at: dt.datetime) -> int:
    """One tombstone per subject of the job; call before its identifiers are deleted.

    Written when the plan is approved, and brought up to date when the job
    completes: a subject's tombstone (found by a hash it shares) gets the
    identifiers the subject has now added and the later time; nothing is lost.
    """
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
    existing = list(ErasureTombstone.objects.select_for_update().filter(job=job).order_by("pk"))
    new = []
    for subject_hashes in hashes.values():
        tombstone = next((t for t in existing if subject_hashes & set(t.identifier_hashes)), None)
        if tombstone is None:
            new.append(
                ErasureTombstone(
                    organisation_id=job.organisation_id,
                    identifier_hashes=sorted(subject_hashes),
                    category_ids=category_ids,
                    erased_at=erased_at,
                    job=job,
                    reference=job.reference,
                )
            )
            continue
        tombstone.identifier_hashes = sorted(subject_hashes | set(tombstone.identifier_hashes))
        tombstone.erased_at = max(tombstone.erased_at, erased_at)
        tombstone.save(update_fields=["identifier_hashes", "erased_at"])
    ErasureTombstone.objects.bulk_create(new)
    return len(hashes)


def erasure_job_approve(*, job: RecordStoreJob, user=None) -> RecordStoreJob:
    """Approve an erasure plan and, in the same transaction, write its subjects' tombstones.

    From this moment an import cannot bring back what the plan erases, however
    long the job then waits, fails or is retried.
    """
    with transaction.atomic():
        job = job_approve(job=job, user=user)
        if (
            job.state == RecordStoreJob.State.APPROVED
            and not ErasureTombstone.objects.filter(job=job).exists()
        ):
            erasure_tombstones_write(job=job, erased_at=job.approved_at or timezone.now())
    return job


PLAN_SQL = f"""
SELECT r.id, c.key, p.key, p.legal_basis, rr.key, rr.legal_basis, r.expires_at,
       ov.key, ov.fields, ({expiry_sql("ov")}) AS ov_expires_at,
       EXISTS (SELECT 1 FROM jsonb_each(r.data) e
                WHERE ov.fields ? e.key AND e.value NOT IN ('null'::jsonb, '""'::jsonb))
           AS has_kept_fields,
       hold.id, hold.ends_at
  FROM retention_record r
  JOIN retention_datacategory c ON c.id = r.category_id
  JOIN retention_purpose p ON p.id = r.purpose_id
  JOIN retention_organisation o ON o.id = r.organisation_id
  LEFT JOIN retention_retentionrule rr ON rr.id = r.rule_id
  LEFT JOIN LATERAL (
      SELECT x.*
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
   -- planning again: only the records that job's plan does not hold yet (a hashed subplan)
   AND r.id NOT IN (
       SELECT (i->>'record')::bigint
         FROM retention_recordstorejob j, jsonb_array_elements(j.plan) i
        WHERE j.id = %(job)s)
 ORDER BY r.id
"""

# The plan's reason for a record that a law keeps but whose keep-until date the policy
# cannot give (the overriding rule's event never happened): staff must fix the policy.
POLICY_ERROR = "policy_error"


def erasure_plan(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    categories: list[str] | None = None,
    now: dt.datetime | None = None,
    beyond_job: int | None = None,
) -> list[dict]:
    """What erasure would do to each of the subjects' records, and why.

    A record whose rule another rule overrides for some fields (bookkeeping) is
    reduced only when it holds at least one of those fields, and only until
    that rule's own date, as the sweep does: a record with none of them (a
    health note) is erased like any other. When the fields are there but the
    overriding rule gives no date (an unpaid invoice under a rule that counts
    from payment), the record is kept, restricted, with the reason
    `policy_error`, so staff see that the policy must say how long it is kept.

    `beyond_job`: only the records that job's plan does not hold (records that
    arrived after it was planned).
    """
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            PLAN_SQL,
            {
                "org": organisation.pk,
                "subjects": subject_ids,
                "categories": categories,
                "now": now,
                "job": beyond_job,
            },
        )
        rows = cursor.fetchall()
    return [_plan_item(row, now) for row in rows]


def _plan_item(row: tuple, now: dt.datetime) -> dict:
    """One record's line of the erasure plan (a row of `PLAN_SQL`)."""
    (
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
        has_kept_fields,
        hold_id,
        hold_ends_at,
    ) = row
    item = {"record": record_id, "category": category, "purpose": purpose}
    kept_fields = sorted(json.loads(over_fields) if over_fields else [])
    if hold_id is not None:
        item.update(action=KEEP, reason="legal_hold", until=hold_ends_at, rule=rule_key)
    elif over_key and has_kept_fields and over_expires_at is None:
        item.update(action=KEEP, reason=POLICY_ERROR, rule=over_key, fields=kept_fields, until=None)
    elif over_key and has_kept_fields and over_expires_at > now:
        # An invoice (say) that bookkeeping law keeps: only its accounting fields,
        # until the end of that law's period.
        item.update(
            action=REDUCE,
            reason="legal_obligation",
            rule=over_key,
            fields=kept_fields,
            until=over_expires_at,
        )
    elif _kept_by_law(rule_basis, purpose_basis, expires_at, now):
        # A law's rule that gives no end date (a record an earlier sweep reduced without
        # one) is a policy error too, not "until (none)".
        reason = "legal_obligation" if expires_at is not None else POLICY_ERROR
        item.update(action=KEEP, reason=reason, rule=rule_key, until=expires_at)
    else:
        item.update(action=DELETE, reason="erased", rule=rule_key)
    if item.get("until") is not None:
        item["until"] = item["until"].isoformat()
    return item


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
            data={"reference": reference, **action_counts(job.plan)},
        )
    return job


# One statement per batch: deletes, reductions and restrictions together. Each record is
# checked again here, as it is locked: a held record is restricted, never touched, and a
# record that is no longer the subjects' or no longer in the planned category (moved after
# planning) is left alone and reported.
EXECUTE_SQL = f"""
WITH items AS (
    SELECT (i->>'record')::bigint AS id, i->>'action' AS action, i->>'category' AS category,
           i->'fields' AS fields, i->>'rule' AS rule_key
      FROM jsonb_array_elements(%(items)s::jsonb) i
),
target AS (
    SELECT items.*, r.subject_id,
           (r.subject_id <> ALL(%(subjects)s::bigint[]) OR c.key <> items.category) AS moved,
           {held_sql()} AS held
      FROM items
      JOIN retention_record r ON r.id = items.id
      JOIN retention_datacategory c ON c.id = r.category_id
     WHERE r.organisation_id = %(org)s
     FOR UPDATE OF r
),
unlinked AS (
    UPDATE retention_disclosure d SET record_id = NULL
      FROM target t
     WHERE d.record_id = t.id AND t.action = 'delete' AND NOT t.held AND NOT t.moved
    RETURNING d.id
),
deleted AS (
    DELETE FROM retention_record r USING target t
     WHERE r.id = t.id AND t.action = 'delete' AND NOT t.held AND NOT t.moved
    RETURNING r.id
),
reduced AS (
    UPDATE retention_record r
       SET data = COALESCE(
               (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(r.data) e
                 WHERE t.fields ? e.key), '{{}}'::jsonb),
           rule_id = (SELECT id FROM retention_retentionrule
                       WHERE organisation_id = %(org)s AND key = t.rule_key),
           restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = 'erasure_exception', updated_at = %(now)s
      FROM target t
     WHERE r.id = t.id AND t.action = 'reduce' AND NOT t.held AND NOT t.moved
    RETURNING r.id
),
kept AS (
    UPDATE retention_record r
       SET restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = CASE WHEN r.restriction_ground = ''
                                     THEN 'erasure_exception' ELSE r.restriction_ground END,
           -- kept because erasure was refused: lifting an Art. 18 restriction no longer
           -- ends its restriction
           restriction_references = '{{}}',
           updated_at = %(now)s
      FROM target t WHERE r.id = t.id AND (t.action = 'keep' OR t.held) AND NOT t.moved
    RETURNING r.id
)
SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM reduced),
       (SELECT count(*) FROM kept), (SELECT array_agg(id) FROM reduced),
       (SELECT array_agg(id ORDER BY id) FROM target WHERE moved)
"""  # noqa: S608  (constant fragments; values are parameters)


def _execute_planned(job: RecordStoreJob, worker: str) -> RecordStoreJob:
    """Carry out the plan's items not done yet, in batches, each its own transaction."""
    batch_size = settings.JOB_BATCH_SIZE
    pause = settings.JOB_BATCH_PAUSE_SECONDS
    while job.progress < len(job.plan):
        chunk = job.plan[job.progress : job.progress + batch_size]
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    EXECUTE_SQL,
                    {
                        "items": json.dumps(chunk),
                        "org": job.organisation_id,
                        "subjects": list(job.subject_ids),
                        "now": timezone.now(),
                    },
                )
                deleted, reduced, kept, reduced_ids, moved_ids = cursor.fetchone()
            if reduced_ids:
                records_refresh(organisation=job.organisation, record_ids=reduced_ids)
            job = job_progress(
                job=job,
                worker=worker,
                advance=len(chunk),
                counts={
                    "deleted": deleted,
                    "reduced": reduced,
                    "kept": kept,
                    **({"moved": len(moved_ids)} if moved_ids else {}),
                },
            )
            if moved_ids:
                # For staff, and so the reply does not count them: ids only.
                job.params["moved"] = [*job.params.get("moved", []), *moved_ids]
                job.save(update_fields=["params"])
        if pause:
            time.sleep(pause)
    return job


def _plan_extend(job: RecordStoreJob, worker: str, late: list[dict]) -> RecordStoreJob:
    """Add records that arrived after planning to the running job's plan (same rules)."""
    locked = RecordStoreJob.objects.select_for_update().get(pk=job.pk)
    if locked.state != RecordStoreJob.State.RUNNING or locked.lease_owner != worker:
        raise JobLeaseLost(f"job {job.pk} is no longer held by {worker}")
    changed = [i["record"] for i in late if i["action"] in (DELETE, REDUCE)]
    disclosures = dict((locked.params.get("late") or {}).get("disclosures") or {})
    for recipient_id, disclosure_id in (
        Disclosure.objects.filter(organisation_id=job.organisation_id, record_id__in=changed)
        .order_by("recipient_id", "pk")
        .values_list("recipient_id", "pk")
    ):
        disclosures.setdefault(str(recipient_id), []).append(disclosure_id)
    locked.plan = [*locked.plan, *late]
    locked.result["late"] = locked.result.get("late", 0) + len(late)
    locked.params["late"] = {"disclosures": disclosures}
    locked.save(update_fields=["plan", "result", "params"])
    log_action(
        action="retention.erasure.replanned",
        organisation=job.organisation,
        object_type="job",
        object_id=job.pk,
        data={"reference": job.reference, "late": len(late), **action_counts(late)},
    )
    locked.organisation = job.organisation
    return locked


def erasure_execute(*, job: RecordStoreJob, worker: str) -> None:
    """Carry out an approved (or reclaimed) erasure job; safe to call again."""

    def cleanup() -> None:
        # Bring the tombstones up to date (identifiers now, the completion time), so an
        # import cannot bring their data back.
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

    while True:
        job = _execute_planned(job, worker)
        with transaction.atomic():
            # Records of the subjects that arrived after planning (an import meanwhile): plan
            # them by the same rules and carry them out; complete only when there are none.
            late = erasure_plan(
                organisation=job.organisation,
                subject_ids=list(job.subject_ids),
                categories=(job.params or {}).get("categories"),
                beyond_job=job.pk,
            )
            if late:
                job = _plan_extend(job, worker, late)
                continue
            job_finish(job=job, worker=worker, action="retention.erasure.completed", before=cleanup)
            return
