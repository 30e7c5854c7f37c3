"""Restriction (Art. 18): applied at the start; lifted only after the person is told.

`restriction_start` (from `fulfilment_start`) restricts the matched subjects'
records (the chosen categories, or all) and completes the request. Lifting it
tells the person first (Art. 18(3)): `restriction_lift_request` (staff) ->
`restriction_lift_notice_send` (the e-mail) -> `restriction_lift_carry_out`.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from requests_app.models import (
    Fulfilment,
    RecipientNotification,
    RequestKind,
    RequestStatus,
    RestrictionLift,
    SubjectRequest,
)
from requests_app.permissions import Action, permission_require
from requests_app.selectors.matching import request_subject_ids, request_subject_ids_marked
from requests_app.services.emails import email_send, public_url
from requests_app.services.fulfilment.common import (
    audit,
    request_locked,
    state_require,
    subject_records,
)
from requests_app.services.fulfilment.notices import affected_disclosures, recipients_notify
from requests_app.services.fulfilment.reply import fulfilment_finish
from requests_app.services.outbox import outbox_enqueue, outbox_message_claim, outbox_message_done
from requests_app.services.workflow import StaffActionError
from retention.services.rights import restriction_apply, restriction_lift

S = RequestStatus
K = RequestKind
Change = RecipientNotification.Change

LIFT_NOTICE_TASK = "requests_app.tasks.restriction_lift_notice"
LIFT_TASK = "requests_app.tasks.restriction_lift"
RESTRICTION_GROUND_CODES = ("a", "b", "c", "d")


def restriction_start(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
    details = request.details or {}
    ground = details.get("ground", "")
    code = f"art18_{ground}" if ground in RESTRICTION_GROUND_CODES else "art18"
    categories = details.get("categories") or None
    subject_ids = request_subject_ids(request=request)
    records = subject_records(request, subject_ids).filter(restricted_at__isnull=True)
    if categories:
        records = records.filter(category__key__in=categories)
    disclosures = affected_disclosures(request, subject_ids, records, loose_categories=categories)
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
        recipients_notify(request, Change.RESTRICTION, disclosures)
    fulfilment_finish(request, fulfilment, now)


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
        request = request_locked(request.pk)
        state_require(
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
        audit(request, "requests.restriction.lift_requested", {"lift_id": lift.pk}, actor=actor)
    return lift


def _lift_locked(request_id: int) -> RestrictionLift | None:
    """The request's restriction lift, locked (not its request or organisation rows)."""
    return (
        RestrictionLift.objects.select_for_update(of=("self",))
        .select_related("request__organisation", "requested_by")
        .filter(request_id=request_id)
        .first()
    )


def restriction_lift_notice_send(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Tell the person the restriction will be lifted; only then queue the lifting."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        lift = _lift_locked(request_id)
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
        audit(request, "requests.restriction.lift_notified", {"lift_id": lift.pk})
        outbox_enqueue(task_name=LIFT_TASK, payload={"request_id": request.pk})
        outbox_message_done(message)
    return True


def restriction_lift_carry_out(*, request_id: int, outbox_message_id: int | None = None) -> bool:
    """Lift the restriction once the person has been told (Art. 18(3)); safe to repeat."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if done:
            return False
        lift = _lift_locked(request_id)
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
        audit(
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
