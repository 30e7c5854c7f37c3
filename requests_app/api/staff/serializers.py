"""The shapes of the staff API (/api/v1/staff/): what it answers and what each action takes."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from requests_app.models import (
    DataPackage,
    IdentityMethod,
    MatchMethod,
    ProofMethod,
    RecipientNotification,
    RefusalReason,
    RequestKind,
    RequestStatus,
)
from requests_app.permissions import (
    QUEUE_STATUSES,
)
from requests_app.public.forms import MAX_CORRECTIONS
from requests_app.services.actions import RULES as ACTION_RULES
from retention.models import RecordStoreJob


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


class QueueItemSerializer(serializers.Serializer):
    reference = serializers.CharField()
    organisation = serializers.CharField(source="organisation.slug")
    type = serializers.ChoiceField(source="kind", choices=RequestKind.choices)
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    received_at = serializers.DateTimeField()
    due_date = serializers.DateField()
    days_left = serializers.IntegerField()
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)


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
    late = serializers.IntegerField(
        help_text="records of the subjects that arrived after planning (an import): planned by "
        "the same rules and carried out with the plan"
    )
    moved = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="ids of planned records moved to another subject or category after "
        "planning: left alone",
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
    withheld = serializers.ChoiceField(
        choices=["", "restricted", "legal_hold"],
        allow_blank=True,
        help_text="accepted but not applied: the record is restricted (Art. 18) or under a "
        "legal hold; the correction stays recorded",
    )


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


class IdentityCheckSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=IdentityMethod.choices)
    note = serializers.CharField(allow_blank=True)
    checked_by = serializers.CharField(source="checked_by.username", allow_null=True, default=None)
    checked_at = serializers.DateTimeField()


class MatchSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the match id (`matches/{match_id}/...`)")
    subject_id = serializers.IntegerField()
    methods = serializers.ListField(
        child=serializers.ChoiceField(choices=MatchMethod.choices),
        help_text="the identifiers the person gave that matched the subject",
    )
    included = serializers.BooleanField(help_text="false: excluded by staff")
    proven = serializers.BooleanField(
        help_text="The verified e-mail address matched the subject, or staff recorded an "
        "identity check for it. A typed personnummer or customer number proves nothing."
    )
    proven_by = serializers.ChoiceField(choices=ProofMethod.choices)
    identity_check = IdentityCheckSerializer(
        source="check", allow_null=True, help_text="the latest identity check for this subject"
    )


class RequestDetailSerializer(QueueItemSerializer):
    full_name = serializers.CharField()
    email = serializers.EmailField()
    language = serializers.CharField()
    details = serializers.DictField()
    verified_at = serializers.DateTimeField()
    match_method = serializers.CharField()
    match_summary = serializers.CharField()
    matches = MatchSerializer(
        source="api_matches",
        many=True,
        help_text="The matched data subjects. The request acts only on those included and "
        "proven; approval answers 409 (`identity_unproven`) while an included one is unproven.",
    )
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
    allowed_actions = serializers.ListField(
        child=serializers.ChoiceField(choices=list(ACTION_RULES)),
        help_text="The actions the token's user may take on the request now (its status, kind, "
        "matches and the user's role), as the staff page offers them; any other answers 403 "
        "or 409. `match`: include or exclude a matched subject; `note`: POST `notes`; "
        "`approve_plan`, `correction`, `objection`, `lift_restriction`, `retry`, "
        "`release_package`: the fulfilment actions.",
    )


class AssignInput(serializers.Serializer):
    assignee = serializers.CharField(help_text="User name of a handler of the organisation.")

    def validate_assignee(self, value: str):
        """The user of that name (whether they may handle the request is the service's)."""
        user = get_user_model().objects.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError(_("Unknown user."))
        return user


class NoteInput(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class AskInput(serializers.Serializer):
    question = serializers.CharField(max_length=2000)


class IdentityInput(serializers.Serializer):
    match = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text="The id of the match (`matches[].id`) whose identity was confirmed: the "
        "check proves that subject only.",
    )
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
