"""Erasure (Art. 17): planned at the start, approved by an approver, completed by the job.

`erasure_start` (from `fulfilment_start`) plans: an erasure job in state
`planned` (`retention.services.erasure.erasure_job_create`), shown on the
staff page. `erasure_plan_approve` (an approver, re-authenticated) writes the
tombstones, queues the job through the outbox and moves the request to
`fulfilling`. The worker runs the job; `job_finish` sends
`retention.signals.job_finished` inside its transaction, and
`erasure_job_finished` completes the request there, so the reply, the
completion and the Art. 19 notices happen exactly once with it. A job that
`failed` is handed to the workers again by `erasure_retry`.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from requests_app.models import (
    Fulfilment,
    RecipientNotification,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.permissions import Action, permission_require
from requests_app.selectors.matching import request_subject_ids
from requests_app.services.fulfilment.common import audit, request_locked, state_require
from requests_app.services.fulfilment.notices import affected_disclosures, recipients_notify
from requests_app.services.fulfilment.reply import fulfilment_finish
from requests_app.services.outbox import outbox_enqueue
from requests_app.services.workflow import InvalidTransition, StaffActionError, status_set
from retention.models import Disclosure, RecordStoreJob
from retention.selectors.plans import (
    DELETE,
    REDUCE,
    action_counts,
    erasure_result_groups,
    plan_records,
)
from retention.services.erasure import erasure_job_approve, erasure_job_create
from retention.services.jobs import job_retry

S = RequestStatus
K = RequestKind
Change = RecipientNotification.Change

ERASURE_RUN_TASK = "requests_app.tasks.erasure_job_run"


def erasure_start(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
    """Plan the erasure of the matched subjects (the chosen categories, or all)."""
    categories = (request.details or {}).get("categories") or None
    subject_ids = request_subject_ids(request=request)
    job = erasure_job_create(
        organisation=request.organisation,
        subject_ids=subject_ids,
        categories=categories,
        reference=request.reference,
    )
    fulfilment.job = job
    # Art. 19: the disclosures of what the plan deletes or reduces, found before it runs.
    planned = plan_records(job_id=job.pk, actions=(DELETE, REDUCE))
    fulfilment.outcome["erasure"] = {
        "categories": categories,
        "subjects": len(subject_ids),
        "disclosures": affected_disclosures(
            request, subject_ids, planned, loose_categories=categories
        ),
    }
    audit(request, "requests.erasure.planned", {"job_id": job.pk, **action_counts(job.plan)})


def erasure_plan_approve(*, request: SubjectRequest, actor) -> RecordStoreJob:
    """An approver approves the erasure plan: the job is queued through the outbox."""
    permission_require(user=actor, action=Action.APPROVE, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = request_locked(request.pk)
        state_require(
            request,
            kinds=(K.ERASURE,),
            statuses=(S.APPROVED,),
            action=pgettext("staff action", "approve the erasure plan"),
        )
        fulfilment = Fulfilment.objects.select_for_update().filter(request=request).first()
        if fulfilment is None or fulfilment.job_id is None:
            raise StaffActionError(
                _("The erasure plan is not ready yet. Reload the page in a moment."),
                code="no_plan",
            )
        # The tombstones that block re-import are written here, in this transaction.
        job = erasure_job_approve(
            job=RecordStoreJob.objects.defer("plan").get(pk=fulfilment.job_id), user=actor
        )
        if job.state != RecordStoreJob.State.APPROVED:
            raise InvalidTransition(_("The erasure plan was already approved."))
        now = timezone.now()
        fulfilment.plan_approved_by = actor
        fulfilment.plan_approved_at = now
        fulfilment.save(update_fields=["plan_approved_by", "plan_approved_at"])
        message = outbox_enqueue(task_name=ERASURE_RUN_TASK, payload={"job_id": job.pk})
        status_set(request=request, status=S.FULFILLING, now=now)
        audit(
            request,
            "requests.erasure.plan_approved",
            {"job_id": job.pk, "outbox_message_id": message.pk},
            actor=actor,
        )
    return job


def erasure_job_finished(*, job: RecordStoreJob) -> None:
    """`job_finished` receiver: inside the job's completion transaction, complete the request."""
    request_id = (
        Fulfilment.objects.filter(job_id=job.pk).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        return  # a job that is not a request's (a staff erasure in the record store)
    request = request_locked(request_id)
    fulfilment = Fulfilment.objects.select_for_update().get(request=request)
    if fulfilment.completed_at is not None:
        return
    outcome = fulfilment.outcome.setdefault("erasure", {})
    outcome["groups"] = erasure_result_groups(job_id=job.pk)
    outcome["result"] = dict(job.result)
    # Records that arrived after planning and were erased with the plan: their recipients too.
    late = ((job.params or {}).get("late") or {}).get("disclosures") or {}
    disclosures = dict(outcome.get("disclosures") or {})
    for recipient_id, ids in late.items():
        disclosures[recipient_id] = sorted({*disclosures.get(recipient_id, []), *ids})
    # Records moved to someone else after planning were left alone: not this person's change.
    moved = (job.params or {}).get("moved") or []
    if moved:
        theirs = set(
            Disclosure.objects.filter(
                pk__in=[i for ids in disclosures.values() for i in ids], record_id__in=moved
            ).values_list("pk", flat=True)
        )
        disclosures = {k: [i for i in ids if i not in theirs] for k, ids in disclosures.items()}
        disclosures = {k: ids for k, ids in disclosures.items() if ids}
    outcome["disclosures"] = disclosures
    if job.result.get("deleted", 0) + job.result.get("reduced", 0):
        recipients_notify(request, Change.ERASURE, outcome.get("disclosures") or {})
    fulfilment_finish(request, fulfilment, timezone.now())


def erasure_retry(*, request: SubjectRequest, actor) -> RecordStoreJob:
    """Hand a `failed` erasure job to the workers again (`fulfilment_retry`: not a package).

    The job goes back to `approved` with its attempts, error and lease cleared;
    it resumes after the last batch carried out, and completes the request as
    usual. Refused (`InvalidTransition`, code `nothing_failed`) when nothing failed.
    """
    permission_require(
        user=actor, action=Action.RETRY_FULFILMENT, organisation_id=request.organisation_id
    )
    with transaction.atomic():
        request = request_locked(request.pk)
        fulfilment = Fulfilment.objects.select_for_update().filter(request=request).first()
        job = None
        if fulfilment is not None and fulfilment.job_id is not None:
            job = (
                RecordStoreJob.objects.select_for_update(of=("self",))
                .select_related("organisation")
                .defer("plan")
                .get(pk=fulfilment.job_id)
            )
        if job is None or job.state != RecordStoreJob.State.FAILED:
            if request.kind == K.ERASURE:
                message = _("The erasure has not failed, so there is nothing to try again.")
            else:
                message = _(
                    "Nothing has failed in carrying out this request, so there is nothing to "
                    "try again."
                )
            raise InvalidTransition(message, code="nothing_failed")
        state_require(
            request,
            kinds=(K.ERASURE,),
            statuses=(S.FULFILLING,),
            action=pgettext("staff action", "try again"),
        )
        attempts, error = job.attempts, job.error
        job_retry(job=job, user=actor)
        message = outbox_enqueue(task_name=ERASURE_RUN_TASK, payload={"job_id": job.pk})
        audit(
            request,
            "requests.erasure.retried",
            {
                "job_id": job.pk,
                "attempts": attempts,
                "error": error,
                "outbox_message_id": message.pk,
            },
            actor=actor,
        )
    return job
