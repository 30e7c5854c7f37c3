"""The staff API's actions on a request: each one's input and the service it calls.

Who may take an action, and in which state, is the one registry of
`requests_app.services.actions` (the staff pages read it too); the request's
detail lists the actions allowed now as `allowed_actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rest_framework import serializers

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
from requests_app.permissions import (
    Action,
)
from requests_app.services.actions import action_permission, action_run


def _run(rule: str) -> Callable:
    """The registry's service call for `rule`, with the validated body as its data."""
    return lambda r, user, data: action_run(rule, request=r, actor=user, data=data)


def _entry(rule: str, body: type[serializers.Serializer], fields: frozenset[str] = frozenset()):
    """(permission, body, run, fields) of an action that runs registry action `rule`;
    `fields`: the service's error codes that name a field of the body (400 with that field)."""
    return (action_permission(rule), body, _run(rule), fields)


API_ACTIONS = {
    "assign": _entry("assign", AssignInput),
    "unassign": _entry("unassign", EmptyInput),
    "notes": _entry("note", NoteInput),
    "ask": _entry("ask", AskInput),
    "identity": _entry("identity", IdentityInput, frozenset({"match", "method", "note"})),
    "extend": _entry("extend", ExtendInput),
    "refuse": _entry("refuse", RefuseInput),
    "approve": _entry("approve", CodeInput),
    "complete": _entry("complete", CompleteInput),
    "cancel": _entry("cancel", CancelInput),
}


@dataclass(frozen=True)
class FulfilmentAction:
    """A fulfilment action of the staff pages (`views.staff_fulfilment`, package release)."""

    name: str  # in the operation id and the URL name
    rule: str  # the action of the registry (`services.actions.RULES`)
    input: type[serializers.Serializer]
    summary: str
    description: str
    # The service's error codes that name a field of the body: 400 with that field.
    fields: frozenset[str] = frozenset()

    @property
    def action(self) -> Action:
        return action_permission(self.rule)

    @property
    def run(self) -> Callable:
        return _run(self.rule)


FULFILMENT_ACTIONS = {
    "plan/approve": FulfilmentAction(
        "plan_approve",
        "approve_plan",
        CodeInput,
        "Approve the erasure plan",
        "Approves the erasure plan of an approved erasure request (`fulfilment.erasure_plan`, "
        "state `planned`); a worker then carries it out and completes the request. "
        "Irreversible. Approver.",
    ),
    "corrections/decide": FulfilmentAction(
        "correction_decide",
        "correction",
        CorrectionDecideInput,
        "Decide on a proposed correction",
        "Accepts one proposed correction of a rectification request into a record's field "
        "(`target`, one of `fulfilment.correction_targets`) or rejects it with a reason. "
        "Deciding again replaces the decision. Approval waits until every row is decided. "
        "Handler.",
        frozenset({"index", "target", "reason"}),
    ),
    "objections/decide": FulfilmentAction(
        "objection_decide",
        "objection",
        ObjectionDecideInput,
        "Decide on an objection to a purpose",
        "Records whether compelling legitimate grounds override the objection to one purpose "
        "(Art. 21(1)); without a decision, approval stops the purpose. Handler.",
        frozenset({"purpose", "reason"}),
    ),
    "restriction/lift": FulfilmentAction(
        "restriction_lift",
        "lift_restriction",
        RestrictionLiftInput,
        "Lift the restriction",
        "Lifts the restriction of a completed restriction request: the person is e-mailed "
        "first (Art. 18(3)), and the restriction is lifted right after "
        "(`fulfilment.restriction.lift`). Approver.",
        frozenset({"reason"}),
    ),
    "retry": FulfilmentAction(
        "retry",
        "retry",
        EmptyInput,
        "Try again what the workers gave up on",
        "Hands a failed erasure job or package build (`fulfilment.failure`) to the workers "
        "again, once its cause is fixed: the erasure resumes after the last batch carried "
        "out (its attempts and error cleared), a package is built again from the beginning. "
        "The request completes itself as usual. 409 (`nothing_failed`) when nothing failed. "
        "Approver.",
    ),
    "package/release": FulfilmentAction(
        "package_release",
        "release_package",
        CodeInput,
        "Release the package",
        "Makes the built access or portability package (`package`, state `ready`) available "
        "to the person: completes the request and e-mails them. Irreversible. Approver.",
    ),
}
