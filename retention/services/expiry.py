"""Which rule governs a record, and when the record expires.

A rule is a period (days, weeks, months, years), the event it starts from,
and the action at expiry. The expiry is computed in SQL, in the
organisation's time zone, with PostgreSQL's calendar arithmetic: three months
after 30 November is 28 (or 29) February, not 90 days later.

- An event that has not happened (a contract still running, an unpaid
  invoice) means no expiry: `expires_at` is null.
- `end_of_calendar_year`: the period counts from the end of 31 December of
  the year in which the event happened.
- `starts: relationship` and `action: keep` never expire by themselves.
- Anonymised records and records restricted by a sweep are done: no expiry.

`records_refresh` recomputes a whole organisation (or a set of records) in
one statement; the sweep's partial index on (organisation, expires_at) makes
"what has expired" an index range scan.
"""

from __future__ import annotations

from django.db import connection

from retention.models import Organisation

# The event column for each start event.
EVENT_COLUMN = {
    "collected": "r.collected_at",
    "last_contact": "r.last_contact_at",
    "contract_end": "r.contract_ended_at",
    "purpose_end": "r.purpose_ended_at",
    "settled": "r.settled_at",
}


def expiry_sql(rule: str = "rr") -> str:
    """The expiry of record `r` under the rule aliased `rule` in organisation `o`; NULL: never."""
    event = (
        f"CASE {rule}.start_event "
        + " ".join(f"WHEN '{event}' THEN {column}" for event, column in EVENT_COLUMN.items())
        + " END"
    )
    return f"""
CASE
    WHEN {rule}.action = 'keep' OR {rule}.start_event = 'relationship'
         OR {rule}.period_value IS NULL
    THEN NULL
    ELSE (
        (CASE WHEN {rule}.end_of_calendar_year
              THEN date_trunc('year', ({event}) AT TIME ZONE o.time_zone) + interval '1 year'
              ELSE ({event}) AT TIME ZONE o.time_zone
         END)
        + make_interval(
            years => CASE WHEN {rule}.period_unit = 'years' THEN {rule}.period_value ELSE 0 END,
            months => CASE WHEN {rule}.period_unit = 'months' THEN {rule}.period_value ELSE 0 END,
            weeks => CASE WHEN {rule}.period_unit = 'weeks' THEN {rule}.period_value ELSE 0 END,
            days => CASE WHEN {rule}.period_unit = 'days' THEN {rule}.period_value ELSE 0 END
        )
    ) AT TIME ZONE o.time_zone
END
"""


EXPIRY_SQL = expiry_sql("rr")

# The rule for a record: a rule that names the record's category in
# `applies_to`, else the purpose's rule. Records already moved on to an
# overriding rule (bookkeeping) keep it.
RULE_SQL = """
COALESCE(
    (SELECT rc.retentionrule_id
       FROM retention_retentionrule_applies_to_categories rc
       JOIN retention_retentionrule cr ON cr.id = rc.retentionrule_id
      WHERE rc.datacategory_id = r.category_id
      ORDER BY (cr.id = p.retention_rule_id) DESC, cr.key
      LIMIT 1),
    p.retention_rule_id)
"""


def records_refresh(*, organisation: Organisation, record_ids: list[int] | None = None) -> int:
    """Reassign rules and recompute expiries; return the number of records changed.

    One UPDATE per call whatever the number of records. Only rows whose rule
    or expiry actually changes are written.
    """
    params: list = [organisation.pk]
    only = ""
    if record_ids is not None:
        only = "AND r.id = ANY(%s)"
        params.append(list(record_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH target AS (
                SELECT r.id,
                       CASE WHEN r.rule_id IN (SELECT from_retentionrule_id
                                                 FROM retention_retentionrule_overrides)
                            THEN r.rule_id
                            ELSE {RULE_SQL}
                       END AS rule_id
                  FROM retention_record r
                  JOIN retention_purpose p ON p.id = r.purpose_id
                 WHERE r.organisation_id = %s {only}
            ),
            computed AS (
                SELECT r.id, t.rule_id,
                       CASE WHEN r.anonymised_at IS NOT NULL
                                 OR r.restriction_ground = 'retention'
                            THEN NULL
                            ELSE {EXPIRY_SQL}
                       END AS expires_at
                  FROM retention_record r
                  JOIN target t ON t.id = r.id
                  JOIN retention_retentionrule rr ON rr.id = t.rule_id
                  JOIN retention_organisation o ON o.id = r.organisation_id
            )
            UPDATE retention_record r
               SET rule_id = c.rule_id, expires_at = c.expires_at
              FROM computed c
             WHERE r.id = c.id
               AND (r.rule_id IS DISTINCT FROM c.rule_id
                    OR r.expires_at IS DISTINCT FROM c.expires_at)
            """,
            params,
        )
        return cursor.rowcount
