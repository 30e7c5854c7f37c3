"""A request's staff page (/staff/requests/<reference>/): its details and the staff actions on it.

Objects are fetched with the helpers of `requests_app.permissions`, which answer
404 for other organisations' objects; each action calls one service of
`requests_app.services.staff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from requests_app.http import action_refused
from requests_app.labels import request_details
from requests_app.models import (
    ClockPause,
    DataPackage,
    RefusalReason,
    RequestSubjectMatch,
)
from requests_app.permissions import (
    REAUTH_ACTIONS,
    Action,
    user_can,
)
from requests_app.selectors import queue as sel
from requests_app.selectors.matching import request_matches
from requests_app.services import staff as svc
from requests_app.services.actions import (
    DANGER,
    Facts,
    action_permission,
    action_run,
    request_actions_allowed,
)
from requests_app.services.fulfilment import COMPLETED_BY_FULFILMENT
from requests_app.services.next_step import request_next_step, request_progress
from requests_app.services.staff_reads import subject_records_read
from requests_app.staff import forms as f
from requests_app.staff.session import (
    reauth_redirect,
    recently_authenticated,
    request_fetch,
    staff_required,
)
from requests_app.staff.views.fulfilment import fulfilment_context


@dataclass(frozen=True)
class ActionSpec:
    """A staff action's form on the page; who may take it, and when, is `services.actions`."""

    form: type
    title: Any  # the heading of its form
    button: Any
    done: Any  # the message when it succeeded (the service call is `services.actions`)


ACTIONS: dict[str, ActionSpec] = {
    "approve": ActionSpec(
        f.ApproveForm,
        gettext_lazy("Approve fulfilment"),
        gettext_lazy("Approve"),
        gettext_lazy("The request is approved and its fulfilment is queued."),
    ),
    "complete": ActionSpec(
        f.CompleteForm,
        gettext_lazy("Complete with a reply"),
        gettext_lazy("Complete and send the reply"),
        gettext_lazy("The request is completed and the reply is sent."),
    ),
    "identity": ActionSpec(
        f.IdentityForm,
        gettext_lazy("Identity confirmed by another means"),
        gettext_lazy("Record the identity check"),
        gettext_lazy("The identity check is recorded: the request may act on that subject."),
    ),
    "assign": ActionSpec(
        f.AssignForm,
        gettext_lazy("Assign"),
        gettext_lazy("Assign"),
        gettext_lazy("The request is assigned."),
    ),
    "unassign": ActionSpec(
        f.ApproveForm,
        gettext_lazy("Unassign"),
        gettext_lazy("Unassign"),
        gettext_lazy("The request is unassigned."),
    ),
    "ask": ActionSpec(
        f.AskInfoForm,
        gettext_lazy("Ask the person for information (pauses the clock)"),
        gettext_lazy("Send the question"),
        gettext_lazy("The question is sent and the clock is paused until the person answers."),
    ),
    "extend": ActionSpec(
        f.ExtendForm,
        gettext_lazy("Extend the time limit (Art. 12(3))"),
        gettext_lazy("Extend"),
        gettext_lazy("The time limit is extended and the person is told why."),
    ),
    "note": ActionSpec(
        f.NoteForm,
        gettext_lazy("Add an internal note"),
        gettext_lazy("Save the note"),
        gettext_lazy("The note is saved."),
    ),
    "refuse": ActionSpec(
        f.RefuseForm,
        gettext_lazy("Refuse"),
        gettext_lazy("Refuse the request"),
        gettext_lazy("The request is refused and the person is told why and how to complain."),
    ),
    "cancel": ActionSpec(
        f.CancelForm,
        gettext_lazy("Cancel at the person's wish"),
        gettext_lazy("Cancel the request"),
        gettext_lazy("The request is cancelled."),
    ),
}


def _new_form(name: str, subject_request, data=None, initial=None):
    # The page holds one form per action: ids carry the action so that labels stay unique.
    auto_id = f"id_{name}_%s"
    if name == "assign":
        return f.AssignForm(
            data, assignees=svc.assignable_users(request=subject_request), auto_id=auto_id
        )
    if name == "identity":
        return f.IdentityForm(
            data,
            matches=request_matches(request=subject_request),
            auto_id=auto_id,
            initial=initial,
        )
    return ACTIONS[name].form(data, auto_id=auto_id)


def _actions_context(http_request, subject_request, allowed: list[str], bound: dict) -> dict:
    """The forms of the actions allowed now (a refused POST keeps its form, with the reason)."""
    # "Record an identity check" next to a match preselects it (`?match=<id>`).
    chosen = {"identity": {"match": http_request.GET.get("match", "")}}
    names = [*bound, *(n for n in allowed if n in ACTIONS and n not in bound)]
    forms = {
        name: bound.get(name) or _new_form(name, subject_request, initial=chosen.get(name))
        for name in names
    }
    reauth = {n for n in ACTIONS if action_permission(n) in REAUTH_ACTIONS}
    offered = [
        {
            "name": name,
            "form": form,
            "spec": ACTIONS[name],
            "danger": name in DANGER,
            "reauth": name in reauth and not recently_authenticated(http_request),
        }
        for name, form in forms.items()
    ]
    user, org_id = http_request.user, subject_request.organisation_id
    # Erasure, restriction, access and portability complete themselves when carried out
    # (by hand: 409), so their page has no "complete" form, only a line saying so.
    completes_itself = (
        subject_request.kind in COMPLETED_BY_FULFILMENT
        and "complete" not in forms
        and subject_request.status in svc.COMPLETABLE
        and user_can(user, Action.COMPLETE, org_id)
    )
    return {"forms": forms, "offered": offered, "completes_itself": completes_itself}


def _history_context(subject_request) -> dict:
    resolution = getattr(subject_request, "resolution", None)
    return {
        "pauses": list(ClockPause.objects.filter(request=subject_request)),
        "notes": list(subject_request.notes.select_related("author")),
        "questions": list(subject_request.questions.all()),
        "identity_checks": list(
            subject_request.identity_checks.select_related("checked_by", "match")
        ),
        "resolution": resolution,
        "refusal_reasons": [RefusalReason(r).label for r in resolution.reasons]
        if resolution
        else [],
        "timeline": sel.request_timeline(request=subject_request),
    }


def _detail_context(http_request, subject_request, bound: dict | None = None) -> dict:
    user = http_request.user
    org_id = subject_request.organisation_id
    facts = Facts(subject_request)
    allowed = request_actions_allowed(user=user, request=subject_request, facts=facts)
    matches = request_matches(request=subject_request)
    return {
        "r": subject_request,
        "organisation_name": subject_request.organisation.display_name,
        "days_left": sel.days_left(subject_request),
        "days_overdue": max(0, -sel.days_left(subject_request)),
        "allowed": allowed,
        "step": request_next_step(user=user, request=subject_request, allowed=allowed, facts=facts),
        **_actions_context(http_request, subject_request, allowed, bound or {}),
        **_history_context(subject_request),
        "matches": matches,
        "matches_decidable": "match" in allowed,
        "matches_unproven": [m for m in matches if m.included and not m.proven],
        "summary": sel.request_records_summary(request=subject_request),
        "details": request_details(request=subject_request),
        "can_view_records": user_can(user, Action.VIEW_RECORDS, org_id),
        "reauth_fresh": recently_authenticated(http_request),
        "ff": fulfilment_context(http_request, subject_request, allowed),
        "package": DataPackage.objects.filter(request=subject_request)
        .select_related("released_by")
        .first(),
        "can_review_package": user_can(user, Action.REVIEW_PACKAGE, org_id),
        "can_release_package": "release_package" in allowed,
        "package_ttl_days": settings.PACKAGE_TTL_DAYS,
    }


@staff_required
def detail(http_request, reference: str):
    subject_request = request_fetch(http_request, reference)
    return render(
        http_request,
        "requests_app/staff/detail.html",
        _detail_context(http_request, subject_request),
    )


@staff_required
@require_GET
def progress(http_request, reference: str):
    """What a running worker has done so far (JSON), for the page to poll; 404 to strangers."""
    subject_request = request_fetch(http_request, reference)
    return JsonResponse(request_progress(user=http_request.user, request=subject_request))


@staff_required
@require_POST
def request_action(http_request, reference: str, name: str):
    spec = ACTIONS.get(name)
    if spec is None:
        raise Http404
    permission = action_permission(name)
    subject_request = request_fetch(http_request, reference, permission)
    detail_url = reverse("staff:detail", kwargs={"reference": subject_request.reference})
    if permission in REAUTH_ACTIONS and not recently_authenticated(http_request):
        return reauth_redirect(http_request, detail_url)
    form = _new_form(name, subject_request, http_request.POST)
    status = 400
    if form.is_valid():
        try:
            action_run(
                name, request=subject_request, actor=http_request.user, data=form.cleaned_data
            )
        except svc.StaffActionError as exc:
            action_refused(http_request, exc, form=form)
            status = 409
        else:
            messages.success(http_request, spec.done)
            return redirect(detail_url)
    subject_request = request_fetch(http_request, reference)
    return render(
        http_request,
        "requests_app/staff/detail.html",
        _detail_context(http_request, subject_request, bound={name: form}),
        status=status,
    )


@staff_required
@require_POST
def match_action(http_request, reference: str, match_id: int, action: str):
    """Include or exclude one matched subject (handler and up; 404 for any other match)."""
    run = {"include": svc.match_include, "exclude": svc.match_exclude}.get(action)
    if run is None:
        raise Http404
    subject_request = request_fetch(http_request, reference, Action.VERIFY_IDENTITY)
    url = reverse("staff:detail", kwargs={"reference": subject_request.reference}) + "#matches"
    try:
        match = run(request=subject_request, actor=http_request.user, match_id=match_id)
    except svc.StaffActionError as exc:
        action_refused(http_request, exc)
    else:
        if match.included:
            text = _("Subject %(id)s is included.")
        else:
            text = _("Subject %(id)s is excluded: the request will not include or change its data.")
        messages.success(http_request, text % {"id": match.subject_id})
    return redirect(url)


@staff_required
def subject_records(http_request, reference: str, subject_id: int):
    """A matched subject's records; every view is written to the audit trail."""
    subject_request = request_fetch(http_request, reference, Action.VIEW_RECORDS)
    if not RequestSubjectMatch.objects.filter(
        request=subject_request, subject_id=subject_id
    ).exists():
        raise Http404
    records = subject_records_read(
        request=subject_request, user=http_request.user, subject_id=subject_id
    )
    return render(
        http_request,
        "requests_app/staff/records.html",
        {"r": subject_request, "subject_id": subject_id, "records": records},
    )
