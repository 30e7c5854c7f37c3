"""The answer to an access (Art. 15) or portability (Art. 20) request: a file for the person.

Re-exported by `requests_app.models`. Nothing here is written outside
`requests_app.services.packages`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["DataPackage", "OrganisationSettings"]


class DataPackage(models.Model):
    """The file that answers one access or portability request; at most one per request.

    The file lives encrypted under `PACKAGE_DIR` (`requests_app.encryption`);
    `file_name` is random and says nothing about the person. `sha256` and
    `size` describe the file the person downloads (the decrypted one).
    """

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (Art. 15)")
        PORTABILITY = "portability", _("Portability (Art. 20)")

    class Format(models.TextChoices):
        ZIP = "zip", _("ZIP with a readable report (HTML) and the data (JSON)")
        JSON = "json", _("JSON")
        CSV = "csv", _("CSV")

    class State(models.TextChoices):
        BUILDING = "building", _("being built")
        READY = "ready", _("ready for review")
        RELEASED = "released", _("released to the person")
        EXPIRED = "expired", _("expired and deleted")
        FAILED = "failed", _("could not be built")

    request = models.OneToOneField(
        "requests_app.SubjectRequest", on_delete=models.CASCADE, related_name="package"
    )
    # In download URLs instead of the row id: nothing to count or guess.
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    format = models.CharField(max_length=4, choices=Format.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.BUILDING)
    file_name = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    # What is inside, for staff review: {"files": [...], "records": n, "categories": {key: n}}.
    contents = models.JSONField(default=dict, blank=True)
    build_attempts = models.PositiveIntegerField(default=0)
    # When the last build started: a build whose worker died is started again
    # (`packages_resume`) after JOB_LEASE_SECONDS.
    build_started_at = models.DateTimeField(null=True, blank=True)
    # When the package was given up as `failed`, and the last build's error: the exception's
    # class name only (never a message or a trace, which could hold personal data).
    failed_at = models.DateTimeField(null=True, blank=True)
    build_error = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField()
    built_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)
    last_downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["expires_at"],
                name="package_release_expiry",
                condition=models.Q(state="released"),
            ),
            models.Index(
                fields=["state"],
                name="package_unreleased",
                condition=models.Q(state__in=["building", "ready"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} package of request {self.request_id}"

    @property
    def extension(self) -> str:
        return self.format

    @property
    def content_type(self) -> str:
        return {
            self.Format.ZIP: "application/zip",
            self.Format.JSON: "application/json",
            self.Format.CSV: "text/csv; charset=utf-8",
        }[self.format]

    def download_name(self, reference: str) -> str:
        """The file name the person gets: set by the server, never from input."""
        return f"{reference}-{self.kind}.{self.extension}"


class OrganisationSettings(models.Model):
    """Settings of the request workflow per organisation (edited in the Django admin).

    Kept in `requests_app`: the record store (`retention`) knows nothing of requests.
    An organisation without a row uses the defaults.
    """

    organisation = models.OneToOneField(
        "retention.Organisation",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="request_settings",
    )
    auto_release_packages = models.BooleanField(
        default=False,
        help_text=_(
            "Release access and portability packages to the person as soon as they are "
            "built, without staff review."
        ),
    )

    class Meta:
        verbose_name = _("organisation settings")
        verbose_name_plural = _("organisation settings")

    def __str__(self) -> str:
        return f"settings of organisation {self.organisation_id}"
