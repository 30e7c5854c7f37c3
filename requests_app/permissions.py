"""Who may do what on the staff side, and the one way to fetch an object for a staff user.

Roles are ranked: viewer < handler < approver < admin; a role may do what
the roles below it may. Every staff view and API endpoint fetches requests
with `request_get_for_user`, which answers 404 for anything outside the
user's organisations (so nothing tells that it exists) and 403 when the
user's role in that organisation is too low for the action.
"""

from __future__ import annotations

from enum import StrEnum

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from requests_app.models import RequestStatus, RequestSubjectMatch, SubjectRequest
from requests_app.references import reference_normalise
from retention.models import Organisation, StaffMembership

Role = StaffMembership.Role
ROLE_RANK = {Role.VIEWER: 1, Role.HANDLER: 2, Role.APPROVER: 3, Role.ADMIN: 4}


class Action(StrEnum):
    VIEW = "view"
    VIEW_RECORDS = "view_records"
    EXPORT = "export"
    ASSIGN = "assign"
    # Assigning many requests at once from the queue: a triage decision, for approvers.
    BULK_ASSIGN = "bulk_assign"
    NOTE = "note"
    ASK_INFO = "ask_info"
    VERIFY_IDENTITY = "verify_identity"
    COMPLETE = "complete"
    CANCEL = "cancel"
    EXTEND = "extend"
    REFUSE = "refuse"
    APPROVE = "approve"
    # Fulfilment: decisions on corrections and objections (carried out on approval),
    # and lifting a restriction after telling the person (Art. 18(3)).
    DECIDE = "decide"
    LIFT_RESTRICTION = "lift_restriction"
    # Handing a failed erasure job or package build to the workers again.
    RETRY_FULFILMENT = "retry_fulfilment"
    MANAGE_HOLDS = "manage_holds"
    START_SWEEP = "start_sweep"
    VIEW_AUDIT = "view_audit"
    MANAGE_STAFF = "manage_staff"
    # Organisation settings of the request workflow (automatic release of packages).
    MANAGE_SETTINGS = "manage_settings"
    REVIEW_PACKAGE = "review_package"
    RELEASE_PACKAGE = "release_package"


REQUIRED_ROLE: dict[Action, str] = {
    Action.VIEW: Role.VIEWER,
    Action.VIEW_RECORDS: Role.VIEWER,
    Action.EXPORT: Role.VIEWER,
    Action.ASSIGN: Role.HANDLER,
    Action.BULK_ASSIGN: Role.APPROVER,
    Action.NOTE: Role.HANDLER,
    Action.ASK_INFO: Role.HANDLER,
    Action.VERIFY_IDENTITY: Role.HANDLER,
    Action.COMPLETE: Role.HANDLER,
    Action.CANCEL: Role.HANDLER,
    Action.EXTEND: Role.APPROVER,
    Action.REFUSE: Role.APPROVER,
    Action.APPROVE: Role.APPROVER,
    Action.DECIDE: Role.HANDLER,
    Action.LIFT_RESTRICTION: Role.APPROVER,
    # Runs again what an approver already approved (no re-authentication): approvers.
    Action.RETRY_FULFILMENT: Role.APPROVER,
    Action.MANAGE_HOLDS: Role.APPROVER,
    Action.START_SWEEP: Role.APPROVER,
    Action.VIEW_AUDIT: Role.ADMIN,
    Action.MANAGE_STAFF: Role.ADMIN,
    Action.MANAGE_SETTINGS: Role.ADMIN,
    # Opening a person's whole access package (audited), and sending it to them: a
    # wrong match would disclose someone else's data, so release is the approver's.
    Action.REVIEW_PACKAGE: Role.HANDLER,
    Action.RELEASE_PACKAGE: Role.APPROVER,
}

# Destructive or irreversible actions (a release discloses data; automatic release
# discloses without review): the session must have re-authenticated recently.
REAUTH_ACTIONS = frozenset(
    {
        Action.APPROVE,
        Action.REFUSE,
        Action.MANAGE_HOLDS,
        Action.RELEASE_PACKAGE,
        Action.LIFT_RESTRICTION,
        Action.MANAGE_SETTINGS,
    }
)

# Requests staff work on: verified, and not joined to another request.
QUEUE_STATUSES = [
    s for s in RequestStatus.values if s not in (RequestStatus.UNVERIFIED, RequestStatus.LINKED)
]


def staff_roles(user) -> dict[int, str]:
    """{organisation_id: role} of the user; one query, cached on the user object."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    cached = getattr(user, "_staff_roles", None)
    if cached is None:
        cached = dict(
            StaffMembership.objects.filter(user=user).values_list("organisation_id", "role")
        )
        user._staff_roles = cached
    return cached


def role_allows(role: str | None, action: Action) -> bool:
    return role is not None and ROLE_RANK[role] >= ROLE_RANK[REQUIRED_ROLE[action]]


def user_can(user, action: Action, organisation_id: int) -> bool:
    return role_allows(staff_roles(user).get(organisation_id), action)


def permission_require(*, user, action: Action, organisation_id: int) -> None:
    """404 outside the user's organisations, 403 when the role is too low."""
    roles = staff_roles(user)
    if organisation_id not in roles:
        raise Http404
    if not role_allows(roles[organisation_id], action):
        raise PermissionDenied


def staff_organisations(user) -> QuerySet[Organisation]:
    return (
        Organisation.objects.filter(pk__in=list(staff_roles(user)))
        .defer("policy")  # large JSON, loaded only where a page needs it
        .order_by("display_name")
    )


def organisations_where(user, action: Action) -> list[int]:
    return [org for org, role in staff_roles(user).items() if role_allows(role, action)]


def organisation_get_for_user(*, user, slug: str, action: Action = Action.VIEW) -> Organisation:
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise Http404
    permission_require(user=user, action=action, organisation_id=organisation.pk)
    return organisation


def request_get_for_user(
    *, user, reference: str, action: Action = Action.VIEW, queryset: QuerySet | None = None
) -> SubjectRequest:
    """The request with this reference if the user may see it; 404 otherwise, 403 if too low."""
    queryset = queryset if queryset is not None else SubjectRequest.objects.all()
    request = (
        queryset.select_related("organisation", "assignee")
        .filter(
            reference=reference_normalise(reference),
            organisation_id__in=list(staff_roles(user)),
            status__in=QUEUE_STATUSES,
        )
        .first()
    )
    if request is None:
        raise Http404
    permission_require(user=user, action=action, organisation_id=request.organisation_id)
    return request


def match_get_for_request(
    *, request: SubjectRequest, match_id, lock: bool = False
) -> RequestSubjectMatch:
    """A match of this request (fetched with `request_get_for_user`); 404 for any other id,
    another request's or another organisation's alike."""
    queryset = RequestSubjectMatch.objects.filter(request=request)
    if lock:
        queryset = queryset.select_for_update()
    try:
        match = queryset.filter(pk=int(match_id)).first()
    except (TypeError, ValueError):
        match = None
    if match is None:
        raise Http404
    return match
