"""What staff read that the audit trail must show: the register export and a subject's records.

Each read writes one audit entry (ids and counts, never personal data) before
the data leaves; the views only render or stream what these return.
"""

from __future__ import annotations

import datetime as dt

from requests_app.models import SubjectRequest
from retention.audit import log_action
from retention.models import AuditEntry, Organisation, Record

SUBJECT_RECORDS_SHOWN = 500


def register_export_log(*, organisation: Organisation, user, start: dt.date, end: dt.date) -> None:
    """Record that `user` exported the register of requests for `start` to `end`."""
    log_action(
        action="requests.register.exported",
        actor_kind=AuditEntry.ActorKind.STAFF,
        actor_id=user.pk,
        organisation=organisation,
        object_type="organisation",
        object_id=organisation.pk,
        data={"start": start.isoformat(), "end": end.isoformat()},
    )


def subject_records_read(*, request: SubjectRequest, user, subject_id: int) -> list[Record]:
    """A matched subject's records (the first 500), as `user` sees them; the view is logged.

    The caller has checked that the subject is matched to the request and that
    the user may see records (`Action.VIEW_RECORDS`).
    """
    records = list(
        Record.objects.filter(organisation_id=request.organisation_id, subject_id=subject_id)
        .select_related("category", "purpose", "rule")
        .order_by("category__key", "id")[:SUBJECT_RECORDS_SHOWN]
    )
    log_action(
        action="requests.subject.records_viewed",
        actor_kind=AuditEntry.ActorKind.STAFF,
        actor_id=user.pk,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data={"subject_id": subject_id, "records": len(records)},
    )
    return records
