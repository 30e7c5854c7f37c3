"""Erasure tombstones: an import cannot bring an erased subject's old data back."""

import datetime as dt
import json
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from retention.models import (
    AuditEntry,
    DataSubject,
    Disclosure,
    ErasureTombstone,
    Record,
    SubjectIdentifier,
)
from retention.services.api_tokens import api_token_create
from retention.services.erasure import erasure_execute, erasure_job_create
from retention.services.jobs import job_approve, job_claim
from tests.retention.test_import_records import run_import, subject_line

pytestmark = pytest.mark.django_db

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ERASED_AT = dt.datetime(2026, 6, 1, 12, tzinfo=STOCKHOLM)
AFTER_ERASURE = "2026-07-01T09:00:00+02:00"


def erase(organisation, external_id: str, *, categories=None, reference="R-1"):
    """Carry out an approved erasure of the subject at ERASED_AT."""
    subject = DataSubject.objects.get(organisation=organisation, external_id=external_id)
    with time_machine.travel(ERASED_AT, tick=False):
        job = erasure_job_create(
            organisation=organisation,
            subject_ids=[subject.pk],
            categories=categories,
            reference=reference,
        )
        job_approve(job=job)
        erasure_execute(job=job_claim(job_id=job.pk, worker="w"), worker="w")
    return job


def ip_only_line(n: int = 1, **overrides) -> dict:
    """A FRAMSTEGET customer with one IP address: erasure leaves nothing of them."""
    line = subject_line(n, disclosures=[])
    line["records"] = [r for r in line["records"] if r["category"] == "ip_address"]
    line.update(overrides)
    return line


def new_ip_record(n: int = 1) -> dict:
    return {
        "external_id": f"ip-new-{n}",
        "category": "ip_address",
        "purpose": "information_security",
        "data": {"ip_address": "198.51.100.7"},
        "source": "observed",
        "collected_at": AFTER_ERASURE,
    }


def test_completing_an_erasure_leaves_a_tombstone_per_subject_with_its_time_and_job(
    organisations,
):
    org = organisations["framsteget"]
    run_import([subject_line(1)])

    job = erase(org, "cust-1")

    tombstone = ErasureTombstone.objects.get()
    assert tombstone.organisation == org
    assert tombstone.job == job
    assert tombstone.reference == "R-1"
    assert tombstone.erased_at == ERASED_AT
    assert tombstone.category_ids == []
    # external id, e-mail, personnummer, customer number (phone numbers change hands)
    assert len(tombstone.identifier_hashes) == 4


def test_the_tombstone_holds_no_identifier_in_clear(organisations):
    run_import([subject_line(1)])

    erase(organisations["framsteget"], "cust-1")

    with connection.cursor() as cursor:
        cursor.execute("SELECT t::text FROM retention_erasuretombstone t")
        (stored,) = cursor.fetchone()
    for clear in ("kund.1@example.se", "198112189876", "19811218", "FS-1", "cust-1", "+4670"):
        assert clear.lower() not in stored.lower()


def test_an_erased_subjects_old_records_are_not_reimported_and_are_counted(organisations):
    org = organisations["framsteget"]
    run_import([subject_line(1)])
    erase(org, "cust-1")
    assert not Record.objects.filter(external_id="ip-1").exists()

    result = run_import([subject_line(1)])

    assert result.ok
    assert not Record.objects.filter(external_id="ip-1").exists()
    assert result.counts.records_skipped_erased == 2
    assert result.counts.disclosures_skipped_erased == 1
    assert result.counts.subjects_skipped_erased == 1
    assert result.counts.records_created == 0
    entry = AuditEntry.objects.filter(action="retention.records.imported").latest("pk")
    assert entry.data["records_skipped_erased"] == 2
    assert entry.data["subjects_skipped_erased"] == 1
    assert "example.se" not in json.dumps(entry.data)


def test_the_records_the_erasure_kept_stay_as_they_were(organisations):
    org = organisations["framsteget"]
    run_import([subject_line(1)])
    erase(org, "cust-1")
    kept = Record.objects.get(external_id="inv-1")  # reduced to its bookkeeping fields
    assert kept.restricted_at is not None

    run_import([subject_line(1)])

    again = Record.objects.get(external_id="inv-1")
    assert (again.data, again.restricted_at, again.rule_id) == (
        kept.data,
        kept.restricted_at,
        kept.rule_id,
    )
    assert Disclosure.objects.filter(subject__external_id="cust-1").count() == 1


def test_an_erased_subjects_identifiers_do_not_come_back_with_an_old_line(organisations):
    org = organisations["framsteget"]
    run_import([ip_only_line(1)])
    erase(org, "cust-1")
    assert not SubjectIdentifier.objects.filter(organisation=org).exists()

    result = run_import([ip_only_line(1)])

    assert result.counts.subjects_skipped_erased == 1
    assert not SubjectIdentifier.objects.filter(organisation=org).exists()
    assert not Record.objects.filter(organisation=org).exists()


def test_a_line_without_records_counts_as_old_and_is_skipped(organisations):
    org = organisations["framsteget"]
    run_import([ip_only_line(1)])
    erase(org, "cust-1")

    result = run_import([ip_only_line(1, records=[])])

    assert result.counts.subjects_skipped_erased == 1
    assert not SubjectIdentifier.objects.filter(organisation=org).exists()


def test_the_erased_person_is_recognised_by_personnummer_under_a_new_external_id(
    organisations,
):
    org = organisations["framsteget"]
    run_import([ip_only_line(1)])
    erase(org, "cust-1")
    line = ip_only_line(1, external_id="crm-77")
    line["identifiers"] = {"personnummer": ["198112189876"]}  # the same, written another way

    result = run_import([line])

    assert result.counts.records_skipped_erased == 1
    assert not DataSubject.objects.filter(external_id="crm-77").exists()


def test_a_record_collected_after_the_erasure_is_imported(organisations):
    org = organisations["framsteget"]
    run_import([ip_only_line(1)])
    erase(org, "cust-1")
    line = ip_only_line(1)
    line["records"].append(new_ip_record(1))

    result = run_import([line])

    assert result.counts.records_skipped_erased == 1
    assert result.counts.subjects_skipped_erased == 0
    assert result.counts.records_created == 1
    assert list(Record.objects.filter(organisation=org).values_list("external_id", flat=True)) == [
        "ip-new-1"
    ]
    # The person came back: they are known by their identifiers again.
    assert SubjectIdentifier.objects.filter(organisation=org, kind="email").exists()


def test_another_organisations_import_is_not_affected(organisations):
    run_import([ip_only_line(1)])
    erase(organisations["framsteget"], "cust-1")
    same_person_at_coachen = {
        "organisation": "coachen",
        "external_id": "cust-1",
        "identifiers": {"email": ["kund.1@example.se"], "personnummer": ["19811218-9876"]},
        "records": [
            {
                "external_id": "health-1",
                "category": "health",
                "purpose": "coaching_health",
                "data": {"health_information": "sömnproblem"},
                "source": "provided",
                "collected_at": "2024-05-01T10:00:00+02:00",
            }
        ],
    }

    result = run_import([same_person_at_coachen])

    assert result.counts.records_skipped_erased == 0
    assert result.counts.records_created == 1
    assert Record.objects.get(external_id="health-1").organisation == organisations["coachen"]


def test_a_partial_erasure_only_blocks_its_categories(organisations):
    org = organisations["framsteget"]
    run_import([subject_line(1)])
    erase(org, "cust-1", categories=["ip_address"])
    Record.objects.filter(external_id="inv-1").delete()  # say, removed by a later sweep

    result = run_import([subject_line(1)])

    assert result.counts.records_skipped_erased == 1
    assert not Record.objects.filter(external_id="ip-1").exists()
    assert Record.objects.filter(external_id="inv-1").exists()


def test_the_api_skips_and_reports_an_erased_subjects_old_records(organisations):
    org = organisations["framsteget"]
    run_import([ip_only_line(1)])
    erase(org, "cust-1")
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_token_create(organisation=org, name='CRM')}"
    )
    body = ip_only_line(1)
    del body["organisation"]

    response = client.post("/api/v1/store/subjects", body, format="json")

    assert response.status_code == 200
    assert response.json()["records_skipped_erased"] == 1
    assert not Record.objects.filter(organisation=org).exists()


def test_the_command_prints_what_it_skipped_for_erased_subjects(organisations, tmp_path):
    run_import([ip_only_line(1)])
    erase(organisations["framsteget"], "cust-1")
    path = tmp_path / "again.jsonl"
    path.write_text(json.dumps(ip_only_line(1)) + "\n")
    out = StringIO()

    call_command("import_records", str(path), stdout=out)

    assert "erased subjects: 1 skipped, 1 records and 0 disclosures not re-imported" in (
        out.getvalue()
    )


def test_the_importers_queries_do_not_grow_with_the_batch_size(organisations):
    org = organisations["framsteget"]
    run_import([subject_line(1)])
    erase(org, "cust-1")

    def other_customer(n: int) -> dict:
        line = subject_line(n)
        del line["identifiers"]["personnummer"]  # subject_line gives everyone cust-1's
        return line

    def queries_for(n: int, offset: int) -> int:
        lines = [subject_line(1)] + [other_customer(offset + i) for i in range(n - 1)]
        with CaptureQueriesContext(connection) as queries:
            result = run_import(lines, batch_size=n)
        assert result.counts.subjects_skipped_erased == 1
        assert result.counts.subjects_created == n - 1
        return len(queries)

    assert queries_for(10, 100) == queries_for(100, 1000)
    assert not Record.objects.filter(external_id="ip-1").exists()
