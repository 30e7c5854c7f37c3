"""Subjects do not outlive their data: the sweep that deletes a subject's last record deletes
the subject, with its identifiers, in the same batch. This is expiry, not an erasure request:
no tombstone is written.
"""

import datetime as dt

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from requests_app.models import RequestSubjectMatch
from retention.models import (
    DataSubject,
    Disclosure,
    ErasureTombstone,
    LegalHold,
    ProcessingStop,
    Record,
    RetentionRule,
    SubjectIdentifier,
)
from retention.services.erasure import erasure_job_create
from retention.services.holds import hold_lift, hold_place
from tests.requests_app.helpers import make_request
from tests.retention.test_sweeps import make_record, sweep

EXPIRED = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # three weeks later the IP address expires
NIGHT = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def ip_record(org, **extra) -> Record:
    rule = RetentionRule.objects.get(organisation=org, key="ip_addresses")
    return make_record(rule, EXPIRED, **extra)


def identified(record: Record) -> DataSubject:
    subject = record.subject
    for kind, value in (
        ("email", f"{subject.external_id}@example.se"),
        ("personnummer", "198504129290"),
        ("customer_number", f"K-{subject.pk}"),
    ):
        SubjectIdentifier.objects.create(
            organisation=subject.organisation, subject=subject, kind=kind, value=value
        )
    return subject


def test_a_subjects_last_record_takes_the_subject_and_its_identifiers_with_it(organisations):
    org = organisations["framsteget"]
    subject = identified(ip_record(org))
    other = identified(ip_record(org))
    customer = RetentionRule.objects.get(organisation=org, key="customer_data")
    make_record(customer, dt.datetime(2026, 3, 1, tzinfo=dt.UTC), subject=other)  # until 2027

    run = sweep(org, NIGHT)
    assert run.subjects_deleted == 1
    assert not DataSubject.objects.filter(pk=subject.pk).exists()
    assert not SubjectIdentifier.objects.filter(subject_id=subject.pk).exists()
    assert not SubjectIdentifier.objects.filter(value="198504129290", subject_id=subject.pk)
    # The other subject keeps a record, so it stays, identifiers and all.
    assert SubjectIdentifier.objects.filter(subject=other).count() == 3
    # Expiry is not an erasure request: no tombstone.
    assert not ErasureTombstone.objects.exists()


def test_what_the_record_store_holds_of_the_subject_goes_with_it(organisations):
    """Its disclosures (nothing left to rectify, erase or report on), processing stops and
    lifted legal holds: rows that name the person with no data left to serve."""
    org = organisations["framsteget"]
    record = ip_record(org)
    subject = identified(record)
    Disclosure.objects.create(
        organisation=org,
        recipient=org.recipients.first(),
        subject=subject,
        record=record,
        category=record.category,
        disclosed_at=EXPIRED,
    )
    ProcessingStop.objects.create(
        organisation=org,
        subject=subject,
        purpose=org.purposes.get(key="direct_marketing"),
        reason="objection",
    )
    hold_lift(hold=hold_place(organisation=org, reason="dispute 2025", subject=subject))

    run = sweep(org, NIGHT)
    assert run.subjects_deleted == 1
    assert not Disclosure.objects.filter(subject_id=subject.pk).exists()
    assert not ProcessingStop.objects.filter(subject_id=subject.pk).exists()
    assert not LegalHold.objects.filter(subject_id=subject.pk).exists()


def test_a_subject_an_open_request_matched_stays_until_the_match_goes(organisations):
    """The person's open request must still be answered (and an erasure still needs the
    identifiers for its tombstone): the subject stays while a request's match points at it.
    Its records still expire. When the match goes, the next sweep deletes the subject."""
    org = organisations["framsteget"]
    subject = identified(ip_record(org))
    match = RequestSubjectMatch.objects.create(
        request=make_request(org), subject=subject, method="email"
    )

    run = sweep(org, NIGHT)
    assert not Record.objects.filter(subject=subject).exists()
    assert run.subjects_deleted == 0
    assert SubjectIdentifier.objects.filter(subject=subject).count() == 3

    match.delete()
    later = timezone.now() + dt.timedelta(days=2)  # the subject is older than a day by then
    run = sweep(org, later)
    assert run.subjects_deleted == 1
    assert not DataSubject.objects.filter(pk=subject.pk).exists()


def test_a_subject_under_an_active_legal_hold_stays(organisations):
    org = organisations["framsteget"]
    record = ip_record(org)
    subject = identified(record)
    # A hold on the subject's records in another category: the IP address still expires.
    other = org.categories.exclude(pk=record.category_id).first()
    hold_place(organisation=org, reason="court order", subject=subject, category=other)
    run = sweep(org, NIGHT)
    assert not Record.objects.filter(pk=record.pk).exists()
    assert run.subjects_deleted == 0
    assert DataSubject.objects.filter(pk=subject.pk).exists()


def test_a_subject_of_a_pending_erasure_stays_for_its_tombstone(organisations):
    org = organisations["framsteget"]
    subject = identified(ip_record(org))
    with time_machine.travel(EXPIRED, tick=False):
        erasure_job_create(organisation=org, subject_ids=[subject.pk], reference="R-1")
    run = sweep(org, NIGHT)
    assert run.subjects_deleted == 0
    assert SubjectIdentifier.objects.filter(subject=subject).exists()


def test_a_dry_run_counts_the_subjects_and_deletes_none(organisations):
    org = organisations["framsteget"]
    subject = identified(ip_record(org))
    run = sweep(org, NIGHT, dry_run=True)
    assert run.subjects_deleted == 1
    assert DataSubject.objects.filter(pk=subject.pk).exists()


def test_deleting_subjects_adds_no_query_per_subject(organisations):
    org = organisations["framsteget"]
    counts = []
    for n in (3, 60):
        for _ in range(n):
            identified(ip_record(org))
        with CaptureQueriesContext(connection) as queries:
            run = sweep(org, NIGHT)
        assert run.subjects_deleted == n
        counts.append(len(queries))
    assert counts[0] == counts[1]
