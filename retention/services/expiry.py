"""Which rule governs a record, and when the record expires.

A rule is a period (days, weeks, months, years), the event it starts from,
and the action at expiry. The expiry is computed in SQL, in the
organisation's time zone, with PostgreSQL's calendar arithmetic: three months
after 30 November is 28 (or 29) February, not 90 days later.

- An event that has not happened (a contract still running, an unpaid
  invoice) means no expiry: `expires_at` is null. The last contact is at the
  latest the collection: a record with no later contact counts from when it
  was collected (data given in a contact, Coachen's "i en kontakt").
- `end_of_calendar_year`: the period counts from the end of 31 December of
  the year in which the event happened.
- `end_of_financial_year` (Bokföringslagen 7 kap. 2 §: "fram till och med det
  sjunde året efter utgången av det kalenderår då räkenskapsåret
  avslutades"): the period counts from the end of the calendar year in which
  the financial year that holds the event ended. The organisation's
  `financial_year_end` is the last day of a month (a Swedish financial year
  is twelve whole months); shifting the event by the months from that month
  to December moves it into the calendar year in which its financial year
  ends. With 12-31 this is `end_of_calendar_year`.
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
    "last_contact": "COALESCE(r.last_contact_at, r.collected_at)",
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
    local = f"(({event}) AT TIME ZONE o.time_zone)"
    return f"""
CASE
    WHEN {rule}.action = 'keep' OR {rule}.start_event = 'relationship'
         OR {rule}.period_value IS NULL
    THEN NULL
    ELSE (
        (CASE WHEN {rule}.end_of_financial_year
              THEN make_timestamp(
                  extract(year FROM {local} + make_interval(
                      months => 12 - split_part(o.financial_year_end, '-', 1)::int))::int + 1,
                  1, 1, 0, 0, 0)
              WHEN {rule}.end_of_calendar_year
              THEN date_trunc('year', {local}) + interval '1 year'
              ELSE {local}
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
# `applies_to`, else the purpose's rule.
PURPOSE_RULE_SQL = "(SELECT p.retention_rule_id FROM retention_purpose p WHERE p.id = r.purpose_id)"
RULE_SQL = f"""
COALESCE(
    (SELECT rc.retentionrule_id
       FROM retention_retentionrule_applies_to_categories rc
       JOIN retention_retentionrule cr ON cr.id = rc.retentionrule_id
      WHERE rc.datacategory_id = r.category_id
      ORDER BY (cr.id = {PURPOSE_RULE_SQL}) DESC, cr.key
      LIMIT 1),
    {PURPOSE_RULE_SQL})
"""

# Anonymised records and records a sweep restricted are done: no expiry.
RECORD_EXPIRY_SQL = f"""
CASE WHEN r.anonymised_at IS NOT NULL OR r.restriction_ground = 'retention'
     THEN NULL
     ELSE {EXPIRY_SQL}
END
"""


def records_refresh(*, organisation: Organisation, record_ids: list[int] | None = None) -> int:
    """Reassign rules and recompute expiries; return the number of row updates.

    Two UPDATEs per call whatever the number of records, each a single pass
    over the organisation's records (no self-join): first the rule, then the
    expiry. Records already moved on to an overriding rule (bookkeeping) keep
    it. Only rows whose rule or expiry actually changes are written.
    """
    params: list = [organisation.pk]
    only = ""
    if record_ids is not None:
        only = "AND r.id = ANY(%s)"
        params.append(list(record_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE retention_record r
               SET rule_id = {RULE_SQL}
             WHERE r.organisation_id = %s {only}
               AND (r.rule_id IS NULL
                    OR r.rule_id NOT IN (SELECT from_retentionrule_id
                                           FROM retention_retentionrule_overrides))
               AND r.rule_id IS DISTINCT FROM {RULE_SQL}
            """,
            params,
        )
        changed = cursor.rowcount
        cursor.execute(
            f"""
            UPDATE retention_record r
               SET expires_at = {RECORD_EXPIRY_SQL}
              FROM retention_retentionrule rr, retention_organisation o
             WHERE rr.id = r.rule_id AND o.id = r.organisation_id
               AND r.organisation_id = %s {only}
               AND r.expires_at IS DISTINCT FROM {RECORD_EXPIRY_SQL}
            """,
            params,
        )
        return changed + cursor.rowcount
