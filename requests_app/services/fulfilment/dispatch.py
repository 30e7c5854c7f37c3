"""Starting the fulfilment of an approved request: which right goes where.

`fulfilment_start` (the approval's outbox task) dispatches by kind: access and
portability to `packages.package_start`, every other kind to its starter
(`STARTERS`: `erasure`, `restriction`, `rectification`, `objection`). Also the
checks `staff.request_approve` and `staff.request_complete` make, and
`fulfilment_retry` for what a worker gave up on.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from requests_app.models import (
    CorrectionDecision,
    DataPackage,
    Fulfilment,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.services.fulfilment.common import (
    fulfilment_for,
    outbox_message_complete,
    request_locked,
)
from requests_app.services.fulfilment.erasure import erasure_retry, erasure_start
from requests_app.services.fulfilment.objection import consent_withdrawal_start, objection_start
from requests_app.services.fulfilment.rectification import rectification_start
from requests_app.services.fulfilment.restriction import restriction_start
from requests_app.services.outbox import outbox_message_claim, outbox_message_done
from requests_app.services.packages import package_retry, package_start
from requests_app.services.workflow import InvalidTransition, StaffActionError
from retention.models import RecordStoreJob

S = RequestStatus
K = RequestKind


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
        request = request_locked(request_id)
        fulfilment = fulfilment_for(request)
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


STARTERS = {
    K.ERASURE: erasure_start,
    K.RESTRICTION: restriction_start,
    K.RECTIFICATION: rectification_start,
    K.OBJECTION: objection_start,
    K.CONSENT_WITHDRAWAL: consent_withdrawal_start,
}


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


def fulfilment_retry(*, request: SubjectRequest, actor) -> RecordStoreJob | DataPackage:
    """Hand what the workers gave up on to them again (an approver, once the cause is fixed).

    An erasure job that failed JOB_MAX_ATTEMPTS times (`jobs_reclaimable` marks it
    `failed`) goes back to `approved` with its attempts, error and lease cleared;
    it resumes after the last batch carried out, and completes the request as
    usual (`erasure.erasure_retry`). A `failed` access or portability package is built again
    (`packages.package_retry`). The run is queued through the outbox; one audit
    entry on the request's timeline. Refused (`InvalidTransition`, code
    `nothing_failed`) when nothing failed.
    """
    if request.kind in (K.ACCESS, K.PORTABILITY):
        return package_retry(request=request, actor=actor)
    return erasure_retry(request=request, actor=actor)
