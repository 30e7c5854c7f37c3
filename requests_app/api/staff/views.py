"""The staff API (/api/v1/staff/): the queue and the actions, for integrations.

Authentication: `Authorization: Bearer dsrs_...`, a personal token issued on
the staff pages (only in a session signed in with TOTP and re-authenticated).
The token acts with its user's roles; objects of other organisations answer
404. Destructive or irreversible actions (approve, refuse, approving an
erasure plan, lifting a restriction, releasing a package, switching automatic
release) also need a current TOTP `code` in the body: the API's form of the
staff pages' re-authentication (`REAUTH_ACTIONS`); each code works once, and
wrong codes count towards the sign-in lockout. Errors have the API's one
shape (`requests_app.api.errors`).

The fulfilment actions call the services the staff pages call
(`services.fulfilment`, `services.packages`); the request detail shows what
they act on (the matches and whether each is included and proven, the erasure
plan, the proposed corrections and objections with their decisions, the
restriction, the package). Staff include or exclude a match
(`matches/{match_id}/include|exclude`) and prove one with an identity check
(`identity`, naming the `match`); approval answers 409 (`identity_unproven`)
while an included match is unproven.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions
from rest_framework.authentication import BaseAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app import deadlines
from requests_app.api import examples
from requests_app.api.errors import ApiError
from requests_app.api.serializers import ErrorSerializer
from requests_app.api.staff.serializers import (
    ActionResultSerializer,
    AutoReleaseInput,
    AutoReleaseSerializer,
    DetailQuerySerializer,
    EmptyInput,
    MatchSerializer,
    QueueItemSerializer,
    QueueQuerySerializer,
    RequestDetailSerializer,
)
from requests_app.models import (
    SubjectRequest,
)
from requests_app.permissions import (
    REAUTH_ACTIONS,
    Action,
    organisation_get_for_user,
    request_get_for_user,
    staff_roles,
)
from requests_app.ratelimit import client_ip
from requests_app.selectors import queue as sel
from requests_app.selectors.fulfilment import fulfilment_state, package_state
from requests_app.selectors.matching import request_matches
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services import staff_auth as auth
from requests_app.services.actions import request_actions_allowed
from retention.models import Organisation


class StaffTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _sep, raw = header.partition(" ")
        if keyword != self.keyword or not raw.startswith(auth.API_TOKEN_PREFIX):
            return None
        user = auth.api_token_authenticate(raw=raw.strip())
        if user is None:
            raise ApiError(
                status_code=401, code="invalid_token", message=_("The token is not valid.")
            )
        return (user, None)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class StaffTokenScheme(OpenApiAuthenticationExtension):
    target_class = StaffTokenAuthentication
    name = "staffToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal staff API token (`dsrs_...`) from /staff/tokens/.",
        }


class IsStaffMember(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user is not None and bool(staff_roles(request.user))


class StaffAPIView(APIView):
    authentication_classes = [StaffTokenAuthentication]
    permission_classes = [IsStaffMember]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response


ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` says where."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, wrong or expired token."),
    403: OpenApiResponse(ErrorSerializer, description="Your role does not allow this."),
    404: OpenApiResponse(ErrorSerializer, description="No such request in your organisations."),
}


class QueuePagination(PageNumberPagination):
    """The queue's pages: DRF's page-number envelope `{count, next, previous, results}`
    (the store API's cursor pages share `next`, `previous` and `results`). `page` past the
    last page, or not a page number, answers 404, as DRF does."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_paginated_response_schema(self, schema):
        envelope = super().get_paginated_response_schema(schema)
        url = "https://dsr.example.se/api/v1/staff/requests?page="
        envelope["properties"]["count"]["example"] = 120
        envelope["properties"]["next"]["example"] = f"{url}3"
        envelope["properties"]["previous"]["example"] = f"{url}1"
        return envelope


class QueueView(StaffAPIView):
    pagination_class = QueuePagination

    @extend_schema(
        operation_id="staff_requests_list",
        summary="The queue",
        description="Verified requests of your organisations, sorted by due date, 50 a page "
        "(`page_size` up to 200). Follow `next` for the following page.",
        parameters=[QueueQuerySerializer],
        responses={
            200: OpenApiResponse(
                QueueItemSerializer(many=True), description="One page of the queue."
            ),
            **ERRORS,
            404: OpenApiResponse(
                ErrorSerializer, description="No such page: past the last one, or not a number."
            ),
        },
        examples=examples.QUEUE,
    )
    def get(self, request):
        query = QueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        p = query.validated_data
        org_id = None
        if p.get("organisation"):
            org = Organisation.objects.filter(slug=p["organisation"]).first()
            org_id = org.pk if org else -1
        today = deadlines.local_today()
        qs = sel.queue_requests(
            user=request.user,
            organisation_id=org_id,
            kind=p.get("type", ""),
            status=p["status"],
            assignee=p.get("assignee", ""),
            due_within=p.get("due_within"),
            overdue=p["overdue"],
            awaiting=p["awaiting"],
            q=p.get("q", ""),
            today=today,
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        for r in page:
            r.days_left = (r.due_date - today).days
        return paginator.get_paginated_response(QueueItemSerializer(page, many=True).data)


class DetailView(StaffAPIView):
    @extend_schema(
        operation_id="staff_requests_detail",
        summary="A request",
        description="What was asked, the identity and match, the due dates, a summary of the "
        "matched subjects' records per category, the timeline from the audit trail, and what "
        "the fulfilment actions act on: the erasure plan (grouped, and one page per record), "
        "the proposed corrections and the objections with their decisions, the restriction "
        "and its lifting, the Art. 19 notices, and the access or portability package.",
        parameters=[DetailQuerySerializer],
        responses={
            200: OpenApiResponse(
                RequestDetailSerializer, description="The request, as the request page shows it."
            ),
            **ERRORS,
        },
        examples=examples.DETAIL,
    )
    def get(self, request, reference: str):
        r = request_get_for_user(user=request.user, reference=reference)
        query = DetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        r.days_left = sel.days_left(r)
        r.records_summary = sel.request_records_summary(request=r)
        r.timeline = sel.request_timeline(request=r)
        r.api_fulfilment = fulfilment_state(request=r, plan_page=query.validated_data["plan_page"])
        r.api_package = package_state(request=r)
        r.api_matches = request_matches(request=r)
        r.allowed_actions = request_actions_allowed(user=request.user, request=r)
        return Response(RequestDetailSerializer(r).data)


def _reauthenticate(request, code: str) -> None:
    """The API's re-authentication: a current TOTP code of the token's user (each works once)."""
    # Locked (429) or the counters unreachable (503): answered by `api.errors`.
    device = auth.totp_code_check(
        user=request.user,
        username=request.user.get_username(),
        token=code,
        ip=client_ip(request),
    )
    if device is None:
        raise ApiError(
            status_code=403,
            code="reauthentication_failed",
            message=_("The code is not right, or was already used."),
            fields={"code": [str(_("Not right."))]},
        )


TOO_MANY_CODES = {
    429: OpenApiResponse(ErrorSerializer, description="Too many wrong codes."),
    503: OpenApiResponse(
        ErrorSerializer,
        description="Codes cannot be checked right now (Redis unreachable); retry after "
        "Retry-After.",
    ),
}


def action_view(
    name: str,
    action: Action,
    input_serializer,
    run,
    *,
    summary: str = "",
    description: str = "",
    fields: frozenset[str] = frozenset(),
):
    destructive = action in REAUTH_ACTIONS

    class ActionView(StaffAPIView):
        staff_action_fields = fields  # codes of `StaffActionError` answered on a field (400)

        @extend_schema(
            operation_id=f"staff_requests_{name}",
            summary=summary or f"Action: {name}",
            description=(
                (description + " " if description else "")
                + "Refused with 409 when the request's state does not allow it. "
                + ("Needs a current TOTP `code` in the body." if destructive else "")
            ),
            request=input_serializer,
            responses={
                200: OpenApiResponse(
                    ActionResultSerializer, description="Done: the request's status after it."
                ),
                409: OpenApiResponse(ErrorSerializer, description="Not allowed in this state."),
                **ERRORS,
                **(TOO_MANY_CODES if destructive else {}),
            },
            examples=examples.action_examples(name),
        )
        def post(self, request, reference: str):
            subject_request = request_get_for_user(
                user=request.user, reference=reference, action=action
            )
            body = input_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            if destructive:
                _reauthenticate(request, body.validated_data["code"])
            run(subject_request, request.user, body.validated_data)  # refusals: `api.errors`
            subject_request = SubjectRequest.objects.get(pk=subject_request.pk)
            return Response(ActionResultSerializer(subject_request).data)

    ActionView.__name__ = f"Staff{name.title().replace('_', '')}View"
    return ActionView.as_view()


class _MatchActionView(StaffAPIView):
    """Include or exclude one matched subject (handler and up); 404 for any other match."""

    included = True

    def post(self, request, reference: str, match_id: int):
        subject_request = request_get_for_user(
            user=request.user, reference=reference, action=Action.VERIFY_IDENTITY
        )
        body = EmptyInput(data=request.data)
        body.is_valid(raise_exception=True)
        run = svc.match_include if self.included else svc.match_exclude
        match = run(request=subject_request, actor=request.user, match_id=match_id)
        row = next(m for m in request_matches(request=subject_request) if m.id == match.pk)
        return Response(MatchSerializer(row).data)


MATCH_RESPONSES = {
    200: OpenApiResponse(MatchSerializer, description="The match, as `matches` lists it."),
    409: OpenApiResponse(ErrorSerializer, description="Not allowed in this state."),
    **ERRORS,
    404: OpenApiResponse(
        ErrorSerializer, description="No such request in your organisations, or no such match."
    ),
}


class MatchIncludeView(_MatchActionView):
    included = True

    @extend_schema(
        operation_id="staff_requests_match_include",
        summary="Include a matched subject",
        description="Includes a matched data subject again. The request acts on it only once "
        "it is proven (the verified e-mail matched it, or an `identity` check for it). "
        "Audited. Handler. 409 once the request is approved or closed.",
        request=EmptyInput,
        responses=MATCH_RESPONSES,
        examples=examples.MATCH_INCLUDE,
    )
    def post(self, request, reference: str, match_id: int):
        return super().post(request, reference, match_id)


class MatchExcludeView(_MatchActionView):
    included = False

    @extend_schema(
        operation_id="staff_requests_match_exclude",
        summary="Exclude a matched subject",
        description="Excludes a matched data subject: nothing the request does includes or "
        "changes its data (no package, erasure, restriction, correction or objection). "
        "Audited. Handler. 409 once the request is approved or closed.",
        request=EmptyInput,
        responses=MATCH_RESPONSES,
        examples=examples.MATCH_EXCLUDE,
    )
    def post(self, request, reference: str, match_id: int):
        return super().post(request, reference, match_id)


ORGANISATION_ERRORS = {
    **ERRORS,
    404: OpenApiResponse(ErrorSerializer, description="No such organisation among yours."),
}


class AutoReleaseView(StaffAPIView):
    """Automatic release of an organisation's access and portability packages."""

    @extend_schema(
        operation_id="staff_organisations_auto_release",
        summary="Automatic release of packages",
        description="Whether the organisation's access and portability packages go to the "
        "person as soon as they are built, without staff review.",
        responses={
            200: OpenApiResponse(AutoReleaseSerializer, description="The current setting."),
            **ORGANISATION_ERRORS,
        },
        examples=examples.AUTO_RELEASE,
    )
    def get(self, request, org_slug: str):
        organisation = organisation_get_for_user(user=request.user, slug=org_slug)
        enabled = packages.auto_release_enabled(organisation.pk)
        return Response(AutoReleaseSerializer({"organisation": org_slug, "enabled": enabled}).data)

    @extend_schema(
        operation_id="staff_organisations_auto_release_set",
        summary="Switch automatic release of packages",
        description="Turns automatic release on or off (audited). Admin. Needs a current TOTP "
        "`code` in the body.",
        request=AutoReleaseInput,
        responses={
            200: OpenApiResponse(AutoReleaseSerializer, description="The setting, switched."),
            **ORGANISATION_ERRORS,
            **TOO_MANY_CODES,
        },
        examples=examples.AUTO_RELEASE_SET,
    )
    def post(self, request, org_slug: str):
        organisation = organisation_get_for_user(
            user=request.user, slug=org_slug, action=Action.MANAGE_SETTINGS
        )
        body = AutoReleaseInput(data=request.data)
        body.is_valid(raise_exception=True)
        _reauthenticate(request, body.validated_data["code"])
        row = packages.auto_release_set(
            organisation=organisation, actor=request.user, enabled=body.validated_data["enabled"]
        )
        return Response(
            AutoReleaseSerializer(
                {"organisation": organisation.slug, "enabled": row.auto_release_packages}
            ).data
        )
