"""How a request was carried out on the record store (every right but access and portability).

Re-exported by `requests_app.models`. Nothing here is written outside
`requests_app.services.fulfilment`.

- `Fulfilment`: one per request; what was done, for the reply, and the
  markers that make every step happen once (the outbox message that started
  it, the erasure job, when it was honoured, when it completed).
- `CorrectionDecision`, `ObjectionDecision`: staff's decision per proposed
  correction (Art. 16) and per purpose objected to (Art. 21(1)).
- `RecipientNotification`: one Art. 19 notice per recipient and change.
- `RestrictionLift`: lifting an Art. 18 restriction, after telling the person
  (Art. 18(3)).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "CorrectionDecision",
    "Fulfilment",
    "ObjectionDecision",
    "RecipientNotification",
    "RestrictionLift",
]


class Fulfilment(models.Model):
    """The carrying out of one request; at most one per request (unique)."""

    request = models.OneToOneField(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="fulfilment"
    )
    # The outbox message of the approval that started it: a redelivery finds it.
    start_message_id = models.BigIntegerField(null=True, blank=True, unique=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Direct marketing objections and consent withdrawals are honoured as soon as
    # the e-mail address is verified, without waiting for staff.
    honoured_at = models.DateTimeField(null=True, blank=True)
    job = models.OneToOneField(
        "retention.RecordStoreJob",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="fulfilment",
    )
    plan_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    plan_approved_at = models.DateTimeField(null=True, blank=True)
    # What was done, by right: keys, ids, counts and dates (the reply is built from it).
    outcome = models.JSONField(default=dict, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"fulfilment of request {self.request_id}"


class CorrectionDecision(models.Model):
    """Staff's decision on one proposed correction (`details["corrections"][index]`)."""

    request = models.ForeignKey(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="correction_decisions"
    )
    index = models.PositiveSmallIntegerField()
    accepted = models.BooleanField()
    # Where an accepted correction goes: a record of a matched subject and a field of it.
    record = models.ForeignKey(
        "retention.Record", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    field = models.CharField(max_length=100, blank=True)
    value = models.TextField(max_length=500, blank=True)
    # Why a correction was rejected (the person is told).
    reason = models.TextField(max_length=2000, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)
    # An accepted correction not applied, and why: the record is restricted under Art. 18
    # ("restricted") or kept under a legal hold ("legal_hold"). It stays recorded here.
    withheld = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["index"]
        constraints = [
            models.UniqueConstraint(fields=["request", "index"], name="correction_decision_unique")
        ]

    def __str__(self) -> str:
        return f"correction {self.index} of request {self.request_id}"


class ObjectionDecision(models.Model):
    """Whether compelling legitimate grounds override the objection to one purpose."""

    request = models.ForeignKey(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="objection_decisions"
    )
    purpose = models.ForeignKey("retention.Purpose", on_delete=models.CASCADE, related_name="+")
    compelling_grounds = models.BooleanField()
    # The grounds that override (the person is told them).
    reason = models.TextField(max_length=2000, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "purpose"], name="objection_decision_unique")
        ]

    def __str__(self) -> str:
        return f"objection decision {self.purpose_id} of request {self.request_id}"


class RecipientNotification(models.Model):
    """An Art. 19 notice to one recipient the subject's data was disclosed to."""

    class Change(models.TextChoices):
        ERASURE = "erasure", _("erasure")
        RECTIFICATION = "rectification", _("rectification")
        RESTRICTION = "restriction", _("restriction")

    class State(models.TextChoices):
        PENDING = "pending", _("being sent")
        SENT = "sent", _("sent")
        NO_ADDRESS = "no_address", _("not sent: the recipient has no e-mail address")

    request = models.ForeignKey(
        "requests_app.SubjectRequest",
        on_delete=models.CASCADE,
        related_name="recipient_notifications",
    )
    # PROTECT, like Disclosure: a recipient that was told stays on record.
    recipient = models.ForeignKey("retention.Recipient", on_delete=models.PROTECT, related_name="+")
    change = models.CharField(max_length=20, choices=Change.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    # The disclosures the notice is about (ids of retention.Disclosure).
    disclosure_ids = models.JSONField(default=list, blank=True)
    outbox_message_id = models.BigIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "recipient", "change"], name="recipient_notification_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.change} notice to {self.recipient_id} for request {self.request_id}"


class RestrictionLift(models.Model):
    """Lifting a request's restriction: the person is told first (Art. 18(3)), then it lifts."""

    request = models.OneToOneField(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="restriction_lift"
    )
    reason = models.TextField(max_length=2000)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_at = models.DateTimeField()
    notice_message_id = models.BigIntegerField(null=True, blank=True, unique=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"restriction lift of request {self.request_id}"
