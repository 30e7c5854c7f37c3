"""Reads for the public pages: the organisation's policy in the person's language."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from requests_app.choices import localized_name, offers_consent_withdrawal
from requests_app.labels import period_in_words
from requests_app.models import RequestKind
from retention.models import Organisation, Purpose, RetentionRule

# The rights of the policy files, mapped to the request form that exercises them.
RIGHT_FORMS = {
    "access": RequestKind.ACCESS,
    "notification_of_recipients": RequestKind.ACCESS,
    "rectification": RequestKind.RECTIFICATION,
    "erasure": RequestKind.ERASURE,
    "restriction": RequestKind.RESTRICTION,
    "objection": RequestKind.OBJECTION,
    "direct_marketing_objection": RequestKind.OBJECTION,
    "portability": RequestKind.PORTABILITY,
    "consent_withdrawal": RequestKind.CONSENT_WITHDRAWAL,
}


def _period(rule: RetentionRule) -> str:
    return period_in_words(rule.period_unit, rule.period_value or 0)


def retention_in_words(rule: RetentionRule) -> str:
    """A retention rule as a sentence: "Deleted 2 years after the end of the purpose."."""
    actions = {
        RetentionRule.Action.DELETE: _("Deleted"),
        RetentionRule.Action.ANONYMISE: _("Anonymised"),
        RetentionRule.Action.RESTRICT: _("Restricted"),
        RetentionRule.Action.KEEP: _("Kept"),
    }
    action = actions.get(rule.action, rule.get_action_display())
    if rule.action == RetentionRule.Action.KEEP or not rule.period_value:
        if rule.start_event == RetentionRule.StartEvent.RELATIONSHIP:
            return _("Kept while the relationship with you lasts.")
        return _("Kept without a set end date.")
    sentence = _("%(action)s %(period)s after %(event)s.") % {
        "action": action,
        "period": _period(rule),
        "event": rule.get_start_event_display(),
    }
    if rule.end_of_calendar_year:
        sentence += " " + _("The time is counted from the end of that calendar year.")
    elif rule.end_of_financial_year:
        sentence += " " + _(
            "The time is counted from the end of the calendar year in which that financial "
            "year ended."
        )
    return sentence


@dataclass
class PurposeView:
    name: str
    description: str
    legal_basis: str
    categories: list[str]
    recipients: list[str]
    retention: str
    direct_marketing: bool


@dataclass
class RightView:
    kind: str
    title: str
    quote: str


def organisation_purposes(organisation: Organisation) -> list[PurposeView]:
    purposes = (
        Purpose.objects.filter(organisation=organisation)
        .select_related("retention_rule")
        .prefetch_related("categories", "recipients")
        .order_by("key")
    )
    result = []
    for p in purposes:
        description = p.description_en if _is_english() else p.description_sv
        result.append(
            PurposeView(
                name=localized_name(p),
                description=description,
                legal_basis=p.get_legal_basis_display(),
                categories=[localized_name(c) for c in p.categories.all()],
                recipients=[localized_name(r) for r in p.recipients.all()],
                retention=retention_in_words(p.retention_rule),
                direct_marketing=p.direct_marketing,
            )
        )
    return result


def _is_english() -> bool:
    return (get_language() or "sv").startswith("en")


def organisation_rights(organisation: Organisation) -> list[RightView]:
    """One entry per request type, with the policy's own words where it has them.

    Consent withdrawal is offered only where some purpose is based on consent.
    """
    quotes: dict[str, list[str]] = {}
    for item in (organisation.policy or {}).get("rights") or []:
        kind = RIGHT_FORMS.get(item.get("right"))
        if kind and item.get("quote"):
            quotes.setdefault(kind, []).append(item["quote"])
    offered = list(RequestKind)
    if not offers_consent_withdrawal(organisation):
        offered.remove(RequestKind.CONSENT_WITHDRAWAL)
    return [
        RightView(kind=kind.value, title=str(kind.label), quote=" ".join(quotes.get(kind, [])))
        for kind in offered
    ]


def organisation_categories(organisation: Organisation) -> list[str]:
    return [localized_name(c) for c in organisation.categories.order_by("key")]


def organisation_recipients(organisation: Organisation) -> list[str]:
    return [localized_name(r) for r in organisation.recipients.order_by("key")]
