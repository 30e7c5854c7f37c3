"""The SQL of a retention sweep: one statement picks, plans and applies a batch.

`PICK_SQL` picks a batch of expired records (`FOR UPDATE SKIP LOCKED`;
never under an active legal hold, never Art. 18-restricted); `PLAN_SQL`
decides each record's outcome (the rule's action, or reduce / delete /
policy error under a rule another overrides); `apply_sql` applies every
outcome with data-modifying CTEs, deletes the subjects the batch leaves
empty (unless something keeps them) and returns the counts per rule;
`dry_sql` only counts; `leftovers_sql` deletes, at the end of a run, the
subjects left with no record and nothing keeping them. The design is
described in `retention.services.sweeps`, which runs these statements.
"""

from __future__ import annotations

import functools

from django.db import connection

from retention.models import DataSubject
from retention.predicates import ART18_FILTER as ART18_FILTER  # re-exported
from retention.predicates import HOLD_FILTER
from retention.services.expiry import expiry_sql

# Picks one batch of expired, unheld, not Art. 18-restricted records after the keyset
# position, in (expires_at, id) order, inside the chunk's bounds, and locks it.
PICK_SQL = f"""
SELECT r.id, r.rule_id, r.expires_at, r.subject_id, r.organisation_id, r.data,
       r.collected_at, r.last_contact_at, r.contract_ended_at, r.purpose_ended_at, r.settled_at
  FROM retention_record r
 WHERE r.organisation_id = %(org)s
   AND r.expires_at IS NOT NULL
   AND r.expires_at <= %(cutoff)s
   AND (r.expires_at, r.id) > (%(after_at)s, %(after_id)s)
   AND (r.expires_at, r.id) <= (%(upto_at)s, %(upto_id)s)
   AND {HOLD_FILTER}
   AND {ART18_FILTER}
 ORDER BY r.expires_at, r.id
 LIMIT %(limit)s
"""

# What happens to each record of the batch (`outcome`): the rule's action; or, under a rule
# another overrides, `reduce` to the overriding rule's fields until its date, `delete` when
# the record has none of them or that date has passed too, `error` when it has some but the
# overriding rule gives no date.
PLAN_SQL = f"""
SELECT r.id, r.rule_id, r.subject_id, r.expires_at, rr.action, rr.anonymise_fields,
       ov.id AS over_id, kept.data AS kept_data, kept.until AS kept_until,
       CASE WHEN ov.id IS NULL THEN rr.action
            WHEN kept.data IS NULL THEN 'delete'
            WHEN kept.until IS NULL THEN 'error'
            WHEN kept.until <= %(cutoff)s THEN 'delete'
            ELSE 'reduce'
       END AS outcome
  FROM batch r
  JOIN retention_retentionrule rr ON rr.id = r.rule_id
  JOIN retention_organisation o ON o.id = r.organisation_id
  LEFT JOIN LATERAL (
      SELECT x.*
        FROM retention_retentionrule_overrides link
        JOIN retention_retentionrule x ON x.id = link.from_retentionrule_id
       WHERE link.to_retentionrule_id = r.rule_id
       ORDER BY x.key
       LIMIT 1
  ) ov ON true
  LEFT JOIN LATERAL (
      SELECT (SELECT jsonb_object_agg(e.key, e.value)
                FROM jsonb_each(r.data) e
               WHERE ov.fields ? e.key AND e.value NOT IN ('null'::jsonb, '""'::jsonb)) AS data,
             ({expiry_sql("ov")}) AS until
  ) kept ON ov.id IS NOT NULL
"""

# The tables the record store itself clears with a subject. A foreign key to DataSubject
# from anywhere else keeps the subject while a row points at it.
SUBJECT_DEPENDENTS = (
    "retention_subjectidentifier",
    "retention_disclosure",
    "retention_processingstop",
    "retention_legalhold",
)
SUBJECT_OWN_TABLES = {*SUBJECT_DEPENDENTS, "retention_record"}


@functools.cache
def _outside_references() -> tuple[tuple[str, str], ...]:
    """(table, column) of every foreign key to DataSubject from outside the record store
    (read from the installed models: `retention` does not know who they are)."""
    from django.apps import apps

    found = set()
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if table in SUBJECT_OWN_TABLES:
            continue
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is DataSubject:
                found.add((table, f.column))
    return tuple(sorted(found))


def _subject_free_sql() -> str:
    """Conditions on subject `s` that keep it: an active hold, a pending erasure job, a row
    outside the record store that points at it."""
    qn = connection.ops.quote_name
    outside = "".join(
        f"\n   AND NOT EXISTS (SELECT 1 FROM {qn(table)} ref WHERE ref.{qn(column)} = s.id)"
        for table, column in _outside_references()
    )
    return (
        """
NOT EXISTS (
    SELECT 1 FROM retention_legalhold h
     WHERE h.subject_id = s.id AND h.lifted_at IS NULL
       AND (h.ends_at IS NULL OR h.ends_at > %(now)s))
   AND NOT EXISTS (
    SELECT 1 FROM retention_recordstorejob j
     WHERE j.organisation_id = s.organisation_id
       AND j.state IN ('planned', 'approved', 'running')
       AND j.subject_ids @> to_jsonb(s.id))"""
        + outside
    )


def _subjects_gone_sql() -> str:
    """CTEs that delete the subjects in `emptied` with what the record store holds of them."""
    parts = [
        f"gone_{table.removeprefix('retention_')} AS (DELETE FROM {table} t USING emptied e "
        "WHERE t.subject_id = e.id)"
        for table in SUBJECT_DEPENDENTS
    ]
    parts.append(
        "gone_subjects AS (DELETE FROM retention_datasubject s USING emptied e "
        "WHERE s.id = e.id RETURNING s.id)"
    )
    return ",\n".join(parts)


def _emptied_sql() -> str:
    """The subjects of the batch whose every record the batch deletes, and that may go."""
    return f"""
emptied AS (
    SELECT s.id FROM retention_datasubject s
     WHERE s.id IN (SELECT subject_id FROM plan WHERE outcome = 'delete')
       AND NOT EXISTS (
           SELECT 1 FROM retention_record x
            WHERE x.subject_id = s.id
              AND NOT EXISTS (SELECT 1 FROM plan p WHERE p.id = x.id AND p.outcome = 'delete'))
       AND {_subject_free_sql()}
)"""


_COUNTS_SQL = """
SELECT 'error', rule_id, count(*), (array_agg(id ORDER BY id))[1:%(ids)s], NULL::timestamptz
  FROM plan WHERE outcome = 'error' GROUP BY rule_id
UNION ALL
SELECT 'size', NULL, count(*), NULL, NULL FROM plan
UNION ALL
SELECT 'last', id, 0, NULL, expires_at
  FROM (SELECT id, expires_at FROM plan ORDER BY expires_at DESC, id DESC LIMIT 1) l
"""


@functools.cache
def apply_sql() -> str:
    """One batch: pick, plan and apply every action in one statement."""
    return f"""
WITH batch AS ({PICK_SQL} FOR UPDATE OF r SKIP LOCKED),
plan AS ({PLAN_SQL}),
{_emptied_sql()},
unlinked AS (
    UPDATE retention_disclosure d SET record_id = NULL
      FROM plan
     WHERE d.record_id = plan.id AND plan.outcome = 'delete'
       AND d.subject_id NOT IN (SELECT id FROM emptied)
),
deleted AS (
    DELETE FROM retention_record r USING plan
     WHERE r.id = plan.id AND plan.outcome = 'delete'
    RETURNING plan.rule_id
),
reduced AS (
    UPDATE retention_record r
       SET data = plan.kept_data, rule_id = plan.over_id, expires_at = plan.kept_until,
           updated_at = %(now)s
      FROM plan
     WHERE r.id = plan.id AND plan.outcome = 'reduce'
    RETURNING plan.rule_id
),
anonymised AS (
    UPDATE retention_record r
       SET data = r.data - ARRAY(SELECT jsonb_array_elements_text(plan.anonymise_fields)),
           anonymised_at = %(now)s, expires_at = NULL, updated_at = %(now)s
      FROM plan
     WHERE r.id = plan.id AND plan.outcome = 'anonymise'
    RETURNING plan.rule_id
),
restricted AS (
    UPDATE retention_record r
       SET restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = 'retention', expires_at = NULL, updated_at = %(now)s
      FROM plan
     WHERE r.id = plan.id AND plan.outcome = 'restrict'
    RETURNING plan.rule_id
),
{_subjects_gone_sql()}
SELECT 'deleted', rule_id, count(*), NULL::bigint[], NULL::timestamptz FROM deleted GROUP BY rule_id
UNION ALL
SELECT 'reduced', rule_id, count(*), NULL, NULL FROM reduced GROUP BY rule_id
UNION ALL
SELECT 'anonymised', rule_id, count(*), NULL, NULL FROM anonymised GROUP BY rule_id
UNION ALL
SELECT 'restricted', rule_id, count(*), NULL, NULL FROM restricted GROUP BY rule_id
UNION ALL
SELECT 'subjects', NULL, count(*), NULL, NULL FROM gone_subjects
UNION ALL
{_COUNTS_SQL}
"""


@functools.cache
def dry_sql() -> str:
    """What `apply_sql` would do to one batch, counted; nothing is changed."""
    return f"""
WITH batch AS ({PICK_SQL}),
plan AS ({PLAN_SQL}),
{_emptied_sql()}
SELECT CASE outcome WHEN 'delete' THEN 'deleted' WHEN 'reduce' THEN 'reduced'
                    WHEN 'anonymise' THEN 'anonymised' ELSE 'restricted' END,
       rule_id, count(*), NULL::bigint[], NULL::timestamptz
  FROM plan WHERE outcome <> 'error' GROUP BY 1, 2
UNION ALL
SELECT 'subjects', NULL, count(*), NULL, NULL FROM emptied
UNION ALL
{_COUNTS_SQL}
"""


@functools.cache
def leftovers_sql() -> str:
    """The organisation's subjects with no record left and nothing keeping them (run end)."""
    return f"""
WITH emptied AS (
    SELECT s.id FROM retention_datasubject s
     WHERE s.organisation_id = %(org)s
       AND s.created_at < %(cutoff)s - interval '1 day'
       AND NOT EXISTS (SELECT 1 FROM retention_record x WHERE x.subject_id = s.id)
       AND {_subject_free_sql()}
),
{_subjects_gone_sql()}
SELECT count(*) FROM gone_subjects
"""
