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
they act on (the erasure plan, the proposed corrections and objections with
their decisions, the restriction, the package).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
from requests_app.forms import MAX_CORRECTIONS
from requests_app.fulfilment_selectors import fulfilment_state, package_state
from requests_app.models import (
    DataPackage,
    IdentityMethod,
    RecipientNotification,
    RefusalReason,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.permissions import (
    QUEUE_STATUSES,
    REAUTH_ACTIONS,
    Action,
    organisation_get_for_user,
    request_get_for_user,
    staff_roles,
)
from requests_app.ratelimit import client_ip
from requests_app.services import fulfilment as ff
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services import staff_auth as auth
from retention.models import Organisation, RecordStoreJob

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


class DetailQuerySerializer(serializers.Serializer):
    plan_page = serializers.IntegerField(
        min_value=1,
        max_value=100000,
        default=1,
        help_text="Which page of the erasure plan's per-record items to show "
        "(100 a page; past the last page: the last page).",
    )


class PlanCountsSerializer(serializers.Serializer):
    delete = serializers.IntegerField()
    reduce = serializers.IntegerField()
    keep = serializers.IntegerField()
    total = serializers.IntegerField()


PLAN_ACTIONS = ["delete", "reduce", "keep"]


class PlanGroupSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=PLAN_ACTIONS)
    category = serializers.CharField(help_text="category key")
    category_name = serializers.CharField()
    rule = serializers.CharField(allow_null=True, help_text="retention rule key")
    rule_name = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(
        allow_null=True, help_text="`erased`, `legal_obligation` or `legal_hold`"
    )
    until = serializers.DateField(
        source="until_date", allow_null=True, help_text="the last day the data is kept"
    )
    fields = serializers.ListField(
        child=serializers.CharField(), help_text="reduce: the fields that are kept"
    )
    records = serializers.IntegerField()


class PlanItemSerializer(serializers.Serializer):
    record = serializers.IntegerField(help_text="record id")
    action = serializers.ChoiceField(choices=PLAN_ACTIONS)
    category = serializers.CharField()
    category_name = serializers.CharField()
    purpose = serializers.CharField(allow_null=True)
    purpose_name = serializers.CharField(allow_blank=True)
    rule = serializers.CharField(allow_null=True)
    rule_name = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_null=True)
    until = serializers.DateField(source="until_date", allow_null=True)
    fields = serializers.ListField(child=serializers.CharField(), allow_null=True)


class ErasurePlanSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    state = serializers.ChoiceField(
        choices=RecordStoreJob.State.choices,
        help_text="`planned`: waits for an approver (`plan/approve`).",
    )
    counts = PlanCountsSerializer()
    groups = PlanGroupSerializer(many=True, help_text="The plan grouped: what happens and why.")
    items = PlanItemSerializer(many=True, help_text="One page of the plan, per record.")
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    approved_at = serializers.DateTimeField(allow_null=True)
    approved_by = serializers.CharField(allow_null=True)
    progress = serializers.IntegerField(help_text="plan items carried out so far")
    attempts = serializers.IntegerField(help_text="times a worker took the job (since a retry)")
    max_attempts = serializers.IntegerField(help_text="after this many the job is `failed`")
    finished_at = serializers.DateTimeField(
        allow_null=True, help_text="when it completed, or when the workers gave up (`failed`)"
    )
    error = serializers.CharField(
        allow_blank=True, help_text="the last error's exception class name, if any"
    )


class FailureSerializer(serializers.Serializer):
    what = serializers.ChoiceField(
        choices=["erasure", "package"],
        help_text="`erasure`: the erasure job (`erasure_plan`); `package`: the build (`package`)",
    )
    attempts = serializers.IntegerField()
    failed_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(
        allow_blank=True, help_text="the last error's exception class name, if known"
    )


class CorrectionDecisionSerializer(serializers.Serializer):
    accepted = serializers.BooleanField()
    target = serializers.CharField(allow_null=True, help_text="`record:field` (accepted)")
    value = serializers.CharField(allow_blank=True, help_text="the new value (accepted)")
    reason = serializers.CharField(allow_blank=True, help_text="why (rejected)")
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField()
    applied_at = serializers.DateTimeField(allow_null=True)


class ProposedCorrectionSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    wrong = serializers.CharField(allow_blank=True)
    correct = serializers.CharField(allow_blank=True)
    decision = CorrectionDecisionSerializer(allow_null=True)


class CorrectionTargetSerializer(serializers.Serializer):
    target = serializers.CharField(help_text="`record:field`, the `target` of a decision")
    label = serializers.CharField(help_text="category · record id · field")


class ObjectionDecisionSerializer(serializers.Serializer):
    compelling_grounds = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField()


class ObjectionSerializer(serializers.Serializer):
    purpose = serializers.CharField(help_text="purpose key")
    name = serializers.CharField()
    decision = ObjectionDecisionSerializer(allow_null=True)


class RestrictionLiftSerializer(serializers.Serializer):
    reason = serializers.CharField()
    requested_by = serializers.CharField(allow_null=True)
    requested_at = serializers.DateTimeField()
    notified_at = serializers.DateTimeField(allow_null=True, help_text="the person was told")
    lifted_at = serializers.DateTimeField(allow_null=True)
    records = serializers.IntegerField(help_text="records lifted")


class RestrictionSerializer(serializers.Serializer):
    restricted_records = serializers.IntegerField(
        help_text="records of the matched subjects restricted under Art. 18"
    )
    lift = RestrictionLiftSerializer(allow_null=True)


class NotificationSerializer(serializers.Serializer):
    recipient = serializers.CharField(help_text="recipient key")
    recipient_name = serializers.CharField()
    change = serializers.ChoiceField(choices=RecipientNotification.Change.choices)
    state = serializers.ChoiceField(choices=RecipientNotification.State.choices)
    sent_at = serializers.DateTimeField(allow_null=True)


class FulfilmentSerializer(serializers.Serializer):
    failure = FailureSerializer(
        allow_null=True,
        help_text="What the workers gave up on (an erasure job or a package build): the "
        "request stays `fulfilling` until an approver tries again (`retry`).",
    )
    erasure_plan = ErasurePlanSerializer(allow_null=True, help_text="erasure")
    corrections = ProposedCorrectionSerializer(many=True, help_text="rectification")
    correction_targets = CorrectionTargetSerializer(
        many=True, help_text="rectification: where an accepted correction may go"
    )
    objections = ObjectionSerializer(many=True, help_text="objection")
    restriction = RestrictionSerializer(allow_null=True, help_text="restriction")
    recipient_notifications = NotificationSerializer(many=True, help_text="Art. 19 notices")


class PackageFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()


class PackageCategorySerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    records = serializers.IntegerField()


class PackageSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=DataPackage.Kind.choices)
    format = serializers.ChoiceField(choices=DataPackage.Format.choices)
    state = serializers.ChoiceField(
        choices=DataPackage.State.choices,
        help_text="`ready`: built, waits for an approver (`package/release`).",
    )
    built_at = serializers.DateTimeField(allow_null=True)
    size = serializers.IntegerField(allow_null=True, help_text="bytes")
    sha256 = serializers.CharField(allow_blank=True)
    records = serializers.IntegerField()
    files = PackageFileSerializer(many=True)
    categories = PackageCategorySerializer(many=True)
    build_attempts = serializers.IntegerField()
    failed_at = serializers.DateTimeField(
        allow_null=True, help_text="`failed`: when the workers gave up building it"
    )
    build_error = serializers.CharField(
        allow_blank=True, help_text="the last failed build's exception class name, if any"
    )
    released_at = serializers.DateTimeField(allow_null=True)
    released_by = serializers.CharField(
        allow_null=True, help_text="null after an automatic release"
    )
    expires_at = serializers.DateTimeField(allow_null=True)
    expired_at = serializers.DateTimeField(allow_null=True)
    download_count = serializers.IntegerField()


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
    fulfilment = FulfilmentSerializer(
        source="api_fulfilment",
        help_text="What the fulfilment actions act on (for access and portability only "
        "`failure`), and what the workers gave up on.",
    )
    package = PackageSerializer(
        source="api_package",
        allow_null=True,
        help_text="access, portability: the package, once a worker started building it",
    )


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


class CorrectionDecideInput(serializers.Serializer):
    index = serializers.IntegerField(
        min_value=0,
        max_value=MAX_CORRECTIONS - 1,
        help_text="Which proposed correction (`index` of `fulfilment.corrections`).",
    )
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    target = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text="accept: `record:field`, one of `fulfilment.correction_targets`.",
    )
    value = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="accept: the new value (empty: what the person wrote).",
    )
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="reject: why (the person is told).",
    )

    def validate(self, attrs):
        if attrs["decision"] == "accept" and not attrs["target"].strip():
            raise serializers.ValidationError(
                {"target": [_("Choose the record and field the correction goes into.")]}
            )
        if attrs["decision"] == "reject" and not attrs["reason"].strip():
            raise serializers.ValidationError(
                {"reason": [_("Tell the person why the correction is rejected.")]}
            )
        return attrs


class ObjectionDecideInput(serializers.Serializer):
    purpose = serializers.CharField(
        max_length=60, help_text="A purpose key the person objected to (`fulfilment.objections`)."
    )
    compelling = serializers.BooleanField(
        help_text="true: compelling legitimate grounds override the objection (processing "
        "for the purpose continues); false: processing for it stops on approval."
    )
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The compelling grounds (the person is told them); required when `compelling`.",
    )

    def validate(self, attrs):
        if attrs["compelling"] and not attrs["reason"].strip():
            raise serializers.ValidationError(
                {"reason": [_("State the compelling legitimate grounds; the person is told them.")]}
            )
        return attrs


class RestrictionLiftInput(CodeInput):
    reason = serializers.CharField(
        max_length=2000, help_text="Why the restriction is lifted (the person is told first)."
    )


class AutoReleaseInput(CodeInput):
    enabled = serializers.BooleanField(
        help_text="true: packages go to the person as soon as they are built, without review."
    )


class AutoReleaseSerializer(serializers.Serializer):
    organisation = serializers.SlugField()
    enabled = serializers.BooleanField(
        help_text="Access and portability packages are released without staff review."
    )


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
        "matched subjects' records per category, the timeline from the audit trail, and what "
        "the fulfilment actions act on: the erasure plan (grouped, and one page per record), "
        "the proposed corrections and the objections with their decisions, the restriction "
        "and its lifting, the Art. 19 notices, and the access or portability package.",
        parameters=[DetailQuerySerializer],
        responses={200: RequestDetailSerializer, **ERRORS},
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


def _package_release(r: SubjectRequest, user, data: dict) -> None:
    package = DataPackage.objects.filter(request=r).first()
    if package is None:  # not approved yet, or the worker has not started the build
        raise svc.StaffActionError(
            _("Only a package that is built and not yet released can be released."),
            code="package_not_ready",
        )
    packages.package_release(package=package, actor=user)


@dataclass(frozen=True)
class FulfilmentAction:
    """A fulfilment action of the staff pages (`views.staff_fulfilment`, package release)."""

    name: str  # in the operation id and the URL name
    action: Action
    input: type[serializers.Serializer]
    run: Callable
    summary: str
    description: str
    # The service's error codes that name a field of the body: 400 with that field.
    fields: frozenset[str] = frozenset()


FULFILMENT_ACTIONS = {
    "plan/approve": FulfilmentAction(
        "plan_approve",
        Action.APPROVE,
        CodeInput,
        lambda r, u, d: ff.erasure_plan_approve(request=r, actor=u),
        "Approve the erasure plan",
        "Approves the erasure plan of an approved erasure request (`fulfilment.erasure_plan`, "
        "state `planned`); a worker then carries it out and completes the request. "
        "Irreversible. Approver.",
    ),
    "corrections/decide": FulfilmentAction(
        "correction_decide",
        Action.DECIDE,
        CorrectionDecideInput,
        lambda r, u, d: ff.correction_decide(
            request=r,
            actor=u,
            index=d["index"],
            accepted=d["decision"] == "accept",
            target=d["target"],
            value=d["value"],
            reason=d["reason"],
        ),
        "Decide on a proposed correction",
        "Accepts one proposed correction of a rectification request into a record's field "
        "(`target`, one of `fulfilment.correction_targets`) or rejects it with a reason. "
        "Deciding again replaces the decision. Approval waits until every row is decided. "
        "Handler.",
        frozenset({"index", "target", "reason"}),
    ),
    "objections/decide": FulfilmentAction(
        "objection_decide",
        Action.DECIDE,
        ObjectionDecideInput,
        lambda r, u, d: ff.objection_decide(
            request=r,
            actor=u,
            purpose_key=d["purpose"],
            compelling=d["compelling"],
            reason=d["reason"],
        ),
        "Decide on an objection to a purpose",
        "Records whether compelling legitimate grounds override the objection to one purpose "
        "(Art. 21(1)); without a decision, approval stops the purpose. Handler.",
        frozenset({"purpose", "reason"}),
    ),
    "restriction/lift": FulfilmentAction(
        "restriction_lift",
        Action.LIFT_RESTRICTION,
        RestrictionLiftInput,
        lambda r, u, d: ff.restriction_lift_request(request=r, actor=u, reason=d["reason"]),
        "Lift the restriction",
        "Lifts the restriction of a completed restriction request: the person is e-mailed "
        "first (Art. 18(3)), and the restriction is lifted right after "
        "(`fulfilment.restriction.lift`). Approver.",
        frozenset({"reason"}),
    ),
    "retry": FulfilmentAction(
        "retry",
        Action.RETRY_FULFILMENT,
        EmptyInput,
        lambda r, u, d: ff.fulfilment_retry(request=r, actor=u),
        "Try again what the workers gave up on",
        "Hands a failed erasure job or package build (`fulfilment.failure`) to the workers "
        "again, once its cause is fixed: the erasure resumes after the last batch carried "
        "out (its attempts and error cleared), a package is built again from the beginning. "
        "The request completes itself as usual. 409 (`nothing_failed`) when nothing failed. "
        "Approver.",
    ),
    "package/release": FulfilmentAction(
        "package_release",
        Action.RELEASE_PACKAGE,
        CodeInput,
        _package_release,
        "Release the package",
        "Makes the built access or portability package (`package`, state `ready`) available "
        "to the person: completes the request and e-mails them. Irreversible. Approver.",
    ),
}


def _reauthenticate(request, code: str) -> None:
    """The API's re-authentication: a current TOTP code of the token's user (each works once)."""
    try:
        device = auth.totp_code_check(
            user=request.user,
            username=request.user.get_username(),
            token=code,
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


TOO_MANY_CODES = {429: OpenApiResponse(ErrorSerializer, description="Too many wrong codes.")}


def _action_view(
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
                200: ActionResultSerializer,
                409: OpenApiResponse(ErrorSerializer, description="Not allowed in this state."),
                **ERRORS,
                **(TOO_MANY_CODES if destructive else {}),
            },
        )
        def post(self, request, reference: str):
            subject_request = request_get_for_user(
                user=request.user, reference=reference, action=action
            )
            body = input_serializer(data=request.data)
            body.is_valid(raise_exception=True)
            if destructive:
                _reauthenticate(request, body.validated_data["code"])
            try:
                run(subject_request, request.user, body.validated_data)
            except svc.StaffActionError as exc:
                if exc.code in fields:
                    raise ApiError(
                        status_code=400,
                        code="invalid",
                        message=exc.message,
                        fields={exc.code: [exc.message]},
                    ) from exc
                raise ApiError(status_code=409, code=exc.code, message=exc.message) from exc
            subject_request = SubjectRequest.objects.get(pk=subject_request.pk)
            return Response(ActionResultSerializer(subject_request).data)

    ActionView.__name__ = f"Staff{name.title().replace('_', '')}View"
    return ActionView.as_view()


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
        responses={200: AutoReleaseSerializer, **ORGANISATION_ERRORS},
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
        responses={200: AutoReleaseSerializer, **ORGANISATION_ERRORS, **TOO_MANY_CODES},
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


app_name = "staff_api"

urlpatterns = [
    path("requests", QueueView.as_view(), name="queue"),
    path("requests/<str:reference>", DetailView.as_view(), name="detail"),
    *[
        path(f"requests/<str:reference>/{name}", _action_view(name, *spec), name=name)
        for name, spec in API_ACTIONS.items()
    ],
    *[
        path(
            f"requests/<str:reference>/{route}",
            _action_view(
                spec.name,
                spec.action,
                spec.input,
                spec.run,
                summary=spec.summary,
                description=spec.description,
                fields=spec.fields,
            ),
            name=spec.name,
        )
        for route, spec in FULFILMENT_ACTIONS.items()
    ],
    path(
        "organisations/<slug:org_slug>/auto-release",
        AutoReleaseView.as_view(),
        name="auto_release",
    ),
]
