"""The record-store API for an organisation's own systems.

Authenticated with an organisation API token (`Authorization: Bearer ...`,
created with `python manage.py create_api_token SLUG NAME`); everything it
reads or writes belongs to that token's organisation.

- `POST /api/v1/store/subjects`: upsert subjects with their identifiers,
  records and disclosures (the `import_records` line format, without
  `organisation`; one object or a list of up to 500).
- `GET /api/v1/store/processing-check?subject=EXTERNAL_ID&purpose=KEY`:
  "may I process this subject for this purpose?"
- `GET /api/v1/store/marketing-audience?purpose=KEY`: the subjects that may
  receive marketing for the purpose, never anyone on the suppression list.
"""

from __future__ import annotations

import json

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from retention.models import DataSubject, OrganisationApiToken, Purpose, Record
from retention.services.api_tokens import api_token_authenticate
from retention.services.audience import NotDirectMarketing, marketing_audience
from retention.services.record_import import MAX_EXTERNAL_ID, ImportResult, records_import
from retention.services.rights import processing_check

MAX_SUBJECTS_PER_CALL = 500


class OrganisationTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Malformed Authorization header.")
        token = api_token_authenticate(token=header[1])
        if token is None:
            raise AuthenticationFailed("Invalid or revoked token.")
        return (None, token)

    def authenticate_header(self, request):
        return "Bearer"


class OrganisationTokenScheme(OpenApiAuthenticationExtension):
    target_class = "retention.api.OrganisationTokenAuthentication"
    name = "organisationToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An organisation API token (manage.py create_api_token).",
        }


class HasOrganisationToken(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, OrganisationApiToken)


class OrganisationTokenThrottle(SimpleRateThrottle):
    rate = "600/min"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, OrganisationApiToken):
            return f"throttle:store:{request.auth.pk}"
        return self.get_ident(request)


class StoreErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class StoreErrorSerializer(serializers.Serializer):
    """The portal's one error shape (the API exception handler in settings writes it)."""

    error = StoreErrorBodySerializer()


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(StoreErrorSerializer, description=description)


ERRORS = {
    400: _error("Invalid input; `fields` says where."),
    401: _error("Missing, wrong or revoked token."),
    429: _error("More than 600 calls a minute with this token (see Retry-After)."),
}
UNKNOWN_PURPOSE = {404: _error("No such purpose in your organisation.")}


class StoreView(APIView):
    authentication_classes = [OrganisationTokenAuthentication]
    permission_classes = [HasOrganisationToken]
    throttle_classes = [OrganisationTokenThrottle]

    def organisation(self, request):
        return request.auth.organisation

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


class IdentifiersDoc(serializers.Serializer):
    email = serializers.ListField(child=serializers.CharField(), required=False)
    phone = serializers.ListField(child=serializers.CharField(), required=False)
    personnummer = serializers.ListField(child=serializers.CharField(), required=False)
    customer_number = serializers.ListField(child=serializers.CharField(), required=False)


class RecordDoc(serializers.Serializer):
    external_id = serializers.CharField(max_length=MAX_EXTERNAL_ID)
    category = serializers.CharField(help_text="A category key of your policy.")
    purpose = serializers.CharField(help_text="A purpose key of your policy.")
    data = serializers.DictField(help_text="The category's fields and their values.")
    source = serializers.ChoiceField(choices=Record.Source.choices)
    source_detail = serializers.CharField(max_length=200, required=False)
    collected_at = serializers.DateTimeField()
    last_contact_at = serializers.DateTimeField(required=False, allow_null=True)
    contract_ended_at = serializers.DateTimeField(required=False, allow_null=True)
    purpose_ended_at = serializers.DateTimeField(required=False, allow_null=True)
    settled_at = serializers.DateTimeField(required=False, allow_null=True)


class DisclosureDoc(serializers.Serializer):
    recipient = serializers.CharField(help_text="A recipient key of your policy.")
    record = serializers.CharField(required=False, help_text="external_id of a record above")
    category = serializers.CharField(required=False, help_text="or the category disclosed")
    disclosed_at = serializers.DateTimeField()
    external_id = serializers.CharField(max_length=MAX_EXTERNAL_ID, required=False)


class SubjectDoc(serializers.Serializer):
    """One subject as in a line of `import_records` (documentation: records_import validates)."""

    external_id = serializers.CharField(max_length=MAX_EXTERNAL_ID)
    identifiers = IdentifiersDoc(help_text="At least one identifier.")
    records = RecordDoc(many=True, required=False)
    disclosures = DisclosureDoc(many=True, required=False)
    organisation = serializers.SlugField(required=False, help_text="Yours, if given.")


UPSERT_RESULT = inline_serializer(
    "SubjectUpsertResult",
    {
        "subjects_created": serializers.IntegerField(),
        "subjects_updated": serializers.IntegerField(),
        "records_created": serializers.IntegerField(),
        "records_updated": serializers.IntegerField(),
        "disclosures_created": serializers.IntegerField(),
        "records_skipped_erased": serializers.IntegerField(
            help_text="Records of erased subjects collected before their erasure: not stored."
        ),
        "invalid": serializers.ListField(child=serializers.DictField()),
    },
)


def _answer(name: str, value) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=["200"])


UPSERT_SCHEMA = extend_schema(
    operation_id="store_subjects_upsert",
    request=PolymorphicProxySerializer(
        "SubjectUpsert",
        serializers=[SubjectDoc, SubjectDoc(many=True)],
        resource_type_field_name=None,
        many=False,
    ),
    examples=[
        OpenApiExample(
            "A customer known by e-mail and customer number",
            value={
                "external_id": "crm-1042",
                "identifiers": {
                    "email": ["anna.andersson@example.se"],
                    "customer_number": ["K-1042"],
                },
            },
            request_only=True,
        ),
        _answer(
            "Stored",
            {
                "subjects_created": 1,
                "subjects_updated": 0,
                "records_created": 0,
                "records_updated": 0,
                "disclosures_created": 0,
                "records_skipped_erased": 0,
                "invalid": [],
            },
        ),
    ],
    responses={
        200: OpenApiResponse(UPSERT_RESULT, description="Every subject was stored."),
        207: OpenApiResponse(
            UPSERT_RESULT, description="Some were stored; `invalid` lists the others."
        ),
        400: OpenApiResponse(
            PolymorphicProxySerializer(
                "SubjectUpsertRefused",
                serializers=[UPSERT_RESULT, StoreErrorSerializer],
                resource_type_field_name=None,
            ),
            description="Nothing was stored: every subject is invalid (the result "
            "lists why), or the body is not one object or a list of 1 to 500.",
        ),
        401: ERRORS[401],
        429: ERRORS[429],
    },
    summary="Upsert subjects with their identifiers, records and disclosures",
)


def _import_lines(items: list, slug: str) -> list[tuple[int, str]]:
    """The body's subjects as numbered `import_records` lines of the token's organisation."""
    if not items or len(items) > MAX_SUBJECTS_PER_CALL:
        raise ValidationError(f"Send between 1 and {MAX_SUBJECTS_PER_CALL} subjects.")
    lines = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValidationError({"invalid": [{"item": index, "reason": "not an object"}]})
        if item.get("organisation", slug) != slug:
            raise ValidationError(
                {"invalid": [{"item": index, "reason": "organisation is not yours"}]}
            )
        lines.append((index, json.dumps({**item, "organisation": slug})))
    return lines


def _upsert_answer(result: ImportResult, sent: int) -> Response:
    """200 when every subject was stored, 207 when some were, 400 when none was."""
    body = {
        "subjects_created": result.counts.subjects_created,
        "subjects_updated": result.counts.subjects_updated,
        "records_created": result.counts.records_created,
        "records_updated": result.counts.records_updated,
        "disclosures_created": result.counts.disclosures_created,
        "records_skipped_erased": result.counts.records_skipped_erased,
        "invalid": [{"item": n, "reason": reason} for n, reason in result.invalid],
    }
    code = status.HTTP_200_OK if result.ok else status.HTTP_400_BAD_REQUEST
    if result.invalid and len(result.invalid) < sent:
        code = status.HTTP_207_MULTI_STATUS
    return Response(body, status=code)


class SubjectUpsertView(StoreView):
    @UPSERT_SCHEMA
    def post(self, request):
        items = request.data if isinstance(request.data, list) else [request.data]
        lines = _import_lines(items, self.organisation(request).slug)
        return _upsert_answer(records_import(organisation_lines=lines), len(items))


def _purpose(request, organisation) -> Purpose:
    key = request.query_params.get("purpose", "")
    purpose = Purpose.objects.filter(organisation=organisation, key=key).first()
    if purpose is None:
        raise NotFound("Unknown purpose.")
    return purpose


class ProcessingCheckView(StoreView):
    @extend_schema(
        operation_id="store_processing_check",
        parameters=[
            OpenApiParameter("subject", str, required=True, description="your external id"),
            OpenApiParameter("purpose", str, required=True, description="purpose key"),
        ],
        responses={
            200: OpenApiResponse(
                inline_serializer(
                    "ProcessingAnswer",
                    {"allowed": serializers.BooleanField(), "reason": serializers.CharField()},
                ),
                description="Whether you may, and why: `allowed`, or why not (`no_data`, "
                "`marketing_objection`, `objection`, `consent_withdrawn`, `restricted`).",
            ),
            **ERRORS,
            **UNKNOWN_PURPOSE,
        },
        examples=[
            _answer("Allowed", {"allowed": True, "reason": "allowed"}),
            _answer("The person objected", {"allowed": False, "reason": "marketing_objection"}),
        ],
        summary="May this subject's data be processed for this purpose?",
    )
    def get(self, request):
        organisation = self.organisation(request)
        purpose = _purpose(request, organisation)
        subject = DataSubject.objects.filter(
            organisation=organisation, external_id=request.query_params.get("subject", "")
        ).first()
        answer = processing_check(organisation=organisation, subject=subject, purpose=purpose)
        return Response({"allowed": answer.allowed, "reason": answer.reason})


class AudiencePagination(CursorPagination):
    """A cursor over a large audience that changes while it is read: no subject is skipped
    or repeated. The envelope shares `next`, `previous` and `results` with the staff queue's
    page-number pages (which add `count`)."""

    page_size = 500
    ordering = "pk"

    def get_paginated_response_schema(self, schema):
        envelope = super().get_paginated_response_schema(schema)
        url = "https://dsr.example.se/api/v1/store/marketing-audience?purpose=newsletter&cursor="
        envelope["properties"]["next"]["example"] = f"{url}cD0xMDQy"
        envelope["properties"]["previous"]["example"] = None
        return envelope


class AudienceEntrySerializer(serializers.Serializer):
    subject = serializers.CharField(help_text="your external id")
    email = serializers.ListField(child=serializers.CharField())
    phone = serializers.ListField(child=serializers.CharField())


class MarketingAudienceView(StoreView):
    pagination_class = AudiencePagination

    @extend_schema(
        operation_id="store_marketing_audience",
        parameters=[OpenApiParameter("purpose", str, required=True, description="purpose key")],
        responses={
            200: OpenApiResponse(
                AudienceEntrySerializer(many=True),
                description="One page of the audience, 500 a page; follow `next` (a cursor) "
                "until it is null.",
            ),
            **ERRORS,
            **UNKNOWN_PURPOSE,
        },
        examples=[
            _answer(
                "A customer with an e-mail address",
                {"subject": "crm-1042", "email": ["anna.andersson@example.se"], "phone": []},
            )
        ],
        summary="Subjects who may receive marketing for a purpose (suppressed never included)",
    )
    def get(self, request):
        organisation = self.organisation(request)
        try:
            audience = marketing_audience(
                organisation=organisation, purpose=_purpose(request, organisation)
            )
        except NotDirectMarketing as error:
            raise ValidationError(str(error)) from error
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(audience, request, view=self)
        results = [
            {"subject": member.external_id, "email": member.email, "phone": member.phone}
            for member in page
        ]
        return paginator.get_paginated_response(results)
