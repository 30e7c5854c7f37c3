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
from retention.predicates import HOLD_FILTER as HOLD_FILTER  # re-exported
from retention.predicates import held_sql as held_sql  # re-exported


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
