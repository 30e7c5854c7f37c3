"""The due date of stored requests: receipt, extension (told to the person) and pauses."""

from __future__ import annotations

import datetime as dt
import importlib
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from requests_app import deadlines
from requests_app.deadlines import ExtensionError
from requests_app.models import ClockPause, SubjectRequest
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


# --- The extension counts from receipt (Art. 12(3), Regulation 1182/71 Art. 3) ---------------

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def at(*args) -> time_machine.travel:
    return time_machine.travel(dt.datetime(*args, tzinfo=STOCKHOLM), tick=False)


def test_an_extension_of_a_request_received_on_31_january_ends_on_30_april(org, deliver):
    """Art. 12(3): the month "may be extended by two further months"; 1182/71 Art. 3 counts
    the period from receipt and moves only its final end to a working day.

    Received Saturday 31 January 2026: originally due Monday 2 March (28 February is a
    Saturday); extended by two months, due Thursday 30 April 2026 (not Monday 4 May).
    """
    with at(2026, 1, 31, 10, 0):
        request = submit(org)
    assert request.original_due_date == request.due_date == dt.date(2026, 3, 2)
    with at(2026, 2, 27, 16, 0), deliver():
        request = request_extend(request=request, months=2, reason="Many systems.")
    assert request.extended_due_date == request.due_date == dt.date(2026, 4, 30)
    assert request.events.get(kind="extended").data == {"months": 2, "due_date": "2026-04-30"}
    entry = AuditEntry.objects.get(action="requests.request.extended", object_id=str(request.pk))
    assert entry.data == {"months": 2, "due_date": "2026-04-30"}


def test_an_extension_by_one_month_ends_two_months_after_receipt(org):
    """Art. 12(3): one further month from a receipt on 31 January 2026 is 31 March 2026
    (1 + 1 months, 1182/71 Art. 3(2)(c)); counting from the moved due date gave 2 April."""
    with at(2026, 1, 31, 10, 0):
        request = submit(org)
    with at(2026, 3, 2, 9, 0):  # the last day of the original limit: still allowed
        request = request_extend(request=request, months=1, reason="One more system.")
    assert request.extended_due_date == request.due_date == dt.date(2026, 3, 31)


def test_an_extension_the_day_after_the_original_limit_is_refused(org):
    """Art. 12(3): the person is told "within one month of receipt" (2 March 2026 here)."""
    with at(2026, 1, 31, 10, 0):
        request = submit(org)
    with at(2026, 3, 3, 9, 0), pytest.raises(ExtensionError) as excinfo:
        request_extend(request=request, months=2, reason="Too late.")
    assert excinfo.value.code == "too_late"


def test_days_paused_before_the_extension_still_push_the_extended_date(org):
    """Clock pauses move the date as before: the extended limit from receipt (30 April 2026),
    plus the 5 days paused (5 May 2026, a Tuesday)."""
    with at(2026, 1, 31, 10, 0):
        request = submit(org)
    with at(2026, 2, 2, 9, 0):
        request_clock_pause(request=request, reason="Asked which account.")
    with at(2026, 2, 7, 9, 0):
        request = request_clock_resume(request=request)
    assert request.due_date == dt.date(2026, 3, 9)  # 2 March + 5 days (Saturday 7) → 9 March
    with at(2026, 3, 5, 9, 0):
        request = request_extend(request=request, months=2, reason="Complex.")
    assert request.extended_due_date == dt.date(2026, 4, 30)
    assert request.due_date == dt.date(2026, 5, 5)


def test_days_paused_after_the_extension_push_the_extended_date(org):
    """A pause after the extension: 30 April 2026 + 2 days = Saturday 2 May → Monday 4 May."""
    with at(2026, 1, 31, 10, 0):
        request = submit(org)
    with at(2026, 2, 10, 9, 0):
        request = request_extend(request=request, months=2, reason="Complex.")
    with at(2026, 3, 10, 9, 0):
        request_clock_pause(request=request, reason="Asked which account.")
    with at(2026, 3, 12, 9, 0):
        request = request_clock_resume(request=request)
    assert request.extended_due_date == dt.date(2026, 4, 30)
    assert request.due_date == dt.date(2026, 5, 4)


def test_an_extension_ending_on_midsommarafton_ends_on_the_monday_after(org):
    """1182/71 Art. 3(4) with Swedish holidays: received Thursday 19 March 2026, three months
    end on Friday 19 June (midsommarafton; Saturday midsommardagen) → Monday 22 June."""
    with at(2026, 3, 19, 10, 0):
        request = submit(org)
    with at(2026, 4, 1, 9, 0):
        request = request_extend(request=request, months=2, reason="Complex.")
    assert request.due_date == dt.date(2026, 6, 22)


def test_the_receipt_date_is_the_organisations_local_date(org):
    """1182/71 Art. 3(1): the period runs from the day of receipt, here in Stockholm: 23:30
    UTC on 30 April 2026 is 1 May in Stockholm, so three months end on 1 August 2026 (a
    Saturday) → Monday 3 August."""
    with time_machine.travel(dt.datetime(2026, 4, 30, 23, 30, tzinfo=dt.UTC), tick=False):
        request = submit(org)
    with at(2026, 5, 4, 9, 0):
        request = request_extend(request=request, months=2, reason="Complex.")
    assert request.due_date == dt.date(2026, 8, 3)


# --- The stored dates of requests extended before the fix (migration 0009) --------------------


def _recount():
    from django.apps import apps

    module = importlib.import_module("requests_app.migrations.0011_extended_due_date_from_receipt")
    return module.recount_extended_due_dates(apps, None)


def _as_before_the_fix(request, months: int) -> None:
    """Store the dates the old count gave: n months after the moved original due date."""
    old = deadlines.next_working_day(deadlines.add_months(request.original_due_date, months))
    type(request).objects.filter(pk=request.pk).update(extended_due_date=old, due_date=old)


def _verified(*requests) -> None:
    type(requests[0]).objects.filter(pk__in=[r.pk for r in requests]).update(status="new")


def test_the_migration_recounts_open_extended_requests_from_receipt(org):
    """Art. 12(3): an open request extended under the old count (4 May 2026 for a receipt on
    31 January 2026) gets the legal date, 30 April, and an audit entry with the dates."""
    with at(2026, 1, 31, 10, 0):
        request = submit(org)
        request_extend(request=request, months=2, reason="Complex.")
    _verified(request)
    _as_before_the_fix(request, 2)
    request.refresh_from_db()
    assert request.due_date == dt.date(2026, 5, 4)

    with at(2026, 2, 20, 3, 0):
        assert _recount() == 1
        assert _recount() == 0  # a second run changes nothing
    request.refresh_from_db()
    assert request.extended_due_date == request.due_date == dt.date(2026, 4, 30)
    entry = AuditEntry.objects.get(action="requests.deadline.corrected")
    assert entry.object_id == str(request.pk)
    assert entry.data == {
        "months": 2,
        "extended_due_date": "2026-04-30",
        "due_date": "2026-04-30",
        "previous_due_date": "2026-05-04",
    }
    from retention.audit import audit_chain_verify

    assert audit_chain_verify().ok


def test_the_migration_keeps_ended_pauses_and_leaves_closed_requests_alone(org):
    """Pauses still push the recounted date; a closed request keeps the date it was
    answered against (its `on_time` was decided on it)."""
    with at(2026, 1, 31, 10, 0):
        paused, closed = submit(org), submit(org, email="bo@example.org")
    with at(2026, 2, 2, 9, 0):
        request_clock_pause(request=paused, reason="Asked which account.")
    with at(2026, 2, 4, 9, 0):
        request_clock_resume(request=paused)
        for request in (paused, closed):
            request_extend(request=request, months=1, reason="Complex.")
    _verified(paused, closed)
    type(closed).objects.filter(pk=closed.pk).update(status="completed")
    for request in (paused, closed):
        request.refresh_from_db()
        _as_before_the_fix(request, 1)  # 2 March + 1 month = 2 April 2026
    with at(2026, 2, 20, 3, 0):
        assert _recount() == 1
    paused.refresh_from_db()
    closed.refresh_from_db()
    # 31 January + 2 months = 31 March 2026 (a Tuesday), + 2 days paused = 2 April.
    assert paused.extended_due_date == dt.date(2026, 3, 31)
    assert paused.due_date == dt.date(2026, 4, 2)
    assert closed.extended_due_date == closed.due_date == dt.date(2026, 4, 2)


# --- Every place that shows the due date shows the same one ------------------------------------


def test_the_extended_date_is_the_same_everywhere_it_is_shown(org, staff, deliver):
    """Art. 12(3): the person, the staff queue, the request page and both APIs all show the
    extended limit counted from receipt (received 31 January 2026: 30 April 2026)."""
    from django.test import Client

    from requests_app.services.staff_auth import api_token_issue
    from requests_app.services.tokens import status_token_issue
    from tests.requests_app.conftest import last_code
    from tests.requests_app.helpers import signed_in

    person = Client()
    with at(2026, 1, 31, 10, 0):
        with deliver():
            person.post(
                "/testorg/request/erasure/",
                {
                    "full_name": "Anna Andersson",
                    "email": "anna@example.org",
                    "language": "sv",
                    "scope": "all",
                },
            )
        request = SubjectRequest.objects.get()
        with deliver():
            person.post(f"/testorg/requests/{request.reference}/verify/", {"code": last_code()})
    with at(2026, 2, 10, 9, 0):
        approver = signed_in(Client(), staff["approver"])
        with deliver():
            response = approver.post(
                f"/staff/requests/{request.reference}/extend/",
                {"months": "2", "reason": "Många system."},
            )
        assert response.status_code == 302
        request.refresh_from_db()
        assert request.due_date == request.extended_due_date == dt.date(2026, 4, 30)

        # The person's session from 31 January has ended (public sessions last an hour):
        # they come back through the single-use link of the extension e-mail.
        link, _row = status_token_issue(request=request, kind="link")
        opened = person.post(f"/testorg/requests/{request.reference}/open/", {"t": link})
        assert opened.status_code == 302
        assert "torsdag 30 april 2026" in person.get(f"/testorg/requests/{request.reference}/").text
        notice = mail.outbox[-1]
        assert notice.subject.startswith("Vi behöver mer tid") and "30 april 2026" in notice.body
        assert "2026-04-30" in approver.get("/staff/").text
        assert "2026-04-30" in approver.get(f"/staff/requests/{request.reference}/").text
        raw, _row = api_token_issue(user=staff["viewer"], name="test")
        staff_api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        detail = staff_api.get(f"/api/v1/staff/requests/{request.reference}").json()
        assert (detail["due_date"], detail["extended_due_date"]) == ("2026-04-30", "2026-04-30")
        listing = staff_api.get("/api/v1/staff/requests").json()["results"]
        assert [r["due_date"] for r in listing] == ["2026-04-30"]
        token, _row = status_token_issue(request=request, kind="api")
        status = Client().get(
            f"/api/v1/requests/{request.reference}", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert status.json()["due_date"] == "2026-04-30"
        assert status.json()["extended_due_date"] == "2026-04-30"
