"""Finding the organisation's data subjects for a verified request, and staff's say over them.

The verified e-mail address is the only link the person proved: a subject it
matched is proven (`ProofMethod.EMAIL`). A personnummer or customer number the
person typed proves nothing (anyone can look one up), so a subject matched only
by one is stored unproven; staff prove it with an identity check for that
subject (`staff.request_identity_confirm`), or exclude it (`staff.match_exclude`).
Approval refuses while an included match is unproven, and fulfilment acts
only on included, proven subjects (`requests_app.selectors.matching`).

Nothing here changes what the person sees: whether a typed identifier matched
anyone is for staff only.
"""

from __future__ import annotations

from requests_app.models import (
    MatchMethod,
    ProofMethod,
    RequestSubjectMatch,
    SubjectRequest,
)
from retention.models import SubjectIdentifier

# Strongest first: the first method that matched a subject is its `method`.
_LOOKUPS = (
    (MatchMethod.EMAIL, SubjectIdentifier.Kind.EMAIL, "email"),
    (MatchMethod.PERSONNUMMER, SubjectIdentifier.Kind.PERSONNUMMER, "personnummer"),
    (MatchMethod.CUSTOMER_NUMBER, SubjectIdentifier.Kind.CUSTOMER_NUMBER, "customer_number"),
)


def request_match(*, request: SubjectRequest) -> list[RequestSubjectMatch]:
    """Store one match per subject, with its methods and whether it is proven; return them."""
    found: dict[str, set[int]] = {}
    for method, kind, attribute in _LOOKUPS:
        value = getattr(request, attribute)
        if not value:
            continue
        found[method] = set(
            SubjectIdentifier.objects.filter(
                organisation_id=request.organisation_id, kind=kind, value=value
            ).values_list("subject_id", flat=True)
        )
    by_subject: dict[int, list[str]] = {}
    for method, subject_ids in found.items():
        for subject_id in subject_ids:
            by_subject.setdefault(subject_id, []).append(method)
    RequestSubjectMatch.objects.bulk_create(
        [
            RequestSubjectMatch(
                request=request,
                subject_id=subject_id,
                method=methods[0],
                methods=methods,
                proven_by=ProofMethod.EMAIL if MatchMethod.EMAIL in methods else ProofMethod.NONE,
            )
            for subject_id, methods in sorted(by_subject.items())
        ],
        ignore_conflicts=True,
    )
    matched = {method: ids for method, ids in found.items() if ids}
    request.match_method = next(iter(matched), MatchMethod.NONE)
    parts = [f"{method}: {len(ids)} subject(s)" for method, ids in matched.items()]
    if len(by_subject) > 1:
        parts.append("identifiers point at different subjects: check before acting")
    unproven = [s for s, methods in by_subject.items() if MatchMethod.EMAIL not in methods]
    if unproven:
        parts.append(f"identity not proven for {len(unproven)} subject(s): check or exclude")
    request.match_summary = ("; ".join(parts) or "no subject found")[:300]
    request.save(update_fields=["match_method", "match_summary", "updated_at"])
    return list(request.matches.all())
