"""The one answer to "whose data may this request act on?", and what staff see of its matches.

A personnummer or customer number the person typed proves nothing: anyone can
look one up. A matched data subject is *proven* when the verified e-mail
address matched it, or when staff recorded an identity check for it; staff
*include* or *exclude* each match. Every fulfilment path (packages, erasure,
restriction, rectification, objection, consent withdrawal, the marketing
objection, the reply, the Art. 19 notices) takes its subjects from
`request_subject_ids` and nothing else, so an unproven or excluded subject is
never included in or changed by anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from requests_app.models import (
    IdentityCheck,
    MatchMethod,
    ProofMethod,
    RequestSubjectMatch,
    SubjectRequest,
)


def _actionable(request: SubjectRequest) -> QuerySet[RequestSubjectMatch]:
    return RequestSubjectMatch.objects.filter(request=request, included=True).exclude(
        proven_by=ProofMethod.NONE
    )


def request_subject_ids(*, request: SubjectRequest) -> list[int]:
    """The subjects the request may act on: included and proven, sorted."""
    return sorted(_actionable(request).values_list("subject_id", flat=True))


def request_subject_ids_query(*, request: SubjectRequest) -> QuerySet:
    """The same subjects as a subquery (`subject_id__in=...`)."""
    return _actionable(request).values("subject_id")


def request_subject_ids_marked(*, request: SubjectRequest) -> list[int]:
    """Every subject ever matched, proven or not: only for *undoing* what the request itself
    marked with its reference (lifting its own Art. 18 restriction), so that nothing an
    earlier, unsafe approval marked is left behind. Never for acting on data."""
    return sorted(
        RequestSubjectMatch.objects.filter(request=request).values_list("subject_id", flat=True)
    )


def request_matches_unproven(*, request: SubjectRequest) -> list[RequestSubjectMatch]:
    """Included matches whose identity nobody proved: approval refuses while there are any."""
    return list(
        RequestSubjectMatch.objects.filter(
            request=request, included=True, proven_by=ProofMethod.NONE
        ).order_by("subject_id")
    )


def request_proven_by_email_only(*, request: SubjectRequest) -> bool:
    """Was every included subject proven by the verified e-mail address (not by staff)?

    Automatic release of a package needs this: a subject proven by a staff
    identity check is released by an approver who looked at the package.
    """
    return (
        not RequestSubjectMatch.objects.filter(request=request, included=True)
        .exclude(proven_by=ProofMethod.EMAIL)
        .exists()
    )


@dataclass(frozen=True)
class MatchRow:
    """A match as the staff page and the API show it (ids, no personal data)."""

    id: int
    subject_id: int
    methods: list[str]
    method_labels: list[str]
    included: bool
    proven: bool
    proven_by: str
    proven_by_label: str
    check: IdentityCheck | None


def request_matches(*, request: SubjectRequest) -> list[MatchRow]:
    """The request's matches with how each was proven (two queries)."""
    labels = dict(MatchMethod.choices)
    matches = RequestSubjectMatch.objects.filter(request=request).order_by("subject_id")
    matches = matches.prefetch_related(
        Prefetch(
            "identity_checks",
            queryset=IdentityCheck.objects.select_related("checked_by").order_by("-checked_at"),
        )
    )
    rows = []
    for m in matches:
        checks = list(m.identity_checks.all())
        methods = m.methods or [m.method]
        rows.append(
            MatchRow(
                id=m.pk,
                subject_id=m.subject_id,
                methods=methods,
                method_labels=[str(labels.get(x, x)) for x in methods],
                included=m.included,
                proven=m.proven,
                proven_by=m.proven_by,
                proven_by_label=str(m.get_proven_by_display()),
                check=checks[0] if checks else None,
            )
        )
    return rows
