"""Art. 19: telling the recipients the changed data was disclosed to.

After an erasure, rectification or restriction that changed anything, every
recipient the changed data was disclosed to gets one e-mail per change
(`RecipientNotification`, unique per request, recipient and change), through
the outbox (`recipients_notify`, then the task's `recipient_notify`); a
recipient without an address is logged and shown to staff. The disclosures
concerned are found before the change (`affected_disclosures`).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation

from requests_app.choices import localized_name
from requests_app.models import CorrectionDecision, RecipientNotification, SubjectRequest
from requests_app.services.emails import email_send_to
from requests_app.services.fulfilment.common import audit
from requests_app.services.outbox import outbox_enqueue, outbox_message_claim, outbox_message_done
from retention.field_labels import field_label
from retention.models import DataSubject, Disclosure, Recipient, Record

Change = RecipientNotification.Change

logger = logging.getLogger(__name__)

RECIPIENT_TASK = "requests_app.tasks.recipient_notify"


def affected_disclosures(
    request: SubjectRequest,
    subject_ids: list[int],
    records: QuerySet[Record],
    *,
    loose_categories: list[str] | None,
) -> dict[str, list[int]]:
    """{recipient id: [disclosure ids]} of the data about to change (one query).

    A disclosure of one of `records`; or, where a disclosure names no record,
    one in `loose_categories` (None: any category, [] : none).
    """
    if not subject_ids:
        return {}
    match = Q(record__in=records)
    if loose_categories is None:
        match |= Q(record__isnull=True)
    elif loose_categories:
        match |= Q(record__isnull=True, category__key__in=loose_categories)
    rows = (
        Disclosure.objects.filter(
            organisation_id=request.organisation_id, subject_id__in=subject_ids
        )
        .filter(match)
        .values_list("recipient_id", "pk")
        .order_by("recipient_id", "pk")
    )
    found: dict[str, list[int]] = {}
    for recipient_id, disclosure_id in rows:
        found.setdefault(str(recipient_id), []).append(disclosure_id)
    return found


def of_erased_records(disclosures: dict[str, list[int]]) -> dict[str, list[int]]:
    """Only the disclosures of records that were erased (a held record is kept, linked)."""
    ids = [i for found in disclosures.values() for i in found]
    kept = set(
        Disclosure.objects.filter(pk__in=ids, record__isnull=False).values_list("pk", flat=True)
    )
    erased = {k: [i for i in found if i not in kept] for k, found in disclosures.items()}
    return {k: found for k, found in erased.items() if found}


def recipients_notify(request: SubjectRequest, change: str, disclosures: dict) -> None:
    """One notice per recipient for this change, through the outbox (caller's transaction)."""
    if not disclosures:
        return
    recipients = Recipient.objects.filter(
        organisation_id=request.organisation_id, pk__in=[int(k) for k in disclosures]
    ).order_by("pk")
    now = timezone.now()
    for recipient in recipients:
        notice, created = RecipientNotification.objects.get_or_create(
            request=request,
            recipient=recipient,
            change=change,
            defaults={"created_at": now, "disclosure_ids": disclosures[str(recipient.pk)]},
        )
        if not created:
            if notice.state == RecipientNotification.State.PENDING:
                merged = sorted(set(notice.disclosure_ids) | set(disclosures[str(recipient.pk)]))
                notice.disclosure_ids = merged
                notice.save(update_fields=["disclosure_ids"])
            continue
        if recipient.contact_email:
            message = outbox_enqueue(
                task_name=RECIPIENT_TASK, payload={"notification_id": notice.pk}
            )
            notice.outbox_message_id = message.pk
            notice.save(update_fields=["outbox_message_id"])
            continue
        notice.state = RecipientNotification.State.NO_ADDRESS
        notice.save(update_fields=["state"])
        logger.warning(
            "Art. 19 notice %s not sent: recipient %s has no e-mail address",
            notice.pk,
            recipient.pk,
        )
        audit(
            request,
            "requests.recipient.no_address",
            {"recipient_id": recipient.pk, "notification_id": notice.pk, "change": change},
        )


def recipient_notify(*, notification_id: int, outbox_message_id: int | None = None) -> bool:
    """E-mail one Art. 19 notice (the outbox task calls this); a repeat sends nothing."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        notice = (
            RecipientNotification.objects.select_for_update(of=("self",))
            .select_related("request__organisation", "recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notice is None or notice.state != RecipientNotification.State.PENDING:
            outbox_message_done(message)
            return False
        request = notice.request
        organisation = request.organisation
        with translation.override(organisation.default_language):
            context = _recipient_context(notice)
        email_send_to(
            to=notice.recipient.contact_email,
            language=organisation.default_language,
            template="recipient_notice",
            reply_to=organisation.dpo_email or organisation.contact_email,
            context=context,
        )
        notice.state = RecipientNotification.State.SENT
        notice.sent_at = timezone.now()
        notice.save(update_fields=["state", "sent_at"])
        audit(
            request,
            "requests.recipient.notified",
            {
                "recipient_id": notice.recipient_id,
                "notification_id": notice.pk,
                "change": notice.change,
            },
        )
        outbox_message_done(message)
    return True


def _recipient_context(notice: RecipientNotification) -> dict:
    """What the recipient needs to act: the organisation's ids of the person and the disclosures."""
    request = notice.request
    disclosures = list(
        Disclosure.objects.filter(
            organisation_id=request.organisation_id, pk__in=notice.disclosure_ids
        )
        .select_related("category", "record")
        .order_by("disclosed_at", "pk")
    )
    subject_ids = sorted({d.subject_id for d in disclosures})
    corrections = []
    if notice.change == Change.RECTIFICATION:
        record_ids = {d.record_id for d in disclosures if d.record_id}
        loose = {d.category_id for d in disclosures if d.record_id is None}
        corrections = [
            {"field": field_label(d.field), "value": d.value, "record": d.record_id}
            for d in CorrectionDecision.objects.filter(
                request=request, applied_at__isnull=False
            ).select_related("record")
            if d.record_id in record_ids or (d.record and d.record.category_id in loose)
        ]
    return {
        "organisation": request.organisation,
        "recipient": notice.recipient,
        "recipient_name": localized_name(notice.recipient),
        "change": notice.change,
        "reference": request.reference,
        "subject_external_ids": list(
            DataSubject.objects.filter(pk__in=subject_ids)
            .order_by("pk")
            .values_list("external_id", flat=True)
        ),
        "disclosures": [
            {
                "reference": d.external_id,
                "date": d.disclosed_at,
                "category": localized_name(d.category) if d.category else "",
            }
            for d in disclosures
        ],
        "corrections": corrections,
    }
