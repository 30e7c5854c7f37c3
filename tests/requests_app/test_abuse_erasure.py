"""Attacks on erasure: data that comes back, or a job that erases the wrong person's records.

Issue 12 §4: "Tombstones come first ... Write the tombstone when the plan is approved."
"Re-check at execution: a record moved to another person after planning must not be
deleted." "Late records are not missed: records imported between planning and execution
are either planned again or shown to staff before the request can complete." (GDPR Art.
17(1): erased without undue delay, and it stays erased.)

Chosen for late records: they are planned again automatically, by the same rules (legal
holds and legal obligations keep what they keep), in the transaction that completes the
job; the staff page and API show how many (`late`), and the reply and the Art. 19 notices
include them.
"""

from __future__ import annotations

import json
import threading

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from requests_app.models import Fulfilment, RecipientNotification, RequestStatus
from requests_app.services import fulfilment as ff
from requests_app.services import staff as svc
from retention.models import AuditEntry, Disclosure, ErasureTombstone, Record, RecordStoreJob
from retention.services.erasure import erasure_job_approve, erasure_job_create
from retention.services.record_import import records_import
from retention.tasks import job_run
from tests.requests_app.helpers import customer, verified_request

EMAIL = "anna@example.org"
ALL = {"scope": "all", "categories": []}


def job_of(request) -> RecordStoreJob:
    return Fulfilment.objects.select_related("job").get(request=request).job


def import_lines(*lines: dict):
    return records_import(
        organisation_lines=enumerate((json.dumps(line) for line in lines), start=1)
    )


def nightly_line(subject, *, extra_records=(), disclosures=()) -> dict:
    """The organisation's system sends everything it has on the person again (old data)."""
    records = [
        {
            "external_id": r.external_id,
            "category": r.category.key,
            "purpose": r.purpose.key,
            "data": r.data,
            "source": "provided",
            "collected_at": r.collected_at.isoformat(),
        }
        for r in ORIGINAL[subject.pk]
    ]
    return {
        "organisation": "testorg",
        "external_id": subject.external_id,
        "identifiers": {"email": [EMAIL]},
        "records": [*records, *extra_records],
        "disclosures": list(disclosures),
    }


ORIGINAL: dict[int, list[Record]] = {}


@pytest.fixture
def anna(org):
    subject = customer(org, email=EMAIL)
    ORIGINAL[subject.pk] = list(
        Record.objects.filter(subject=subject).select_related("category", "purpose")
    )
    return subject


@pytest.fixture
def planned(org, anna, staff, deliver):
    """An approved erasure request whose plan waits for an approver."""
    request = verified_request(org, kind="erasure", email=EMAIL, language="en", details=ALL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    assert job_of(request).state == RecordStoreJob.State.PLANNED
    return request


def test_approving_the_plan_writes_the_tombstone_before_any_worker_runs(org, anna, planned, staff):
    ff.erasure_plan_approve(request=planned, actor=staff["approver"])  # no worker has run

    job = job_of(planned)
    [tombstone] = ErasureTombstone.objects.filter(job=job)
    assert tombstone.erased_at == job.approved_at
    assert tombstone.reference == planned.reference
    result = import_lines(nightly_line(anna))
    assert result.counts.records_skipped_erased == 5


@pytest.mark.django_db(transaction=True)
def test_a_job_that_fails_half_way_and_waits_lets_no_import_bring_the_data_back(org, settings):
    """A worker erases the first batch, then fails (a lock times out); the job waits. The
    nightly import of the same person's old data meanwhile re-creates nothing."""
    settings.JOB_BATCH_SIZE = 2
    anna = customer(org, email=EMAIL)
    ORIGINAL[anna.pk] = list(
        Record.objects.filter(subject=anna).select_related("category", "purpose")
    )
    job = erasure_job_create(organisation=org, subject_ids=[anna.pk], reference="R-1")
    job = erasure_job_approve(job=job)
    approved_at = job.approved_at
    in_batch_two = RecordStoreJob.objects.get(pk=job.pk).plan[2]["record"]
    locked, release = threading.Event(), threading.Event()

    def someone_edits_a_record():
        try:
            with transaction.atomic():
                list(Record.objects.select_for_update().filter(pk=in_batch_two))
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    editor = threading.Thread(target=someone_edits_a_record)
    editor.start()
    assert locked.wait(30)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '300ms'")
        with pytest.raises(OperationalError):
            job_run(job.pk)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        release.set()
        editor.join(30)
    job.refresh_from_db()
    assert (job.progress, job.error) == (2, "OperationalError")
    assert Record.objects.filter(subject=anna).count() == 3

    result = import_lines(nightly_line(anna))

    assert result.counts.records_skipped_erased == 5
    assert Record.objects.filter(subject=anna).count() == 3

    # Run again later: it completes, and the tombstone is brought up to date, not doubled.
    job_run(job.pk)
    job.refresh_from_db()
    assert job.state == RecordStoreJob.State.COMPLETED
    [tombstone] = ErasureTombstone.objects.filter(job=job)
    assert tombstone.erased_at > approved_at
    result = import_lines(nightly_line(anna))
    assert result.counts.subjects_skipped_erased == 1
    assert not Record.objects.filter(subject=anna).exists()


def test_a_record_moved_to_another_person_after_planning_is_not_erased(
    org, anna, planned, staff, deliver
):
    other = customer(org, name="bo", email="bo@example.org")
    order = Record.objects.get(subject=anna, external_id="anna-order-1")
    Record.objects.filter(pk=order.pk).update(subject=other)  # the organisation's correction

    with deliver():
        ff.erasure_plan_approve(request=planned, actor=staff["approver"])

    planned.refresh_from_db()
    assert planned.status == RequestStatus.COMPLETED
    order.refresh_from_db()
    assert order.subject_id == other.pk and order.data["order_number"] == "1001"
    job = job_of(planned)
    assert (job.result["deleted"], job.result["moved"]) == (4, 1)
    assert job.params["moved"] == [order.pk]
    groups = Fulfilment.objects.get(request=planned).outcome["erasure"]["groups"]
    assert sum(g["records"] for g in groups) == 4  # the reply does not count Bo's record
    assert "kept" not in planned.resolution.text.lower().split("what we have erased")[0]


def test_a_record_moved_to_another_category_after_planning_is_not_erased(org, anna, staff, deliver):
    request = verified_request(
        org,
        kind="erasure",
        email=EMAIL,
        language="en",
        details={"scope": "categories", "categories": ["orders"]},
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    order = Record.objects.get(subject=anna, external_id="anna-order-1")
    Record.objects.filter(pk=order.pk).update(category=org.categories.get(key="contact"))

    with deliver():
        ff.erasure_plan_approve(request=request, actor=staff["approver"])

    assert Record.objects.filter(pk=order.pk).exists()
    assert job_of(request).result["moved"] == 1


def test_records_imported_between_planning_and_execution_are_erased_too(
    org, anna, planned, staff, deliver
):
    now = timezone.now().isoformat()
    late = {
        "external_id": "anna-late-1",
        "category": "contact",
        "purpose": "marketing",
        "data": {"name": "Anna Andersson", "email": EMAIL},
        "source": "provided",
        "collected_at": now,
    }
    import_lines(
        nightly_line(
            anna,
            extra_records=[late],
            disclosures=[
                {
                    "external_id": "late-to-mailer",
                    "recipient": "mailer",
                    "record": "anna-late-1",
                    "disclosed_at": now,
                }
            ],
        )
    )
    assert Record.objects.filter(subject=anna).count() == 6

    with deliver():
        ff.erasure_plan_approve(request=planned, actor=staff["approver"])

    planned.refresh_from_db()
    assert planned.status == RequestStatus.COMPLETED
    assert not Record.objects.filter(subject=anna).exists()
    job = job_of(planned)
    assert job.result["late"] == 1 and job.result["deleted"] == 6
    assert AuditEntry.objects.filter(action="retention.erasure.replanned", object_id=str(job.pk))
    # The mailer is told of the late record's erasure too (Art. 19).
    [notice] = RecipientNotification.objects.filter(request=planned)
    late_disclosure = Disclosure.objects.get(external_id="late-to-mailer")
    assert late_disclosure.pk in notice.disclosure_ids
    groups = Fulfilment.objects.get(request=planned).outcome["erasure"]["groups"]
    assert sum(g["records"] for g in groups) == 6
