"""Recount the extended due date of open extended requests from the date of receipt.

Art. 12(3) GDPR: the month from receipt "may be extended by two further
months". Counted as Regulation 1182/71 Art. 3, the extended limit is one
period of 1 + n months from receipt, and only its end moves to the next
working day. The portal used to add n months to the first month's end after
that end had been moved to a working day, so a stored `extended_due_date`
could be up to a week later than the law allows (received 31 January 2026:
4 May instead of 30 April) or a few days earlier than needed.

Open requests get the legal date: `extended_due_date` from receipt, and
`due_date` from it pushed by the days of the pauses that ended (an open pause
is counted when it ends, as `request_clock_resume` does). Each corrected
request gets one audit entry with the dates (no personal data), so its
timeline shows the correction. Closed requests keep their dates: they record
the limit that applied when they were answered, and their `on_time` was
decided against it.

The number of months comes from the request's `extended` event; an older
request without it is recognised by which of 1 or 2 months gives its stored
date. Extended requests are few, so this reads them in Python (the Swedish
holiday calendar lives there) and writes only the ones whose dates change.
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo

from django.db import connection, migrations
from django.utils import timezone

from requests_app import deadlines
from retention.audit import GENESIS, entry_hash

OPEN = ("new", "in_progress", "awaiting_subject", "approved", "fulfilling")
AUDIT_LOCK_KEY = 0x41554454  # retention.audit._LOCK_KEY


def _months(request, events) -> int | None:
    for event in events:
        months = (event.data or {}).get("months")
        if months in (1, 2):
            return months
    for months in (1, 2):
        if (
            deadlines.next_working_day(deadlines.add_months(request.original_due_date, months))
            == request.extended_due_date
        ):
            return months
    return None


def _audit(AuditEntry, request, data: dict) -> None:
    """One entry on the chain, as `retention.audit.log_action` writes it (historical model)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])
    last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
    entry = AuditEntry(
        created_at=timezone.now(),
        actor_kind="system",
        actor_id=None,
        organisation_id=request.organisation_id,
        action="requests.deadline.corrected",
        object_type="subject_request",
        object_id=str(request.pk),
        data=json.loads(json.dumps(data)),
        prev_hash=last or GENESIS,
    )
    entry.hash = entry_hash(entry)
    entry.save()


def recount_extended_due_dates(apps, schema_editor) -> int:
    SubjectRequest = apps.get_model("requests_app", "SubjectRequest")
    RequestEvent = apps.get_model("requests_app", "RequestEvent")
    ClockPause = apps.get_model("requests_app", "ClockPause")
    AuditEntry = apps.get_model("retention", "AuditEntry")
    corrected = 0
    extended = (
        SubjectRequest.objects.filter(status__in=OPEN, extended_due_date__isnull=False)
        .select_related("organisation")
        .order_by("id")
    )
    for request in extended.iterator(chunk_size=500):
        tz = ZoneInfo(request.organisation.time_zone)
        events = RequestEvent.objects.filter(request_id=request.pk, kind="extended").order_by(
            "-created_at", "-id"
        )
        months = _months(request, events)
        if months is None:
            continue
        received = request.received_at.astimezone(tz).date()
        extended_due = deadlines.extended_due_date(received, months)
        pauses = [
            deadlines.Pause(p.started_at.astimezone(tz).date(), p.ended_at.astimezone(tz).date())
            for p in ClockPause.objects.filter(request_id=request.pk, ended_at__isnull=False)
        ]
        due = deadlines.effective_due_date(extended_due, pauses, today=dt.date.today())
        if (extended_due, due) == (request.extended_due_date, request.due_date):
            continue
        previous = request.due_date
        SubjectRequest.objects.filter(pk=request.pk).update(
            extended_due_date=extended_due, due_date=due
        )
        _audit(
            AuditEntry,
            request,
            {
                "months": months,
                "extended_due_date": extended_due.isoformat(),
                "due_date": due.isoformat(),
                "previous_due_date": previous.isoformat(),
            },
        )
        corrected += 1
    return corrected


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0010_keyed_hashes_name_their_key"),
        ("retention", "0012_audit_checks"),
    ]

    operations = [migrations.RunPython(recount_extended_due_dates, migrations.RunPython.noop)]
