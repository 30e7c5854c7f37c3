"""The morning digest: handlers get theirs due within 7 days and overdue; approvers the overdue."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import time_machine
from celery.schedules import crontab
from django.conf import settings
from django.core import mail

from requests_app.services.staff_digest import deadline_digest_send
from requests_app.services.staff_preferences import staff_language_set
from requests_app.tasks import deadline_digest
from retention.models import Organisation, StaffMembership
from tests.requests_app.helpers import make_request

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MORNING = dt.datetime(2025, 5, 12, 7, 0, tzinfo=STOCKHOLM)  # a Monday


def received_for_due(due: dt.date) -> dt.datetime:
    """A receipt time whose due date is `due` (one month earlier; all working days here)."""
    return dt.datetime(due.year, due.month - 1, due.day, 10, tzinfo=STOCKHOLM)


def mail_to(user):
    return [m for m in mail.outbox if m.to == [user.email]]


def test_handlers_get_their_soon_due_and_overdue_requests_and_approvers_the_overdue(org, staff):
    with time_machine.travel(MORNING - dt.timedelta(days=60), tick=False):
        pass
    overdue = make_request(
        org, received_at=received_for_due(dt.date(2025, 5, 8)), assignee=staff["handler"]
    )
    soon = make_request(
        org, received_at=received_for_due(dt.date(2025, 5, 16)), assignee=staff["handler"]
    )
    later = make_request(
        org, received_at=received_for_due(dt.date(2025, 6, 10)), assignee=staff["handler"]
    )
    unassigned_overdue = make_request(org, received_at=received_for_due(dt.date(2025, 5, 7)))
    closed = make_request(
        org,
        received_at=received_for_due(dt.date(2025, 5, 6)),
        assignee=staff["handler"],
        status="completed",
    )
    with time_machine.travel(MORNING, tick=False):
        sent = deadline_digest_send()
    handler_mail = mail_to(staff["handler"])
    assert len(handler_mail) == 1
    body = handler_mail[0].body
    assert overdue.reference in body and soon.reference in body
    assert later.reference not in body and closed.reference not in body
    assert unassigned_overdue.reference not in body
    assert "Anna" not in body and "anna@example.org" not in body  # no requester's data
    for role in ("approver", "admin"):
        body = mail_to(staff[role])[0].body
        assert overdue.reference in body and unassigned_overdue.reference in body
        assert soon.reference not in body
    assert mail_to(staff["viewer"]) == []
    assert sent == 3


def test_each_staff_member_gets_the_digest_in_their_organisations_language(
    org, other_org, staff, outsider
):
    Organisation.objects.filter(pk=other_org.pk).update(default_language="en")
    due = received_for_due(dt.date(2025, 5, 8))  # overdue on MORNING
    make_request(org, received_at=due, assignee=staff["handler"])
    make_request(other_org, received_at=due, assignee=outsider)
    with time_machine.travel(MORNING, tick=False):
        deadline_digest_send()

    swedish = mail_to(staff["handler"])[0]
    assert swedish.subject == "Begäranden att besvara snart (2025-05-12)"
    assert "God morgon handler," in swedish.body
    assert "Tilldelade dig och försenade" in swedish.body
    assert "Tilldelade dig och försenade" in swedish.alternatives[0][0]
    english = mail_to(outsider)[0]
    assert english.subject == "Requests to answer soon (2025-05-12)"
    assert "Good morning outsider," in english.body
    assert "Assigned to you and overdue" in english.body
    assert "Assigned to you and overdue" in english.alternatives[0][0]


def test_a_member_of_several_organisations_gets_the_language_of_the_first_one(
    org, other_org, staff
):
    Organisation.objects.filter(pk=other_org.pk).update(default_language="en")
    handler = staff["handler"]  # a member of org (Swedish) first
    StaffMembership.objects.create(user=handler, organisation=other_org, role="handler")
    make_request(other_org, received_at=received_for_due(dt.date(2025, 5, 8)), assignee=handler)
    with time_machine.travel(MORNING, tick=False):
        deadline_digest_send()
    assert mail_to(handler)[0].subject == "Begäranden att besvara snart (2025-05-12)"


def test_a_staff_members_own_language_beats_their_organisations(org, other_org, staff, outsider):
    Organisation.objects.filter(pk=other_org.pk).update(default_language="en")
    staff_language_set(user=staff["handler"], language="en")  # in a Swedish organisation
    staff_language_set(user=outsider, language="sv")  # in an English one
    staff_language_set(user=staff["approver"], language="")  # no choice: the organisation's
    due = received_for_due(dt.date(2025, 5, 8))  # overdue on MORNING
    make_request(org, received_at=due, assignee=staff["handler"])
    make_request(other_org, received_at=due, assignee=outsider)
    with time_machine.travel(MORNING, tick=False):
        deadline_digest_send()

    english = mail_to(staff["handler"])[0]
    assert english.subject == "Requests to answer soon (2025-05-12)"
    assert "Good morning handler," in english.body
    assert "Assigned to you and overdue" in english.alternatives[0][0]
    swedish = mail_to(outsider)[0]
    assert swedish.subject == "Begäranden att besvara snart (2025-05-12)"
    assert "God morgon outsider," in swedish.body
    assert "Tilldelade dig och försenade" in swedish.alternatives[0][0]
    assert mail_to(staff["approver"])[0].subject == "Begäranden att besvara snart (2025-05-12)"


def test_the_digest_is_sent_once_a_day(org, staff):
    make_request(org, received_at=received_for_due(dt.date(2025, 5, 13)), assignee=staff["handler"])
    with time_machine.travel(MORNING, tick=False):
        assert deadline_digest.run() == 1
        assert deadline_digest.run() == 0
    with time_machine.travel(MORNING + dt.timedelta(days=1), tick=False):
        assert deadline_digest.run() == 1


def test_the_digest_runs_every_morning_at_seven_stockholm_time():
    entry = settings.CELERY_BEAT_SCHEDULE["staff-deadline-digest"]
    assert entry["task"] == "requests_app.tasks.deadline_digest"
    assert entry["schedule"] == crontab(hour=7, minute=0)
    assert settings.CELERY_TIMEZONE == "Europe/Stockholm"
