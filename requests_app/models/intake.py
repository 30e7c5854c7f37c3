"""The request workflow: what a data subject asked for, and the proof of who they are.

A `SubjectRequest` is filed on a public page or over the API. It stays
`unverified` until the person enters the code e-mailed to them; only then does
it enter the staff queue (`new`). Unverified requests are purged with their
personal data after `UNVERIFIED_REQUEST_TTL_HOURS`.

Secrets (verification codes, status tokens) are stored only as HMACs.
Work for Celery goes through `OutboxMessage`, written in the same transaction
as the change that needs it (see `requests_app.services.outbox`).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from retention.keyring import STORED_MAX_LENGTH
from retention.models import DataSubject, Organisation


class RequestKind(models.TextChoices):
    ACCESS = "access", _("Access to my data (Art. 15)")
    RECTIFICATION = "rectification", _("Correction of my data (Art. 16)")
    ERASURE = "erasure", _("Erasure of my data (Art. 17)")
    RESTRICTION = "restriction", _("Restriction of processing (Art. 18)")
    OBJECTION = "objection", _("Objection to processing (Art. 21)")
    PORTABILITY = "portability", _("Data portability (Art. 20)")
    CONSENT_WITHDRAWAL = "consent_withdrawal", _("Withdrawal of consent (Art. 7(3))")


class RequestStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("Waiting for e-mail verification")
    NEW = "new", _("Received")
    IN_PROGRESS = "in_progress", _("Being handled")
    AWAITING_SUBJECT = "awaiting_subject", _("Waiting for your answer")
    APPROVED = "approved", _("Approved")
    FULFILLING = "fulfilling", _("Being carried out")
    COMPLETED = "completed", _("Completed")
    REFUSED = "refused", _("Refused")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    LINKED = "linked", _("Joined to an earlier request")


# A verified request in one of these states is still being worked on.
OPEN_STATUSES = (
    RequestStatus.NEW,
    RequestStatus.IN_PROGRESS,
    RequestStatus.AWAITING_SUBJECT,
    RequestStatus.APPROVED,
    RequestStatus.FULFILLING,
)
# A verified request in one of these states is finished; it is kept for the organisation's
# request retention period after it closed, then anonymised (`services.anonymisation`).
CLOSED_STATUSES = (
    RequestStatus.COMPLETED,
    RequestStatus.REFUSED,
    RequestStatus.CANCELLED,
    RequestStatus.LINKED,
)


class Language(models.TextChoices):
    SV = "sv", "Svenska"
    EN = "en", "English"


class MatchMethod(models.TextChoices):
    NONE = "none", _("no match")
    EMAIL = "email", _("verified e-mail address")
    PERSONNUMMER = "personnummer", _("personnummer or samordningsnummer")
    CUSTOMER_NUMBER = "customer_number", _("customer number")


class SubjectRequest(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="subject_requests"
    )
    reference = models.CharField(max_length=20, unique=True)
    kind = models.CharField(max_length=20, choices=RequestKind.choices)
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.UNVERIFIED
    )
    # Personal data, as the person gave it (normalised).
    email = models.EmailField(max_length=254)
    full_name = models.CharField(max_length=200)
    phone = models.CharField(max_length=20, blank=True)
    personnummer = models.CharField(max_length=12, blank=True)
    customer_number = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.SV)
    # The type-specific fields (see requests_app.validation).
    details = models.JSONField(default=dict, blank=True)

    # The legal clock (requests_app.deadlines).
    received_at = models.DateTimeField()
    original_due_date = models.DateField()
    extended_due_date = models.DateField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    # The date that applies now: the original or extended date, pushed by pauses.
    due_date = models.DateField()

    verified_at = models.DateTimeField(null=True, blank=True)
    linked_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="linked_requests"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_requests",
    )
    match_method = models.CharField(max_length=20, choices=MatchMethod.choices, blank=True)
    match_summary = models.CharField(max_length=300, blank=True)
    # When the request was reduced to statistics after the organisation's retention period
    # (`requests_app.services.anonymisation`): no name, address, number or text is left.
    anonymised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The closed requests still holding personal data: what the anonymisation reads.
            models.Index(
                fields=["organisation", "id"],
                name="request_closed_kept",
                condition=models.Q(
                    anonymised_at__isnull=True,
                    status__in=["completed", "refused", "cancelled", "linked"],
                ),
            ),
            models.Index(fields=["organisation", "status", "due_date"], name="request_queue"),
            models.Index(
                fields=["organisation", "kind", "email"],
                name="request_open_duplicates",
                condition=models.Q(verified_at__isnull=False),
            ),
            models.Index(
                fields=["received_at"],
                name="request_unverified",
                condition=models.Q(status="unverified"),
            ),
            # The queue's order: the first page is an index scan, not a sort of
            # every open request (bench/staff_queue.py).
            models.Index(
                fields=["due_date", "received_at", "id"],
                name="request_open_by_due",
                condition=models.Q(
                    status__in=["new", "in_progress", "awaiting_subject", "approved", "fulfilling"]
                ),
            ),
            models.Index(fields=["due_date", "received_at", "id"], name="request_by_due"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ProofMethod(models.TextChoices):
    """How the identity of a matched data subject was proven (`RequestSubjectMatch.proven_by`)."""

    NONE = "none", _("not proven")
    EMAIL = "email", _("the verified e-mail address matched it")
    IDENTITY_CHECK = "identity_check", _("an identity check by staff")


class RequestSubjectMatch(models.Model):
    """A data subject of the organisation that the verified request was matched to.

    One row per subject. A typed personnummer or customer number proves nothing
    (anyone can look one up), so a subject is *proven* only when the verified
    e-mail address matched it, or when staff recorded an identity check for it
    (`IdentityCheck.match`). Staff include or exclude each match. Fulfilment
    acts only on the subjects that are included and proven
    (`requests_app.selectors.matching.request_subject_ids`).
    """

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="matches")
    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="+")
    # The strongest identifier that matched (e-mail, then personnummer, then customer number),
    # and all that did.
    method = models.CharField(max_length=20, choices=MatchMethod.choices)
    methods = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    included = models.BooleanField(default=True)
    proven_by = models.CharField(
        max_length=20, choices=ProofMethod.choices, default=ProofMethod.NONE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "subject"], name="request_match_subject")
        ]

    def __str__(self) -> str:
        return f"{self.request_id} -> subject {self.subject_id} ({self.method})"

    @property
    def proven(self) -> bool:
        return self.proven_by != ProofMethod.NONE


class VerificationCode(models.Model):
    """A 6-digit code, stored only as an HMAC bound to its request."""

    request = models.ForeignKey(
        SubjectRequest, on_delete=models.CASCADE, related_name="verification_codes"
    )
    code_hmac = models.CharField(max_length=STORED_MAX_LENGTH)  # kid$hex (retention.keyring)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    void = models.BooleanField(default=False)
    # The outbox message that sent it: a redelivered message sends no second code.
    outbox_message_id = models.BigIntegerField(null=True, blank=True, unique=True)
    # When the e-mail was handed to the mail server (recorded after the send, in a
    # transaction of its own): a redelivered message whose code has it sends nothing.
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["request", "-created_at"], name="code_latest")]

    def __str__(self) -> str:
        return f"code {self.pk} of request {self.request_id}"


class StatusToken(models.Model):
    """A secret that opens the status of one request, stored as an HMAC.

    `link`: single use, in the e-mail, exchanged for a browser session.
    `api`: a short-lived bearer token for GET /api/v1/requests/{reference}.
    """

    class Kind(models.TextChoices):
        LINK = "link", _("e-mail link")
        API = "api", _("API bearer token")

    request = models.ForeignKey(
        SubjectRequest, on_delete=models.CASCADE, related_name="status_tokens"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    token_hmac = models.CharField(max_length=STORED_MAX_LENGTH, unique=True)  # kid$hex
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    outbox_message_id = models.BigIntegerField(null=True, blank=True, unique=True)

    def __str__(self) -> str:
        return f"{self.kind} token {self.pk} of request {self.request_id}"


class ClockPause(models.Model):
    """Time spent waiting for the person; it pushes the due date."""

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="pauses")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_pause_per_request",
            )
        ]

    def __str__(self) -> str:
        return f"pause {self.pk} of request {self.request_id}"


class RequestEvent(models.Model):
    """The person-visible history of a request (no personal data in `data`)."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", _("Request received")
        VERIFIED = "verified", _("E-mail address confirmed")
        LINKED = "linked", _("Joined to your earlier request")
        PAUSED = "paused", _("Waiting for information from you")
        RESUMED = "resumed", _("Handling resumed")
        EXTENDED = "extended", _("Time limit extended")
        STATUS = "status", _("Status changed")

    request = models.ForeignKey(SubjectRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} of request {self.request_id}"


class OutboxMessage(models.Model):
    """A Celery task to run, written in the transaction of the change that needs it.

    `payload` holds ids only. The relay publishes it after commit; the beat
    sweep publishes what the relay could not (Redis down, process died), and
    publishes again what no worker finished (`completed_at`) in time.
    """

    task_name = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    available_at = models.DateTimeField()
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Set by a task that records its own completion (a repeat then does nothing).
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    # Published again because no run finished it (`outbox_redeliver`), and when that stopped.
    redeliveries = models.PositiveIntegerField(default=0)
    gave_up_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["available_at"],
                name="outbox_pending",
                condition=models.Q(dispatched_at__isnull=True),
            ),
            models.Index(
                fields=["dispatched_at"],
                name="outbox_unfinished",
                condition=models.Q(
                    dispatched_at__isnull=False, completed_at__isnull=True, gave_up_at__isnull=True
                ),
            ),
            models.Index(
                fields=["gave_up_at"],
                name="outbox_given_up",
                condition=models.Q(gave_up_at__isnull=False, completed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"outbox {self.pk} {self.task_name}"
