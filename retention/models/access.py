"""Who may act on the record store, and what was done: staff memberships, API tokens,
the audit trail and its checks.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from retention.models.policy import Organisation


class StaffMembership(models.Model):
    """A staff user's role in one organisation (the staff-queue issue uses it)."""

    class Role(models.TextChoices):
        VIEWER = "viewer", _("Viewer")
        HANDLER = "handler", _("Handler")
        APPROVER = "approver", _("Approver")
        ADMIN = "admin", _("Admin")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} in {self.organisation_id}"


class OrganisationApiToken(models.Model):
    """A token for the organisation's own systems to use the record-store API.

    Only the SHA-256 of the token is stored; the token is shown once.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.organisation_id})"


class AuditEntry(models.Model):
    """One append-only entry of the audit trail, chained by hashes.

    Entries never hold a data subject's personal data, only ids, counts and
    action names, so they never need redaction. The database refuses UPDATE
    and DELETE on this table (a trigger, see migration 0002), and `delete()`
    raises. Write entries with `retention.audit.log_action`.
    """

    class ActorKind(models.TextChoices):
        STAFF = "staff", _("staff")
        SUBJECT = "subject", _("data subject")
        SYSTEM = "system", _("system")

    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_id = models.BigIntegerField(null=True, blank=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=40, blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "id"], name="audit_object"),
            models.Index(fields=["organisation", "id"], name="audit_organisation"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.id} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only.")


class AuditCheck(models.Model):
    """One check of the whole audit chain (`retention.audit.audit_check_run`, daily from beat).

    The staff pages show the latest; they never walk the chain themselves. `head_id`
    and `head_hash` are the chain's head at the time, also exported outside the
    database (`AUDIT_HEADS_FILE`), so a rewritten trail can be told from the real one.
    """

    checked_at = models.DateTimeField()
    ok = models.BooleanField()
    entries_checked = models.PositiveBigIntegerField(default=0)
    first_broken_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    head_id = models.BigIntegerField(null=True, blank=True)
    head_hash = models.CharField(max_length=64, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["-checked_at"], name="audit_check_latest")]

    def __str__(self) -> str:
        return f"audit check {self.pk} ({'ok' if self.ok else 'broken'})"
