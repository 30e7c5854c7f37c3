"""Erasure: a plan that respects the law, executed exactly once, even when workers die."""

import datetime as dt
import os
import signal
import time
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from retention.models import (
    AuditEntry,
    DataSubject,
    Record,
    RecordStoreJob,
    RetentionRule,
    SubjectIdentifier,
)
from retention.services.erasure import erasure_execute, erasure_job_create
from retention.services.expiry import records_refresh
from retention.services.holds import hold_place
from retention.services.jobs import job_approve, job_claim
from tests.conftest import start_worker, stop_worker

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOW = dt.datetime(2026, 11, 22, 12, tzinfo=STOCKHOLM)


def _record(subject, category_key, purpose_key, n, **values):
    org = subject.organisation
    category = org.categories.get(key=category_key)
    return Record(
        organisation=org,
        subject=subject,
        category=category,
        purpose=org.purposes.get(key=purpose_key),
        external_id=f"{subject.external_id}-{category_key}-{n}",
        source="provided",
        data=dict.fromkeys(category.fields, f"value-{n}"),
        collected_at=values.pop("collected_at", NOW - dt.timedelta(days=400)),
        **values,
    )


def framsteget_customer(org, name="c1", invoices=2, ips=3) -> DataSubject:
    """A FRAMSTEGET customer with paid and unpaid invoices, IP addresses and contact data."""
    subject = DataSubject.objects.create(organisation=org, external_id=name)
    SubjectIdentifier.objects.create(
        organisation=org, subject=subject, kind="email", value=f"{name}@example.se"
    )
    billing = org.purposes.filter(categories__key="invoice").first().key
    service = org.purposes.filter(categories__key="customer_contact").first().key
    network = org.purposes.filter(categories__key="ip_address").first().key
    records = [_record(subject, "customer_contact", service, 0)]
    records += [
        _record(subject, "invoice", billing, n, settled_at=NOW - dt.timedelta(days=30 * n + 10))
        for n in range(1, invoices + 1)
    ]
    records.append(_record(subject, "invoice", billing, 99, settled_at=None))  # unpaid
    records += [
        _record(subject, "ip_address", network, n, collected_at=NOW - dt.timedelta(days=2))
        for n in range(ips)
    ]
    Record.objects.bulk_create(records)
    records_refresh(organisation=org)
    return subject


def test_the_plan_keeps_bookkeeping_fields_of_invoices_and_erases_the_rest(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk], reference="R1")
    by_category = {}
    for item in job.plan:
        by_category.setdefault(item["category"], set()).add(item["action"])
    assert by_category["ip_address"] == {"delete"}
    assert by_category["customer_contact"] == {"delete"}
    assert by_category["invoice"] == {"reduce", "keep"}
    paid = [i for i in job.plan if i["category"] == "invoice" and i["action"] == "reduce"]
    assert len(paid) == 2
    # Paid in 2026: bookkeeping keeps it to the end of 2033.
    until = {dt.datetime.fromisoformat(i["until"]).astimezone(STOCKHOLM) for i in paid}
    assert until == {dt.datetime(2034, 1, 1, tzinfo=STOCKHOLM)}
    assert all(i["reason"] == "legal_obligation" for i in paid)
    bookkeeping = RetentionRule.objects.get(organisation=org, key="bookkeeping")
    assert all(set(i["fields"]) == set(bookkeeping.fields) for i in paid)
    # The unpaid invoice: bookkeeping counts from the payment, so the policy gives no date
    # until which it is kept. Not "reduce ... until (none)": kept, and flagged to staff.
    (unpaid,) = [i for i in job.plan if i["category"] == "invoice" and i["action"] == "keep"]
    assert unpaid["reason"] == "policy_error" and unpaid["until"] is None
    assert unpaid["rule"] == "bookkeeping"


def test_executing_the_plan_erases_deletes_and_restricts_what_is_kept(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk], reference="R1")
    job_approve(job=job)
    claimed = job_claim(job_id=job.pk, worker="w1")
    erasure_execute(job=claimed, worker="w1")

    remaining = Record.objects.filter(subject=subject)
    assert set(remaining.values_list("category__key", flat=True)) == {"invoice"}
    assert not remaining.filter(restricted_at=None).exists()
    paid = remaining.exclude(settled_at=None)
    for record in paid:
        assert "email" not in record.data and "due_date" not in record.data
        assert record.rule.key == "bookkeeping"
    assert {r.expires_at.astimezone(STOCKHOLM).date() for r in paid} == {dt.date(2034, 1, 1)}
    # The unpaid invoice (a policy error: no keep-until date) is kept as it was, restricted.
    unpaid = remaining.get(settled_at=None)
    assert unpaid.rule.key == "paid_invoice" and "email" in unpaid.data
    job.refresh_from_db()
    assert job.state == "completed"
    assert job.result == {"deleted": 4, "reduced": 2, "kept": 1}


def test_a_hold_placed_after_approval_still_protects_its_records(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk])
    job_approve(job=job)
    hold_place(organisation=org, reason="court order", subject=subject)
    erasure_execute(job=job_claim(job_id=job.pk, worker="w"), worker="w")
    assert Record.objects.filter(subject=subject).count() == 7
    assert not Record.objects.filter(subject=subject, restricted_at=None).exists()


def test_a_held_subject_is_planned_as_kept_with_the_hold_as_reason(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)
    hold_place(organisation=org, reason="dispute", subject=subject)
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk])
    assert {(i["action"], i["reason"]) for i in job.plan} == {("keep", "legal_hold")}


def test_a_subject_with_nothing_left_keeps_nothing_of_the_person(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org, name="crm-4711", invoices=0)
    DataSubject.objects.filter(pk=subject.pk).update(supplementary_statement="My name is Ann.")
    Record.objects.filter(subject=subject, category__key="invoice").delete()
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk])
    job_approve(job=job)
    erasure_execute(job=job_claim(job_id=job.pk, worker="w"), worker="w")
    assert not Record.objects.filter(subject=subject).exists()
    assert not SubjectIdentifier.objects.filter(subject=subject).exists()
    subject.refresh_from_db()
    # The organisation's id for the person is gone (the tombstone keeps a keyed hash of it).
    assert subject.external_id == f"erased-{subject.pk}"
    assert subject.supplementary_statement == ""


def test_a_subject_with_kept_records_keeps_its_id(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org, name="crm-4712")  # unpaid invoice: kept
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk])
    job_approve(job=job)
    erasure_execute(job=job_claim(job_id=job.pk, worker="w"), worker="w")
    assert Record.objects.filter(subject=subject).exists()
    subject.refresh_from_db()
    assert subject.external_id == "crm-4712"


def test_a_job_cannot_be_claimed_twice_or_before_approval(organisations):
    org = organisations["framsteget"]
    subject = framsteget_customer(org)
    job = erasure_job_create(organisation=org, subject_ids=[subject.pk])
    assert job_claim(job_id=job.pk, worker="w1") is None  # not approved
    job_approve(job=job)
    assert job_claim(job_id=job.pk, worker="w1") is not None
    assert job_claim(job_id=job.pk, worker="w2") is None  # leased


@pytest.fixture
def delete_log():
    """Every row deleted from retention_record, as the database saw it."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE TABLE test_deleted_records (record_id bigint, at timestamptz DEFAULT now());
            CREATE FUNCTION test_log_delete() RETURNS trigger AS $$
            BEGIN INSERT INTO test_deleted_records (record_id) VALUES (OLD.id); RETURN OLD; END;
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_log_delete AFTER DELETE ON retention_record
                FOR EACH ROW EXECUTE FUNCTION test_log_delete();
            """
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER test_log_delete ON retention_record; DROP FUNCTION test_log_delete();"
            "DROP TABLE test_deleted_records;"
        )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_erasure_is_replaced_and_the_job_completes_exactly_once(
    organisations, private_redis, delete_log
):
    from retention.tasks import job_run

    org = organisations["framsteget"]
    subjects = [framsteget_customer(org, name=f"c{n}", ips=40) for n in range(5)]
    job = erasure_job_create(organisation=org, subject_ids=[s.pk for s in subjects])
    planned_deletes = sum(1 for i in job.plan if i["action"] == "delete")
    job_approve(job=job)
    slow = {"JOB_BATCH_SIZE": "10", "JOB_BATCH_PAUSE_SECONDS": "0.3", "JOB_LEASE_SECONDS": "2"}

    first = start_worker(private_redis.url, env=slow)
    job_run.delay(job.pk)
    deadline = time.monotonic() + 60
    while RecordStoreJob.objects.get(pk=job.pk).progress < 30:
        assert time.monotonic() < deadline, "the first worker made no progress"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    job.refresh_from_db()
    assert job.state == "running" and job.progress < len(job.plan)

    second = start_worker(private_redis.url, "--beat", env={**slow, "JOB_RECLAIM_INTERVAL": "1"})
    try:
        deadline = time.monotonic() + 90
        while RecordStoreJob.objects.get(pk=job.pk).state != "completed":
            assert time.monotonic() < deadline, "the job was not picked up again"
            time.sleep(0.2)
    finally:
        stop_worker(second)

    job.refresh_from_db()
    assert job.attempts >= 2
    assert job.result["deleted"] == planned_deletes
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), count(DISTINCT record_id) FROM test_deleted_records")
        assert cursor.fetchone() == (planned_deletes, planned_deletes)
    assert (
        AuditEntry.objects.filter(
            action="retention.erasure.completed", object_id=str(job.pk)
        ).count()
        == 1
    )
    assert not Record.objects.filter(subject__in=subjects).exclude(category__key="invoice").exists()


def test_a_coaching_clients_health_data_is_erased_never_reduced_until_none(organisations):
    """Issue 13: the plan showed "reduce, legal obligation, until (none)" for health data.
    Bookkeeping law keeps accounting records: a health note is erased; a paid purchase keeps
    its accounting fields until the end of the seventh year; an unpaid one (no date to count
    from) is kept and shown to staff as a policy error."""
    from tests.retention.test_sweep_overrides import PURCHASE, add

    org = organisations["coachen"]
    subject = DataSubject.objects.create(organisation=org, external_id="client-9")
    ended = dt.datetime(2025, 3, 1, tzinfo=STOCKHOLM)
    health = add(subject, "health", "coaching_health", contract_ended_at=ended)
    paid = add(
        subject,
        "purchases",
        "contract",
        dict(PURCHASE),
        contract_ended_at=ended,
        settled_at=dt.datetime(2025, 2, 10, tzinfo=STOCKHOLM),
    )
    unpaid = add(subject, "purchases", "contract", dict(PURCHASE), contract_ended_at=ended)
    plan = {
        i["record"]: i for i in erasure_job_create(organisation=org, subject_ids=[subject.pk]).plan
    }
    assert plan[health.pk]["action"] == "delete"
    assert plan[paid.pk]["action"] == "reduce"
    assert plan[paid.pk]["reason"] == "legal_obligation"
    assert dt.datetime.fromisoformat(plan[paid.pk]["until"]) == dt.datetime(
        2033, 1, 1, tzinfo=STOCKHOLM
    )
    bookkeeping = RetentionRule.objects.get(organisation=org, key="bookkeeping")
    assert plan[paid.pk]["fields"] == sorted(bookkeeping.fields)
    assert (plan[unpaid.pk]["action"], plan[unpaid.pk]["reason"]) == ("keep", "policy_error")
    assert plan[unpaid.pk]["until"] is None
    assert not [i for i in plan.values() if i["action"] == "reduce" and not i["until"]]
