"""What the fulfilment modules share: the row locks, the state check, the audit entry.

Every step locks the request row (`request_locked`) and its `Fulfilment` row
(`fulfilment_for`) in its transaction, checks the request's kind and status
(`state_require`) and writes one audit entry on the request's timeline
(`audit`: ids and counts, never personal data).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from requests_app.models import Fulfilment, RequestStatus, SubjectRequest
from requests_app.services.outbox import outbox_message_claim, outbox_message_done
from requests_app.services.workflow import InvalidTransition
from requests_app.services.workflow import request_locked as request_locked  # re-exported
from retention.audit import log_action
from retention.models import AuditEntry, Record

S = RequestStatus
# A request whose staff may still record decisions (corrections, objections) before approval.
DECIDABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT)


def audit(request: SubjectRequest, action: str, data: dict | None = None, actor=None) -> None:
    """One entry on the request's timeline: by `actor` (staff), or by the system."""
    log_action(
        action=action,
        actor_kind=AuditEntry.ActorKind.STAFF if actor else AuditEntry.ActorKind.SYSTEM,
        actor_id=actor.pk if actor else None,
        organisation=request.organisation,
        object_type="subject_request",
        object_id=request.pk,
        data=data or {},
    )


def fulfilment_for(request: SubjectRequest) -> Fulfilment:
    """The request's fulfilment row (the request row is locked by the caller)."""
    fulfilment, _created = Fulfilment.objects.select_for_update().get_or_create(request=request)
    return fulfilment


def state_require(request: SubjectRequest, *, kinds, statuses, action: str) -> None:
    """Refuse `action` (InvalidTransition) unless the request is of `kinds` and in `statuses`."""
    if request.kind not in kinds or request.status not in statuses:
        raise InvalidTransition(
            _("This request is “%(status)s”: “%(action)s” is not possible in that state.")
            % {"status": request.get_status_display(), "action": action}
        )


def subject_records(request: SubjectRequest, subject_ids: list[int]) -> QuerySet[Record]:
    """The organisation's records of the given subjects."""
    return Record.objects.filter(
        organisation_id=request.organisation_id, subject_id__in=subject_ids
    )


def outbox_message_complete(*, outbox_message_id: int | None) -> None:
    """Mark a message whose task recognises repeats by other means (a job's lease) as done."""
    with transaction.atomic():
        message, done = outbox_message_claim(outbox_message_id)
        if not done:
            outbox_message_done(message)
