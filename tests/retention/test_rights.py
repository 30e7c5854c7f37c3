"""Objection, consent withdrawal, restriction, rectification and the processing check."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from retention.models import DataSubject, Disclosure, Record, SubjectIdentifier, Suppression
from retention.services.erasure import erasure_execute, erasure_job_create
from retention.services.holds import hold_place
from retention.services.jobs import job_approve, job_claim
from retention.services.rights import (
    is_suppressed,
    marketing_objection,
    processing_check,
    processing_stop,
    recipients_of,
    rectification_apply,
    restriction_apply,
    restriction_lift,
)
from tests.retention.test_erasure import framsteget_customer

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def person(org, name: str, purposes: list[str]) -> DataSubject:
    subject = DataSubject.objects.create(organisation=org, external_id=name)
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="email", value=f"{name}@example.se"
    )
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="phone", value="+46701234567"
    )
    for n, key in enumerate(purposes):
        purpose = org.purposes.get(key=key)
        category = purpose.categories.first()
        Record.objects.create(
            organisation=org,
            subject=subject,
            category=category,
            purpose=purpose,
            external_id=f"{name}-{n}",
            source="provided",
            data=dict.fromkeys(category.fields, "old"),
            collected_at=NOW,
        )
    return subject


def marketing_and_service(org) -> tuple[str, str]:
    marketing = org.purposes.filter(direct_marketing=True).first().key
    other = org.purposes.filter(direct_marketing=False, legal_basis="contract").first().key
    return marketing, other


def test_a_marketing_objection_blocks_marketing_and_erases_marketing_only_data(organisations):
    org = organisations["expektra"]
    marketing, service = marketing_and_service(org)
    subject = person(org, "anna", [marketing, service])
    counts = marketing_objection(organisation=org, subject_ids=[subject.pk], reference="R1")
    assert counts["erased"] == 1
    assert set(subject.records.values_list("purpose__key", flat=True)) == {service}
    assert not processing_check(
        organisation=org, subject=subject, purpose=org.purposes.get(key=marketing)
    ).allowed
    assert processing_check(
        organisation=org, subject=subject, purpose=org.purposes.get(key=service)
    ).allowed


def test_the_marketing_block_survives_a_later_erasure_and_holds_no_address(organisations):
    org = organisations["framsteget"]
    marketing, service = marketing_and_service(org)
    subject = person(org, "bo", [marketing, service])
    marketing_objection(organisation=org, subject_ids=[subject.pk])
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk])
    job_approve(job=job)
    erasure_execute(job=job_claim(job_id=job.pk, worker="w"), worker="w")
    assert not SubjectIdentifier.objects.filter(subject=subject).exists()
    assert is_suppressed(organisation=org, email="BO@example.se ")
    assert is_suppressed(organisation=org, phone="070-123 45 67")
    assert not is_suppressed(organisation=org, email="someone.else@example.se")
    assert not Suppression.objects.filter(value_hash__contains="example").exists()
    # Suppressions are per organisation.
    assert not is_suppressed(organisation=organisations["expektra"], email="bo@example.se")


def test_withdrawing_consent_erases_consent_data_and_stops_the_purpose(organisations):
    org = organisations["prognoscentret"]
    consent = org.purposes.filter(legal_basis="consent").first()
    other = org.purposes.exclude(legal_basis="consent").first()
    subject = person(org, "cia", [consent.key, other.key])
    counts = processing_stop(
        organisation=org,
        subject_ids=[subject.pk],
        purpose_keys=[consent.key, other.key],
        reason="consent_withdrawn",
    )
    assert counts["purposes"] == [consent.key]  # only consent-based purposes
    assert counts["erased"] == 1
    assert not processing_check(organisation=org, subject=subject, purpose=consent).allowed
    assert processing_check(organisation=org, subject=subject, purpose=other).allowed


def test_an_objection_to_legitimate_interest_restricts_that_purpose(organisations):
    org = organisations["framsteget"]
    purpose = org.purposes.filter(legal_basis="legitimate_interest", direct_marketing=False).first()
    subject = person(org, "dan", [purpose.key])
    counts = processing_stop(
        organisation=org, subject_ids=[subject.pk], purpose_keys=[purpose.key], reason="objection"
    )
    assert counts["restricted"] == 1
    answer = processing_check(organisation=org, subject=subject, purpose=purpose)
    assert (answer.allowed, answer.reason) == (False, "objection")


def test_restricted_records_fail_the_processing_check_until_lifted(organisations):
    org = organisations["framsteget"]
    _, service = marketing_and_service(org)
    subject = person(org, "eva", [service])
    purpose = org.purposes.get(key=service)
    assert (
        restriction_apply(
            organisation=org, subject_ids=[subject.pk], ground="art18_a", reference="R1"
        )
        == 1
    )
    assert processing_check(organisation=org, subject=subject, purpose=purpose).reason == (
        "restricted"
    )
    assert restriction_lift(organisation=org, subject_ids=[subject.pk], reference="R1") == 1
    assert processing_check(organisation=org, subject=subject, purpose=purpose).allowed


def restricted_by_category(subject) -> dict[str, set]:
    """{category key: {(ground, references)}} of the subject's restricted records."""
    found: dict[str, set] = {}
    for record in subject.records.filter(restricted_at__isnull=False).select_related("category"):
        found.setdefault(record.category.key, set()).add(
            (record.restriction_ground, tuple(record.restriction_references))
        )
    return found


def test_lifting_one_requests_restriction_leaves_the_other_requests_restrictions(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)  # 1 contact, 3 invoices, 3 IP addresses
    ids = [subject.pk]
    assert (
        restriction_apply(
            organisation=org,
            subject_ids=ids,
            ground="art18_c",
            categories=["invoice"],
            reference="A",
        )
        == 3
    )
    # B restricts everything: 4 more records; the invoices now carry both requests.
    assert (
        restriction_apply(organisation=org, subject_ids=ids, ground="art18_a", reference="B") == 4
    )
    assert restricted_by_category(subject) == {
        "invoice": {("art18_c", ("A", "B"))},
        "customer_contact": {("art18_a", ("B",))},
        "ip_address": {("art18_a", ("B",))},
    }

    with CaptureQueriesContext(connection) as queries:
        assert restriction_lift(organisation=org, subject_ids=ids, reference="B") == 4
    assert len([q for q in queries if "retention_record" in q["sql"]]) == 1  # one statement
    # A's invoices stay restricted.
    assert restricted_by_category(subject) == {"invoice": {("art18_c", ("A",))}}
    assert restriction_lift(organisation=org, subject_ids=ids, reference="B") == 0  # repeat

    assert restriction_lift(organisation=org, subject_ids=ids, reference="A") == 3
    assert restricted_by_category(subject) == {}


def test_lifting_a_restriction_leaves_records_kept_by_an_erasure_under_a_hold(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)
    other = framsteget_customer(org, name="c2")
    ids = [subject.pk, other.pk]
    assert (
        restriction_apply(organisation=org, subject_ids=ids, ground="art18_d", reference="A") == 14
    )
    # An erasure of the first subject while a legal hold protects its records: kept.
    hold = hold_place(organisation=org, reason="court order", subject=subject)
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk], reference="E")
    job_approve(job=job)
    erasure_execute(job=job_claim(job_id=job.pk, worker="w"), worker="w")
    assert subject.records.count() == 7

    assert restriction_lift(organisation=org, subject_ids=ids, reference="A") == 7
    assert not other.records.filter(restricted_at__isnull=False).exists()
    assert not subject.records.filter(restricted_at__isnull=True).exists()  # the hold's
    hold.refresh_from_db()
    assert hold.lifted_at is None


def test_rectification_overwrites_the_field_and_stores_the_statement(organisations):
    org = organisations["framsteget"]
    _, service = marketing_and_service(org)
    subject = person(org, "fia", [service])
    record = subject.records.get()
    field = record.category.fields[0]
    updated = rectification_apply(
        organisation=org,
        subject_ids=[subject.pk],
        corrections=[
            {"record": record.pk, "field": field, "value": "new"},
            {"record": record.pk, "field": "not_a_field", "value": "x"},
        ],
        statement="I moved in March.",
    )
    assert updated == {"records": 1, "withheld": {}}
    record.refresh_from_db()
    assert record.data[field] == "new"
    assert "old" not in [record.data[field]]
    subject.refresh_from_db()
    assert subject.supplementary_statement == "I moved in March."


def test_the_recipients_are_those_the_data_was_disclosed_to(organisations):
    org = organisations["framsteget"]
    _, service = marketing_and_service(org)
    subject = person(org, "gun", [service])
    first, second = org.recipients.all()[:2]
    for recipient in (first, first, second):
        Disclosure.objects.create(
            organisation=org, recipient=recipient, subject=subject, disclosed_at=NOW
        )
    assert set(recipients_of(organisation=org, subject_ids=[subject.pk])) == {first, second}


def test_an_unknown_or_erased_subject_may_not_be_processed(organisations):
    org = organisations["framsteget"]
    assert processing_check(
        organisation=org, subject=None, purpose=org.purposes.first()
    ).reason == ("no_data")
