"""The policy of an organisation: purposes, data categories, recipients, retention rules.

Loaded from the policy files in `retention/policies/` (`load_policies`).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


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
