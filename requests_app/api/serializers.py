"""The JSON shapes of the API.

`RequestCreateSerializer` checks the structure (types, known fields) and
documents the body; the rules themselves are the request forms'
(`requests_app.public.forms`), which the view fills from the JSON, so the browser and
the API validate identically, with the same translated messages.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from requests_app import choices
from requests_app.models import DataPackage, Language, RequestEvent, RequestKind, RequestStatus
from requests_app.public.forms import CORRECTION_MAX, MAX_CORRECTIONS, TEXT_MAX
from retention.identifiers import normalise_email

# The type-specific fields each type accepts (all others are refused).
TYPE_FIELDS = {
    RequestKind.ACCESS: {"categories", "format"},
    RequestKind.RECTIFICATION: {"corrections", "statement"},
    RequestKind.ERASURE: {"scope", "categories", "ground"},
    RequestKind.RESTRICTION: {"ground", "scope", "categories"},
    RequestKind.OBJECTION: {"direct_marketing", "purposes", "grounds"},
    RequestKind.PORTABILITY: {"format"},
    RequestKind.CONSENT_WITHDRAWAL: {"purposes"},
}
COMMON_FIELDS = {
    "organisation",
    "type",
    "email",
    "full_name",
    "language",
    "phone",
    "personnummer",
    "customer_number",
    "details",
}


class CorrectionSerializer(serializers.Serializer):
    wrong = serializers.CharField(
        max_length=CORRECTION_MAX, allow_blank=True, help_text="What is wrong."
    )
    correct = serializers.CharField(
        max_length=CORRECTION_MAX, allow_blank=True, help_text="What it should say."
    )


class RequestCreateSerializer(serializers.Serializer):
    organisation = serializers.SlugField(help_text="The organisation's slug, e.g. `framsteget`.")
    type = serializers.ChoiceField(choices=RequestKind.choices)
    email = serializers.CharField(max_length=254)
    full_name = serializers.CharField(max_length=200)
    language = serializers.ChoiceField(choices=Language.choices)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
    personnummer = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="Personnummer or samordningsnummer: 10 or 12 digits, with or without -/+.",
    )
    customer_number = serializers.CharField(required=False, allow_blank=True, max_length=64)
    details = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TEXT_MAX,
        help_text="Anything else the organisation should know (free text).",
    )
    categories = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="access, erasure, restriction: category keys of the organisation's policy.",
    )
    format = serializers.CharField(
        required=False,
        help_text="access: "
        + ", ".join(k for k, _ in choices.ACCESS_FORMATS)
        + "; portability: "
        + ", ".join(k for k, _ in choices.PORTABILITY_FORMATS)
        + ".",
    )
    corrections = CorrectionSerializer(
        many=True,
        required=False,
        help_text=f"rectification: 1 to {MAX_CORRECTIONS} rows of what is wrong / "
        "what it should say.",
    )
    statement = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TEXT_MAX,
        help_text="rectification: a supplementary statement (Art. 16).",
    )
    scope = serializers.CharField(
        required=False, help_text="erasure, restriction: `all` or `categories`."
    )
    ground = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="erasure: Art. 17(1) `a`-`f` (optional); restriction: Art. 18(1) `a`-`d`.",
    )
    direct_marketing = serializers.BooleanField(
        required=False, help_text="objection: object to direct marketing (always honoured)."
    )
    purposes = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="objection: legitimate-interest purpose keys; "
        "consent_withdrawal: consent-based purpose keys, or `all` (at least one; an "
        "organisation with no consent-based purpose refuses the withdrawal with 400).",
    )
    grounds = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=TEXT_MAX,
        help_text="objection: your grounds, relating to your particular situation.",
    )

    def validate(self, attrs):
        kind = attrs.get("type")
        allowed = COMMON_FIELDS | TYPE_FIELDS.get(kind, set())
        unknown = sorted(set(self.initial_data) - allowed)
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [_("This field does not apply to this type of request.")]
                    for name in unknown
                }
            )
        return attrs

    def form_data(self) -> dict:
        """The validated JSON as the data of the matching request form."""
        data = dict(self.validated_data)
        data.pop("organisation")
        data.pop("type")
        corrections = data.pop("corrections", None)
        if corrections is not None:
            data["corrections-TOTAL_FORMS"] = str(len(corrections))
            data["corrections-INITIAL_FORMS"] = "0"
            for index, row in enumerate(corrections):
                data[f"corrections-{index}-wrong"] = row.get("wrong", "")
                data[f"corrections-{index}-correct"] = row.get("correct", "")
        elif self.validated_data.get("type") == RequestKind.RECTIFICATION:
            data["corrections-TOTAL_FORMS"] = "0"
            data["corrections-INITIAL_FORMS"] = "0"
        return data


class RequestCreatedSerializer(serializers.Serializer):
    reference = serializers.CharField()
    type = serializers.ChoiceField(choices=RequestKind.choices, source="kind")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    received_at = serializers.DateTimeField()
    due_date = serializers.DateField()


class VerifySerializer(serializers.Serializer):
    code = serializers.RegexField(
        r"^\s*\d{6}\s*$",
        error_messages={"invalid": _("The code has 6 digits.")},
        help_text="The 6-digit code from the e-mail.",
    )


class ResendSerializer(serializers.Serializer):
    email = serializers.CharField(
        max_length=254,
        help_text="The e-mail address given in the request. The answer is the same whether "
        "it matches or not; only a match sends a code.",
    )

    def validate_email(self, value: str) -> str:
        try:
            return normalise_email(value)
        except DjangoValidationError:
            raise serializers.ValidationError(
                _("Enter a valid e-mail address, like name@example.com.")
            ) from None


class TokenSerializer(serializers.Serializer):
    reference = serializers.CharField()
    token = serializers.CharField(help_text="Send as `Authorization: Bearer <token>`.")
    token_type = serializers.CharField(default="Bearer")
    expires_at = serializers.DateTimeField()


class PauseSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)


class EventSerializer(serializers.Serializer):
    event = serializers.ChoiceField(choices=RequestEvent.Kind.choices, source="kind")
    description = serializers.CharField(source="get_kind_display")
    at = serializers.DateTimeField(source="created_at")


class FileSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The file name the download gets.")
    content_type = serializers.CharField()
    size = serializers.IntegerField(help_text="Bytes.")
    sha256 = serializers.CharField(help_text="SHA-256 of the file, hex.")
    expires_at = serializers.DateTimeField(help_text="The file is deleted after this.")
    url = serializers.CharField(
        help_text="GET it with a bearer token from a verify call made at most "
        "PACKAGE_DOWNLOAD_PROOF_MINUTES (10) minutes earlier."
    )


class RequestStatusSerializer(serializers.Serializer):
    reference = serializers.CharField()
    organisation = serializers.SlugField(source="organisation.slug")
    type = serializers.ChoiceField(choices=RequestKind.choices, source="kind")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    status_display = serializers.CharField(source="get_status_display")
    received_at = serializers.DateTimeField()
    due_date = serializers.DateField()
    original_due_date = serializers.DateField()
    extended_due_date = serializers.DateField(allow_null=True)
    extension_reason = serializers.CharField(allow_blank=True)
    linked_to = serializers.SerializerMethodField()
    pauses = PauseSerializer(many=True)
    history = EventSerializer(many=True, source="events.all")
    downloads = serializers.SerializerMethodField()
    files = serializers.SerializerMethodField()

    def get_linked_to(self, obj) -> str | None:
        return obj.linked_to.reference if obj.linked_to_id else None

    def _files(self, obj) -> list[dict]:
        """The answer's files the person can download now (an access or portability package)."""
        from requests_app.services.emails import public_url
        from requests_app.services.packages import package_available

        cached = getattr(obj, "_api_files", None)
        if cached is None:
            package = DataPackage.objects.filter(request=obj).first()
            cached = []
            if package_available(package):
                path = reverse(
                    "requests_api:file",
                    kwargs={"reference": obj.reference, "package_id": package.public_id},
                )
                cached = [
                    {
                        "name": package.download_name(obj.reference),
                        "content_type": package.content_type,
                        "size": package.size,
                        "sha256": package.sha256,
                        "expires_at": package.expires_at,
                        "url": public_url(path),
                    }
                ]
            obj._api_files = cached
        return cached

    def get_downloads(self, obj) -> list[str]:
        """Links to the answer's files (the `url` of each of `files`)."""
        return [f["url"] for f in self._files(obj)]

    @extend_schema_field(FileSerializer(many=True))
    def get_files(self, obj):
        return FileSerializer(self._files(obj), many=True).data


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()
