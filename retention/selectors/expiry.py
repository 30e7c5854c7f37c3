"""What the sweeps will erase or reduce, counted ahead (the staff retention page's forecast).

Records under an active legal hold or an Art. 18 restriction are left out, as
the sweep skips them (`HOLD_FILTER`, `ART18_FILTER`). Each function is one
grouped query over the organisation's records and returns rows of ids and
counts; naming them in the reader's language is the caller's part.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from retention.models import Organisation
from retention.predicates import ART18_FILTER, HOLD_FILTER

PER_RULE_SQL = f"""
SELECT r.rule_id,
       count(*) FILTER (WHERE r.expires_at < %(tonight)s),
       count(*) FILTER (WHERE r.expires_at <= %(week)s),
       count(*),
       (array_agg(r.id || ':' || r.category_id ORDER BY r.expires_at, r.id))[1:%(n)s]
  FROM retention_record r
 WHERE r.organisation_id = %(org)s
   AND r.expires_at IS NOT NULL AND r.expires_at <= %(month)s
   AND {HOLD_FILTER}
   AND {ART18_FILTER}
 GROUP BY r.rule_id
"""  # noqa: S608  (constant fragments; values are parameters)

PER_DAY_SQL = f"""
SELECT greatest((r.expires_at AT TIME ZONE %(tz)s)::date, %(today)s), r.rule_id, count(*)
  FROM retention_record r
 WHERE r.organisation_id = %(org)s
   AND r.expires_at IS NOT NULL AND r.expires_at < %(until)s
   AND {HOLD_FILTER}
   AND {ART18_FILTER}
 GROUP BY 1, 2
"""  # noqa: S608  (constant fragments; values are parameters)


def expiring_per_rule(
    *,
    organisation: Organisation,
    tonight: dt.datetime,
    week: dt.datetime,
    month: dt.datetime,
    examples: int,
    now: dt.datetime | None = None,
) -> list[tuple]:
    """Per rule id: the records expiring before `tonight`, by `week` and by `month`, and
    up to `examples` of them as ``"record id:category id"`` (soonest first)."""
    with connection.cursor() as cursor:
        cursor.execute(
            PER_RULE_SQL,
            {
                "org": organisation.pk,
                "tonight": tonight,
                "week": week,
                "month": month,
                "now": now or timezone.now(),
                "n": examples,
            },
        )
        return cursor.fetchall()


def expiring_per_day(
    *, organisation: Organisation, today: dt.date, until: dt.datetime
) -> list[tuple[dt.date, int | None, int]]:
    """(day, rule id, records) of the records expiring before `until`, each on its day in
    the organisation's time zone; those already past their expiry count on `today`."""
    with connection.cursor() as cursor:
        cursor.execute(
            PER_DAY_SQL,
            {
                "tz": organisation.time_zone,
                "today": today,
                "org": organisation.pk,
                "until": until,
                "now": timezone.now(),
            },
        )
        return cursor.fetchall()
