"""Proving control of the e-mail address with a 6-digit code.

A code comes from `secrets`, is bound to one request (its HMAC covers the
request id), is valid for `VERIFICATION_CODE_TTL_MINUTES`, works once, and is
void after `VERIFICATION_MAX_ATTEMPTS` wrong tries. Asking for a new code
voids the old one. The code exists in clear only inside the Celery task that
creates it and e-mails it: never in the outbox, in Redis or in a log.

The first successful check verifies the request: it enters the staff queue,
is matched to the organisation's data subjects, and is linked to an earlier
open request of the same kind from the same address. A direct-marketing
objection or consent withdrawal is then honoured without staff
(`fulfilment.fulfilment_on_verified`). Later checks (the person re-proving
their address to see the status) only grant access.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import time
from enum import StrEnum

from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.urls import reverse
from django.utils import timezone

from requests_app.models import (
    OPEN_STATUSES,
    OutboxMessage,
    RequestEvent,
    RequestStatus,
    StatusToken,
    SubjectRequest,
    VerificationCode,
)
from requests_app.services.emails import email_send, public_url
from requests_app.services.fulfilment import fulfilment_on_verified
from requests_app.services.matching import request_match
from requests_app.services.outbox import outbox_enqueue, outbox_message_finish
from requests_app.services.requests import SEND_CONFIRMATION, SEND_VERIFICATION
from requests_app.services.tokens import status_token_issue, token_hmac
from requests_app.services.workflow import request_locked
from retention.audit import log_action
from retention.keyring import hmac_sign, hmac_verify
from retention.models import AuditEntry


def code_hmac(*, request_id: int, code: str) -> str:
    """The stored form of a new code (``kid$hex``, the `token` keyring, not SECRET_KEY)."""
    return hmac_sign(purpose="token", message=_code_message(request_id, code))


def code_hmac_matches(*, request_id: int, code: str, stored: str) -> bool:
    """Whether `code` is the one stored, under the key the stored hash names."""
    return hmac_verify(purpose="token", message=_code_message(request_id, code), stored=stored)


def _code_message(request_id: int, code: str) -> str:
    return f"verification:{request_id}:{code}"


def code_generate() -> str:
    return f"{secrets.randbelow(10**6):06d}"


# A run that created a code this long ago and has not recorded the send is taken for dead.
SEND_LEASE_SECONDS = 120
# How long a run that has sent the e-mail keeps trying to record that (PostgreSQL restarting).
SENT_RECORD_TRIES = (0.5, 1, 2, 4, 8, 15, 30)


class SendInProgress(Exception):
    """Another run of the same message is sending its code right now: retry later."""


def verification_send(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Create a new code for the request and e-mail it (the Celery task calls this).

    Exactly one e-mail per outbox message, in three steps:

    1. Commit the code (its HMAC), unsent. A redelivered message whose code was
       sent finishes and sends nothing; one whose code another run is sending
       (younger than `SEND_LEASE_SECONDS`) raises `SendInProgress` so the task
       retries; one whose run died before recording the send gets a fresh code
       (the old one may never have gone out, and only its HMAC is kept).
    2. Send the e-mail, outside any transaction.
    3. Record the send (`sent_at`), finish the outbox message and audit it, in one
       transaction, retried in this process while the database restarts: a
       failure here must not make the task send a second code.
    """
    prepared = _code_prepare(request_id=request_id, outbox_message_id=outbox_message_id)
    if prepared is None:
        return False
    request, row, code = prepared
    try:
        email_send(
            request=request,
            template="verification_code",
            context={"code": code, "ttl_minutes": settings.VERIFICATION_CODE_TTL_MINUTES},
        )
    except Exception:
        # Not sent: no code is left behind, and the task's retry makes a new one at once.
        with contextlib.suppress(DatabaseError):
            VerificationCode.objects.filter(pk=row.pk, sent_at__isnull=True).delete()
        raise
    _retry_while_database_restarts(lambda: _code_sent_record(request, row, outbox_message_id))
    return True


def _code_prepare(*, request_id: int, outbox_message_id: int | None):
    """Step 1 of `verification_send`: (request, code row, code in clear), or None if done."""
    with transaction.atomic():
        request = request_locked(request_id)  # the organisation row is not locked
        if request is None:  # purged meanwhile
            outbox_message_finish(outbox_message_id)
            return None
        now = timezone.now()
        row = None
        if outbox_message_id is not None:
            row = VerificationCode.objects.filter(outbox_message_id=outbox_message_id).first()
        if row is not None and row.sent_at is not None:
            outbox_message_finish(outbox_message_id)
            return None
        if row is not None and row.created_at > now - dt.timedelta(seconds=SEND_LEASE_SECONDS):
            raise SendInProgress(f"outbox message {outbox_message_id}")
        VerificationCode.objects.filter(request=request, used_at__isnull=True, void=False).exclude(
            pk=getattr(row, "pk", None)
        ).update(void=True)
        code = code_generate()
        fields = {
            "code_hmac": code_hmac(request_id=request.pk, code=code),
            "created_at": now,
            "expires_at": now + dt.timedelta(minutes=settings.VERIFICATION_CODE_TTL_MINUTES),
            "attempts": 0,
            "void": False,
        }
        if row is None:
            row = VerificationCode.objects.create(
                request=request, outbox_message_id=outbox_message_id, **fields
            )
        else:  # the run that made it died before recording the send: a fresh code
            VerificationCode.objects.filter(pk=row.pk).update(**fields)
    return request, row, code


def _code_sent_record(
    request: SubjectRequest, row: VerificationCode, outbox_message_id: int | None
) -> None:
    """Step 3 of `verification_send`."""
    with transaction.atomic():
        VerificationCode.objects.filter(pk=row.pk).update(sent_at=timezone.now())
        outbox_message_finish(outbox_message_id)
        log_action(
            action="requests.verification.code_sent",
            organisation=request.organisation,
            object_type="subject_request",
            object_id=request.pk,
        )


def _retry_while_database_restarts(work) -> None:
    """Run `work`, trying again over about a minute while the database is unreachable."""
    for pause in (*SENT_RECORD_TRIES, None):
        try:
            work()
            return
        except (OperationalError, InterfaceError):
            if pause is None:
                raise
            if not connection.in_atomic_block:
                connection.close()  # a broken connection is not reused
            time.sleep(pause)


def verification_request_new(*, request: SubjectRequest) -> None:
    """Queue a new code for the request (the caller has applied the rate limits)."""
    with transaction.atomic():
        log_action(
            action="requests.verification.code_requested",
            actor_kind=AuditEntry.ActorKind.SUBJECT,
            organisation=request.organisation,
            object_type="subject_request",
            object_id=request.pk,
        )
        outbox_enqueue(task_name=SEND_VERIFICATION, payload={"request_id": request.pk})


class CodeResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"  # 400, tries left
    EXPIRED = "expired"  # 400: expired, used or replaced; ask for a new one
    LOCKED = "locked"  # 429: too many wrong tries; ask for a new one


class VerificationFailed(Exception):
    def __init__(self, result: CodeResult, attempts_left: int = 0):
        self.result = result
        self.attempts_left = attempts_left
        super().__init__(result.value)


def verification_check(*, request: SubjectRequest, code: str) -> SubjectRequest:
    """Check a code against the request's latest code; raise `VerificationFailed` if wrong.

    A wrong try is counted (and committed) before the error is raised. The
    request row and the code row are locked, so parallel guesses are counted
    one by one and cannot exceed the limit.
    """
    maximum = settings.VERIFICATION_MAX_ATTEMPTS
    with transaction.atomic():
        request = SubjectRequest.objects.select_for_update().get(pk=request.pk)
        row = (
            VerificationCode.objects.select_for_update()
            .filter(request=request)
            .order_by("-created_at", "-id")
            .first()
        )
        now = timezone.now()
        if row is None or row.used_at is not None or row.expires_at <= now:
            result = CodeResult.EXPIRED
        elif row.void:
            result = CodeResult.LOCKED if row.attempts >= maximum else CodeResult.EXPIRED
        elif code_hmac_matches(
            request_id=request.pk, code=(code or "").strip(), stored=row.code_hmac
        ):
            row.used_at = now
            row.save(update_fields=["used_at"])
            result = CodeResult.OK
        else:
            row.attempts += 1
            row.void = row.attempts >= maximum
            row.save(update_fields=["attempts", "void"])
            result = CodeResult.LOCKED if row.void else CodeResult.WRONG
        _log_check(request, result, row)
        if result is CodeResult.OK and request.status == RequestStatus.UNVERIFIED:
            request = _request_verified(request, now)
    if result is not CodeResult.OK:
        left = max(0, maximum - row.attempts) if row else 0
        raise VerificationFailed(result, attempts_left=left)
    return request


def _log_check(request: SubjectRequest, result: CodeResult, row: VerificationCode | None) -> None:
    log_action(
        action=f"requests.verification.{result.value}",
        actor_kind=AuditEntry.ActorKind.SUBJECT,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data={"code_id": row.pk, "attempts": row.attempts} if row else {},
    )


def _duplicate_lock(request: SubjectRequest) -> None:
    """Serialise verifications of the same (organisation, kind, address)."""
    key = hashlib.sha256(
        f"dup:{request.organisation_id}:{request.kind}:{request.email}".encode()
    ).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(key[:8], "big", signed=True)]
        )


def _request_verified(request: SubjectRequest, now) -> SubjectRequest:
    _duplicate_lock(request)
    earlier = (
        SubjectRequest.objects.filter(
            organisation_id=request.organisation_id,
            kind=request.kind,
            email=request.email,
            status__in=OPEN_STATUSES,
            verified_at__isnull=False,
        )
        .exclude(pk=request.pk)
        .order_by("received_at", "id")
        .first()
    )
    request.verified_at = now
    if earlier is not None:
        request.status = RequestStatus.LINKED
        request.linked_to = earlier
    else:
        request.status = RequestStatus.NEW
    request.save(update_fields=["verified_at", "status", "linked_to", "updated_at"])
    RequestEvent.objects.create(request=request, kind=RequestEvent.Kind.VERIFIED, created_at=now)
    request_match(request=request)
    log_action(
        action="requests.request.verified",
        actor_kind=AuditEntry.ActorKind.SUBJECT,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data={"match_method": request.match_method, "matches": request.matches.count()},
    )
    if earlier is not None:
        RequestEvent.objects.create(
            request=request,
            kind=RequestEvent.Kind.LINKED,
            created_at=now,
            data={"reference": earlier.reference},
        )
        log_action(
            action="requests.request.linked",
            organisation=request.organisation,
            object_type="subject_request",
            object_id=request.pk,
            data={"linked_to": earlier.pk},
        )
    outbox_enqueue(task_name=SEND_CONFIRMATION, payload={"request_id": request.pk})
    # A direct-marketing objection or a consent withdrawal is honoured now, without staff.
    fulfilment_on_verified(request=request)
    return request


def confirmation_send(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """E-mail the confirmation with a single-use status link (the Celery task calls this).

    Exactly one e-mail per outbox message, in the three steps of `verification_send`:
    commit the link's token (its HMAC) first, send outside any transaction, then
    record the send by finishing the outbox message, retried while the database
    restarts. A redelivered message whose token exists and whose message is done
    sends nothing; one whose token another run is sending (younger than
    `SEND_LEASE_SECONDS`) raises `SendInProgress`; one whose run died before
    recording the send gets a fresh secret on the same token row.
    """
    prepared = _link_prepare(request_id=request_id, outbox_message_id=outbox_message_id)
    if prepared is None:
        return False
    request, row, token = prepared
    try:
        email_send(
            request=request,
            template="request_confirmed",
            context={"link_url": public_url(_link_path(request, token))},
        )
    except Exception:
        # Not sent: no usable link is left behind, and the task's retry makes a new one.
        with contextlib.suppress(DatabaseError):
            StatusToken.objects.filter(pk=row.pk).delete()
        raise
    _retry_while_database_restarts(lambda: _finish_alone(outbox_message_id))
    return True


def _link_prepare(*, request_id: int, outbox_message_id: int | None):
    """Step 1 of `confirmation_send`: (request, token row, token in clear), or None if done."""
    with transaction.atomic():
        request = request_locked(request_id, "linked_to")
        message_done = outbox_message_id is not None and (
            OutboxMessage.objects.filter(pk=outbox_message_id, completed_at__isnull=False).exists()
        )
        if request is None or message_done:
            outbox_message_finish(outbox_message_id)
            return None
        row = None
        if outbox_message_id is not None:
            row = StatusToken.objects.filter(outbox_message_id=outbox_message_id).first()
        if row is None:
            token, row = status_token_issue(
                request=request, kind=StatusToken.Kind.LINK, outbox_message_id=outbox_message_id
            )
            return request, row, token
        if row.used_at is not None:  # the person opened the link: the e-mail arrived
            outbox_message_finish(outbox_message_id)
            return None
        now = timezone.now()
        if row.created_at > now - dt.timedelta(seconds=SEND_LEASE_SECONDS):
            raise SendInProgress(f"outbox message {outbox_message_id}")
        # The run that made it died before recording the send: a fresh secret, same row.
        token = secrets.token_urlsafe(32)
        StatusToken.objects.filter(pk=row.pk).update(
            token_hmac=token_hmac(token),
            created_at=now,
            expires_at=now + (row.expires_at - row.created_at),
        )
    return request, row, token


def _finish_alone(outbox_message_id: int | None) -> None:
    with transaction.atomic():
        outbox_message_finish(outbox_message_id)


def _link_path(request: SubjectRequest, token: str) -> str:
    path = reverse(
        "requests_public:open_link",
        kwargs={"org_slug": request.organisation.slug, "reference": request.reference},
    )
    return f"{path}?t={token}"
