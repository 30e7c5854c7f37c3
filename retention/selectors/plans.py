"""Reads of an erasure plan: grouped, counted, a page at a time, its records.

An erasure plan lives as JSON on its `RecordStoreJob` (a list of items, one
per record: `record`, `action`, `category`, `purpose`, `rule`, `reason`,
`until`, `fields`) and can list a great many records. Everything here reads a
stored plan with `jsonb_array_elements` in the database (grouped, counted,
one page at a time, or as a subquery), never whole into Python; only
`action_counts` counts items already in memory (a plan being built or
extended). Every query over a job's plan lives here, so no other app names
the job's table.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from retention.models import Record

# What the plan does to a record.
DELETE, REDUCE, KEEP = "delete", "reduce", "keep"

_ITEMS = """
    SELECT n, (i->>'record')::bigint AS id, i->>'action' AS action, i->>'category' AS category,
           i->>'purpose' AS purpose, i->>'rule' AS rule, i->>'reason' AS reason,
           i->>'until' AS until, i->'fields' AS fields
      FROM retention_recordstorejob j, jsonb_array_elements(j.plan) WITH ORDINALITY AS t(i, n)
     WHERE j.id = %(job)s
"""

# The plan as approved: one row per (action, category, rule, reason, until, fields).
PLAN_GROUPS_SQL = f"""
WITH items AS ({_ITEMS})
SELECT action, category, rule, reason, until, NULL::timestamptz, fields, count(*)
  FROM items GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 5
"""  # noqa: S608 - constant fragments; the job id is a parameter

# The plan as carried out: a record the plan would delete or reduce that is still
# there under a legal hold (placed after approval) was kept, and is reported so. A record
# moved to someone else (or another category) after planning was left alone: it is not the
# person's, so it is not reported to them.
RESULT_GROUPS_SQL = f"""
WITH all_items AS ({_ITEMS}),
items AS (
    SELECT * FROM all_items
     WHERE NOT EXISTS (
         SELECT 1 FROM retention_recordstorejob mj,
                jsonb_array_elements_text(COALESCE(mj.params->'moved', '[]'::jsonb)) m(id)
          WHERE mj.id = %(job)s AND m.id::bigint = all_items.id)
),
judged AS (
    SELECT items.*, hold.ends_at AS hold_ends,
           (r.id IS NOT NULL AND (items.action = 'delete'
                                  OR (items.action = 'reduce' AND hold.id IS NOT NULL))) AS held
      FROM items
      LEFT JOIN retention_record r ON r.id = items.id
      LEFT JOIN LATERAL (
          SELECT h.id, h.ends_at FROM retention_legalhold h
           WHERE h.organisation_id = r.organisation_id AND h.lifted_at IS NULL
             AND (h.ends_at IS NULL OR h.ends_at > now())
             AND (h.subject_id IS NULL OR h.subject_id = r.subject_id)
             AND (h.category_id IS NULL OR h.category_id = r.category_id)
           ORDER BY h.ends_at DESC NULLS FIRST LIMIT 1
      ) hold ON r.id IS NOT NULL
)
SELECT CASE WHEN held THEN 'keep' ELSE action END,
       category,
       CASE WHEN held THEN NULL ELSE rule END,
       CASE WHEN held THEN 'legal_hold' ELSE reason END,
       CASE WHEN held THEN NULL ELSE until END,
       CASE WHEN held THEN hold_ends END,
       CASE WHEN held THEN NULL ELSE fields END,
       count(*)
  FROM judged GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 5
"""  # noqa: S608

PLAN_PAGE_SQL = f"""
WITH items AS ({_ITEMS})
SELECT id, action, category, purpose, rule, reason, until, fields
  FROM items ORDER BY n OFFSET %(offset)s LIMIT %(limit)s
"""  # noqa: S608

PLAN_COUNTS_SQL = (
    "SELECT i->>'action', count(*) FROM retention_recordstorejob j, "
    "jsonb_array_elements(j.plan) i WHERE j.id = %(job)s GROUP BY 1"
)

# The ids of the records the plan gives one of the actions (a subquery: `plan_records`).
PLAN_RECORD_IDS_SQL = (
    "SELECT (i->>'record')::bigint FROM retention_recordstorejob j, "
    "jsonb_array_elements(j.plan) i WHERE j.id = %s AND i->>'action' = ANY(%s)"
)


def _groups(sql: str, job_id: int) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, {"job": job_id})
        rows = cursor.fetchall()
    groups = []
    for action, category, rule, reason, until, hold_ends, fields, records in rows:
        if isinstance(fields, str):  # Django hands jsonb out of a raw cursor as text
            fields = json.loads(fields)
        if hold_ends is not None:
            until = hold_ends.isoformat()
        groups.append(
            {
                "action": action,
                "category": category,
                "rule": rule,
                "reason": reason,
                "until": until,
                "fields": sorted(fields) if isinstance(fields, list) else [],
                "records": records,
            }
        )
    return groups


def plan_groups(*, job_id: int) -> list[dict]:
    """The erasure plan grouped (one query): what would be deleted, reduced, kept, and why."""
    return _groups(PLAN_GROUPS_SQL, job_id)


def erasure_result_groups(*, job_id: int) -> list[dict]:
    """What the finished erasure did, grouped (one query), holds placed meanwhile included."""
    return _groups(RESULT_GROUPS_SQL, job_id)


def _by_action(counts: Mapping[str, int]) -> dict:
    return {DELETE: counts.get(DELETE, 0), REDUCE: counts.get(REDUCE, 0), KEEP: counts.get(KEEP, 0)}


def action_counts(items: Iterable[dict]) -> dict:
    """How many of these plan items each action has: `{delete, reduce, keep}`.

    For items in memory: a plan just built, or the items added to a running one
    (which a count of the stored plan could not tell apart). A stored plan is
    counted in SQL by `plan_counts`.
    """
    return _by_action(Counter(item["action"] for item in items))


def plan_counts(*, job_id: int) -> dict:
    """The stored plan's items per action and in all (one query; the plan is not loaded):
    `{delete, reduce, keep, total}`."""
    with connection.cursor() as cursor:
        cursor.execute(PLAN_COUNTS_SQL, {"job": job_id})
        counts = dict(cursor.fetchall())
    return {**_by_action(counts), "total": sum(counts.values())}


def plan_page(*, job_id: int, page: int, size: int) -> list[dict]:
    """One page (from 1, `size` items) of the plan's per-record items, in plan order."""
    with connection.cursor() as cursor:
        cursor.execute(
            PLAN_PAGE_SQL, {"job": job_id, "offset": (max(page, 1) - 1) * size, "limit": size}
        )
        columns = ["record", "action", "category", "purpose", "rule", "reason", "until", "fields"]
        items = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    for item in items:
        if isinstance(item["fields"], str):
            item["fields"] = json.loads(item["fields"])
    return items


def plan_records(*, job_id: int, actions: Iterable[str]) -> QuerySet[Record]:
    """The records the plan gives one of `actions` (lazy: the plan is read as a subquery)."""
    ids = RawSQL(PLAN_RECORD_IDS_SQL, [job_id, list(actions)])  # noqa: S611 - a constant
    return Record.objects.filter(pk__in=ids)
