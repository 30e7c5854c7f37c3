"""Work on the record store: legal holds, sweep runs, jobs and erasure tombstones."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _

from retention.keyring import STORED_MAX_LENGTH
from retention.models.policy import DataCategory, Organisation
from retention.models.store import DataSubject


class LegalHold(models.Model):
    """Records under a hold are never swept or erased.

    Scope: a whole organisation (no subject, no category), one subject, one
    category, or one subject's records in one category.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="holds")
    subject = models.ForeignKey(
        DataSubject, on_delete=models.CASCADE, null=True, blank=True, related_name="holds"
    )
    category = models.ForeignKey(
        DataCategory, on_delete=models.CASCADE, null=True, blank=True, related_name="holds"
    )
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["organisation"],
                name="hold_active",
                condition=models.Q(lifted_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} in {self.organisation_id}"


class SweepRun(models.Model):
    """One retention sweep of one organisation, with its counts per rule."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        COMPLETED = "completed", _("completed")
        FAILED = "failed", _("failed")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("schedule")
        STAFF = "staff", _("staff")
        COMMAND = "command", _("command")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="sweeps")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    cutoff = models.DateTimeField(help_text="records that expired at or before this are swept")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expected = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    chunks_pending = models.PositiveIntegerField(default=0)
    # Moved on by every batch; a running sweep whose heartbeat is older than
    # SWEEP_LEASE_SECONDS lost a chunk (worker killed, Redis emptied, database restarted):
    # `sweeps_resume` enqueues its unfinished chunks again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # {rule_key: {"deleted": n, "anonymised": n, "restricted": n, "reduced": n}}, and
    # "_subjects_deleted": subjects deleted with their last record
    counts = models.JSONField(default=dict)
    # Policy errors met: [{"code": "no_keep_until", "rule": key, "overriding_rule": key,
    # "records": n, "record_ids": [...]}] (records the sweep could not reduce: no end date)
    errors = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"sweep {self.pk} of {self.organisation_id}"

    @property
    def rule_counts(self) -> dict:
        """The counts per rule, without the bookkeeping of chunks."""
        return {k: v for k, v in self.counts.items() if not k.startswith("_")}

    @property
    def subjects_deleted(self) -> int:
        return self.counts.get("_subjects_deleted", 0)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RecordStoreJob(models.Model):
    """Work on the record store (erasure, restriction, ...), as a row with its state.

    Celery tasks carry only the job's id. A worker claims the job with a lease
    (`lease_expires_at`), renews it after every batch, and records its
    progress in the same transaction as the batch; a job whose worker died is
    reclaimed when its lease runs out (`jobs_reclaim`, every minute).
    """

    class Kind(models.TextChoices):
        ERASURE = "erasure", _("erasure")

    class State(models.TextChoices):
        PLANNED = "planned", _("planned, waiting for approval")
        APPROVED = "approved", _("approved")
        RUNNING = "running", _("running")
        COMPLETED = "completed", _("completed")
        FAILED = "failed", _("failed")

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    # What the job is for, e.g. a request reference (no personal data).
    reference = models.CharField(max_length=40, blank=True)
    subject_ids = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    plan = models.JSONField(default=list)
    progress = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["lease_expires_at"],
                name="job_running_lease",
                condition=models.Q(state__in=["approved", "running"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk}"


class ErasureTombstone(models.Model):
    """What remains of an erased subject, so a later import cannot bring the data back.

    Written when an erasure job completes, one per erased subject: keyed hashes
    (HMAC-SHA256 under a key of the `tombstone` keyring, ``kid$hex``) of the
    identifiers the importer matches on (the external id, e-mail addresses,
    personnummer, customer numbers; normalised as on import), the time of the
    erasure and the job. No identifier is kept in clear. `category_ids` names
    the categories a partial erasure covered (empty: all). The importer skips a
    matching record collected at or before `erased_at`
    (`retention.services.tombstones`); a tombstone never touches stored records.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="erasure_tombstones"
    )
    identifier_hashes = ArrayField(models.CharField(max_length=STORED_MAX_LENGTH))
    category_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    erased_at = models.DateTimeField()
    job = models.ForeignKey(
        RecordStoreJob, on_delete=models.PROTECT, related_name="erasure_tombstones"
    )
    # The request's reference (no personal data).
    reference = models.CharField(max_length=40, blank=True)

    class Meta:
        indexes = [GinIndex(fields=["identifier_hashes"], name="tombstone_hashes")]

    def __str__(self) -> str:
        return f"erasure tombstone {self.pk}"
