"""Finding the organisation's data subjects for a verified request.

The verified e-mail address is the strongest link: the person proved they
control it. A personnummer or customer number the person typed is not proven,
so matches made with them are stored with their method and the summary asks
staff to check them when they point at someone else.
"""

from __future__ import annotations

from requests_app.models import MatchMethod, RequestSubjectMatch, SubjectRequest
from retention.models import SubjectIdentifier


def request_match(*, request: SubjectRequest) -> list[RequestSubjectMatch]:
    """Store the matches and the method on the request; return the matches."""
    lookups = [
        (MatchMethod.EMAIL, SubjectIdentifier.Kind.EMAIL, request.email),
        (MatchMethod.PERSONNUMMER, SubjectIdentifier.Kind.PERSONNUMMER, request.personnummer),
        (
            MatchMethod.CUSTOMER_NUMBER,
            SubjectIdentifier.Kind.CUSTOMER_NUMBER,
            request.customer_number,
        ),
    ]
    found: dict[str, set[int]] = {}
    for method, kind, value in lookups:
        if not value:
            continue
        found[method] = set(
            SubjectIdentifier.objects.filter(
                organisation_id=request.organisation_id, kind=kind, value=value
            ).values_list("subject_id", flat=True)
        )
    RequestSubjectMatch.objects.bulk_create(
        [
            RequestSubjectMatch(request=request, subject_id=subject_id, method=method)
            for method, subject_ids in found.items()
            for subject_id in sorted(subject_ids)
        ],
        ignore_conflicts=True,
    )
    matched = {method: ids for method, ids in found.items() if ids}
    request.match_method = next(iter(matched), MatchMethod.NONE)
    parts = [f"{method}: {len(ids)} subject(s)" for method, ids in matched.items()]
    all_subjects = set().union(*matched.values()) if matched else set()
    if len(all_subjects) > 1:
        parts.append("identifiers point at different subjects: check before acting")
    if matched and MatchMethod.EMAIL not in matched:
        parts.append("not matched by the verified e-mail: identity not proven for these")
    request.match_summary = ("; ".join(parts) or "no subject found")[:300]
    request.save(update_fields=["match_method", "match_summary", "updated_at"])
    return list(request.matches.all())
