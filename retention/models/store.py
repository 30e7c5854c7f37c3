"""The personal data itself: data subjects, their identifiers, records, disclosures,
and the marks that stop processing (suppressions, processing stops).

They come from the organisation's systems (`import_records`, the record-store API) or
from `seed_demo`.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from retention.keyring import STORED_MAX_LENGTH
from retention.models.policy import DataCategory, Organisation, Purpose, Recipient, RetentionRule


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
