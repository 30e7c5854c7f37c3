"""API views: thin, they check the input, apply rate limits and call the services."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app.api import examples
from requests_app.api.authentication import HasRequestToken, RequestTokenAuthentication
from requests_app.api.errors import ApiError
from requests_app.api.serializers import (
    ErrorSerializer,
    RequestCreatedSerializer,
    RequestCreateSerializer,
    RequestStatusSerializer,
    ResendSerializer,
    TokenSerializer,
    VerifySerializer,
)
from requests_app.http import package_response
from requests_app.models import DataPackage, Language, StatusToken, SubjectRequest
from requests_app.public.forms import FORMS, RectificationForm
from requests_app.ratelimit import client_ip, rate_limit_check
from requests_app.references import reference_normalise
from requests_app.services.packages import (
    PackageUnavailable,
    download_proof_fresh,
    package_available,
    package_download,
)
from requests_app.services.requests import request_submit
from requests_app.services.tokens import status_token_issue
from requests_app.services.verification import (
    CodeResult,
    VerificationFailed,
    verification_check,
    verification_request_new,
)
from retention.models import Organisation

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` says where."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, wrong or expired token."),
    404: OpenApiResponse(ErrorSerializer, description="Unknown organisation or request."),
    429: OpenApiResponse(
        ErrorSerializer,
        description="Rate-limited (see the Retry-After header) or the code is locked.",
    ),
}


UNAVAILABLE = {
    503: OpenApiResponse(
        ErrorSerializer,
        description="Codes cannot be checked or sent right now; try again after Retry-After.",
    )
}


class NoStoreMixin:
    """Answers carry personal data or secrets: never cached."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


def _get_request(reference: str) -> SubjectRequest:
    return get_object_or_404(
        SubjectRequest.objects.select_related("organisation"),
        reference=reference_normalise(reference),
    )


class RequestCreateView(NoStoreMixin, APIView):
    @extend_schema(
        operation_id="requests_create",
        summary="File a request",
        description="Stores the request (status `unverified`) and e-mails a 6-digit code "
        "to the address. The type-specific fields depend on `type`; other fields are refused.",
        request=RequestCreateSerializer,
        responses={
            201: OpenApiResponse(
                RequestCreatedSerializer,
                description="Filed: the request waits for its e-mail verification.",
            ),
            **ERRORS,
        },
        examples=examples.CREATE,
    )
    def post(self, request):
        language = request.data.get("language") if isinstance(request.data, dict) else None
        if language not in Language.values:
            language = translation.get_language()
        with translation.override(language):
            return self._create(request)

    def _create(self, request):
        ip = client_ip(request)
        rate_limit_check(action="submit", ip=ip)
        if not isinstance(request.data, dict):
            raise ApiError(status_code=400, code="invalid", message=_("Send a JSON object."))
        serializer = RequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organisation = get_object_or_404(
            Organisation, slug=serializer.validated_data["organisation"]
        )
        form_class = FORMS[serializer.validated_data["type"]]
        form = form_class(data=serializer.form_data(), organisation=organisation)
        if not form.is_valid():
            fields = {name: list(messages) for name, messages in form.errors.items()}
            if isinstance(form, RectificationForm):
                fields.update(form.correction_errors())
            if "__all__" in fields:
                fields["non_field_errors"] = fields.pop("__all__")
            raise ApiError(
                status_code=400,
                code="invalid",
                message=_("The request has errors; see the fields."),
                fields=fields,
            )
        rate_limit_check(action="submit", email=form.cleaned_data["email"])
        subject_request = request_submit(**form.submission())
        return Response(
            RequestCreatedSerializer(subject_request).data, status=status.HTTP_201_CREATED
        )


class RequestTokenMixin:
    """The calls that read a request: the bearer token from the verify call, for the
    request in the URL (`request.auth` is its `StatusToken` row)."""

    authentication_classes = [RequestTokenAuthentication]
    permission_classes = [HasRequestToken]


class RequestDetailView(NoStoreMixin, RequestTokenMixin, APIView):
    @extend_schema(
        operation_id="requests_retrieve",
        summary="Follow a request",
        description="The status, due date and the history the person can see. Needs the "
        "bearer token from the verify call: `Authorization: Bearer <token>`.",
        responses={
            200: OpenApiResponse(
                RequestStatusSerializer, description="The request as the person sees it."
            ),
            **ERRORS,
        },
        examples=examples.RETRIEVE,
    )
    def get(self, request, reference: str):
        subject_request = request.auth.request
        with translation.override(subject_request.language):
            data = RequestStatusSerializer(subject_request).data
        return Response(data)


class RequestVerifyView(NoStoreMixin, APIView):
    @extend_schema(
        operation_id="requests_verify",
        summary="Verify with the e-mailed code",
        description="Answers a short-lived bearer token for this request. A wrong code "
        "counts as one of 5 tries; after the fifth the code is void (429) and a new one "
        "must be requested with `resend`.",
        request=VerifySerializer,
        responses={
            200: OpenApiResponse(
                TokenSerializer, description="Verified: a bearer token that opens this request."
            ),
            **ERRORS,
            **UNAVAILABLE,
        },
        examples=examples.VERIFY,
    )
    def post(self, request, reference: str):
        subject_request = _get_request(reference)
        rate_limit_check(action="verify", ip=client_ip(request), email=subject_request.email)
        serializer = VerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            subject_request = verification_check(
                request=subject_request, code=serializer.validated_data["code"].strip()
            )
        except VerificationFailed as exc:
            raise _verification_error(exc) from None
        token, row = status_token_issue(request=subject_request, kind=StatusToken.Kind.API)
        return Response(
            TokenSerializer(
                {
                    "reference": subject_request.reference,
                    "token": token,
                    "token_type": "Bearer",
                    "expires_at": row.expires_at,
                }
            ).data
        )


def _verification_error(exc: VerificationFailed) -> ApiError:
    if exc.result is CodeResult.WRONG:
        return ApiError(
            status_code=400,
            code="wrong_code",
            message=_("The code is not right. Tries left: %(left)d.") % {"left": exc.attempts_left},
            fields={"code": [str(_("The code is not right."))]},
        )
    if exc.result is CodeResult.LOCKED:
        return ApiError(
            status_code=429,
            code="code_locked",
            message=_("Too many wrong tries: this code no longer works. Ask for a new code."),
        )
    return ApiError(
        status_code=400,
        code="code_expired",
        message=_("The code has expired or was already used. Ask for a new code."),
        fields={"code": [str(_("The code has expired or was already used."))]},
    )


class RequestResendView(NoStoreMixin, APIView):
    @extend_schema(
        operation_id="requests_resend",
        summary="Send a new code",
        description="E-mails a new code to the request's address (the old code stops "
        "working), if `email` is that address. The answer is 202 either way, so it tells "
        "nobody whether the address matched. Also used to prove the address again to "
        "follow a verified request.",
        request=ResendSerializer,
        responses={
            202: OpenApiResponse(description="If the address matched, a new code is on its way."),
            **ERRORS,
            **UNAVAILABLE,
        },
        examples=examples.RESEND,
    )
    def post(self, request, reference: str):
        subject_request = _get_request(reference)
        serializer = ResendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        rate_limit_check(action="resend", ip=client_ip(request), email=email)
        if hmac.compare_digest(email.encode(), subject_request.email.encode()):
            verification_request_new(request=subject_request)
        return Response(status=status.HTTP_202_ACCEPTED)


class RequestFileView(NoStoreMixin, RequestTokenMixin, APIView):
    @extend_schema(
        operation_id="requests_file",
        summary="Download the answer's file",
        description="The access or portability package listed in `files` of the request. "
        "Needs a bearer token from a verify call made at most "
        f"{settings.PACKAGE_DOWNLOAD_PROOF_MINUTES} minutes earlier (else 403 "
        "`fresh_proof_required`: `resend`, then `verify` again). Answers 410 once the "
        "download has expired. Every download is audited.",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file (ZIP, JSON or CSV: its `content_type` in `files`); "
                "its name is in Content-Disposition.",
            ),
            401: ERRORS[401],
            403: OpenApiResponse(
                ErrorSerializer, description="The token is older than the fresh-proof window."
            ),
            404: ERRORS[404],
            410: OpenApiResponse(ErrorSerializer, description="The download has expired."),
        },
        examples=examples.FILE,
    )
    def get(self, request, reference: str, package_id):
        row = request.auth
        subject_request = row.request
        with translation.override(subject_request.language):
            package = (
                DataPackage.objects.select_related("request__organisation")
                .filter(request=subject_request, public_id=package_id)
                .filter(state__in=[DataPackage.State.RELEASED, DataPackage.State.EXPIRED])
                .first()
            )
            if package is None:
                raise ApiError(status_code=404, code="not_found", message=_("Not found."))
            gone = ApiError(
                status_code=410,
                code="expired",
                message=_("The download has expired and the file has been deleted."),
            )
            if not package_available(package):
                raise gone
            if not download_proof_fresh(row.created_at):
                raise ApiError(
                    status_code=403,
                    code="fresh_proof_required",
                    message=_(
                        "Confirm your e-mail address again: ask for a new code (resend), "
                        "verify it and use the new token within %(minutes)d minutes."
                    )
                    % {"minutes": settings.PACKAGE_DOWNLOAD_PROOF_MINUTES},
                )
            try:
                chunks = package_download(package=package, channel="api")
            except PackageUnavailable:
                raise gone from None
        return package_response(package, subject_request.reference, chunks)
