"""What an access package says (Art. 15): the overview, the person's requests, the records.

`access_overview` is every item of Art. 15(1)(a)-(h) and 15(3) from the
record store (`retention.services.exports`), in the active language;
`category_records` streams one category's records from a server-side cursor.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from requests_app.labels import period_in_words
from requests_app.models import SubjectRequest
from requests_app.services.packages.common import SCHEMA_VERSION, schema_url
from retention.services import exports
from retention.services.policies import request_retention_period


def _automated_decisions(value) -> dict:
    """The policy's automated decision-making (Art. 15(1)(h)): none unless it says so."""
    if not value:
        return {"exists": False, "text": "", "quote": ""}
    if isinstance(value, dict):
        language = translation.get_language() or "sv"
        text = value.get(f"text_{language}") or value.get("text") or value.get(language) or ""
        if isinstance(text, dict):
            text = text.get(language) or text.get("sv") or ""
        return {"exists": True, "text": str(text), "quote": str(value.get("quote") or "")}
    return {"exists": True, "text": str(value), "quote": ""}


def access_overview(request: SubjectRequest, subject_ids: list[int]) -> dict:
    categories = request.details.get("categories") or None
    overview = exports.access_overview(
        organisation=request.organisation,
        subject_ids=subject_ids,
        language=request.language,
        categories=categories,
    )
    overview["automated_decision_making"] = _automated_decisions(
        overview["automated_decision_making"]
    )
    return {
        "schema": schema_url("access-v1"),
        "schema_version": SCHEMA_VERSION,
        "reference": request.reference,
        **overview,
        "scope": {"categories": list(categories or [])},
        "requests": _own_requests(request),
    }


def _own_requests(request: SubjectRequest) -> dict:
    """The person's other requests to the organisation: personal data too (Art. 15).

    Matched by the verified e-mail address of this request, and only requests
    whose address was verified (someone who proved control of the same
    address): never a request another person filed with another address.
    Anonymised requests hold no address and are not found. In the active
    language, with how long they are kept (Art. 15(1)(d)).
    """
    unit, amount = request_retention_period(organisation=request.organisation)
    others = (
        SubjectRequest.objects.filter(
            organisation_id=request.organisation_id,
            email=request.email,
            verified_at__isnull=False,
            anonymised_at__isnull=True,
        )
        .exclude(pk=request.pk)
        .exclude(email="")
        .select_related("resolution")
        .order_by("received_at", "id")
    )
    items = []
    for other in others:
        resolution = getattr(other, "resolution", None)
        items.append(
            {
                "reference": other.reference,
                "kind": other.kind,
                "kind_text": str(other.get_kind_display()),
                "received_at": timezone.localtime(other.received_at).isoformat(),
                "due_date": other.due_date.isoformat(),
                "status": other.status,
                "status_text": str(other.get_status_display()),
                "closed_at": timezone.localtime(resolution.decided_at).isoformat()
                if resolution
                else None,
            }
        )
    return {
        "retention": _(
            "We keep your requests to us for %(period)s after they are closed, to be able to "
            "show how we answered them; after that only statistics without your personal data "
            "remain."
        )
        % {"period": period_in_words(unit, amount)},
        "items": items,
    }


def category_records(
    request: SubjectRequest, subject_ids: list[int], category: str
) -> Iterator[dict]:
    for record in exports.access_records(
        organisation=request.organisation, subject_ids=subject_ids, categories=[category]
    ):
        record.pop("category")
        yield record
