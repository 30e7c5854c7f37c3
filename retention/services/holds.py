"""Legal holds: records under an active hold are never swept, erased or changed.

`held_sql` is the one hold predicate every path that deletes or changes records
uses (sweeps, erasure, consent withdrawal, objections, rectification): an
active hold of the record's organisation that names no subject or the
record's, and no category or the record's.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from retention.audit import log_action
from retention.models import DataCategory, DataSubject, LegalHold, Organisation


def held_sql(*, record: str = "r", now: str = "%(now)s") -> str:
    """SQL that is true when an active legal hold covers the record aliased `record`.

    `now` is the placeholder of the current time in the statement (named by default).
    """
    return f"""EXISTS (
    SELECT 1 FROM retention_legalhold h
     WHERE h.organisation_id = {record}.organisation_id
       AND h.lifted_at IS NULL
       AND (h.ends_at IS NULL OR h.ends_at > {now})
       AND (h.subject_id IS NULL OR h.subject_id = {record}.subject_id)
       AND (h.category_id IS NULL OR h.category_id = {record}.category_id)
)"""  # noqa: S608  (an alias and a placeholder of our own code; values are parameters)


# For statements over records aliased `r` with a `%(now)s` parameter (the sweeps).
HOLD_FILTER = f"NOT {held_sql()}"


def hold_place(
    *,
    organisation: Organisation,
    reason: str,
    user=None,
    subject: DataSubject | None = None,
    category: DataCategory | None = None,
    ends_at: dt.datetime | None = None,
) -> LegalHold:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("A legal hold needs a reason.")
    for obj in (subject, category):
        if obj is not None and obj.organisation_id != organisation.pk:
            raise ValueError("The subject or category belongs to another organisation.")
    if ends_at is not None and ends_at <= timezone.now():
        raise ValueError("A hold's end must be in the future.")
    with transaction.atomic():
        hold = LegalHold.objects.create(
            organisation=organisation,
            subject=subject,
            category=category,
            reason=reason,
            set_by=user,
            ends_at=ends_at,
        )
        log_action(
            action="retention.hold.placed",
            actor_kind="staff" if user else "system",
            actor_id=user.pk if user else None,
            organisation=organisation,
            object_type="legal_hold",
            object_id=hold.pk,
            data={
                "subject_id": subject.pk if subject else None,
                "category": category.key if category else None,
                "ends_at": ends_at,
            },
        )
    return hold


def hold_lift(*, hold: LegalHold, user=None) -> LegalHold:
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if hold.lifted_at is not None:
            return hold
        hold.lifted_at = timezone.now()
        hold.lifted_by = user
        hold.save(update_fields=["lifted_at", "lifted_by"])
        log_action(
            action="retention.hold.lifted",
            actor_kind="staff" if user else "system",
            actor_id=user.pk if user else None,
            organisation=hold.organisation,
            object_type="legal_hold",
            object_id=hold.pk,
        )
    return hold


def holds_active(*, organisation: Organisation):
    now = timezone.now()
    return (
        LegalHold.objects.filter(organisation=organisation, lifted_at__isnull=True)
        .exclude(ends_at__lte=now)
        .select_related("category", "set_by")
    )
