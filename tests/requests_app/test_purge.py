"""Unverified requests expire and are deleted with their personal data."""

from __future__ import annotations

import datetime as dt

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from requests_app.models import RequestEvent, SubjectRequest, VerificationCode
from requests_app.services.requests import requests_purge_unverified
from requests_app.services.verification import verification_check
from requests_app.tasks import purge_unverified_requests
from retention.models import AuditEntry

from .conftest import last_code
from .helpers import submit


def test_it_deletes_unverified_requests_after_the_ttl(org, deliver, settings):
    settings.UNVERIFIED_REQUEST_TTL_HOURS = 24
    with deliver():
        old = submit(org, email="old@example.org", full_name="Olle Gammal")
    with time_machine.travel(dt.timedelta(hours=23)):
        assert requests_purge_unverified() == 0
    with time_machine.travel(dt.timedelta(hours=24, minutes=1)):
        with deliver():
            fresh = submit(org, email="fresh@example.org")
        assert purge_unverified_requests() == 1

    assert not SubjectRequest.objects.filter(pk=old.pk).exists()
    assert not VerificationCode.objects.filter(request_id=old.pk).exists()
    assert not RequestEvent.objects.filter(request_id=old.pk).exists()
    assert SubjectRequest.objects.filter(pk=fresh.pk).exists()
    # Nothing of the person is left in the database.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM requests_app_subjectrequest WHERE email = %s OR full_name = %s",
            ["old@example.org", "Olle Gammal"],
        )
        assert cursor.fetchone()[0] == 0
    entry = AuditEntry.objects.get(action="requests.unverified.purged")
    assert entry.data["count"] == 1


def test_it_keeps_verified_requests(org, deliver):
    with deliver():
        request = submit(org)
    verification_check(request=request, code=last_code())
    with time_machine.travel(dt.timedelta(days=30)):
        assert requests_purge_unverified() == 0
    assert SubjectRequest.objects.filter(pk=request.pk).exists()


def test_the_purge_takes_the_same_number_of_queries_for_many_rows(org):
    def queries_for(count):
        for _ in range(count):
            submit(org)
        with (
            time_machine.travel(dt.timedelta(days=2)),
            CaptureQueriesContext(connection) as captured,
        ):
            assert requests_purge_unverified() == count
        return len(captured)

    assert queries_for(2) == queries_for(20)
