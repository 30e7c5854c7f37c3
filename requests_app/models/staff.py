"""The staff side of the request workflow: notes, questions to the person, decisions, tokens.

Re-exported by `requests_app.models`. Nothing here is written outside the services in
`requests_app.services.staff` and `requests_app.services.staff_auth`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from requests_app.models.intake import Language

__all__ = [
    "IdentityCheck",
    "IdentityMethod",
    "InformationRequest",
    "InternalNote",
    "RefusalReason",
    "RequestApproval",
    "RequestResolution",
    "SavedQueueFilter",
    "StaffApiToken",
    "StaffPreference",
]


class InternalNote(models.Model):
    """A note staff keep on a request; never shown to the person."""

    request = models.ForeignKey(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(max_length=5000)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"note {self.pk} on request {self.request_id}"


class InformationRequest(models.Model):
    """A question to the person; the clock is paused until they answer."""

    request = models.ForeignKey(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="questions"
    )
    question = models.TextField(max_length=2000)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    asked_at = models.DateTimeField()
    answer = models.TextField(max_length=5000, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["asked_at", "id"]

    def __str__(self) -> str:
        return f"question {self.pk} on request {self.request_id}"


class IdentityMethod(models.TextChoices):
    ID_DOCUMENT = "id_document", _("Identity document checked")
    BANKID = "bankid", _("BankID or another e-identification")
    CUSTOMER_ACCOUNT = "customer_account", _("Signed in to their customer account")
    PHONE_CALLBACK = "phone_callback", _("Called back on a number already on file")
    POSTAL = "postal", _("Letter to the postal address on file")
    OTHER = "other", _("Other (described in the note)")


class IdentityCheck(models.Model):
    """Identity confirmed by staff by another means than the e-mailed code, for one match.

    The check proves the matched subject it names (`match`, whose `proven_by`
    becomes `identity_check`). Checks recorded before identities were proven
    per subject have no match: they are history and prove nobody.
    """

    request = models.ForeignKey(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="identity_checks"
    )
    match = models.ForeignKey(
        "requests_app.RequestSubjectMatch",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="identity_checks",
    )
    method = models.CharField(max_length=20, choices=IdentityMethod.choices)
    note = models.CharField(max_length=500, blank=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["checked_at", "id"]

    def __str__(self) -> str:
        return f"identity check {self.pk} of request {self.request_id}"


class RefusalReason(models.TextChoices):
    UNFOUNDED_OR_EXCESSIVE = (
        "unfounded_or_excessive",
        _("Manifestly unfounded or excessive (Art. 12(5))"),
    )
    IDENTITY_NOT_CONFIRMED = "identity_not_confirmed", _("Identity could not be confirmed")
    NO_DATA = "no_data", _("We hold no personal data about the person")
    ERASURE_EXCEPTION = "erasure_exception", _("An exception of Art. 17(3) applies")
    COMPELLING_GROUNDS = (
        "compelling_grounds",
        _("Compelling legitimate grounds override the objection (Art. 21(1))"),
    )
    OTHER = "other", _("Other reason (explained in the text)")


class RequestApproval(models.Model):
    """The approval of a request's fulfilment; at most one per request (unique)."""

    request = models.OneToOneField(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="approval"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    approved_at = models.DateTimeField()
    outbox_message_id = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"approval of request {self.request_id}"


class RequestResolution(models.Model):
    """How a request was closed: completed, refused or cancelled; at most one per request."""

    class Outcome(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        REFUSED = "refused", _("Refused")
        CANCELLED = "cancelled", _("Cancelled at the person's wish")

    request = models.OneToOneField(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="resolution"
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    reasons = models.JSONField(default=list, blank=True)  # RefusalReason values
    text = models.TextField(max_length=10000, blank=True)  # the reply to the person
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_at = models.DateTimeField()
    # Was it answered within the time limit that applied (due date incl. extension and pauses)?
    on_time = models.BooleanField()

    class Meta:
        indexes = [models.Index(fields=["decided_at"], name="resolution_decided")]

    def __str__(self) -> str:
        return f"{self.outcome} request {self.request_id}"


class StaffApiToken(models.Model):
    """A personal API token of a staff user, stored as a SHA-256 hash.

    Issued only in a session verified with TOTP and re-authenticated; the
    token acts with its user's roles.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.prefix}… of user {self.user_id}"


class SavedQueueFilter(models.Model):
    """A staff member's named queue filter: the query string of the queue page's filter.

    Only the filter's own parameters are kept (`services.queue.filter_query_clean`):
    never a page number, and nothing the queue does not understand. A saved filter
    belongs to its user; nobody else may use or delete it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_filters"
    )
    name = models.CharField(max_length=60)
    query = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_filter_name_per_user")
        ]

    def __str__(self) -> str:
        return f"saved filter {self.pk} of user {self.user_id}"


class StaffPreference(models.Model):
    """A staff member's own settings: the language of the staff pages and of their e-mails.

    No row, or no language, keeps the defaults: the pages follow the browser's language
    switch, the e-mails the language of the staff member's first organisation.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_preference"
    )
    language = models.CharField(max_length=2, choices=Language.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"
