"""Filing a request, its legal clock, and the purge of requests nobody verified."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from requests_app import deadlines
from requests_app.models import (
    ClockPause,
    OutboxMessage,
    RequestEvent,
    RequestKind,
    RequestStatus,
    RequestSubjectMatch,
    StatusToken,
    SubjectRequest,
    VerificationCode,
)
from requests_app.services.emails import email_send
from requests_app.services.outbox import (
    outbox_enqueue,
    outbox_message_done,
    outbox_request_claim,
)
from retention.audit import log_action
from retention.models import AuditEntry, Organisation

# Crockford's base32 without I, L, O, U: easy to read aloud and type.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_CHARS = 12  # 60 bits from the CSPRNG

SEND_VERIFICATION = "requests_app.tasks.send_verification_email"
SEND_CONFIRMATION = "requests_app.tasks.send_confirmation_email"
SEND_EXTENSION_NOTICE = "requests_app.tasks.send_extension_notice"


def reference_generate() -> str:
    """`DSR-XXXX-XXXX-XXXX`: 12 characters from `secrets`, unguessable."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_CHARS))
    return "DSR-" + "-".join(chars[i : i + 4] for i in range(0, REFERENCE_CHARS, 4))


def request_submit(
    *,
    organisation: Organisation,
    kind: str,
    email: str,
    full_name: str,
    language: str,
    phone: str = "",
    personnummer: str = "",
    customer_number: str = "",
    details: dict | None = None,
) -> SubjectRequest:
    """Store a validated request with its audit entry and the outbox message for its code.

    All three are written in one transaction, so a request is never stored
    without the message that e-mails the person their code. Input must come
    from a validated form (`requests_app.public.forms`).
    """
    if kind not in RequestKind.values:
        raise ValueError(f"unknown request kind {kind!r}")
    received_at = timezone.now()
    due = deadlines.due_date_for(received_at, organisation.time_zone)
    for _attempt in range(5):
        try:
            with transaction.atomic():
                request = SubjectRequest.objects.create(
                    organisation=organisation,
                    reference=reference_generate(),
                    kind=kind,
                    status=RequestStatus.UNVERIFIED,
                    email=email,
                    full_name=full_name,
                    phone=phone,
                    personnummer=personnummer,
                    customer_number=customer_number,
                    language=language,
                    details=details or {},
                    received_at=received_at,
                    original_due_date=due,
                    due_date=due,
                )
                RequestEvent.objects.create(
                    request=request, kind=RequestEvent.Kind.SUBMITTED, created_at=received_at
                )
                outbox_enqueue(task_name=SEND_VERIFICATION, payload={"request_id": request.pk})
                # Last: the audit chain's lock is then held only until the commit.
                log_action(
                    action="requests.request.submitted",
                    actor_kind=AuditEntry.ActorKind.SUBJECT,
                    organisation=organisation,
                    object_type="subject_request",
                    object_id=request.pk,
                    data={"kind": kind, "due_date": due.isoformat()},
                )
            return request
        except IntegrityError:
            # A reference collision (60 random bits: practically never); draw again.
            continue
    raise RuntimeError("could not draw a unique reference")


def request_due_date_compute(*, request: SubjectRequest, today: dt.date | None = None) -> dt.date:
    """The due date that applies now: original or extended, pushed by the pauses."""
    org = request.organisation
    today = today or deadlines.local_today(org.time_zone)
    base = request.extended_due_date or request.original_due_date
    pauses = [
        deadlines.Pause(
            started=deadlines.local_date(p.started_at, org.time_zone),
            ended=deadlines.local_date(p.ended_at, org.time_zone) if p.ended_at else None,
        )
        for p in request.pauses.all()
    ]
    return deadlines.effective_due_date(base, pauses, today=today)


def request_extend(
    *, request: SubjectRequest, months: int, reason: str, actor_id: int | None = None
) -> SubjectRequest:
    """Extend the time limit (Art. 12(3)) and tell the person; the staff action calls this.

    Raises `deadlines.ExtensionError` when the law does not allow it: after the
    original due date, beyond two further months, without a reason, or twice.
    """
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.extended_due_date is not None:
            raise deadlines.ExtensionError("already_extended", "the request was already extended")
        now = timezone.now()
        today = deadlines.local_date(now, request.organisation.time_zone)
        # The limit to tell the person is the current due date, pauses included.
        unextended_due = request_due_date_compute(request=request, today=today)
        # Art. 12(3): 1 + `months` months from receipt, not from the (moved) original due date.
        request.extended_due_date = deadlines.extension_check(
            received=deadlines.received_date(request.received_at, request.organisation.time_zone),
            original_due=unextended_due,
            today=today,
            months=months,
            reason=reason,
        )
        request.extension_reason = reason.strip()
        request.extended_at = now
        request.due_date = request_due_date_compute(request=request, today=today)
        request.save(
            update_fields=[
                "extended_due_date",
                "extension_reason",
                "extended_at",
                "due_date",
                "updated_at",
            ]
        )
        RequestEvent.objects.create(
            request=request,
            kind=RequestEvent.Kind.EXTENDED,
            created_at=now,
            data={"months": months, "due_date": request.due_date.isoformat()},
        )
        log_action(
            action="requests.request.extended",
            actor_kind=AuditEntry.ActorKind.STAFF if actor_id else AuditEntry.ActorKind.SYSTEM,
            actor_id=actor_id,
            organisation=request.organisation,
            object_type="subject_request",
            object_id=request.pk,
            data={"months": months, "due_date": request.due_date.isoformat()},
        )
        outbox_enqueue(task_name=SEND_EXTENSION_NOTICE, payload={"request_id": request.pk})
    return request


def request_clock_pause(
    *, request: SubjectRequest, reason: str, actor_id: int | None = None
) -> ClockPause:
    """Stop the clock while waiting for the person (one open pause at a time)."""
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        if request.pauses.filter(ended_at__isnull=True).exists():
            return request.pauses.get(ended_at__isnull=True)
        now = timezone.now()
        pause = ClockPause.objects.create(request=request, started_at=now, reason=reason)
        RequestEvent.objects.create(request=request, kind=RequestEvent.Kind.PAUSED, created_at=now)
        log_action(
            action="requests.clock.paused",
            actor_kind=AuditEntry.ActorKind.STAFF if actor_id else AuditEntry.ActorKind.SYSTEM,
            actor_id=actor_id,
            organisation=request.organisation,
            object_type="subject_request",
            object_id=request.pk,
            data={"pause_id": pause.pk},
        )
    return pause


def request_clock_resume(*, request: SubjectRequest, actor_id: int | None = None) -> SubjectRequest:
    """Restart the clock; the due date moves by the days paused."""
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        now = timezone.now()
        updated = request.pauses.filter(ended_at__isnull=True).update(ended_at=now)
        if not updated:
            return request
        request.due_date = request_due_date_compute(request=request)
        request.save(update_fields=["due_date", "updated_at"])
        RequestEvent.objects.create(
            request=request,
            kind=RequestEvent.Kind.RESUMED,
            created_at=now,
            data={"due_date": request.due_date.isoformat()},
        )
        log_action(
            action="requests.clock.resumed",
            actor_kind=AuditEntry.ActorKind.STAFF if actor_id else AuditEntry.ActorKind.SYSTEM,
            actor_id=actor_id,
            organisation=request.organisation,
            object_type="subject_request",
            object_id=request.pk,
            data={"due_date": request.due_date.isoformat()},
        )
    return request


_PURGE_CHILDREN = (VerificationCode, StatusToken, RequestEvent, ClockPause, RequestSubjectMatch)


def requests_purge_unverified(*, now: dt.datetime | None = None, batch_size: int = 1000) -> int:
    """Delete requests never verified within `UNVERIFIED_REQUEST_TTL_HOURS`, with their data.

    Set-based: each batch of ids is claimed with `FOR UPDATE SKIP LOCKED` (a
    verification in progress holds its row and is skipped), then one DELETE
    per table removes the rows. Audit entries hold no personal data and stay;
    one entry records the count.
    """
    now = now or timezone.now()
    cutoff = now - dt.timedelta(hours=settings.UNVERIFIED_REQUEST_TTL_HOURS)
    table = SubjectRequest._meta.db_table
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                SubjectRequest.objects.select_for_update(skip_locked=True)
                .filter(status=RequestStatus.UNVERIFIED, received_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not ids:
                break
            with connection.cursor() as cursor:
                for model in _PURGE_CHILDREN:
                    cursor.execute(
                        f"DELETE FROM {model._meta.db_table} WHERE request_id = ANY(%s)",  # noqa: S608
                        [ids],
                    )
                cursor.execute(
                    f"DELETE FROM {table} WHERE id = ANY(%s) AND status = %s",  # noqa: S608
                    [ids, RequestStatus.UNVERIFIED],
                )
                deleted = cursor.rowcount
            # Their messages have nothing left to do: neither relay nor redelivery takes them.
            OutboxMessage.objects.filter(
                dispatched_at__isnull=True, payload__request_id__in=ids
            ).update(dispatched_at=now, completed_at=now, last_error="request purged")
            OutboxMessage.objects.filter(
                dispatched_at__isnull=False,
                completed_at__isnull=True,
                gave_up_at__isnull=True,
                payload__request_id__in=ids,
            ).update(completed_at=now, last_error="request purged")
            total += deleted
            if len(ids) < batch_size:
                break
    if total:
        log_action(
            action="requests.unverified.purged",
            data={"count": total, "ttl_hours": settings.UNVERIFIED_REQUEST_TTL_HOURS},
        )
    return total


def extension_notice_send(*, request_id: int, outbox_message_id: int) -> bool:
    """Tell the person about an extension and its reason (the Celery task calls this)."""

    with transaction.atomic():
        message, request = outbox_request_claim(outbox_message_id, request_id)
        if request is None:
            return False
        email_send(request=request, template="extension_notice")
        outbox_message_done(message)
    return True
