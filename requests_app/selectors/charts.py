"""The numbers behind the staff charts (requests_app/charts.py draws them).

Each is one set-based query (GROUP BY with aggregates): the cost does not grow with a
loop over rows in Python, and the numbers are those the table behind each chart shows.
Months and days are counted in the organisation's time zone, as its due dates are.

- `requests_per_month`: verified requests received per calendar month, by type;
- `closing_per_month`: requests closed per month, how many within the time limit, and
  the median days from receipt to the decision;
- `open_by_days_left`: open requests by the days left to their due date (overdue, due
  within 7 days, 8-14, 15-30, later);
- `expiring_by_day`: records that the sweeps will reach in the next 30 days, per day
  and retention rule (a legal hold or an Art. 18 restriction keeps a record out, as the
  sweep skips it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from requests_app.choices import localized_name
from requests_app.models import OPEN_STATUSES, RequestKind, RequestResolution, SubjectRequest
from requests_app.permissions import QUEUE_STATUSES
from retention.models import Organisation, RetentionRule
from retention.selectors.expiry import expiring_per_day

REQUESTS = SubjectRequest._meta.db_table
RESOLUTIONS = RequestResolution._meta.db_table


def month_starts(*, last: dt.date, count: int) -> list[dt.date]:
    """The first days of the `count` months ending with the month of `last`, oldest first."""
    year, month = last.year, last.month
    months = []
    for _ in range(count):
        months.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def _months_window(organisation: Organisation, today: dt.date, months: int):
    """(first days of the months, the organisation's time zone, the first moment counted)."""
    starts = month_starts(last=today, count=months)
    tz = organisation.time_zone
    return starts, tz, dt.datetime.combine(starts[0], dt.time.min, ZoneInfo(tz))


@dataclass
class MonthlyByKind:
    months: list[dt.date]
    kinds: list[tuple[str, str]]  # (key, label) of the types that occur, in RequestKind order
    counts: dict[tuple[dt.date, str], int] = field(default_factory=dict)

    def count(self, month: dt.date, kind: str) -> int:
        return self.counts.get((month, kind), 0)

    def total(self, month: dt.date) -> int:
        return sum(self.count(month, k) for k, _label in self.kinds)


def requests_per_month(
    *, organisation: Organisation, today: dt.date, months: int = 12
) -> MonthlyByKind:
    """Verified requests (the queue's statuses) received per month, by type."""
    starts, tz, since = _months_window(organisation, today, months)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT date_trunc('month', r.received_at AT TIME ZONE %(tz)s)::date, r.kind, count(*)
              FROM {REQUESTS} r
             WHERE r.organisation_id = %(org)s AND r.received_at >= %(since)s
               AND r.status = ANY(%(statuses)s)
             GROUP BY 1, 2
            """,  # noqa: S608  (table name from the model; values are parameters)
            {"tz": tz, "org": organisation.pk, "since": since, "statuses": list(QUEUE_STATUSES)},
        )
        counts = {(month, kind): n for month, kind, n in cursor.fetchall()}
    present = {kind for _month, kind in counts}
    kinds = [(k, str(label)) for k, label in RequestKind.choices if k in present]
    return MonthlyByKind(months=starts, kinds=kinds, counts=counts)


@dataclass
class MonthClosing:
    month: dt.date
    closed: int
    on_time: int
    median_days: float | None

    @property
    def on_time_percent(self) -> int | None:
        return round(100 * self.on_time / self.closed) if self.closed else None


def closing_per_month(
    *, organisation: Organisation, today: dt.date, months: int = 12
) -> list[MonthClosing]:
    """Per month (by the decision's date): requests closed, closed on time, median days."""
    starts, tz, since = _months_window(organisation, today, months)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT date_trunc('month', res.decided_at AT TIME ZONE %(tz)s)::date,
                   count(*),
                   count(*) FILTER (WHERE res.on_time),
                   percentile_cont(0.5) WITHIN GROUP (
                       ORDER BY extract(epoch FROM res.decided_at - r.received_at) / 86400.0)
              FROM {RESOLUTIONS} res
              JOIN {REQUESTS} r ON r.id = res.request_id
             WHERE r.organisation_id = %(org)s AND res.decided_at >= %(since)s
             GROUP BY 1
            """,  # noqa: S608  (table names from the models; values are parameters)
            {"tz": tz, "org": organisation.pk, "since": since},
        )
        rows = {month: (n, on_time, median) for month, n, on_time, median in cursor.fetchall()}
    result = []
    for month in starts:
        n, on_time, median = rows.get(month, (0, 0, None))
        result.append(
            MonthClosing(
                month=month,
                closed=n,
                on_time=on_time,
                median_days=round(float(median), 1) if median is not None else None,
            )
        )
    return result


# (key, lowest days left, highest days left); None: no bound.
DAYS_LEFT_BUCKETS = [
    ("overdue", None, -1),
    ("week", 0, 7),
    ("fortnight", 8, 14),
    ("month", 15, 30),
    ("later", 31, None),
]


def open_by_days_left(*, organisation: Organisation, today: dt.date) -> dict[str, int]:
    """Open requests per bucket of days left to the due date (DAYS_LEFT_BUCKETS)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT CASE WHEN r.due_date < %(today)s THEN 'overdue'
                        WHEN r.due_date - %(today)s <= 7 THEN 'week'
                        WHEN r.due_date - %(today)s <= 14 THEN 'fortnight'
                        WHEN r.due_date - %(today)s <= 30 THEN 'month'
                        ELSE 'later' END,
                   count(*)
              FROM {REQUESTS} r
             WHERE r.organisation_id = %(org)s AND r.status = ANY(%(statuses)s)
             GROUP BY 1
            """,  # noqa: S608  (table name from the model; values are parameters)
            {"today": today, "org": organisation.pk, "statuses": [str(s) for s in OPEN_STATUSES]},
        )
        counts = dict(cursor.fetchall())
    return {key: counts.get(key, 0) for key, _low, _high in DAYS_LEFT_BUCKETS}


@dataclass
class DailyByRule:
    days: list[dt.date]
    rules: list[tuple[str, str]]  # (key, name in the active language), by key
    counts: dict[tuple[dt.date, str], int] = field(default_factory=dict)

    def count(self, day: dt.date, rule: str) -> int:
        return self.counts.get((day, rule), 0)

    def total(self, day: dt.date) -> int:
        return sum(self.count(day, key) for key, _name in self.rules)

    def rule_total(self, rule: str) -> int:
        return sum(n for (_day, key), n in self.counts.items() if key == rule)


def expiring_by_day(*, organisation: Organisation, days: int = 30) -> DailyByRule:
    """Records whose expiry falls on each of the next `days` days (in the organisation's
    time zone; day one is today, whose records tonight's sweep reaches), per rule. Records
    already past their expiry and not yet swept count on day one."""
    tz = organisation.time_zone
    today = timezone.now().astimezone(ZoneInfo(tz)).date()
    day_list = [today + dt.timedelta(days=n) for n in range(days)]
    until = dt.datetime.combine(today + dt.timedelta(days=days), dt.time.min, ZoneInfo(tz))
    rows = expiring_per_day(organisation=organisation, today=today, until=until)
    rules = {
        r.pk: r for r in RetentionRule.objects.filter(pk__in={rule_id for _d, rule_id, _n in rows})
    }
    counts: dict[tuple[dt.date, str], int] = {}
    for day, rule_id, n in rows:
        key = rules[rule_id].key if rule_id in rules else "-"
        counts[(day, key)] = counts.get((day, key), 0) + n
    rule_list = sorted(
        {(rules[rid].key, localized_name(rules[rid])) for _d, rid, _n in rows if rid in rules}
    )
    return DailyByRule(days=day_list, rules=rule_list, counts=counts)
