"""Completing a request with the reply to the person, rendered from what was done.

`fulfilment_finish` records the outcome and completes the request (unless
staff closed it already); the reply (`reply_text`, from `reply_context` and
`templates/requests_app/fulfilment/reply.txt`) is rendered in the person's
language from `Fulfilment.outcome`, stored as the request's resolution text
and sent with the `request_completed` e-mail (`staff.staff_notification_send`).
"""

from __future__ import annotations

import datetime as dt
import re

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from requests_app.choices import RESTRICTION_GROUNDS, localized_name
from requests_app.models import (
    CorrectionDecision,
    Fulfilment,
    ObjectionDecision,
    RecipientNotification,
    RequestStatus,
    SubjectRequest,
)
from requests_app.names import Names
from requests_app.selectors.fulfilment import last_day
from requests_app.selectors.matching import request_subject_ids
from requests_app.services.fulfilment.common import audit
from requests_app.services.workflow import request_close, request_notify
from retention.field_labels import field_label

S = RequestStatus
# A request that can still be completed by its fulfilment.
FINISHABLE = (S.NEW, S.IN_PROGRESS, S.APPROVED, S.FULFILLING)


def fulfilment_finish(request: SubjectRequest, fulfilment: Fulfilment, now: dt.datetime) -> None:
    """Record the outcome; complete the request with the reply (unless staff closed it already)."""
    fulfilment.completed_at = now
    fulfilment.save()
    if request.status not in FINISHABLE:
        return
    previous = request.status
    resolution = request_close(
        request=request, actor=None, outcome=S.COMPLETED, now=now, text=reply_text(request=request)
    )
    audit(
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
        context["restriction"] = _restriction_reply(outcome["restriction"], names)
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
        context["objection"] = _objection_reply(request, outcome["objection"], names)
    if "rectification" in outcome:
        context["rectification"] = _rectification_reply(request, outcome["rectification"])
    context["recipients"] = _recipients_reply(request)
    erasure_result = (outcome.get("erasure") or {}).get("result") or {}
    context["changed"] = bool(
        erasure_result.get("deleted", 0) + erasure_result.get("reduced", 0)
        or (outcome.get("restriction") or {}).get("records")
        or (outcome.get("rectification") or {}).get("applied")
    )
    return context


def _restriction_reply(data: dict, names: Names) -> dict:
    grounds = dict(RESTRICTION_GROUNDS)
    return {
        "records": data["records"],
        "ground": str(grounds.get(data.get("ground"), "")),
        "categories": [names.categories.get(k, k) for k in data.get("categories") or []],
    }


def _objection_reply(request: SubjectRequest, data: dict, names: Names) -> dict:
    """The purposes stopped, and those that continue with the compelling grounds staff gave."""
    decisions = {
        d.purpose.key: d
        for d in ObjectionDecision.objects.filter(request=request).select_related("purpose")
    }
    return {
        "stopped": [names.purposes.get(k, k) for k in data["stopped"]],
        "continued": [
            {"purpose": names.purposes.get(k, k), "reason": decisions[k].reason}
            for k in data["continued"]
            if k in decisions
        ],
        "restricted": data["restricted"],
    }


def _rectification_reply(request: SubjectRequest, data: dict) -> dict:
    """The person's proposed corrections, by what became of them (and why one was rejected)."""
    corrections = (request.details or {}).get("corrections") or []
    decisions = list(CorrectionDecision.objects.filter(request=request))
    return {
        "accepted": [
            corrections[d.index] for d in decisions if d.applied_at and d.index < len(corrections)
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
        "statement": data["statement"],
    }


def _recipients_reply(request: SubjectRequest) -> list[dict]:
    """Each recipient told of a change (Art. 19), with the changes it was told of."""
    notifications = list(
        RecipientNotification.objects.filter(request=request).select_related("recipient")
    )
    seen: dict[int, dict] = {}
    for n in notifications:
        entry = seen.setdefault(
            n.recipient_id, {"name": localized_name(n.recipient), "changes": []}
        )
        entry["changes"].append(n.get_change_display())
    return list(seen.values())


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
