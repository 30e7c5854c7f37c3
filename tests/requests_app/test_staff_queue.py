"""The queue and a request's page: filters, search, sorting, constant queries, the timeline."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_app.models import RequestStatus
from requests_app.services import staff as svc
from retention.models import AuditEntry
from tests.requests_app.helpers import make_request, make_subject_with_records

S = RequestStatus


def refs(response):
    return [r.reference for r in response.context["page"].object_list]


def test_it_lists_open_requests_sorted_by_due_date_with_days_left(org, staff, staff_client):
    now = timezone.now()
    late = make_request(org, received_at=now - dt.timedelta(days=40))
    soon = make_request(org, received_at=now - dt.timedelta(days=25))
    fresh = make_request(org, received_at=now)
    make_request(org, status=S.COMPLETED)
    make_request(org, status=S.UNVERIFIED)
    response = staff_client(staff["viewer"]).get(reverse("staff:queue"))
    assert refs(response) == [late.reference, soon.reference, fresh.reference]
    html = response.content.decode()
    assert "overdue" in html


def test_filters_and_search(org, staff, staff_client):
    now = timezone.now()
    mine = make_request(org, kind="access", assignee=staff["handler"], full_name="Bo Ek")
    awaiting = make_request(org, status=S.AWAITING_SUBJECT, email="c@example.org")
    overdue = make_request(org, received_at=now - dt.timedelta(days=45), email="d@example.org")
    closed = make_request(org, status=S.REFUSED, email="e@example.org")
    client = staff_client(staff["handler"])
    get = lambda **params: set(refs(client.get(reverse("staff:queue"), params)))  # noqa: E731
    assert get(kind="access") == {mine.reference}
    assert get(assignee="me") == {mine.reference}
    assert get(awaiting="on") == {awaiting.reference}
    assert get(overdue="on") == {overdue.reference}
    assert get(due_within="0") == {overdue.reference}
    assert get(status="refused") == {closed.reference}
    assert closed.reference in get(status="all")
    assert get(q="bo ek") == {mine.reference}
    assert get(q="C@EXAMPLE.ORG") == {awaiting.reference}
    assert get(q=mine.reference.lower()) == {mine.reference}
    assert get(organisation=org.slug) == {mine.reference, awaiting.reference, overdue.reference}


def test_the_queue_page_makes_the_same_number_of_queries_for_5_or_60_requests(
    org, staff, staff_client
):
    client = staff_client(staff["viewer"])
    for i in range(5):
        make_request(org, assignee=staff["handler"], email=f"p{i}@example.org")
    client.get(reverse("staff:queue"))  # warm up (session, content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("staff:queue")).status_code == 200
    for i in range(55):
        make_request(org, assignee=staff["admin"], email=f"q{i}@example.org")
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("staff:queue"))
    assert len(response.context["page"].object_list) == 50
    assert len(many) == len(few)


def test_the_detail_page_shows_identity_records_summary_due_date_and_timeline(
    org, staff, staff_client
):
    request = make_request(org, full_name="Cecilia Carlsson")
    make_subject_with_records(request, records=4)
    svc.request_note_add(request=request, actor=staff["handler"], body="Checked the CRM")
    svc.request_deadline_extend(request=request, actor=staff["approver"], months=2, reason="Many")
    svc.request_refuse(
        request=request, actor=staff["approver"], reasons=["no_data"], text="Nothing found"
    )
    response = staff_client(staff["viewer"]).get(
        reverse("staff:detail", kwargs={"reference": request.reference})
    )
    html = response.content.decode()
    assert "Cecilia Carlsson" in html and "anna@example.org" in html
    assert "Checked the CRM" in html
    assert response.context["summary"][0].records == 4
    actions = [item.action for item in response.context["timeline"]]
    assert actions[-2:] == ["requests.request.extended", "requests.request.refused"]
    assert "approver" in [item.actor for item in response.context["timeline"]]
    # A viewer sees no action forms.
    assert response.context["forms"] == {}


def test_opening_a_subjects_records_writes_an_audit_entry_without_personal_data(
    org, staff, staff_client
):
    request = make_request(org, full_name="Dina Dahl")
    subject = make_subject_with_records(request, records=2)
    response = staff_client(staff["viewer"]).get(
        reverse(
            "staff:subject_records",
            kwargs={"reference": request.reference, "subject_id": subject.pk},
        )
    )
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="requests.subject.records_viewed")
    assert entry.actor_id == staff["viewer"].pk
    assert entry.data == {"subject_id": subject.pk, "records": 2}
    assert "Dina" not in str(entry.data)


def test_a_subject_not_matched_to_the_request_is_not_shown(org, staff, staff_client):
    request = make_request(org)
    other = make_request(org, email="x@example.org")
    subject = make_subject_with_records(other)
    response = staff_client(staff["admin"]).get(
        reverse(
            "staff:subject_records",
            kwargs={"reference": request.reference, "subject_id": subject.pk},
        )
    )
    assert response.status_code == 404


def test_an_action_the_state_refuses_shows_a_clear_message(org, staff, staff_client):
    request = make_request(org, status=S.COMPLETED)
    response = staff_client(staff["admin"]).post(
        reverse("staff:action", kwargs={"reference": request.reference, "name": "approve"})
    )
    assert response.status_code == 409
    (error,) = response.context["forms"]["approve"].non_field_errors()
    assert error == "Begäran har status ”Klar”: ”godkänna” går inte i det läget."


def test_the_whole_flow_through_the_pages(org, staff, staff_client, deliver):
    request = make_request(org, language="en")
    client = staff_client(staff["admin"])
    url = lambda name: reverse(  # noqa: E731
        "staff:action", kwargs={"reference": request.reference, "name": name}
    )
    assert client.post(url("assign"), {"assignee": staff["handler"].pk}).status_code == 302
    with deliver():
        response = client.post(url("extend"), {"months": "1", "reason": "Many requests"})
    assert response.status_code == 302
    with deliver():
        response = client.post(url("refuse"), {"reasons": ["no_data"], "text": "None held"})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == S.REFUSED and request.extended_due_date is not None
    detail = client.get(reverse("staff:detail", kwargs={"reference": request.reference}))
    actions = [item.action for item in detail.context["timeline"]]
    assert actions == [
        "requests.request.assigned",
        "requests.request.extended",
        "requests.request.refused",
    ]
    html = detail.content.decode()
    assert "Tidsfristen har förlängts" in html
