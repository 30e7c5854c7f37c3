"""Rectification (Art. 16): staff decide each proposed correction, the start applies them.

`correction_decide` records, before approval, whether a proposed correction is
accepted (into which record and field) or rejected (and why);
`rectification_start` (from `fulfilment_start`) applies the accepted ones and
stores the supplementary statement. A correction to a record that is
restricted (Art. 18) or kept under a legal hold is recorded
(`CorrectionDecision.withheld`), not applied, and the reply says why.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from requests_app.models import (
    CorrectionDecision,
    Fulfilment,
    RecipientNotification,
    RequestKind,
    SubjectRequest,
)
from requests_app.permissions import Action, permission_require
from requests_app.selectors.matching import request_subject_ids
from requests_app.services.fulfilment.common import (
    DECIDABLE,
    audit,
    request_locked,
    state_require,
    subject_records,
)
from requests_app.services.fulfilment.notices import affected_disclosures, recipients_notify
from requests_app.services.fulfilment.reply import fulfilment_finish
from requests_app.services.workflow import StaffActionError
from retention.models import Record
from retention.services.rights import rectification_apply

K = RequestKind
Change = RecipientNotification.Change


def rectification_start(request: SubjectRequest, fulfilment: Fulfilment, now) -> None:
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
    existing = subject_records(request, subject_ids).filter(pk__in=[d.record_id for d in accepted])
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
    changed = subject_records(request, subject_ids).filter(pk__in=[d.record_id for d in applied])
    categories = sorted(set(changed.values_list("category__key", flat=True)))
    disclosures = affected_disclosures(request, subject_ids, changed, loose_categories=categories)
    fulfilment.outcome["rectification"] = {
        "applied": len(applied),
        "withheld": len(wanted) - len(applied),
        "records": result["records"],
        "statement": bool(statement and subject_ids),
        "subjects": len(subject_ids),
    }
    if applied:
        recipients_notify(request, Change.RECTIFICATION, disclosures)
    fulfilment_finish(request, fulfilment, now)


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
        request = request_locked(request.pk)
        state_require(
            request,
            kinds=(K.RECTIFICATION,),
            statuses=DECIDABLE,
            action=pgettext("staff action", "decide on a correction"),
        )
        corrections = (request.details or {}).get("corrections") or []
        if not 0 <= index < len(corrections):
            raise StaffActionError(_("There is no such proposed correction."), code="index")
        if accepted:
            record, field = _correction_target(request, target)
            value = (value or "").strip() or corrections[index].get("correct", "")
            reason = ""
        else:
            record, field, value = None, "", ""
            reason = (reason or "").strip()
            if not reason:
                raise StaffActionError(
                    _("Tell the person why the correction is rejected."), code="reason"
                )
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
        audit(
            request,
            "requests.correction.decided",
            {"index": index, "accepted": accepted, "record_id": record.pk if record else None},
            actor=actor,
        )
    return decision


def _correction_target(request: SubjectRequest, target: str) -> tuple[Record, str]:
    """The record and field an accepted correction goes into (`target`: "<record id>:<field>").

    Only a record of the request's matched subjects, and a field its category has.
    """
    record_id, _sep, field = (target or "").partition(":")
    record = (
        subject_records(request, request_subject_ids(request=request))
        .select_related("category")
        .filter(pk=int(record_id) if record_id.isdigit() else 0)
        .first()
    )
    if record is None or field not in record.category.fields:
        raise StaffActionError(
            _("Choose the record and field the correction goes into."), code="target"
        )
    return record, field
