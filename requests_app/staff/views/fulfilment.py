"""The fulfilment part of a request's staff page: erasure plan, decisions, lifting a restriction,
and trying again what the workers gave up on.

Thin: each POST fetches the request through the one access helper (404 for
other organisations' requests, 403 for a role too low), asks for a recent
re-authentication before destructive actions, and calls a service of
`requests_app.services.fulfilment`. The detail page (`staff.views.detail`)
shows what `fulfilment_context` builds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from requests_app.http import action_refused
from requests_app.models import RestrictionLift
from requests_app.permissions import REAUTH_ACTIONS
from requests_app.selectors.fulfilment import (
    correction_targets,
    fulfilment_failure,
    fulfilment_view,
)
from requests_app.services.actions import action_permission, action_run
from requests_app.services.workflow import StaffActionError
from requests_app.staff import forms as f
from requests_app.staff.session import (
    reauth_redirect,
    recently_authenticated,
    request_fetch,
    staff_required,
)


@dataclass
class Spec:
    """A fulfilment action's form and message; who may take it, when, and the service call
    are `services.actions`."""

    form: Any
    done: Any


ACTIONS: dict[str, Spec] = {
    "approve_plan": Spec(
        lambda data, r: f.PlanApproveForm(data),
        gettext_lazy("The erasure plan is approved; a worker carries it out now."),
    ),
    "correction": Spec(
        lambda data, r: f.CorrectionDecisionForm(data, targets=correction_targets(request=r)),
        gettext_lazy("The decision on the correction is saved."),
    ),
    "objection": Spec(
        lambda data, r: f.ObjectionDecisionForm(data),
        gettext_lazy("The decision on the objection is saved."),
    ),
    "retry": Spec(
        lambda data, r: f.RetryForm(data),
        gettext_lazy(
            "The work is handed to the workers again; the request completes itself when it is done."
        ),
    ),
    "lift_restriction": Spec(
        lambda data, r: f.RestrictionLiftForm(data),
        gettext_lazy("The person is being told; the restriction is lifted right after."),
    ),
}


@staff_required
@require_POST
def action(http_request, reference: str, name: str):
    spec = ACTIONS.get(name)
    if spec is None:
        raise Http404
    permission = action_permission(name)
    subject_request = request_fetch(http_request, reference, permission)
    url = reverse("staff:detail", kwargs={"reference": subject_request.reference})
    if permission in REAUTH_ACTIONS and not recently_authenticated(http_request):
        return reauth_redirect(http_request, url)
    form = spec.form(http_request.POST, subject_request)
    if not form.is_valid():
        errors = [str(e) for field_errors in form.errors.values() for e in field_errors]
        messages.error(http_request, " ".join(errors))
        return redirect(url + "#fulfilment")
    try:
        action_run(name, request=subject_request, actor=http_request.user, data=form.cleaned_data)
    except StaffActionError as exc:
        action_refused(http_request, exc)
    else:
        messages.success(http_request, spec.done)
    return redirect(url + "#fulfilment")


def _decision_forms(subject_request, view, allowed: list[str]) -> None:
    """One form per correction and per objection, when deciding is allowed now."""
    if "correction" in allowed and view.corrections:
        targets = correction_targets(request=subject_request)
        for row in view.corrections:
            decision = row["decision"]
            initial = {"index": row["index"], "value": row["row"].get("correct", "")}
            if decision is not None:
                initial.update(
                    decision="accept" if decision.accepted else "reject",
                    target=f"{decision.record_id}:{decision.field}" if decision.record_id else "",
                    value=decision.value or initial["value"],
                    reason=decision.reason,
                )
            row["form"] = f.CorrectionDecisionForm(
                initial=initial, targets=targets, auto_id=f"id_c{row['index']}_%s"
            )
    if "objection" in allowed:
        for n, row in enumerate(view.objections):
            decision = row["decision"]
            row["form"] = f.ObjectionDecisionForm(
                initial={
                    "purpose": row["key"],
                    "compelling": "yes" if decision and decision.compelling_grounds else "no",
                    "reason": decision.reason if decision else "",
                },
                auto_id=f"id_o{n}_%s",
            )


def fulfilment_context(http_request, subject_request, allowed: list[str]) -> dict:
    """For the detail page: the plan, the decisions with their forms, the notices.

    `allowed` is `services.actions.request_actions_allowed` for this user: a form is
    shown only for an action allowed now. The page holds one form per correction and
    per objection, next to the staff actions' forms: each gets its own id prefix
    (`id_c<row>_`, `id_o<row>_`, `id_lift_`, `id_retry_`), so every id and label on
    the page is unique.
    """
    try:
        page = int(http_request.GET.get("plan_page", "1"))
    except ValueError:
        page = 1
    view = fulfilment_view(request=subject_request, page=page)
    _decision_forms(subject_request, view, allowed)
    job = view.job
    return {
        "view": view,
        "lift": RestrictionLift.objects.filter(request=subject_request).first(),
        "lift_form": f.RestrictionLiftForm(auto_id="id_lift_%s")
        if "lift_restriction" in allowed
        else None,
        "can_approve_plan": "approve_plan" in allowed,
        "job_running": job is not None and job.state in ("approved", "running"),
        "missing_addresses": [n for n in view.notifications if n.state == "no_address"],
        # What the workers gave up on, and the form to hand it to them again (approvers).
        "failure": fulfilment_failure(request=subject_request),
        "max_attempts": settings.JOB_MAX_ATTEMPTS,
        "retry_form": f.RetryForm(auto_id="id_retry_%s") if "retry" in allowed else None,
    }
