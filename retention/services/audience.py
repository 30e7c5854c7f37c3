"""Who may receive direct marketing for a purpose (the store API's marketing audience).

A subject of the organisation is in a purpose's audience when

- it has a record for the purpose that is not restricted (Art. 18, an
  objection's restriction, or kept restricted by an erasure),
- processing for the purpose has not stopped for it (`ProcessingStop`: an
  objection, Art. 21, or consent withdrawn, Art. 7(3)), and
- none of its e-mail addresses or phone numbers is on the organisation's
  suppression list (`retention.services.rights`).

The first two are filtered in SQL (`marketing_audience`). The suppression
list holds keyed hashes whose key is not in the database, so the subjects'
addresses are hashed here under every key of the keyring and looked up with
one `IN` per chunk of subjects, as every lookup by hash is. `Audience` reads
the subjects in order a chunk at a time until a slice holds as many
unsuppressed subjects as asked for: a page of the cursor pagination is full
(unless it is the last) however many suppressed subjects it passes, and the
cursor, placed after the page's last subject, skips and repeats no one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from retention.models import (
    DataSubject,
    Organisation,
    ProcessingStop,
    Purpose,
    Record,
    SubjectIdentifier,
    Suppression,
)
from retention.services.rights import suppression_hashes

CONTACT_KINDS = ("email", "phone")
# The fewest subjects read at a time while a slice fills up.
MIN_CHUNK = 100


class NotDirectMarketing(ValueError):
    """The purpose is not a direct-marketing purpose: it has no marketing audience."""


def marketing_audience(*, organisation: Organisation, purpose: Purpose) -> Audience:
    """The subjects that may receive marketing for `purpose` (in id order; see the module)."""
    if not purpose.direct_marketing:
        raise NotDirectMarketing("Not a direct-marketing purpose.")
    usable = Record.objects.filter(
        subject=OuterRef("pk"), purpose=purpose, restricted_at__isnull=True
    )
    stopped = ProcessingStop.objects.filter(subject=OuterRef("pk"), purpose=purpose)
    subjects = (
        DataSubject.objects.filter(organisation=organisation)
        .filter(Exists(usable))
        .exclude(Exists(stopped))
    )
    return Audience(subjects, organisation_id=organisation.pk).order_by("pk")


@dataclass(frozen=True)
class Member:
    """One subject of the audience: your id for it and its contacts."""

    pk: int
    external_id: str
    email: list[str]
    phone: list[str]


class Audience:
    """The subjects of a queryset, ordered by id, the suppressed left out, as `Member`s.

    Queryset-like for `CursorPagination`: `order_by` ("pk" or "-pk") and
    `filter` narrow the subjects in SQL; a slice reads them a chunk at a time
    (three queries a chunk: the subjects, their contacts, the suppressions
    among those) until it holds as many members as it asks for.
    """

    def __init__(
        self, subjects: QuerySet[DataSubject], *, organisation_id: int, descending: bool = False
    ) -> None:
        self.subjects = subjects
        self.organisation_id = organisation_id
        self.descending = descending

    def order_by(self, *fields: str) -> Audience:
        if fields not in (("pk",), ("-pk",)):
            raise ValueError("the audience is read in id order")
        return Audience(
            self.subjects.order_by(*fields),
            organisation_id=self.organisation_id,
            descending=fields == ("-pk",),
        )

    def filter(self, *args, **kwargs) -> Audience:
        return Audience(
            self.subjects.filter(*args, **kwargs),
            organisation_id=self.organisation_id,
            descending=self.descending,
        )

    def __getitem__(self, bounds: slice) -> list[Member]:
        if not isinstance(bounds, slice) or bounds.step or bounds.stop is None:
            raise TypeError("the audience is read in slices [start:stop]")
        members: list[Member] = []
        rest = self.subjects
        while len(members) < bounds.stop:
            size = max(bounds.stop - len(members), MIN_CHUNK)
            chunk = list(rest.values_list("pk", "external_id")[:size])
            members += self._unsuppressed(chunk)
            if len(chunk) < size:
                break  # no one further
            after = chunk[-1][0]
            rest = self.subjects.filter(**{"pk__lt" if self.descending else "pk__gt": after})
        return members[bounds.start or 0 : bounds.stop]

    def _unsuppressed(self, chunk: list[tuple[int, str]]) -> list[Member]:
        contacts: dict[int, list[tuple[str, str]]] = {}
        for subject_id, kind, value in SubjectIdentifier.objects.filter(
            subject_id__in=[pk for pk, _external_id in chunk], kind__in=CONTACT_KINDS
        ).values_list("subject_id", "kind", "value"):
            contacts.setdefault(subject_id, []).append((kind, value))
        owners: dict[str, set[int]] = {}
        for subject_id, mine in contacts.items():
            for value_hash in suppression_hashes(mine):
                owners.setdefault(value_hash, set()).add(subject_id)
        suppressed = (
            set()
            if not owners
            else {
                subject_id
                for value_hash in Suppression.objects.filter(
                    organisation_id=self.organisation_id, value_hash__in=list(owners)
                ).values_list("value_hash", flat=True)
                for subject_id in owners[value_hash]
            }
        )
        return [
            Member(
                pk=pk,
                external_id=external_id,
                email=[v for k, v in contacts.get(pk, []) if k == "email"],
                phone=[v for k, v in contacts.get(pk, []) if k == "phone"],
            )
            for pk, external_id in chunk
            if pk not in suppressed
        ]
