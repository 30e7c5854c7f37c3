"""Carrying out a request on the record store, exactly once (Arts. 7(3), 16, 17, 18, 19, 21).

The flow (README, "Fulfilment"):

* Approval (`staff.request_approve`) writes an outbox message; its task calls
  `fulfilment_start`, which dispatches by kind. Access and portability go to
  `packages.package_start`. Everything else is done here, in one transaction
  per step, with the outbox message (or a unique row) as the proof that a
  step was done: a redelivered message finds it and does nothing.
* Erasure (Art. 17): `fulfilment_start` plans (`erasure_job_create`, a job in
  state `planned`); the plan is on the staff page; an approver approves it
  (`erasure_plan_approve`: re-authenticated, the job enqueued through the
  outbox, the request `fulfilling`); the worker runs the job; `job_finish`
  sends `retention.signals.job_finished` inside its transaction and
  `erasure_job_finished` completes the request there, so the reply, the
  request's completion and the Art. 19 notices happen exactly once with it.
* A worker that gives up (an erasure job `failed` after JOB_MAX_ATTEMPTS, or a
  package that could not be built) leaves the request `fulfilling`: the staff
  page and API show it, and an approver hands it to the workers again once the
  cause is fixed (`fulfilment_retry`).
* Restriction (Art. 18), rectification (Art. 16), objection to
  legitimate-interest purposes (Art. 21(1)): done and completed by
  `fulfilment_start`, from the decisions staff recorded before approving
  (`correction_decide`, `objection_decide`). Lifting a restriction tells the
  person first (Art. 18(3)): `restriction_lift_request` ->
  `restriction_lift_notice_send` -> `restriction_lift_carry_out`.
* Objection to direct marketing (Art. 21(3)) and withdrawal of consent
  (Art. 7(3)) are honoured as soon as the e-mail address is verified, without
  staff (`fulfilment_on_verified` -> `fulfilment_honour`): a withdrawal must
  be as easy as giving consent, and a marketing objection is absolute. Only
  subjects matched by the verified address are acted on automatically. A
  request in which the person also typed a personnummer or customer number,
  or that also objects to other purposes, then waits for staff, who approve
  the rest: whether a typed identifier matched anyone never shows in what the
  person sees (no oracle).
* Whose data: every step takes its subjects from
  `match_selectors.request_subject_ids` (included and proven), nothing else.
* Legal holds win: a held record is restricted instead of erased or changed
  (`retention.services.rights`), and the reply says some data is kept under a
  legal hold. An accepted correction to a held or Art. 18-restricted record is
  recorded (`CorrectionDecision.withheld`), not applied, and the reply says why.
* Art. 19: after an erasure, rectification or restriction that changed
  anything, every recipient the changed data was disclosed to gets one
  e-mail per change (`RecipientNotification`, unique per request, recipient
  and change); a recipient without an address is logged and shown to staff.
  The reply to the person lists them.

The reply to the person is rendered in their language from what was done
(`Fulfilment.outcome`), stored as the request's resolution text and sent
with the `request_completed` e-mail (`staff.staff_notification_send`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from requests_app.choices import RESTRICTION_GROUNDS, localized_name
from requests_app.models import (
    CorrectionDecision,
    DataPackage,
    Fulfilment,
    ObjectionDecision,
    RecipientNotification,
    RequestKind,
    RequestStatus,
    RestrictionLift,
    SubjectRequest,
)
from requests_app.permissions import Action, permission_require
from requests_app.selectors.fulfilment import Names, erasure_result_groups, last_day
from requests_app.selectors.matching import request_subject_ids, request_subject_ids_marked
from requests_app.services.emails import email_send, email_send_to, public_url
from requests_app.services.outbox import outbox_enqueue, outbox_message_claim, outbox_message_done
from requests_app.services.packages import package_retry, package_start
from requests_app.services.workflow import (
    InvalidTransition,
    StaffActionError,
    request_close,
    request_notify,
    status_set,
)
from retention.audit import log_action
from retention.field_labels import field_label
from retention.models import (
    AuditEntry,
    DataSubject,
    Disclosure,
    LegalBasis,
    Purpose,
    Recipient,
    Record,
    RecordStoreJob,
)
from retention.services.erasure import erasure_job_approve, erasure_job_create, plan_counts
from retention.services.jobs import job_retry
from retention.services.rights import (
    marketing_objection,
    processing_stop,
    rectification_apply,
    restriction_apply,
    restriction_lift,
)

logger = logging.getLogger(__name__)

HONOUR_TASK = "requests_app.tasks.fulfilment_honour"
ERASURE_RUN_TASK = "requests_app.tasks.erasure_job_run"
RECIPIENT_TASK = "requests_app.tasks.recipient_notify"
LIFT_NOTICE_TASK = "requests_app.tasks.restriction_lift_notice"
LIFT_TASK = "requests_app.tasks.restriction_lift"

S = RequestStatus
K = RequestKind
Change = RecipientNotification.Change
# A request that can still be completed by its fulfilment.
FINISHABLE = (S.NEW, S.IN_PROGRESS, S.APPROVED, S.FULFILLING)
# A request whose direct-marketing objection or consent withdrawal is honoured on verification.
HONOURABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT, S.LINKED)
DECIDABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT)
RESTRICTION_GROUND_CODES = ("a", "b", "c", "d")


# --- Small helpers -------------------------------------------------------------------------


def _log(request: SubjectRequest, action: str, data: dict | None = None, actor=None) -> None:
    log_action(
        action=action,
        actor_kind=AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SYSTEM,
        actor_id=actor.pk if actor else None,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data=data or {},
    )


def _request_locked(request_id: int) -> SubjectRequest | None:
    return (
        SubjectRequest.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .filter(pk=request_id)
        .first()
    )


def _fulfilment_for(request: SubjectRequest) -> Fulfilment:
    """The request's fulfilment row (the request row is locked by the caller)."""
    fulfilment, _created = Fulfilment.objects.select_for_update().get_or_create(request=request)
    return fulfilment


def _require(request: SubjectRequest, *, kinds, statuses, action: str) -> None:
    if request.kind not in kinds or request.status not in statuses:
        raise InvalidTransition(
            _("This request is “%(status)s”: “%(action)s” is not possible in that state.")
            % {"status": request.get_status_display(), "action": action}
        )


# --- Starting: the dispatcher --------------------------------------------------------------


def fulfilment_start(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Carry out an approved request (the approval's outbox task calls this); safe to repeat.

    Returns False when there was nothing (more) to do: a redelivered message,
    a request no longer approved (cancelled meanwhile), one already started.
    """
    kind = SubjectRequest.objects.filter(pk=request_id).values_list("kind", flat=True).first()
    if kind is None:
        outbox_message_complete(outbox_message_id=outbox_message_id)  # deleted: nothing to do
        return False
    if kind in (K.ACCESS, K.PORTABILITY):
        package_start(request_id=request_id, outbox_message_id=outbox_message_id)
        return True
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        request = _request_locked(request_id)
        fulfilment = _fulfilment_for(request)
        if fulfilment.started_at is not None or request.status != S.APPROVED:
            outbox_message_done(message)
            return False
        now = timezone.now()
        fulfilment.started_at = now
        fulfilment.start_message_id = outbox_message_id
        STARTERS[request.kind](request, fulfilment, now)
        fulfilment.save()
        outbox_message_done(message)
    return True


def _start_erasure(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
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
    planned = Record.objects.filter(
        pk__in=RawSQL(
            "SELECT (i->>'record')::bigint FROM retention_recordstorejob j, "
            "jsonb_array_elements(j.plan) i "
            "WHERE j.id = %s AND i->>'action' IN ('delete', 'reduce')",
            [job.pk],
        )
    )
    fulfilment.outcome["erasure"] = {
        "categories": categories,
        "subjects": len(subject_ids),
        "disclosures": _affected_disclosures(
            request, subject_ids, planned, loose_categories=categories
        ),
    }
    _log(request, "requests.erasure.planned", {"job_id": job.pk, **plan_counts(job.plan)})


def _start_restriction(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
    details = request.details or {}
    ground = details.get("ground", "")
    code = f"art18_{ground}" if ground in RESTRICTION_GROUND_CODES else "art18"
    categories = details.get("categories") or None
    subject_ids = request_subject_ids(request=request)
    records = _records(request, subject_ids).filter(restricted_at__isnull=True)
    if categories:
        records = records.filter(category__key__in=categories)
    disclosures = _affected_disclosures(request, subject_ids, records, loose_categories=categories)
    count = restriction_apply(
        organisation=request.organisation,
        subject_ids=subject_ids,
        ground=code,
        categories=categories,
        reference=request.reference,
    )
    fulfilment.outcome["restriction"] = {
        "ground": ground,
        "categories": categories,
        "records": count,
        "subjects": len(subject_ids),
    }
    if count:
        _recipients_notify(request, Change.RESTRICTION, disclosures)
    _finish(request, fulfilment, now)


def _start_rectification(request: SubjectRequest, fulfilment: Fulfilment, now) -> None:
    """Apply the accepted corrections and store the supplementary statement.

    A correction into a record that is restricted under Art. 18 or kept under a
    legal hold is not applied: it stays recorded on its decision (`withheld`)
    and the reply says why.
    """
    details = request.details or {}
    subject_ids = request_subject_ids(request=request)
    accepted = list(
        CorrectionDecision.objects.filter(request=request, accepted=True, record__isnull=False)
    )
    existing = _records(request, subject_ids).filter(pk__in=[d.record_id for d in accepted])
    existing_ids = set(existing.values_list("pk", flat=True))
    wanted = [d for d in accepted if d.record_id in existing_ids]
    statement = (details.get("statement") or "").strip()
    result = {"records": 0, "withheld": {}}
    if subject_ids and (wanted or statement):
        result = rectification_apply(
            organisation=request.organisation,
            subject_ids=subject_ids,
            corrections=[
                {"record": d.record_id, "field": d.field, "value": d.value} for d in wanted
            ],
            statement=statement,
            reference=request.reference,
        )
    withheld = result["withheld"]
    applied = [d for d in wanted if d.record_id not in withheld]
    for reason in set(withheld.values()):
        CorrectionDecision.objects.filter(
            pk__in=[d.pk for d in wanted if withheld.get(d.record_id) == reason]
        ).update(withheld=reason)
    CorrectionDecision.objects.filter(pk__in=[d.pk for d in applied]).update(applied_at=now)
    changed = _records(request, subject_ids).filter(pk__in=[d.record_id for d in applied])
    categories = sorted(set(changed.values_list("category__key", flat=True)))
    disclosures = _affected_disclosures(request, subject_ids, changed, loose_categories=categories)
    fulfilment.outcome["rectification"] = {
        "applied": len(applied),
        "withheld": len(wanted) - len(applied),
        "records": result["records"],
        "statement": bool(statement and subject_ids),
        "subjects": len(subject_ids),
    }
    if applied:
        _recipients_notify(request, Change.RECTIFICATION, disclosures)
    _finish(request, fulfilment, now)


def _start_objection(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
    """Direct marketing (if not honoured yet) and the purposes without compelling grounds."""
    details = request.details or {}
    subject_ids = request_subject_ids(request=request)
    remaining = _not_yet_honoured(fulfilment, subject_ids)
    if details.get("direct_marketing") and (remaining or not fulfilment.honoured_at):
        _honour_marketing(request, fulfilment, remaining)
    purposes = list(dict.fromkeys(k for k in details.get("purposes") or [] if isinstance(k, str)))
    overriding = set(
        ObjectionDecision.objects.filter(
            request=request, compelling_grounds=True, purpose__key__in=purposes
        ).values_list("purpose__key", flat=True)
    )
    stop = [k for k in purposes if k not in overriding]
    counts = {"restricted": 0, "erased": 0, "held": 0}
    if stop:
        records = _records(request, subject_ids).filter(purpose__key__in=stop)
        disclosures = _affected_disclosures(request, subject_ids, records, loose_categories=[])
        counts = processing_stop(
            organisation=request.organisation,
            subject_ids=subject_ids,
            purpose_keys=stop,
            reason="objection",
            reference=request.reference,
        )
        if counts["restricted"]:
            _recipients_notify(request, Change.RESTRICTION, disclosures)
    fulfilment.outcome["objection"] = {
        "stopped": stop,
        "continued": sorted(overriding),
        "restricted": counts["restricted"],
        "held": counts.get("held", 0),
        "subjects": len(subject_ids),
    }
    _finish(request, fulfilment, now)


def _start_consent_withdrawal(request: SubjectRequest, fulfilment: Fulfilment, now) -> None:
    remaining = _not_yet_honoured(fulfilment, request_subject_ids(request=request))
    if remaining or not fulfilment.honoured_at:
        _honour_consent(request, fulfilment, remaining)
    _finish(request, fulfilment, now)


STARTERS = {
    K.ERASURE: _start_erasure,
    K.RESTRICTION: _start_restriction,
    K.RECTIFICATION: _start_rectification,
    K.OBJECTION: _start_objection,
    K.CONSENT_WITHDRAWAL: _start_consent_withdrawal,
}


def _records(request: SubjectRequest, subject_ids: list[int]) -> QuerySet[Record]:
    return Record.objects.filter(
        organisation_id=request.organisation_id, subject_id__in=subject_ids
    )


def _not_yet_honoured(fulfilment: Fulfilment, subject_ids: list[int]) -> list[int]:
    done = set(fulfilment.outcome.get("honoured_subject_ids") or [])
    return [s for s in subject_ids if s not in done]


# --- Honoured on verification: direct marketing and consent ----------------------------------


def fulfilment_on_verified(*, request: SubjectRequest) -> None:
    """Inside the verification's transaction: queue what is honoured without staff."""
    details = request.details or {}
    honour = (request.kind == K.OBJECTION and details.get("direct_marketing")) or (
        request.kind == K.CONSENT_WITHDRAWAL and details.get("purposes")
    )
    if honour:
        outbox_enqueue(task_name=HONOUR_TASK, payload={"request_id": request.pk})


def fulfilment_honour(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Honour a verified direct-marketing objection or consent withdrawal at once; safe to repeat.

    Acts on the subjects matched by the verified e-mail address (and, for
    marketing, blocks that address and the phone number given). The request
    is completed unless staff still have something to decide: a typed
    personnummer or customer number, or objections to other purposes.
    """
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        request = _request_locked(request_id)
        if request is None:
            outbox_message_done(message)
            return False
        fulfilment = _fulfilment_for(request)
        if (
            fulfilment.honoured_at is not None
            or fulfilment.started_at is not None
            or request.status not in HONOURABLE
        ):
            outbox_message_done(message)
            return False
        now = timezone.now()
        proven = request_subject_ids(request=request)  # at verification: the e-mail's matches
        if request.kind == K.OBJECTION:
            _honour_marketing(request, fulfilment, proven)
        else:
            _honour_consent(request, fulfilment, proven)
        fulfilment.honoured_at = now
        # Staff must still look at what the person typed (a personnummer or customer number
        # proves nothing, and may point at someone else), and at objections to purposes other
        # than direct marketing. What the person typed decides, never whether it matched
        # anyone: the person's status and timing must not tell whether the number exists.
        typed = bool(request.personnummer or request.customer_number)
        other_purposes = request.kind == K.OBJECTION and (request.details or {}).get("purposes")
        staff_needed = typed or bool(other_purposes)
        _log(
            request,
            "requests.request.honoured",
            {"subjects": len(proven), "waits_for_staff": staff_needed},
        )
        if request.status == S.NEW and not staff_needed:
            _finish(request, fulfilment, now)
        else:
            fulfilment.save()
        outbox_message_done(message)
    return True


def _honoured(fulfilment: Fulfilment, subject_ids: list[int]) -> None:
    done = set(fulfilment.outcome.get("honoured_subject_ids") or [])
    fulfilment.outcome["honoured_subject_ids"] = sorted(done | set(subject_ids))


def _honour_marketing(request: SubjectRequest, fulfilment: Fulfilment, subject_ids) -> None:
    marketing_only = _records(request, subject_ids).filter(purpose__direct_marketing=True)
    disclosures = _affected_disclosures(request, subject_ids, marketing_only, loose_categories=[])
    counts = marketing_objection(
        organisation=request.organisation,
        subject_ids=subject_ids,
        email=request.email,
        phone=request.phone,
        reference=request.reference,
    )
    previous = fulfilment.outcome.get("marketing") or {}
    fulfilment.outcome["marketing"] = {
        "erased": previous.get("erased", 0) + counts["erased"],
        "held": previous.get("held", 0) + counts["held"],
    }
    _honoured(fulfilment, subject_ids)
    if counts["erased"]:
        _recipients_notify(request, Change.ERASURE, _of_erased_records(disclosures))


def _honour_consent(request: SubjectRequest, fulfilment: Fulfilment, subject_ids) -> None:
    """Stop the consents chosen (all consent-based purposes when none was chosen)."""
    keys = [k for k in (request.details or {}).get("purposes") or [] if isinstance(k, str)]
    consent = Purpose.objects.filter(
        organisation_id=request.organisation_id, legal_basis=LegalBasis.CONSENT
    )
    if keys:
        consent = consent.filter(key__in=keys)
    keys = sorted(consent.values_list("key", flat=True))
    records = _records(request, subject_ids).filter(purpose__key__in=keys)
    disclosures = _affected_disclosures(request, subject_ids, records, loose_categories=[])
    counts = processing_stop(
        organisation=request.organisation,
        subject_ids=subject_ids,
        purpose_keys=keys,
        reason="consent_withdrawn",
        reference=request.reference,
    )
    previous = fulfilment.outcome.get("consent") or {}
    fulfilment.outcome["consent"] = {
        "purposes": keys,
        "erased": previous.get("erased", 0) + counts["erased"],
        "held": previous.get("held", 0) + counts["held"],
    }
    _honoured(fulfilment, subject_ids)
    if counts["erased"]:
        _recipients_notify(request, Change.ERASURE, _of_erased_records(disclosures))


def _of_erased_records(disclosures: dict[str, list[int]]) -> dict[str, list[int]]:
    """Only the disclosures of records that were erased (a held record is kept, linked)."""
    ids = [i for found in disclosures.values() for i in found]
    kept = set(
        Disclosure.objects.filter(pk__in=ids, record__isnull=False).values_list("pk", flat=True)
    )
    erased = {k: [i for i in found if i not in kept] for k, found in disclosures.items()}
    return {k: found for k, found in erased.items() if found}


# --- Erasure: plan approval and completion ---------------------------------------------------


def erasure_plan_approve(*, request: SubjectRequest, actor) -> RecordStoreJob:
    """An approver approves the erasure plan: the job is queued through the outbox."""
    permission_require(user=actor, action=Action.APPROVE, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = _request_locked(request.pk)
        _require(
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
        _log(
            request,
            "requests.erasure.plan_approved",
            {"job_id": job.pk, "outbox_message_id": message.pk},
            actor=actor,
        )
    return job


def outbox_message_complete(*, outbox_message_id: int | None) -> None:
    """Mark a message whose task recognises repeats by other means (a job's lease) as done."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if not done:
            outbox_message_done(message)


def erasure_job_finished(*, job: RecordStoreJob) -> None:
    """`job_finished` receiver: inside the job's completion transaction, complete the request."""
    request_id = (
        Fulfilment.objects.filter(job_id=job.pk).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        return  # a job that is not a request's (a staff erasure in the record store)
    request = _request_locked(request_id)
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
        _recipients_notify(request, Change.ERASURE, outcome.get("disclosures") or {})
    _finish(request, fulfilment, timezone.now())


# --- A worker that gave up: trying again ---------------------------------------------------------


def fulfilment_retry(*, request: SubjectRequest, actor) -> RecordStoreJob | DataPackage:
    """Hand what the workers gave up on to them again (an approver, once the cause is fixed).

    An erasure job that failed JOB_MAX_ATTEMPTS times (`jobs_reclaimable` marks it
    `failed`) goes back to `approved` with its attempts, error and lease cleared;
    it resumes after the last batch carried out, and completes the request as
    usual. A `failed` access or portability package is built again
    (`packages.package_retry`). The run is queued through the outbox; one audit
    entry on the request's timeline. Refused (`InvalidTransition`, code
    `nothing_failed`) when nothing failed.
    """
    if request.kind in (K.ACCESS, K.PORTABILITY):
        return package_retry(request=request, actor=actor)
    permission_require(
        user=actor, action=Action.RETRY_FULFILMENT, organisation_id=request.organisation_id
    )
    with transaction.atomic():
        request = _request_locked(request.pk)
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
        _require(
            request,
            kinds=(K.ERASURE,),
            statuses=(S.FULFILLING,),
            action=pgettext("staff action", "try again"),
        )
        attempts, error = job.attempts, job.error
        job_retry(job=job, user=actor)
        message = outbox_enqueue(task_name=ERASURE_RUN_TASK, payload={"job_id": job.pk})
        _log(
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


# --- Completion and the reply -----------------------------------------------------------------


def _finish(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
    """Record the outcome; complete the request with the reply (unless staff closed it already)."""
    fulfilment.completed_at = now
    fulfilment.save()
    if request.status not in FINISHABLE:
        return
    previous = request.status
    resolution = request_close(
        request=request, actor=None, outcome=S.COMPLETED, now=now, text=reply_text(request=request)
    )
    _log(
        request,
        "requests.request.completed",
        {"from": previous, "on_time": resolution.on_time, "fulfilment": True},
    )
    request_notify(request=request, template="request_completed")


def reply_text(*, request: SubjectRequest) -> str:
    """The reply to the person, in their language, from what was done."""
    with translation.override(request.language):
        context = reply_context(request=request)
        text = render_to_string("requests_app/fulfilment/reply.txt", context)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def reply_context(*, request: SubjectRequest) -> dict:
    """What the reply says, with names and dates in the active language."""
    fulfilment = Fulfilment.objects.filter(request=request).first()
    outcome = fulfilment.outcome if fulfilment else {}
    names = Names.of(request.organisation_id)
    tz = request.organisation.time_zone
    context: dict = {"request": request, "kind": request.kind}
    context["no_subject"] = not request_subject_ids(request=request)
    if "erasure" in outcome:
        context["erasure"] = _erasure_reply(outcome["erasure"], names, tz)
    if "restriction" in outcome:
        data = outcome["restriction"]
        grounds = dict(RESTRICTION_GROUNDS)
        context["restriction"] = {
            "records": data["records"],
            "ground": str(grounds.get(data.get("ground"), "")),
            "categories": [names.categories.get(k, k) for k in data.get("categories") or []],
        }
    if "marketing" in outcome:
        context["marketing"] = outcome["marketing"]
    if "consent" in outcome:
        context["consent"] = {
            "purposes": [names.purposes.get(k, k) for k in outcome["consent"]["purposes"]],
            "erased": outcome["consent"]["erased"],
        }
    # Records a legal hold kept from being erased: restricted instead (no detail of the hold).
    context["held"] = sum(
        (outcome.get(part) or {}).get("held", 0) for part in ("marketing", "consent", "objection")
    )
    if "objection" in outcome:
        decisions = {
            d.purpose.key: d
            for d in ObjectionDecision.objects.filter(request=request).select_related("purpose")
        }
        data = outcome["objection"]
        context["objection"] = {
            "stopped": [names.purposes.get(k, k) for k in data["stopped"]],
            "continued": [
                {"purpose": names.purposes.get(k, k), "reason": decisions[k].reason}
                for k in data["continued"]
                if k in decisions
            ],
            "restricted": data["restricted"],
        }
    if "rectification" in outcome:
        corrections = (request.details or {}).get("corrections") or []
        decisions = list(CorrectionDecision.objects.filter(request=request))
        context["rectification"] = {
            "accepted": [
                corrections[d.index]
                for d in decisions
                if d.applied_at and d.index < len(corrections)
            ],
            "restricted": [
                corrections[d.index]
                for d in decisions
                if d.withheld == "restricted" and d.index < len(corrections)
            ],
            "held": [
                corrections[d.index]
                for d in decisions
                if d.withheld == "legal_hold" and d.index < len(corrections)
            ],
            "rejected": [
                {**corrections[d.index], "reason": d.reason}
                for d in decisions
                if not d.accepted and d.index < len(corrections)
            ],
            "statement": outcome["rectification"]["statement"],
        }
    notifications = list(
        RecipientNotification.objects.filter(request=request).select_related("recipient")
    )
    seen: dict[int, dict] = {}
    for n in notifications:
        entry = seen.setdefault(
            n.recipient_id, {"name": localized_name(n.recipient), "changes": []}
        )
        entry["changes"].append(n.get_change_display())
    context["recipients"] = list(seen.values())
    erasure_result = (outcome.get("erasure") or {}).get("result") or {}
    context["changed"] = bool(
        erasure_result.get("deleted", 0) + erasure_result.get("reduced", 0)
        or (outcome.get("restriction") or {}).get("records")
        or (outcome.get("rectification") or {}).get("applied")
    )
    return context


def _erasure_reply(data: dict, names: Names, time_zone: str) -> dict:
    erased, reduced, kept = [], [], []
    for group in data.get("groups") or []:
        item = {
            "category": names.categories.get(group["category"], group["category"]),
            "records": group["records"],
            "fields": [field_label(f) for f in group["fields"]],
            "until": last_day(group["until"], time_zone),
            "reason": _reason_text(group["reason"], names.rules.get(group["rule"] or "")),
            "hold": group["reason"] == "legal_hold",
        }
        {"delete": erased, "reduce": reduced, "keep": kept}[group["action"]].append(item)
    return {"erased": erased, "reduced": reduced, "kept": kept, "nothing": not data.get("groups")}


def _reason_text(reason: str, rule) -> str:
    """Why data is kept, in plain words (Art. 17(3))."""
    if reason == "legal_hold":
        return _(
            "A legal hold stops us from erasing it, for example because of a legal dispute or an "
            "order from an authority (Art. 17(3)(e) GDPR)."
        )
    if rule is not None and "bokföringslagen" in f"{rule.name_sv} {rule.reading}".lower():
        return _(
            "The Swedish Bookkeeping Act (bokföringslagen 1999:1078, chapter 7, section 2) "
            "requires us to keep accounting records until the end of the seventh year after the "
            "end of the calendar year in which the financial year ended (Art. 17(3)(b) GDPR)."
        )
    if rule is not None:
        return _("A law requires us to keep it: %(rule)s (Art. 17(3)(b) GDPR).") % {
            "rule": localized_name(rule)
        }
    return _("A law requires us to keep it (Art. 17(3)(b) GDPR).")


# --- Art. 19: telling the recipients ----------------------------------------------------------


def _affected_disclosures(
    request: SubjectRequest,
    subject_ids: list[int],
    records: QuerySet[Record],
    *,
    loose_categories: list[str] | None,
) -> dict[str, list[int]]:
    """{recipient id: [disclosure ids]} of the data about to change (one query).

    A disclosure of one of `records`; or, where a disclosure names no record,
    one in `loose_categories` (None: any category, [] : none).
    """
    if not subject_ids:
        return {}
    match = Q(record__in=records)
    if loose_categories is None:
        match |= Q(record__isnull=True)
    elif loose_categories:
        match |= Q(record__isnull=True, category__key__in=loose_categories)
    rows = (
        Disclosure.objects.filter(
            organisation_id=request.organisation_id, subject_id__in=subject_ids
        )
        .filter(match)
        .values_list("recipient_id", "pk")
        .order_by("recipient_id", "pk")
    )
    found: dict[str, list[int]] = {}
    for recipient_id, disclosure_id in rows:
        found.setdefault(str(recipient_id), []).append(disclosure_id)
    return found


def _recipients_notify(request: SubjectRequest, change: str, disclosures: dict) -> None:
    """One notice per recipient for this change, through the outbox (caller's transaction)."""
    if not disclosures:
        return
    recipients = Recipient.objects.filter(
        organisation_id=request.organisation_id, pk__in=[int(k) for k in disclosures]
    ).order_by("pk")
    now = timezone.now()
    for recipient in recipients:
        notice, created = RecipientNotification.objects.get_or_create(
            request=request,
            recipient=recipient,
            change=change,
            defaults={"created_at": now, "disclosure_ids": disclosures[str(recipient.pk)]},
        )
        if not created:
            if notice.state == RecipientNotification.State.PENDING:
                merged = sorted(set(notice.disclosure_ids) | set(disclosures[str(recipient.pk)]))
                notice.disclosure_ids = merged
                notice.save(update_fields=["disclosure_ids"])
            continue
        if recipient.contact_email:
            message = outbox_enqueue(
                task_name=RECIPIENT_TASK, payload={"notification_id": notice.pk}
            )
            notice.outbox_message_id = message.pk
            notice.save(update_fields=["outbox_message_id"])
            continue
        notice.state = RecipientNotification.State.NO_ADDRESS
        notice.save(update_fields=["state"])
        logger.warning(
            "Art. 19 notice %s not sent: recipient %s has no e-mail address",
            notice.pk,
            recipient.pk,
        )
        _log(
            request,
            "requests.recipient.no_address",
            {"recipient_id": recipient.pk, "notification_id": notice.pk, "change": change},
        )


def recipient_notify(*, notification_id: int, outbox_message_id: int | None = None) -> bool:
    """E-mail one Art. 19 notice (the outbox task calls this); a repeat sends nothing."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        notice = (
            RecipientNotification.objects.select_for_update(of=("self",))
            .select_related("request__organisation", "recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notice is None or notice.state != RecipientNotification.State.PENDING:
            outbox_message_done(message)
            return False
        request = notice.request
        organisation = request.organisation
        with translation.override(organisation.default_language):
            context = _recipient_context(notice)
        email_send_to(
            to=notice.recipient.contact_email,
            language=organisation.default_language,
            template="recipient_notice",
            reply_to=organisation.dpo_email or organisation.contact_email,
            context=context,
        )
        notice.state = RecipientNotification.State.SENT
        notice.sent_at = timezone.now()
        notice.save(update_fields=["state", "sent_at"])
        _log(
            request,
            "requests.recipient.notified",
            {
                "recipient_id": notice.recipient_id,
                "notification_id": notice.pk,
                "change": notice.change,
            },
        )
        outbox_message_done(message)
    return True


def _recipient_context(notice: RecipientNotification) -> dict:
    """What the recipient needs to act: the organisation's ids of the person and the disclosures."""
    request = notice.request
    disclosures = list(
        Disclosure.objects.filter(
            organisation_id=request.organisation_id, pk__in=notice.disclosure_ids
        )
        .select_related("category", "record")
        .order_by("disclosed_at", "pk")
    )
    subject_ids = sorted({d.subject_id for d in disclosures})
    corrections = []
    if notice.change == Change.RECTIFICATION:
        record_ids = {d.record_id for d in disclosures if d.record_id}
        loose = {d.category_id for d in disclosures if d.record_id is None}
        corrections = [
            {"field": field_label(d.field), "value": d.value, "record": d.record_id}
            for d in CorrectionDecision.objects.filter(
                request=request, applied_at__isnull=False
            ).select_related("record")
            if d.record_id in record_ids or (d.record and d.record.category_id in loose)
        ]
    return {
        "organisation": request.organisation,
        "recipient": notice.recipient,
        "recipient_name": localized_name(notice.recipient),
        "change": notice.change,
        "reference": request.reference,
        "subject_external_ids": list(
            DataSubject.objects.filter(pk__in=subject_ids)
            .order_by("pk")
            .values_list("external_id", flat=True)
        ),
        "disclosures": [
            {
                "reference": d.external_id,
                "date": d.disclosed_at,
                "category": localized_name(d.category) if d.category else "",
            }
            for d in disclosures
        ],
        "corrections": corrections,
    }


# --- Staff decisions before approval ----------------------------------------------------------


def fulfilment_approval_check(*, request: SubjectRequest) -> None:
    """Called by `staff.request_approve` (row locked): what must be decided before approval."""
    if request.kind != K.RECTIFICATION:
        return
    rows = len((request.details or {}).get("corrections") or [])
    decided = CorrectionDecision.objects.filter(request=request, index__lt=rows).count()
    if decided < rows:
        raise StaffActionError(
            _("Accept or reject every proposed correction before approving."), code="undecided"
        )


# Kinds a worker carries out after approval and that complete themselves when it is done
# (the erasure job's `job_finished`, the restriction in `fulfilment_start`, the package's
# release): staff cannot complete them by hand, or a request could be closed with nothing done.
COMPLETED_BY_FULFILMENT = (K.ERASURE, K.RESTRICTION, K.ACCESS, K.PORTABILITY)


def fulfilment_completion_check(*, request: SubjectRequest) -> None:
    """Called by `staff.request_complete` (row locked): may staff complete it by hand?"""
    if request.kind not in COMPLETED_BY_FULFILMENT:
        return
    if request.kind in (K.ACCESS, K.PORTABILITY):
        done = DataPackage.objects.filter(
            request=request, state=DataPackage.State.RELEASED
        ).exists()
        message = _(
            "An access or portability request is completed when its package is released to "
            "the person: approve the request, and release the package once it is built. It "
            "cannot be completed by hand."
        )
    else:
        done = Fulfilment.objects.filter(request=request, completed_at__isnull=False).exists()
        if request.kind == K.ERASURE:
            message = _(
                "An erasure request is completed when its erasure has been carried out: approve "
                "the request, then its erasure plan; the person gets the reply when the worker "
                "has finished. It cannot be completed by hand."
            )
        else:
            message = _(
                "A restriction request is completed when the restriction has been applied: "
                "approve the request; the person gets the reply when the records are "
                "restricted. It cannot be completed by hand."
            )
    if not done:
        raise InvalidTransition(message, code="completed_by_fulfilment")


def correction_decide(
    *,
    request: SubjectRequest,
    actor,
    index: int,
    accepted: bool,
    target: str = "",
    value: str = "",
    reason: str = "",
) -> CorrectionDecision:
    """Accept a proposed correction (into a record's field) or reject it with a reason."""
    permission_require(user=actor, action=Action.DECIDE, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = _request_locked(request.pk)
        _require(
            request,
            kinds=(K.RECTIFICATION,),
            statuses=DECIDABLE,
            action=pgettext("staff action", "decide on a correction"),
        )
        corrections = (request.details or {}).get("corrections") or []
        if not 0 <= index < len(corrections):
            raise StaffActionError(_("There is no such proposed correction."), code="index")
        record, field = None, ""
        if accepted:
            record_id, _sep, field = (target or "").partition(":")
            record = (
                _records(request, request_subject_ids(request=request))
                .select_related("category")
                .filter(pk=int(record_id) if record_id.isdigit() else 0)
                .first()
            )
            if record is None or field not in record.category.fields:
                raise StaffActionError(
                    _("Choose the record and field the correction goes into."), code="target"
                )
            value = (value or "").strip() or corrections[index].get("correct", "")
            reason = ""
        else:
            reason = (reason or "").strip()
            if not reason:
                raise StaffActionError(
                    _("Tell the person why the correction is rejected."), code="reason"
                )
            value = ""
        decision, _created = CorrectionDecision.objects.update_or_create(
            request=request,
            index=index,
            defaults={
                "accepted": accepted,
                "record": record,
                "field": field,
                "value": value[:500],
                "reason": reason[:2000],
                "decided_by": actor,
                "decided_at": timezone.now(),
            },
        )
        _log(
            request,
            "requests.correction.decided",
            {"index": index, "accepted": accepted, "record_id": record.pk if record else None},
            actor=actor,
        )
    return decision


def objection_decide(
    *, request: SubjectRequest, actor, purpose_key: str, compelling: bool, reason: str = ""
) -> ObjectionDecision:
    """Record whether compelling legitimate grounds override the objection to one purpose.

    Without a decision the objection wins: processing for the purpose stops.
    """
    permission_require(user=actor, action=Action.DECIDE, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = _request_locked(request.pk)
        _require(
            request,
            kinds=(K.OBJECTION,),
            statuses=DECIDABLE,
            action=pgettext("staff action", "decide on an objection"),
        )
        if purpose_key not in ((request.details or {}).get("purposes") or []):
            raise StaffActionError(_("The person did not object to that purpose."), code="purpose")
        purpose = Purpose.objects.filter(
            organisation_id=request.organisation_id, key=purpose_key
        ).first()
        if purpose is None:
            raise StaffActionError(
                _("That purpose is no longer in the organisation's privacy policy."),
                code="purpose",
            )
        reason = (reason or "").strip()
        if compelling and not reason:
            raise StaffActionError(
                _("State the compelling legitimate grounds; the person is told them."),
                code="reason",
            )
        decision, _created = ObjectionDecision.objects.update_or_create(
            request=request,
            purpose=purpose,
            defaults={
                "compelling_grounds": compelling,
                "reason": reason[:2000] if compelling else "",
                "decided_by": actor,
                "decided_at": timezone.now(),
            },
        )
        _log(
            request,
            "requests.objection.decided",
            {"purpose_id": purpose.pk, "compelling_grounds": compelling},
            actor=actor,
        )
    return decision


# --- Lifting a restriction (Art. 18(3)) -------------------------------------------------------


def restriction_lift_request(*, request: SubjectRequest, actor, reason: str) -> RestrictionLift:
    """Lift a restriction: the person is told first (an e-mail), then it is lifted."""
    permission_require(
        user=actor, action=Action.LIFT_RESTRICTION, organisation_id=request.organisation_id
    )
    reason = (reason or "").strip()
    if not reason:
        raise StaffActionError(
            _("Explain why the restriction is lifted; the person is told."), code="reason"
        )
    with transaction.atomic():
        request = _request_locked(request.pk)
        _require(
            request,
            kinds=(K.RESTRICTION,),
            statuses=(S.COMPLETED,),
            action=pgettext("staff action", "lift the restriction"),
        )
        if RestrictionLift.objects.filter(request=request).exists():
            raise StaffActionError(_("The restriction is already being lifted."), code="lifted")
        lift = RestrictionLift.objects.create(
            request=request, reason=reason[:2000], requested_by=actor, requested_at=timezone.now()
        )
        message = outbox_enqueue(task_name=LIFT_NOTICE_TASK, payload={"request_id": request.pk})
        lift.notice_message_id = message.pk
        lift.save(update_fields=["notice_message_id"])
        _log(request, "requests.restriction.lift_requested", {"lift_id": lift.pk}, actor=actor)
    return lift


def restriction_lift_notice_send(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Tell the person the restriction will be lifted; only then queue the lifting."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        lift = (
            RestrictionLift.objects.select_for_update(of=("self",))
            .select_related("request__organisation")
            .filter(request_id=request_id)
            .first()
        )
        if lift is None or lift.notified_at is not None:
            outbox_message_done(message)
            return False
        request = lift.request
        email_send(
            request=request,
            template="restriction_lift_notice",
            context={"lift": lift, "status_url": _status_url(request)},
        )
        lift.notified_at = timezone.now()
        lift.save(update_fields=["notified_at"])
        _log(request, "requests.restriction.lift_notified", {"lift_id": lift.pk})
        outbox_enqueue(task_name=LIFT_TASK, payload={"request_id": request.pk})
        outbox_message_done(message)
    return True


def restriction_lift_carry_out(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Lift the restriction once the person has been told (Art. 18(3)); safe to repeat."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        lift = (
            RestrictionLift.objects.select_for_update(of=("self",))
            .select_related("request__organisation", "requested_by")
            .filter(request_id=request_id)
            .first()
        )
        if lift is None or lift.notified_at is None or lift.lifted_at is not None:
            outbox_message_done(message)
            return False
        request = lift.request
        lift.records = restriction_lift(
            organisation=request.organisation,
            # Only this request's own reference leaves the records: an undo, so it covers
            # every subject the request ever marked.
            subject_ids=request_subject_ids_marked(request=request),
            reference=request.reference,
            user=lift.requested_by,
        )
        lift.lifted_at = timezone.now()
        lift.save(update_fields=["records", "lifted_at"])
        _log(
            request,
            "requests.restriction.lifted",
            {"lift_id": lift.pk, "records": lift.records, "requested_by": lift.requested_by_id},
        )
        outbox_message_done(message)
    return True


def _status_url(request: SubjectRequest) -> str:
    return public_url(
        reverse(
            "requests_public:status",
            kwargs={"org_slug": request.organisation.slug, "reference": request.reference},
        )
    )
