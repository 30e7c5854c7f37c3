"""The record store: each organisation's personal data and the rules it lives by.

Organisations (tenants) and their processing purposes, data categories,
recipients and retention rules come from the policy files in
`retention/policies/` (`load_policies`). Data subjects, their identifiers,
records and disclosures come from the organisation's systems
(`import_records`, the record-store API) or from `seed_demo`.

Every foreign key is indexed (Django indexes ForeignKey columns), so deletes
that cascade never scan a table.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _

from retention.keyring import STORED_MAX_LENGTH


class Organisation(models.Model):
    slug = models.SlugField(unique=True, max_length=50)
    legal_name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=200)
    org_number = models.CharField(max_length=20, blank=True)
    contact_email = models.EmailField()
    postal_address = models.CharField(max_length=300, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    dpo_name = models.CharField(max_length=200, blank=True)
    dpo_email = models.EmailField(blank=True)
    supervisory_authority_name = models.CharField(
        max_length=200, default="Integritetsskyddsmyndigheten (IMY)"
    )
    supervisory_authority_url = models.URLField(default="https://www.imy.se")
    supervisory_authority_email = models.EmailField(default="imy@imy.se")
    privacy_policy_url = models.URLField(blank=True)
    default_language = models.CharField(
        max_length=2, choices=[("sv", "Svenska"), ("en", "English")], default="sv"
    )
    time_zone = models.CharField(max_length=64, default="Europe/Stockholm")
    # The last day of the financial year (räkenskapsår), "MM-DD": bookkeeping rules count
    # from the end of the calendar year in which the financial year ended (Bokföringslagen
    # 7 kap. 2 §). 12-31 when the policy states none.
    financial_year_end = models.CharField(max_length=5, default="12-31")
    # What `check_policies` found in the policy file that the organisation should fix (each
    # {"code", "entry", "line", "params"}); errors stop a file from loading, so these are the
    # warnings ("policy gaps"), shown on the staff retention page.
    policy_gaps = models.JSONField(default=list, blank=True)
    # The policy file as loaded: kept whole so pages and reports can quote it.
    policy = models.JSONField(default=dict)
    policy_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.display_name


class LegalBasis(models.TextChoices):
    """Art. 6(1) GDPR."""

    CONSENT = "consent", _("Consent (Art. 6(1)(a))")
    CONTRACT = "contract", _("Contract (Art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c))")
    VITAL_INTERESTS = "vital_interests", _("Vital interests (Art. 6(1)(d))")
    PUBLIC_TASK = "public_task", _("Public task (Art. 6(1)(e))")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest (Art. 6(1)(f))")


class DataCategory(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="categories"
    )
    key = models.SlugField(max_length=60)
    name_sv = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    special = models.BooleanField(default=False, help_text="Art. 9 special category")
    fields = models.JSONField(default=list)
    quote = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="category_key_unique")
        ]
        ordering = ["organisation", "key"]
        verbose_name_plural = "data categories"

    def __str__(self) -> str:
        return self.key


class Recipient(models.Model):
    class Kind(models.TextChoices):
        PROCESSOR = "processor", _("Processor")
        AUTHORITY = "authority", _("Authority")
        CONTROLLER = "controller", _("Independent controller")
        OTHER = "other", _("Other")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="recipients"
    )
    key = models.SlugField(max_length=60)
    name_sv = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    contact_email = models.EmailField()
    country = models.CharField(max_length=2, default="SE")
    quote = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="recipient_key_unique")
        ]
        ordering = ["organisation", "key"]

    def __str__(self) -> str:
        return self.key


class RetentionRule(models.Model):
    """A period, the event it starts from, and what happens at expiry."""

    class Unit(models.TextChoices):
        DAYS = "days"
        WEEKS = "weeks"
        MONTHS = "months"
        YEARS = "years"

    class StartEvent(models.TextChoices):
        COLLECTED = "collected", _("collection")
        LAST_CONTACT = "last_contact", _("last contact")
        CONTRACT_END = "contract_end", _("end of the contract or subscription")
        PURPOSE_END = "purpose_end", _("end of the purpose")
        SETTLED = "settled", _("payment of the invoice")
        RELATIONSHIP = "relationship", _("while the relationship lasts")

    class Action(models.TextChoices):
        DELETE = "delete", _("delete")
        ANONYMISE = "anonymise", _("anonymise")
        RESTRICT = "restrict", _("restrict")
        KEEP = "keep", _("keep")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="retention_rules"
    )
    key = models.SlugField(max_length=60)
    name_sv = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    period_value = models.PositiveIntegerField(null=True, blank=True)
    period_unit = models.CharField(max_length=10, choices=Unit.choices, blank=True)
    start_event = models.CharField(max_length=20, choices=StartEvent.choices)
    end_of_calendar_year = models.BooleanField(default=False)
    # The period counts from the end of the calendar year in which the financial year of the
    # event ended (Bokföringslagen 7 kap. 2 §; `Organisation.financial_year_end`).
    end_of_financial_year = models.BooleanField(default=False)
    action = models.CharField(max_length=10, choices=Action.choices)
    anonymise_fields = models.JSONField(default=list, blank=True)
    # A rule with `fields` covers only those data keys, outlasting `overrides`.
    fields = models.JSONField(default=list, blank=True)
    overrides = models.ManyToManyField("self", symmetrical=False, blank=True)
    applies_to_categories = models.ManyToManyField(
        DataCategory, blank=True, related_name="category_rules"
    )
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices, blank=True)
    quote = models.TextField()
    reading = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="rule_key_unique")
        ]
        ordering = ["organisation", "key"]

    def __str__(self) -> str:
        return self.key


class Purpose(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="purposes"
    )
    key = models.SlugField(max_length=60)
    name_sv = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    description_sv = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    legal_basis = models.CharField(max_length=20, choices=LegalBasis.choices)
    direct_marketing = models.BooleanField(default=False)
    categories = models.ManyToManyField(DataCategory, related_name="purposes")
    recipients = models.ManyToManyField(Recipient, blank=True, related_name="purposes")
    retention_rule = models.ForeignKey(
        RetentionRule, on_delete=models.PROTECT, related_name="purposes"
    )
    quote = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="purpose_key_unique")
        ]
        ordering = ["organisation", "key"]

    def __str__(self) -> str:
        return self.key


class DataSubject(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="subjects"
    )
    # The organisation's own id for the person (stable across imports).
    external_id = models.CharField(max_length=100)
    supplementary_statement = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"], name="subject_external_id_unique"
            )
        ]

    def __str__(self) -> str:
        return f"subject {self.pk}"


class SubjectIdentifier(models.Model):
    """A normalised identifier that finds a subject: lookups are index scans."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("e-mail address")
        PHONE = "phone", _("phone number")
        PERSONNUMMER = "personnummer", _("personnummer or samordningsnummer")
        CUSTOMER_NUMBER = "customer_number", _("customer number")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)
    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=254)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "kind", "value"], name="subject_identifier_unique"
            )
        ]
        indexes = [models.Index(fields=["organisation", "kind", "value"], name="identifier_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} of subject {self.subject_id}"


class Record(models.Model):
    """One piece of personal data about a subject, in one category, for one purpose."""

    class Source(models.TextChoices):
        PROVIDED = "provided", _("provided by you")
        OBSERVED = "observed", _("observed from your use of the service")
        THIRD_PARTY = "third_party", _("from a third party")
        DERIVED = "derived", _("derived by us")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)
    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="records")
    category = models.ForeignKey(DataCategory, on_delete=models.PROTECT)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT)
    # The rule that governs this record (the category's rule, else the purpose's).
    rule = models.ForeignKey(RetentionRule, on_delete=models.PROTECT, null=True, blank=True)
    external_id = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    source = models.CharField(max_length=20, choices=Source.choices)
    source_detail = models.CharField(max_length=200, blank=True)
    collected_at = models.DateTimeField()
    last_contact_at = models.DateTimeField(null=True, blank=True)
    contract_ended_at = models.DateTimeField(null=True, blank=True)
    purpose_ended_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    # Computed from the rule and the events; null = does not expire.
    expires_at = models.DateTimeField(null=True, blank=True)
    restricted_at = models.DateTimeField(null=True, blank=True)
    restriction_ground = models.CharField(max_length=40, blank=True)
    # The references of the requests whose Art. 18 restriction covers this record; lifting
    # one request's restriction removes its reference and ends the restriction only when
    # no other request's remains (`retention.services.rights.restriction_lift`).
    restriction_references = ArrayField(
        models.CharField(max_length=40), default=list, blank=True, db_default=[]
    )
    anonymised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"], name="record_external_id_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["organisation", "expires_at", "id"],
                name="record_expiry",
                condition=models.Q(expires_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"record {self.pk}"


class Disclosure(models.Model):
    """Data that went to a recipient: the basis of Art. 19 notifications."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE)
    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="disclosures")
    subject = models.ForeignKey(DataSubject, on_delete=models.CASCADE, related_name="disclosures")
    record = models.ForeignKey(
        Record, on_delete=models.SET_NULL, null=True, blank=True, related_name="disclosures"
    )
    category = models.ForeignKey(DataCategory, on_delete=models.PROTECT, null=True, blank=True)
    disclosed_at = models.DateTimeField()
    # The organisation's id of the disclosure (or one derived from its facts, see
    # `retention.services.records.disclosure_external_id`): an import upserts on it.
    external_id = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-disclosed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "external_id"],
                condition=~models.Q(external_id=""),
                name="disclosure_external_id_unique",
            )
        ]

    def __str__(self) -> str:
        return f"disclosure {self.pk} to {self.recipient_id}"


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


class Suppression(models.Model):
    """A person who must not receive direct marketing, kept as a keyed hash.

    The hash (HMAC-SHA256 of the normalised e-mail or phone number under a
    key of the `suppression` keyring, stored as ``kid$hex``: `retention.keyring`)
    survives the erasure of the person's data and cannot be turned back into
    the address.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", _("e-mail address")
        PHONE = "phone", _("phone number")

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="suppressions"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    value_hash = models.CharField(max_length=STORED_MAX_LENGTH)
    reason = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "kind", "value_hash"], name="suppression_unique"
            )
        ]

    def __str__(self) -> str:
        return f"suppression {self.pk}"


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


class ProcessingStop(models.Model):
    """Processing of one subject's data for one purpose has stopped.

    Written when a person objects (Art. 21) without compelling grounds
    overriding, or withdraws consent (Art. 7(3)); the processing check
    answers no from then on, even for data imported later.
    """

    class Reason(models.TextChoices):
        OBJECTION = "objection", _("objection (Art. 21)")
        CONSENT_WITHDRAWN = "consent_withdrawn", _("consent withdrawn (Art. 7(3))")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    subject = models.ForeignKey(
        DataSubject, on_delete=models.CASCADE, related_name="processing_stops"
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    reference = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "purpose"], name="processing_stop_unique")
        ]

    def __str__(self) -> str:
        return f"stop {self.subject_id}/{self.purpose_id}"


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
