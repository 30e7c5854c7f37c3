"""The next step on a request, in a sentence that explains itself; a running worker's progress.

The staff page shows `request_next_step` first: what blocks the request (an
unproven match, undecided corrections), what to approve and what that does
("Approve the erasure plan: 5 records deleted, 3 kept until 2032-12-31 –
Accounting records (Swedish Bookkeeping Act)"), or whom it waits for.
`request_progress` is what the page polls while a worker runs (an erasure
job, a package build): plain data and the same sentence, so the page reads
the same with and without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from requests_app.choices import localized_name
from requests_app.models import (
    CorrectionDecision,
    DataPackage,
    ObjectionDecision,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.names import Names
from requests_app.selectors import queue as sel
from requests_app.selectors.fulfilment import last_day
from requests_app.selectors.matching import request_matches_unproven
from requests_app.services.actions import Facts, request_actions_allowed
from retention.models import RecordStoreJob
from retention.selectors.plans import plan_counts, plan_groups

S = RequestStatus
K = RequestKind
SELF_COMPLETING = (K.ERASURE, K.RESTRICTION, K.ACCESS, K.PORTABILITY)
DUE_SOON_DAYS = 7
RUNNING_JOB = (RecordStoreJob.State.APPROVED, RecordStoreJob.State.RUNNING)


@dataclass(frozen=True)
class NextStep:
    text: str
    # "act": the user can do it now; "wait": someone else (the person, a worker, an
    # approver); "warn": something failed; "done": closed.
    tone: str
    # Where on the page to do it (an element id), or "".
    anchor: str = ""
    # A worker is running: the page polls `request_progress`.
    running: bool = False


def _date(value) -> str:
    return formats.date_format(value, "Y-m-d") if value else ""


def _plan_text(request: SubjectRequest, job: RecordStoreJob) -> str:
    """ "5 records deleted, 1 reduced, 3 kept until 2032-12-31 (Bookkeeping law)"."""
    counts = plan_counts(job_id=job.pk)
    parts = [
        ngettext("%(n)s record deleted", "%(n)s records deleted", counts["delete"])
        % {"n": counts["delete"]}
    ]
    if counts["reduce"]:
        parts.append(_("%(n)s reduced") % {"n": counts["reduce"]})
    if counts["keep"]:
        kept = [g for g in plan_groups(job_id=job.pk) if g["action"] != "delete" and g["until"]]
        latest = max(kept, key=lambda g: g["until"], default=None)
        text = _("%(n)s kept") % {"n": counts["keep"]}
        if latest is not None:
            rule = Names.of(request.organisation_id).rules.get(latest["rule"] or "")
            until = _date(last_day(latest["until"], request.organisation.time_zone))
            text = _("%(n)s kept until %(until)s") % {"n": counts["keep"], "until": until}
            if rule is not None:
                text += f" – {localized_name(rule)}"
        parts.append(text)
    return ", ".join(parts)


def _job_progress_text(job: RecordStoreJob, total: int) -> str:
    return _("A worker is erasing: %(done)s of %(total)s records handled.") % {
        "done": job.progress,
        "total": total,
    }


def _to_decide(text: str, count: int, action: str, allowed: list[str], anchor: str) -> NextStep:
    """`count` things to decide before approval: to act on for whoever may take `action`."""
    return NextStep(text % {"n": count}, "act" if action in allowed else "wait", anchor)


def _open_step(request: SubjectRequest, allowed: list[str]) -> NextStep:
    """New or in progress: what blocks approval, else what to do, with the time left."""
    unproven = len(request_matches_unproven(request=request))
    if unproven:
        text = ngettext(
            "%(n)s match is not proven: record an identity check or exclude it.",
            "%(n)s matches are not proven: record an identity check or exclude them.",
            unproven,
        )
        return _to_decide(text, unproven, "identity", allowed, "matches")
    if request.kind == K.RECTIFICATION:
        rows = len((request.details or {}).get("corrections") or [])
        open_rows = rows - CorrectionDecision.objects.filter(request=request).count()
        if open_rows > 0:
            text = ngettext(
                "%(n)s proposed correction is not decided: accept or reject it.",
                "%(n)s proposed corrections are not decided: accept or reject each.",
                open_rows,
            )
            return _to_decide(text, open_rows, "correction", allowed, "fulfilment")
    if request.kind == K.OBJECTION:
        purposes = len(set((request.details or {}).get("purposes") or []))
        undecided = purposes - ObjectionDecision.objects.filter(request=request).count()
        if undecided > 0 and "objection" in allowed:
            text = ngettext(
                "Decide on the objection to %(n)s purpose: unless you record compelling "
                "grounds, processing for it stops on approval.",
                "Decide on the objections to %(n)s purposes: unless you record compelling "
                "grounds, processing for them stops on approval.",
                undecided,
            )
            return _to_decide(text, undecided, "objection", allowed, "fulfilment")
    if request.kind in SELF_COMPLETING:
        text = _("Check whose data it is, then approve: a worker carries out the request.")
    else:
        text = _("Approve to carry out the request, then complete it with a reply to the person.")
    if "approve" not in allowed:
        text += " " + _("An approver approves it.")
    days = sel.days_left(request)
    if days < 0:
        due = ngettext("Overdue by %(n)s day.", "Overdue by %(n)s days.", -days) % {"n": -days}
        return NextStep(f"{due} {text}", "warn", "action-approve" if "approve" in allowed else "")
    if days <= DUE_SOON_DAYS:
        due = ngettext("Due in %(n)s day:", "Due in %(n)s days:", days) % {"n": days}
        if "approve" in allowed and "extend" in allowed:
            text = _("approve, or extend the time limit with a reason.")
        return NextStep(f"{due} {text}", "act", "action-approve" if "approve" in allowed else "")
    return NextStep(text, "act" if "approve" in allowed else "wait", "action-approve")


def _approved_step(request: SubjectRequest, facts: Facts, allowed: list[str]) -> NextStep:
    if request.kind != K.ERASURE:
        return NextStep(
            _("Approved: a worker is carrying out the request."), "wait", "", running=True
        )
    job = facts.job
    if job is None:
        return NextStep(
            _("A worker is making the erasure plan; it appears here in a moment."),
            "wait",
            "fulfilment",
            running=True,
        )
    plan = _plan_text(request, job)
    if "approve_plan" in allowed:
        return NextStep(
            _("Approve the erasure plan: %(plan)s.") % {"plan": plan}, "act", "action-approve-plan"
        )
    return NextStep(
        _("An approver approves the erasure plan: %(plan)s.") % {"plan": plan}, "wait", "fulfilment"
    )


def _fulfilling_step(request: SubjectRequest, facts: Facts, allowed: list[str]) -> NextStep:
    if facts.failed:
        text = _("The workers gave up: once the cause is fixed, try again.")
        if "retry" not in allowed:
            text += " " + _("An approver can try again.")
        return NextStep(text, "warn", "fulfilment-failure")
    job, package = facts.job, facts.package
    if job is not None and job.state in RUNNING_JOB:
        total = plan_counts(job_id=job.pk)["total"]
        return NextStep(_job_progress_text(job, total), "wait", "fulfilment", running=True)
    if package is not None and package.state == DataPackage.State.READY:
        if "release_package" in allowed:
            text = _("Check the package, then release it to the person.")
            return NextStep(text, "act", "action-release")
        return NextStep(_("An approver releases the package to the person."), "wait", "package")
    if package is not None and package.state == DataPackage.State.BUILDING:
        return NextStep(_("A worker is building the package."), "wait", "package", running=True)
    return NextStep(_("A worker is carrying out the request."), "wait", "", running=True)


def _closed_step(request: SubjectRequest, allowed: list[str]) -> NextStep:
    resolution = getattr(request, "resolution", None)
    at = _date(resolution.decided_at) if resolution else ""
    text = {
        S.COMPLETED: _("Closed: completed on %(at)s."),
        S.REFUSED: _("Closed: refused on %(at)s."),
        S.CANCELLED: _("Closed: cancelled on %(at)s."),
    }[request.status] % {"at": at}
    if "lift_restriction" in allowed:
        text += " " + _("The records stay restricted until you lift the restriction.")
    return NextStep(text, "done", "")


def request_next_step(
    *, user, request: SubjectRequest, allowed: list[str] | None = None, facts: Facts | None = None
) -> NextStep:
    """What should happen next on `request`, and whether `user` can do it."""
    facts = facts or Facts(request)
    if allowed is None:
        allowed = request_actions_allowed(user=user, request=request, facts=facts)
    if request.status in (S.NEW, S.IN_PROGRESS):
        return _open_step(request, allowed)
    if request.status == S.AWAITING_SUBJECT:
        asked = request.questions.order_by("-asked_at").first()
        return NextStep(
            _("Waiting for the person to answer the question asked on %(at)s; the clock is paused.")
            % {"at": _date(asked.asked_at) if asked else ""},
            "wait",
            "h-asked",
        )
    if request.status == S.APPROVED:
        return _approved_step(request, facts, allowed)
    if request.status == S.FULFILLING:
        return _fulfilling_step(request, facts, allowed)
    return _closed_step(request, allowed)


def request_progress(*, user, request: SubjectRequest) -> dict:
    """What the page polls: the worker's job and package states, and the next step."""
    facts = Facts(request)
    step = request_next_step(user=user, request=request, facts=facts)
    job, package = facts.job, facts.package
    data: dict = {"running": step.running, "next_step": step.text, "tone": step.tone}
    if job is not None:
        total = plan_counts(job_id=job.pk)["total"]
        data["job"] = {
            "state": job.state,
            "state_label": str(job.get_state_display()),
            "done": job.progress,
            "total": total,
            "text": _("%(done)s of %(total)s records handled")
            % {"done": job.progress, "total": total},
        }
    if package is not None:
        data["package"] = {"state": package.state, "state_label": str(package.get_state_display())}
    return data
