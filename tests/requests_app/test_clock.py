"""The due date of stored requests: receipt, extension (told to the person) and pauses."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail

from requests_app.deadlines import ExtensionError
from requests_app.models import ClockPause
from requests_app.services.requests import (
    request_clock_pause,
    request_clock_resume,
    request_extend,
)
from retention.models import AuditEntry

from .helpers import submit


@time_machine.travel(dt.datetime(2025, 1, 31, 23, 30, tzinfo=dt.UTC), tick=False)
def test_the_due_date_counts_from_the_local_date_of_receipt(org):
    # 23:30 UTC on 31 Jan is 00:30 on 1 Feb in Stockholm: due 1 March 2025 (Saturday) → 3 March.
    request = submit(org)
    assert request.original_due_date == request.due_date == dt.date(2025, 3, 3)


@time_machine.travel(dt.datetime(2028, 1, 31, 10, 0, tzinfo=dt.UTC), tick=False)
def test_the_due_date_of_31_january_in_a_leap_year_is_29_february(org):
    assert submit(org).due_date == dt.date(2028, 2, 29)


def test_an_extension_moves_the_due_date_and_tells_the_person(org, deliver):
    with time_machine.travel(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)):
        request = submit(org, language="en")  # due 3 April 2025
        assert request.due_date == dt.date(2025, 4, 3)
        with deliver():
            request = request_extend(
                request=request, months=2, reason="Many systems to search.", actor_id=7
            )
    assert request.due_date == request.extended_due_date == dt.date(2025, 6, 3)
    assert request.original_due_date == dt.date(2025, 4, 3)
    notice = mail.outbox[-1]
    assert notice.subject == f"We need more time for your request {request.reference}"
    assert "Many systems to search." in notice.body
    assert AuditEntry.objects.filter(action="requests.request.extended", actor_id=7).exists()
    assert [e.kind for e in request.events.all()][-1] == "extended"


def test_an_extension_after_the_due_date_is_refused(org):
    with time_machine.travel(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)):
        request = submit(org)
    with (
        time_machine.travel(dt.datetime(2025, 4, 4, 9, 0, tzinfo=dt.UTC)),
        pytest.raises(ExtensionError) as excinfo,
    ):
        request_extend(request=request, months=1, reason="Too late.")
    assert excinfo.value.code == "too_late"
    request.refresh_from_db()
    assert request.extended_due_date is None


def test_a_request_is_extended_only_once_and_at_most_two_months(org):
    with time_machine.travel(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)):
        request = submit(org)
        with pytest.raises(ExtensionError):
            request_extend(request=request, months=3, reason="Long.")
        request_extend(request=request, months=1, reason="Complex.")
        with pytest.raises(ExtensionError) as excinfo:
            request_extend(request=request, months=1, reason="Again.")
    assert excinfo.value.code == "already_extended"


def test_a_pause_pushes_the_due_date_by_the_days_paused(org):
    with time_machine.travel(dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)):
        request = submit(org)  # due Thursday 3 April 2025
    with time_machine.travel(dt.datetime(2025, 3, 10, 9, 0, tzinfo=dt.UTC)):
        request_clock_pause(request=request, reason="Asked which account.")
        request_clock_pause(request=request, reason="Twice is once.")
    assert ClockPause.objects.filter(request=request).count() == 1
    with time_machine.travel(dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC)):
        request = request_clock_resume(request=request)
    # 4 days paused: 7 April 2025 (Monday).
    assert request.due_date == dt.date(2025, 4, 7)
    assert [e.kind for e in request.events.all()] == ["submitted", "paused", "resumed"]
