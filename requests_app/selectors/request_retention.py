"""The portal's own requests: how long a closed one is kept, and which ones are due.

The reads `services.anonymisation` (which anonymises them) and the staff retention
page share: which closed requests have passed their period, and how many.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from requests_app.deadlines import add_months
from requests_app.labels import period_in_words
from requests_app.models import CLOSED_STATUSES, SubjectRequest
from retention.models import Organisation
from retention.services.policies import request_retention_period

# The closed requests of one organisation, not yet anonymised, closed before the cutoff.
CLOSED_BEFORE = """
  FROM requests_app_subjectrequest r
  LEFT JOIN requests_app_requestresolution res ON res.request_id = r.id
  LEFT JOIN requests_app_requestresolution parent ON parent.request_id = r.linked_to_id
 WHERE r.organisation_id = %(org)s
   AND r.anonymised_at IS NULL
   AND r.status = ANY(%(closed)s)
   AND COALESCE(
           res.decided_at,
           parent.decided_at,
           CASE WHEN r.status = 'linked' AND r.linked_to_id IS NULL THEN r.verified_at END
       ) < %(cutoff)s
"""

COUNT_SQL = f"SELECT count(*) {CLOSED_BEFORE}"


def request_retention_limit(*, organisation: Organisation, today: dt.date) -> dt.date:
    """Requests closed before this local date have passed the retention period today."""
    unit, amount = request_retention_period(organisation=organisation)
    if unit == "years":
        return add_months(today, -12 * amount)
    if unit == "months":
        return add_months(today, -amount)
    return today - dt.timedelta(days=amount * (7 if unit == "weeks" else 1))


def request_retention_cutoff(*, organisation: Organisation, now: dt.datetime) -> dt.datetime:
    """The moment before which a request must have closed to be anonymised at `now`."""
    tz = ZoneInfo(organisation.time_zone)
    limit = request_retention_limit(organisation=organisation, today=now.astimezone(tz).date())
    return dt.datetime.combine(limit, dt.time.min, tz)


def count_params(organisation: Organisation, cutoff: dt.datetime) -> dict:
    return {"org": organisation.pk, "closed": list(CLOSED_STATUSES), "cutoff": cutoff}


@dataclass(frozen=True)
class RequestRetention:
    unit: str
    amount: int
    period: str  # "3 years", in the active language
    # Closed requests that the sweeps of the next 30 days anonymise, and all anonymised so far.
    due_within_30_days: int
    anonymised: int


def request_retention_overview(
    *, organisation: Organisation, now: dt.datetime | None = None
) -> RequestRetention:
    """The period and what it will do soon, for the staff retention page (two queries)."""
    now = now or timezone.now()
    unit, amount = request_retention_period(organisation=organisation)
    cutoff = request_retention_cutoff(organisation=organisation, now=now + dt.timedelta(days=30))
    with connection.cursor() as cursor:
        cursor.execute(COUNT_SQL, count_params(organisation, cutoff))
        due = cursor.fetchone()[0]
    anonymised = SubjectRequest.objects.filter(
        organisation=organisation, anonymised_at__isnull=False
    ).count()
    return RequestRetention(
        unit=unit,
        amount=amount,
        period=period_in_words(unit, amount),
        due_within_30_days=due,
        anonymised=anonymised,
    )
