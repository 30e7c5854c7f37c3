"""The rights other than erasure, carried out on the record store.

- Direct-marketing objection (Art. 21(2)-(3)): always honoured. The person's
  e-mail and phone go on the organisation's suppression list as keyed hashes
  (so the block survives a later erasure), marketing purposes stop, and the
  data held only for marketing is erased.
- Legal holds win everywhere: a record an active hold covers (`holds.held_sql`)
  is restricted (ground `legal_hold`) instead of erased, and never rectified;
  every function reports how many records a hold kept (`held`).
- Objection to other legitimate-interest purposes (Art. 21(1)): unless staff
  record compelling grounds, processing for the purpose stops and its data
  is restricted.
- Consent withdrawal (Art. 7(3)): consent-based purposes stop; their data
  has no other legal basis and is erased.
- Restriction (Art. 18): records are marked with the ground, the date and
  the reference of each request that restricted them; lifting one request's
  restriction is a separate step taken after the person has been told, and
  ends the restriction only of records no other request (or ground) keeps
  restricted.
- Rectification (Art. 16): accepted corrections overwrite the field; the old
  value is not kept in the record store. A record restricted under Art. 18 or
  held is left alone until the restriction or hold ends: its corrections are
  returned as withheld, with the reason.
- The processing check answers "may I process subject X for purpose Y?".

Every function is set-based (one statement per kind of change) and writes
one audit entry with ids and counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Func, Value
from django.utils import timezone

from retention.audit import log_action
from retention.identifiers import normalise_email, normalise_phone
from retention.keyring import hmac_candidates, hmac_sign
from retention.models import (
    DataSubject,
    LegalBasis,
    Organisation,
    ProcessingStop,
    Purpose,
    Recipient,
    Record,
    SubjectIdentifier,
    Suppression,
)
from retention.services.holds import held_sql

# The grounds of an Art. 18 restriction ("art18", "art18_a" ... "art18_d").
ART18 = "art18"


def _suppression_message(kind: str, value: str) -> str:
    normalised = normalise_email(value) if kind == "email" else normalise_phone(value)
    return f"{kind}:{normalised}"


def suppression_hash(*, kind: str, value: str) -> str:
    """The stored form (``kid$hex``) under the signing key of the `suppression` keyring."""
    return hmac_sign(purpose="suppression", message=_suppression_message(kind, value))


def suppression_hashes(contacts) -> list[str]:
    """Every stored form of the (kind, value) pairs under every key: what a lookup asks for."""
    return [
        candidate
        for kind, value in contacts
        for candidate in hmac_candidates(
            purpose="suppression", message=_suppression_message(kind, value)
        )
    ]


def is_suppressed(*, organisation: Organisation, email: str = "", phone: str = "") -> bool:
    contacts = [("email", email)] if email else []
    contacts += [("phone", phone)] if phone else []
    return Suppression.objects.filter(
        organisation=organisation, value_hash__in=suppression_hashes(contacts)
    ).exists()


def _subject_contacts(subject_ids: list[int]) -> list[tuple[str, str]]:
    return list(
        SubjectIdentifier.objects.filter(
            subject_id__in=subject_ids, kind__in=["email", "phone"]
        ).values_list("kind", "value")
    )


def _records(organisation: Organisation, subject_ids: list[int]):
    return Record.objects.filter(organisation=organisation, subject_id__in=subject_ids)


# Ground of a record a legal hold kept from being erased (not Art. 18: its expiry applies).
LEGAL_HOLD = "legal_hold"

# One statement: the unheld records are deleted (their disclosures keep their history
# without the record); the held ones are restricted instead.
_ERASE_UNLESS_HELD_SQL = f"""
WITH target AS (
    SELECT r.id, {held_sql()} AS held
      FROM retention_record r
     WHERE r.organisation_id = %(org)s AND r.id = ANY(%(ids)s)
       FOR UPDATE OF r
),
unlinked AS (
    UPDATE retention_disclosure d SET record_id = NULL
      FROM target t WHERE d.record_id = t.id AND NOT t.held
    RETURNING d.id
),
deleted AS (
    DELETE FROM retention_record r USING target t WHERE r.id = t.id AND NOT t.held
    RETURNING r.id
),
kept AS (
    UPDATE retention_record r
       SET restricted_at = COALESCE(r.restricted_at, %(now)s),
           restriction_ground = CASE WHEN r.restriction_ground = '' THEN '{LEGAL_HOLD}'
                                     ELSE r.restriction_ground END,
           updated_at = %(now)s
      FROM target t WHERE r.id = t.id AND t.held
    RETURNING r.id
)
SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM kept)
"""  # noqa: S608  (constant fragments; values are parameters)


def _erase_unless_held(organisation: Organisation, records) -> tuple[int, int]:
    """Erase the records a legal hold does not cover, restrict the others: (erased, held)."""
    ids = list(records.values_list("pk", flat=True))
    if not ids:
        return 0, 0
    with connection.cursor() as cursor:
        cursor.execute(
            _ERASE_UNLESS_HELD_SQL, {"org": organisation.pk, "ids": ids, "now": timezone.now()}
        )
        erased, held = cursor.fetchone()
    return erased, held


def marketing_objection(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    email: str = "",
    phone: str = "",
    reference: str = "",
) -> dict:
    """Honour an objection to direct marketing: block, stop and erase marketing-only data."""
    contacts = set(_subject_contacts(subject_ids))
    if email:
        contacts.add(("email", email))
    if phone:
        contacts.add(("phone", phone))
    marketing = Purpose.objects.filter(organisation=organisation, direct_marketing=True)
    with transaction.atomic():
        Suppression.objects.bulk_create(
            [
                Suppression(
                    organisation=organisation,
                    kind=kind,
                    value_hash=suppression_hash(kind=kind, value=value),
                    reason="direct_marketing_objection",
                )
                for kind, value in sorted(contacts)
            ],
            ignore_conflicts=True,
        )
        ProcessingStop.objects.bulk_create(
            [
                ProcessingStop(
                    organisation=organisation,
                    subject_id=subject_id,
                    purpose=purpose,
                    reason=ProcessingStop.Reason.OBJECTION,
                    reference=reference,
                )
                for subject_id in subject_ids
                for purpose in marketing
            ],
            ignore_conflicts=True,
        )
        erased, held = _erase_unless_held(
            organisation,
            _records(organisation, subject_ids).filter(purpose__direct_marketing=True),
        )
        counts = {
            "suppressed": len(contacts),
            "erased": erased,
            "held": held,
            "subjects": len(subject_ids),
        }
        log_action(
            action="retention.marketing_objection.honoured",
            organisation=organisation,
            object_type="request",
            object_id=reference,
            data=counts,
        )
    return counts


def processing_stop(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    purpose_keys: list[str],
    reason: str,
    reference: str = "",
) -> dict:
    """Stop processing for purposes: consent data is erased, other data restricted."""
    purposes = list(Purpose.objects.filter(organisation=organisation, key__in=purpose_keys))
    if reason == ProcessingStop.Reason.CONSENT_WITHDRAWN:
        purposes = [p for p in purposes if p.legal_basis == LegalBasis.CONSENT]
    now = timezone.now()
    with transaction.atomic():
        ProcessingStop.objects.bulk_create(
            [
                ProcessingStop(
                    organisation=organisation,
                    subject_id=subject_id,
                    purpose=purpose,
                    reason=reason,
                    reference=reference,
                )
                for subject_id in subject_ids
                for purpose in purposes
            ],
            ignore_conflicts=True,
        )
        records = _records(organisation, subject_ids).filter(purpose__in=purposes)
        erased, held = _erase_unless_held(
            organisation, records.filter(purpose__legal_basis=LegalBasis.CONSENT)
        )
        restricted = records.exclude(purpose__legal_basis=LegalBasis.CONSENT).update(
            restricted_at=now, restriction_ground=f"art21_{reason}"[:40]
        )
        counts = {
            "purposes": [p.key for p in purposes],
            "erased": erased,
            "held": held,
            "restricted": restricted,
        }
        log_action(
            action=f"retention.processing.stopped.{reason}",
            organisation=organisation,
            object_type="request",
            object_id=reference,
            data=counts,
        )
    return counts


def restriction_apply(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    ground: str,
    categories: list[str] | None = None,
    reference: str = "",
) -> int:
    """Art. 18: mark the records restricted with the ground and date; returns how many.

    Each record also carries the reference of every request whose restriction
    covers it (`Record.restriction_references`): a record another request
    already restricted gets this reference too, so lifting either request's
    restriction leaves it restricted while the other's stands.
    """
    records = _records(organisation, subject_ids)
    if categories:
        records = records.filter(category__key__in=categories)
    references = [reference] if reference else []
    with transaction.atomic():
        if reference:
            records.filter(
                restricted_at__isnull=False, restriction_ground__startswith=ART18
            ).exclude(restriction_references__contains=references).update(
                restriction_references=Func(
                    F("restriction_references"),
                    Value(reference),
                    function="array_append",
                    output_field=Record._meta.get_field("restriction_references"),
                )
            )
        count = records.filter(restricted_at__isnull=True).update(
            restricted_at=timezone.now(),
            restriction_ground=ground[:40],
            restriction_references=references,
        )
        log_action(
            action="retention.restriction.applied",
            organisation=organisation,
            object_type="request",
            object_id=reference,
            data={"records": count, "ground": ground, "categories": categories},
        )
    return count


# One statement: this request's reference leaves the records it restricted; a record is
# no longer restricted once no request's Art. 18 restriction remains on it. A record
# restricted on another ground meanwhile (retention, an objection, an erasure exception)
# stays restricted.
_LIFT_SQL = """
WITH lifted AS (
    UPDATE retention_record r
       SET restriction_references = array_remove(r.restriction_references, %(reference)s),
           restricted_at = CASE WHEN {last} THEN NULL ELSE r.restricted_at END,
           restriction_ground = CASE WHEN {last} THEN '' ELSE r.restriction_ground END
     WHERE r.organisation_id = %(organisation)s AND r.subject_id = ANY(%(subjects)s)
       AND r.restriction_references @> ARRAY[%(reference)s]::varchar[]
    RETURNING r.restricted_at IS NULL AS lifted
)
SELECT count(*) FILTER (WHERE lifted) FROM lifted
""".replace(
    # The record's last Art. 18 restriction is this request's (SET sees the old row).
    "{last}",
    "(r.restriction_ground LIKE 'art18%%' "
    "AND r.restriction_references = ARRAY[%(reference)s]::varchar[])",
)


def restriction_lift(
    *, organisation: Organisation, subject_ids: list[int], reference: str, user=None
) -> int:
    """Lift the Art. 18 restriction one request placed (the caller tells the person first,
    Art. 18(3)); returns how many records are no longer restricted.

    Only the records carrying `reference` are touched. Restrictions other
    requests placed, and restrictions that protect kept data (erasure
    exceptions, retention, objections), stay.
    """
    count = 0
    with transaction.atomic():
        if reference and subject_ids:
            with connection.cursor() as cursor:
                cursor.execute(
                    _LIFT_SQL,
                    {
                        "reference": reference,
                        "organisation": organisation.pk,
                        "subjects": list(subject_ids),
                    },
                )
                count = cursor.fetchone()[0]
        log_action(
            action="retention.restriction.lifted",
            actor_kind="staff" if user else "system",
            actor_id=user.pk if user else None,
            organisation=organisation,
            object_type="request",
            object_id=reference,
            data={"records": count},
        )
    return count


# The records to correct, locked, with why one must be left alone: a legal hold, or an
# Art. 18 restriction (its ground, or a request's reference on it) that is still in place.
_RECTIFY_SQL = f"""
SELECT r.id,
       CASE WHEN {held_sql()} THEN 'legal_hold'
            WHEN r.restricted_at IS NOT NULL
                 AND (r.restriction_ground LIKE '{ART18}%%'
                      OR cardinality(r.restriction_references) > 0) THEN 'restricted'
            ELSE '' END
  FROM retention_record r
 WHERE r.organisation_id = %(org)s AND r.subject_id = ANY(%(subjects)s) AND r.id = ANY(%(ids)s)
 ORDER BY r.id
   FOR UPDATE OF r
"""  # noqa: S608  (constant fragments; values are parameters)


def rectification_apply(
    *,
    organisation: Organisation,
    subject_ids: list[int],
    corrections: list[dict],
    statement: str = "",
    reference: str = "",
) -> dict:
    """Apply accepted corrections: [{"record": id, "field": key, "value": text}, ...].

    The previous value is not kept. A supplementary statement is stored with
    each subject (Art. 16, second sentence). A record under a legal hold or an
    Art. 18 restriction is not changed: returns {"records": how many were
    corrected, "withheld": {record id: "legal_hold" | "restricted"}}.
    """
    updated = 0
    withheld: dict[int, str] = {}
    with transaction.atomic():
        ids = sorted({c["record"] for c in corrections})
        with connection.cursor() as cursor:
            cursor.execute(
                _RECTIFY_SQL,
                {
                    "org": organisation.pk,
                    "subjects": list(subject_ids),
                    "ids": ids,
                    "now": timezone.now(),
                },
            )
            reasons = dict(cursor.fetchall())
        withheld = {pk: reason for pk, reason in reasons.items() if reason}
        records = {
            r.pk: r
            for r in _records(organisation, subject_ids)
            .filter(pk__in=[pk for pk, reason in reasons.items() if not reason])
            .select_related("category")
        }
        changed = {}
        for correction in corrections:
            record = records.get(correction["record"])
            if record is None or correction["field"] not in record.category.fields:
                continue
            record.data[correction["field"]] = correction["value"]
            changed[record.pk] = record
        updated = Record.objects.bulk_update(changed.values(), ["data"]) if changed else 0
        if statement:
            DataSubject.objects.filter(organisation=organisation, pk__in=subject_ids).update(
                supplementary_statement=statement
            )
        log_action(
            action="retention.rectification.applied",
            organisation=organisation,
            object_type="request",
            object_id=reference,
            data={"records": updated, "withheld": len(withheld), "statement": bool(statement)},
        )
    return {"records": updated, "withheld": withheld}


def recipients_of(*, organisation: Organisation, subject_ids: list[int]) -> list[Recipient]:
    """Everyone the subjects' data was disclosed to (Art. 19)."""
    return list(
        Recipient.objects.filter(
            organisation=organisation, disclosures__subject_id__in=subject_ids
        ).distinct()
    )


@dataclass(frozen=True)
class ProcessingAnswer:
    allowed: bool
    reason: str


def processing_check(
    *, organisation: Organisation, subject: DataSubject | None, purpose: Purpose
) -> ProcessingAnswer:
    """May the organisation process this subject's data for this purpose now?"""
    if subject is None or not subject.records.exists():
        return ProcessingAnswer(False, "no_data")
    if purpose.direct_marketing:
        contacts = _subject_contacts([subject.pk])
        hashes = suppression_hashes(contacts)
        if Suppression.objects.filter(organisation=organisation, value_hash__in=hashes).exists():
            return ProcessingAnswer(False, "marketing_objection")
    stop = ProcessingStop.objects.filter(subject=subject, purpose=purpose).first()
    if stop is not None:
        return ProcessingAnswer(False, stop.reason)
    records = subject.records.filter(purpose=purpose)
    if records.exists() and not records.filter(restricted_at__isnull=True).exists():
        return ProcessingAnswer(False, "restricted")
    return ProcessingAnswer(True, "allowed")
