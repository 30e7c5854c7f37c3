"""The staff API (/api/v1/staff/): the queue and the actions, for integrations.

Authentication: `Authorization: Bearer dsrs_...`, a personal token issued on
the staff pages (only in a session signed in with TOTP and re-authenticated).
The token acts with its user's roles; objects of other organisations answer
404. Destructive actions (approve, refuse) also need a current TOTP `code` in
the body: the API's form of re-authentication. Errors have the API's one
shape (`requests_app.api.errors`).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from requests_app import staff_selectors as sel
from requests_app.api.errors import ApiError
from requests_app.api.serializers import ErrorSerializer
from requests_app.models import (
    IdentityMethod,
    RefusalReason,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.permissions import (
    QUEUE_STATUSES,
    REAUTH_ACTIONS,
    Action,
    request_get_for_user,
    staff_roles,
)
from requests_app.ratelimit import client_ip
from requests_app.services import staff as svc
from requests_app.services import staff_auth as auth
from retention.models import Organisation

# --- Authentication and permission ----------------------------------------------------


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

# --- Shapes ---------------------------------------------------------------------------------


class QueueQuerySerializer(serializers.Serializer):
    """The queue's filters (query parameters)."""

    organisation = serializers.SlugField(required=False, help_text="organisation slug")
    type = serializers.ChoiceField(choices=RequestKind.choices, required=False)
    status = serializers.ChoiceField(
        choices=["open", "all", *QUEUE_STATUSES],
        default="open",
        help_text="`open` (default), `all` or a status",
    )
    assignee = serializers.RegexField(
        r"^(me|none|[0-9]{1,18})$", required=False, help_text="`me`, `none` or a user id"
    )
    due_within = serializers.IntegerField(
        min_value=0, max_value=3660, required=False, help_text="due within this many days"
    )
    overdue = serializers.BooleanField(default=False)
    awaiting = serializers.BooleanField(default=False, help_text="waiting for the person")
    q = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="reference, name or e-mail"
    )
    page = serializers.IntegerField(min_value=1, default=1)


class QueueItemSerializer(serializers.Serializer):
    reference = serializers.CharField()
    organisation = serializers.CharField(source="organisation.slug")
    type = serializers.ChoiceField(source="kind", choices=RequestKind.choices)
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    received_at = serializers.DateTimeField()
    due_date = serializers.DateField()
    days_left = serializers.IntegerField()
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)


class QueuePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    results = QueueItemSerializer(many=True)


class RecordsSummarySerializer(serializers.Serializer):
    subject_id = serializers.IntegerField()
    category = serializers.CharField()
    records = serializers.IntegerField()
    restricted = serializers.IntegerField()


class TimelineSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.CharField()
    label = serializers.CharField()
    actor = serializers.CharField()
    data = serializers.DictField()


class RequestDetailSerializer(QueueItemSerializer):
    full_name = serializers.CharField()
    email = serializers.EmailField()
    language = serializers.CharField()
    details = serializers.DictField()
    verified_at = serializers.DateTimeField()
    match_method = serializers.CharField()
    match_summary = serializers.CharField()
    original_due_date = serializers.DateField()
    extended_due_date = serializers.DateField(allow_null=True)
    extension_reason = serializers.CharField()
    records_summary = RecordsSummarySerializer(many=True)
    timeline = TimelineSerializer(many=True)


class AssignInput(serializers.Serializer):
    assignee = serializers.CharField(help_text="User name of a handler of the organisation.")


class NoteInput(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class AskInput(serializers.Serializer):
    question = serializers.CharField(max_length=2000)


class IdentityInput(serializers.Serializer):
    method = serializers.ChoiceField(choices=IdentityMethod.choices)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ExtendInput(serializers.Serializer):
    months = serializers.IntegerField(min_value=1, max_value=2)
    reason = serializers.CharField(max_length=2000)


class CodeInput(serializers.Serializer):
    code = serializers.CharField(
        max_length=10, help_text="A current TOTP code: re-authentication for this action."
    )


class RefuseInput(CodeInput):
    reasons = serializers.ListField(
        child=serializers.ChoiceField(choices=RefusalReason.choices), min_length=1
    )
    text = serializers.CharField(max_length=10000)


class CompleteInput(serializers.Serializer):
    reply = serializers.CharField(max_length=10000)


class CancelInput(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class EmptyInput(serializers.Serializer):
    pass


class ActionResultSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    due_date = serializers.DateField()


# --- Views --------------------------------------------------------------------------------


class QueueView(StaffAPIView):
    @extend_schema(
        operation_id="staff_requests_list",
        summary="The queue",
        description="Verified requests of your organisations, sorted by due date.",
        parameters=[QueueQuerySerializer],
        responses={200: QueuePageSerializer, **ERRORS},
    )
    def get(self, request):
        query = QueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        p = query.validated_data
        org_id = None
        if p.get("organisation"):
            org = Organisation.objects.filter(slug=p["organisation"]).first()
            org_id = org.pk if org else -1
        today = sel.local_today()
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
        page = Paginator(qs, 50).get_page(p.get("page"))
        for r in page.object_list:
            r.days_left = (r.due_date - today).days
        return Response(
            QueuePageSerializer(
                {
                    "count": page.paginator.count,
                    "page": page.number,
                    "pages": page.paginator.num_pages,
                    "results": list(page.object_list),
                }
            ).data
        )


class DetailView(StaffAPIView):
    @extend_schema(
        operation_id="staff_requests_detail",
        summary="A request",
        description="What was asked, the identity and match, the due dates, a summary of the "
        "matched subjects' records per category, and the timeline from the audit trail.",
        responses={200: RequestDetailSerializer, **ERRORS},
    )
    def get(self, request, reference: str):
        r = request_get_for_user(user=request.user, reference=reference)
        r.days_left = sel.days_left(r)
        r.records_summary = sel.request_records_summary(request=r)
        r.timeline = sel.request_timeline(request=r)
        return Response(RequestDetailSerializer(r).data)


def _assignee(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ApiError(
            status_code=400,
            code="invalid",
            message=_("Unknown user."),
            fields={"assignee": [str(_("Unknown user."))]},
        )
    return user


API_ACTIONS = {
    "assign": (
        Action.ASSIGN,
        AssignInput,
        lambda r, u, d: svc.request_assign(request=r, actor=u, assignee=_assignee(d["assignee"])),
    ),
    "unassign": (
        Action.ASSIGN,
        EmptyInput,
        lambda r, u, d: svc.request_unassign(request=r, actor=u),
    ),
    "notes": (
        Action.NOTE,
        NoteInput,
        lambda r, u, d: svc.request_note_add(request=r, actor=u, body=d["body"]),
    ),
    "ask": (
        Action.ASK_INFO,
        AskInput,
        lambda r, u, d: svc.request_information_ask(request=r, actor=u, question=d["question"]),
    ),
    "identity": (
        Action.VERIFY_IDENTITY,
        IdentityInput,
        lambda r, u, d: svc.request_identity_confirm(
            request=r, actor=u, method=d["method"], note=d["note"]
        ),
    ),
    "extend": (
        Action.EXTEND,
        ExtendInput,
        lambda r, u, d: svc.request_deadline_extend(
            request=r, actor=u, months=d["months"], reason=d["reason"]
        ),
    ),
    "refuse": (
        Action.REFUSE,
        RefuseInput,
        lambda r, u, d: svc.request_refuse(
            request=r, actor=u, reasons=d["reasons"], text=d["text"]
        ),
    ),
    "approve": (Action.APPROVE, CodeInput, lambda r, u, d: svc.request_approve(request=r, actor=u)),
    "complete": (
        Action.COMPLETE,
        CompleteInput,
        lambda r, u, d: svc.request_complete(request=r, actor=u, reply=d["reply"]),
    ),
    "cancel": (
        Action.CANCEL,
        CancelInput,
        lambda r, u, d: svc.request_cancel(request=r, actor=u, note=d["note"]),
    ),
}


def _action_view(name: str):
    action, input_serializer, run = API_ACTIONS[name]
    destructive = action in REAUTH_ACTIONS

    class ActionView(StaffAPIView):
        @extend_schema(
            operation_id=f"staff_requests_{name}",
            summary=f"Action: {name}",
            description=(
                "Refused with 409 when the request's state does not allow it. "
                + ("Needs a current TOTP `code` in the body." if destructive else "")
            ),
            request=input_serializer,
            responses={
                200: ActionResultSerializer,
                409: OpenApiResponse(ErrorSerializer, description="Not allowed in this state."),
                **ERRORS,
                **(
                    {429: OpenApiResponse(ErrorSerializer, description="Too many wrong codes.")}
                    if destructive
                    else {}
                ),
            },
        )
        def post(self, request, reference: str):
            subject_request = request_get_for_user(
                user=request.user, reference=reference, action=action
            )
            body = input_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            if destructive:
                try:
                    device = auth.totp_code_check(
                        user=request.user,
                        username=request.user.get_username(),
                        token=body.validated_data["code"],
                        ip=client_ip(request),
                    )
                except auth.LoginLocked as exc:
                    raise ApiError(
                        status_code=429,
                        code="locked",
                        message=_("Too many failed attempts."),
                        retry_after=exc.retry_after,
                    ) from exc
                if device is None:
                    raise ApiError(
                        status_code=403,
                        code="reauthentication_failed",
                        message=_("The code is not right, or was already used."),
                        fields={"code": [str(_("Not right."))]},
                    )
            try:
                run(subject_request, request.user, body.validated_data)
            except svc.StaffActionError as exc:
                raise ApiError(status_code=409, code=exc.code, message=exc.message) from exc
            subject_request = SubjectRequest.objects.get(pk=subject_request.pk)
            return Response(ActionResultSerializer(subject_request).data)

    ActionView.__name__ = f"Staff{name.title()}View"
    return ActionView.as_view()


app_name = "staff_api"

urlpatterns = [
    path("requests", QueueView.as_view(), name="queue"),
    path("requests/<str:reference>", DetailView.as_view(), name="detail"),
    *[
        path(f"requests/<str:reference>/{name}", _action_view(name), name=name)
        for name in API_ACTIONS
    ],
]
