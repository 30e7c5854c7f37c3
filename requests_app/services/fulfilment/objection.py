"""Objection (Art. 21) and withdrawal of consent (Art. 7(3)).

An objection to direct marketing (Art. 21(3)) and a withdrawal of consent are
honoured as soon as the e-mail address is verified, without staff
(`fulfilment_on_verified` -> `fulfilment_honour`): a withdrawal must be as
easy as giving consent, and a marketing objection is absolute. Only subjects
matched by the verified address are acted on automatically. A request in
which the person also typed a personnummer or customer number, or that also
objects to other purposes, then waits for staff, who approve the rest:
whether a typed identifier matched anyone never shows in what the person sees
(no oracle). An objection to legitimate-interest purposes (Art. 21(1)) is
carried out by `objection_start` from the decisions staff recorded before
approving (`objection_decide`): without a decision, the objection wins.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from requests_app.models import (
    Fulfilment,
    ObjectionDecision,
    RecipientNotification,
    RequestKind,
    RequestStatus,
    SubjectRequest,
)
from requests_app.permissions import Action, permission_require
from requests_app.selectors.matching import request_subject_ids
from requests_app.services.fulfilment.common import (
    DECIDABLE,
    audit,
    fulfilment_for,
    request_locked,
    state_require,
    subject_records,
)
from requests_app.services.fulfilment.notices import (
    affected_disclosures,
    of_erased_records,
    recipients_notify,
)
from requests_app.services.fulfilment.reply import fulfilment_finish
from requests_app.services.outbox import outbox_enqueue, outbox_message_claim, outbox_message_done
from requests_app.services.workflow import StaffActionError
from retention.models import LegalBasis, Purpose
from retention.services.rights import marketing_objection, processing_stop

S = RequestStatus
K = RequestKind
Change = RecipientNotification.Change

HONOUR_TASK = "requests_app.tasks.fulfilment_honour"
# A request whose direct-marketing objection or consent withdrawal is honoured on verification.
HONOURABLE = (S.NEW, S.IN_PROGRESS, S.AWAITING_SUBJECT, S.LINKED)


def objection_start(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
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
        records = subject_records(request, subject_ids).filter(purpose__key__in=stop)
        disclosures = affected_disclosures(request, subject_ids, records, loose_categories=[])
        counts = processing_stop(
            organisation=request.organisation,
            subject_ids=subject_ids,
            purpose_keys=stop,
            reason="objection",
            reference=request.reference,
        )
        if counts["restricted"]:
            recipients_notify(request, Change.RESTRICTION, disclosures)
    fulfilment.outcome["objection"] = {
        "stopped": stop,
        "continued": sorted(overriding),
        "restricted": counts["restricted"],
        "held": counts.get("held", 0),
        "subjects": len(subject_ids),
    }
    fulfilment_finish(request, fulfilment, now)


def consent_withdrawal_start(request: SubjectRequest, fulfilment: Fulfilment, now) -> None:
    remaining = _not_yet_honoured(fulfilment, request_subject_ids(request=request))
    if remaining or not fulfilment.honoured_at:
        _honour_consent(request, fulfilment, remaining)
    fulfilment_finish(request, fulfilment, now)


def _not_yet_honoured(fulfilment: Fulfilment, subject_ids: list[int]) -> list[int]:
    done = set(fulfilment.outcome.get("honoured_subject_ids") or [])
    return [s for s in subject_ids if s not in done]


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
        request = request_locked(request_id)
        if request is None:
            outbox_message_done(message)
            return False
        fulfilment = fulfilment_for(request)
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
        audit(
            request,
            "requests.request.honoured",
            {"subjects": len(proven), "waits_for_staff": staff_needed},
        )
        if request.status == S.NEW and not staff_needed:
            fulfilment_finish(request, fulfilment, now)
        else:
            fulfilment.save()
        outbox_message_done(message)
    return True


def _honoured(fulfilment: Fulfilment, subject_ids: list[int]) -> None:
    done = set(fulfilment.outcome.get("honoured_subject_ids") or [])
    fulfilment.outcome["honoured_subject_ids"] = sorted(done | set(subject_ids))


def _honour_marketing(request: SubjectRequest, fulfilment: Fulfilment, subject_ids) -> None:
    marketing_only = subject_records(request, subject_ids).filter(purpose__direct_marketing=True)
    disclosures = affected_disclosures(request, subject_ids, marketing_only, loose_categories=[])
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
        recipients_notify(request, Change.ERASURE, of_erased_records(disclosures))


def _honour_consent(request: SubjectRequest, fulfilment: Fulfilment, subject_ids) -> None:
    """Stop the consents chosen (all consent-based purposes when none was chosen)."""
    keys = [k for k in (request.details or {}).get("purposes") or [] if isinstance(k, str)]
    consent = Purpose.objects.filter(
        organisation_id=request.organisation_id, legal_basis=LegalBasis.CONSENT
    )
    if keys:
        consent = consent.filter(key__in=keys)
    keys = sorted(consent.values_list("key", flat=True))
    records = subject_records(request, subject_ids).filter(purpose__key__in=keys)
    disclosures = affected_disclosures(request, subject_ids, records, loose_categories=[])
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
        recipients_notify(request, Change.ERASURE, of_erased_records(disclosures))


def objection_decide(
    *, request: SubjectRequest, actor, purpose_key: str, compelling: bool, reason: str = ""
) -> ObjectionDecision:
    """Record whether compelling legitimate grounds override the objection to one purpose.

    Without a decision the objection wins: processing for the purpose stops.
    """
    permission_require(user=actor, action=Action.DECIDE, organisation_id=request.organisation_id)
    with transaction.atomic():
        request = request_locked(request.pk)
        state_require(
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
        audit(
            request,
            "requests.objection.decided",
            {"purpose_id": purpose.pk, "compelling_grounds": compelling},
            actor=actor,
        )
    return decision
