"""The staff API's actions on a request: each one's input and the service it calls.

Who may take an action, and in which state, is the one registry of
`requests_app.services.actions` (the staff pages read it too); the request's
detail lists the actions allowed now as `allowed_actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from requests_app.api.errors import ApiError
from requests_app.api.staff.serializers import (
    AskInput,
    AssignInput,
    CancelInput,
    CodeInput,
    CompleteInput,
    CorrectionDecideInput,
    EmptyInput,
    ExtendInput,
    IdentityInput,
    NoteInput,
    ObjectionDecideInput,
    RefuseInput,
    RestrictionLiftInput,
)
from requests_app.models import (
    DataPackage,
    SubjectRequest,
)
from requests_app.permissions import (
    Action,
)
from requests_app.services import fulfilment as ff
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services.actions import action_permission


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
        action_permission("assign"),
        AssignInput,
        lambda r, u, d: svc.request_assign(request=r, actor=u, assignee=_assignee(d["assignee"])),
    ),
    "unassign": (
        action_permission("unassign"),
        EmptyInput,
        lambda r, u, d: svc.request_unassign(request=r, actor=u),
    ),
    "notes": (
        action_permission("note"),
        NoteInput,
        lambda r, u, d: svc.request_note_add(request=r, actor=u, body=d["body"]),
    ),
    "ask": (
        action_permission("ask"),
        AskInput,
        lambda r, u, d: svc.request_information_ask(request=r, actor=u, question=d["question"]),
    ),
    "identity": (
        action_permission("identity"),
        IdentityInput,
        lambda r, u, d: svc.request_identity_confirm(
            request=r, actor=u, method=d["method"], note=d["note"], match_id=d["match"]
        ),
        frozenset({"match", "method", "note"}),
    ),
    "extend": (
        action_permission("extend"),
        ExtendInput,
        lambda r, u, d: svc.request_deadline_extend(
            request=r, actor=u, months=d["months"], reason=d["reason"]
        ),
    ),
    "refuse": (
        action_permission("refuse"),
        RefuseInput,
        lambda r, u, d: svc.request_refuse(
            request=r, actor=u, reasons=d["reasons"], text=d["text"]
        ),
    ),
    "approve": (
        action_permission("approve"),
        CodeInput,
        lambda r, u, d: svc.request_approve(request=r, actor=u),
    ),
    "complete": (
        action_permission("complete"),
        CompleteInput,
        lambda r, u, d: svc.request_complete(request=r, actor=u, reply=d["reply"]),
    ),
    "cancel": (
        action_permission("cancel"),
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
        action_permission("approve_plan"),
        CodeInput,
        lambda r, u, d: ff.erasure_plan_approve(request=r, actor=u),
        "Approve the erasure plan",
        "Approves the erasure plan of an approved erasure request (`fulfilment.erasure_plan`, "
        "state `planned`); a worker then carries it out and completes the request. "
        "Irreversible. Approver.",
    ),
    "corrections/decide": FulfilmentAction(
        "correction_decide",
        action_permission("correction"),
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
        action_permission("objection"),
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
        action_permission("lift_restriction"),
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
        action_permission("retry"),
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
        action_permission("release_package"),
        CodeInput,
        _package_release,
        "Release the package",
        "Makes the built access or portability package (`package`, state `ready`) available "
        "to the person: completes the request and e-mails them. Irreversible. Approver.",
    ),
}
