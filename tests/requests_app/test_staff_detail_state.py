"""A request page driven by state (issue 16, item 4).

"It offers only the actions that the request's status and the user's role allow.
The next step stands first and explains itself. Running jobs show live progress,
refreshed without reloading the page." The expectations below are written out by
hand, from the transitions in `services.staff`'s docstring and the roles in
`permissions.REQUIRED_ROLE`, not computed from the registry they test.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from requests_app.models import (
    DataPackage,
    Fulfilment,
    RequestStatus,
    RequestSubjectMatch,
)
from requests_app.services import staff as svc
from requests_app.services.actions import request_actions_allowed
from requests_app.services.next_step import request_next_step, request_progress
from retention.models import RecordStoreJob
from tests.requests_app.helpers import (
    ANNA,
    customer,
    make_request,
    make_subject_with_records,
    verified_request,
)

S = RequestStatus
EMAIL = "anna@example.org"

# --- Which actions each role is offered, in each status -------------------------------------

HANDLER = {
    S.NEW: {"identity", "match", "assign", "ask", "note", "cancel"},
    S.IN_PROGRESS: {"identity", "match", "assign", "ask", "note", "cancel"},
    S.AWAITING_SUBJECT: {"identity", "match", "assign", "note", "cancel"},
    S.APPROVED: {"assign", "note", "cancel"},
    S.FULFILLING: {"assign", "note"},
    S.COMPLETED: {"note"},
    S.REFUSED: {"note"},
    S.CANCELLED: {"note"},
}
# What an approver (and an admin) may do on top: approve, extend, refuse.
APPROVER_EXTRA = {
    S.NEW: {"approve", "extend", "refuse"},
    S.IN_PROGRESS: {"approve", "extend", "refuse"},
    S.AWAITING_SUBJECT: {"extend", "refuse"},
    S.APPROVED: {"extend"},
    S.FULFILLING: {"extend"},
    S.COMPLETED: set(),
    S.REFUSED: set(),
    S.CANCELLED: set(),
}
EXPECTED = {
    "viewer": dict.fromkeys(HANDLER, set()),
    "handler": HANDLER,
    "approver": {s: HANDLER[s] | APPROVER_EXTRA[s] for s in HANDLER},
    "admin": {s: HANDLER[s] | APPROVER_EXTRA[s] for s in HANDLER},
}


def offered_on_page(html: str) -> set[str]:
    """The actions the page offers: its action forms, and the include/exclude buttons."""
    names = set(re.findall(r'<form method="post" action="[^"]*" id="action-([a-z_-]+)"', html))
    if re.search(r'action="/staff/requests/[^"]+/matches/\d+/(?:in|ex)clude/"', html):
        names.add("match")
    return names


@pytest.mark.parametrize("status", list(HANDLER))
@pytest.mark.parametrize("role", ["viewer", "handler", "approver", "admin"])
def test_each_role_is_offered_exactly_the_actions_the_status_allows(
    org, staff, staff_client, role, status
):
    """An erasure request with one proven match: the page shows exactly these forms."""
    request = make_request(org, kind="erasure", status=status)
    make_subject_with_records(request)
    html = (
        staff_client(staff[role])
        .get(reverse("staff:detail", kwargs={"reference": request.reference}))
        .content.decode()
    )
    assert offered_on_page(html) == EXPECTED[role][status]
    allowed = set(request_actions_allowed(user=staff[role], request=request))
    assert allowed == EXPECTED[role][status]  # the API reads the same registry


def test_a_request_with_an_assignee_can_be_unassigned_and_a_rectification_completed(org, staff):
    request = make_request(org, kind="rectification", status=S.IN_PROGRESS)
    request.assignee = staff["handler"]
    request.save()
    allowed = request_actions_allowed(user=staff["handler"], request=request)
    assert {"unassign", "complete", "correction"} <= set(allowed)
    assert "complete" not in request_actions_allowed(
        user=staff["handler"], request=make_request(org, kind="erasure", status=S.IN_PROGRESS)
    )


def test_approve_is_not_offered_while_a_match_is_unproven_and_the_step_says_why(
    org, staff, staff_client
):
    """Approval would answer 409 (`identity_unproven`): the page does not offer it."""
    request = make_request(org, kind="erasure", status=S.IN_PROGRESS)
    make_subject_with_records(request)
    RequestSubjectMatch.objects.filter(request=request).update(proven_by="none")
    allowed = request_actions_allowed(user=staff["approver"], request=request)
    assert "approve" not in allowed and "identity" in allowed
    step = request_next_step(user=staff["approver"], request=request)
    assert step.anchor == "matches" and step.tone == "act"
    html = (
        staff_client(staff["approver"])
        .get(
            reverse("staff:detail", kwargs={"reference": request.reference}),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        .content.decode()
    )
    assert "1 match is not proven: record an identity check or exclude it." in html
    assert 'id="action-approve"' not in html


def test_an_extended_request_is_not_offered_another_extension(org, staff):
    request = make_request(org, status=S.IN_PROGRESS)
    make_subject_with_records(request)
    svc.request_deadline_extend(request=request, actor=staff["approver"], months=1, reason="Many")
    request.refresh_from_db()
    assert "extend" not in request_actions_allowed(user=staff["approver"], request=request)


def test_a_forbidden_action_posted_anyway_is_refused_with_the_reason(org, staff, staff_client):
    """The safe behaviour stays: the service refuses and the page shows why (409)."""
    request = make_request(org, status=S.COMPLETED)
    response = staff_client(staff["admin"]).post(
        reverse("staff:action", kwargs={"reference": request.reference, "name": "cancel"}),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 409
    request.refresh_from_db()
    assert request.status == S.COMPLETED


# --- The next step --------------------------------------------------------------------------


def test_the_next_step_stands_first_on_the_page(org, staff, staff_client):
    request = make_request(org, kind="erasure", status=S.IN_PROGRESS)
    make_subject_with_records(request)
    html = (
        staff_client(staff["handler"])
        .get(
            reverse("staff:detail", kwargs={"reference": request.reference}),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        .content.decode()
    )
    main = html[html.index('<main id="main"') :]
    assert main.index('id="next-step"') < main.index('id="actions"') < main.index('id="h-due"')
    assert "Check whose data it is, then approve" in main and "An approver approves it." in main


def test_a_request_due_in_three_days_says_approve_or_extend(org, staff):
    received = timezone.now() - dt.timedelta(days=40)
    request = make_request(org, status=S.IN_PROGRESS, received_at=received)
    make_subject_with_records(request)
    with time_machine.travel(timezone.now(), tick=False), translation.override("sv"):
        request.due_date = timezone.localdate() + dt.timedelta(days=3)
        request.original_due_date = request.due_date
        request.save()
        step = request_next_step(user=staff["approver"], request=request)
    assert step.text == "Förfaller om 3 dagar: godkänn, eller förläng tidsfristen med ett skäl."


def test_waiting_for_the_person_names_the_question_date(org, staff):
    request = make_request(org, status=S.IN_PROGRESS)
    make_subject_with_records(request)
    svc.request_information_ask(request=request, actor=staff["handler"], question="Which one?")
    request.refresh_from_db()
    with translation.override("sv"):
        step = request_next_step(user=staff["handler"], request=request)
    assert step.tone == "wait" and "klockan är pausad" in step.text


def test_the_erasure_plan_step_counts_what_is_deleted_and_kept(org, staff, deliver):
    customer(org, email=EMAIL)
    request = verified_request(org, kind="erasure", email=EMAIL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    with translation.override("sv"):
        step = request_next_step(user=staff["approver"], request=request)
        handler = request_next_step(user=staff["handler"], request=request)
    assert step.anchor == "action-approve-plan"
    assert step.text == "Godkänn raderingsplanen: 5 poster raderas."
    assert handler.tone == "wait" and handler.text.startswith("En godkännare godkänner")


# --- Live progress: strangers first ----------------------------------------------------------


def progress_url(request) -> str:
    return reverse("staff:progress", kwargs={"reference": request.reference})


def test_an_anonymous_visitor_is_sent_to_sign_in(org):
    request = make_request(org)
    response = Client().get(progress_url(request))
    assert response.status_code == 302 and "/staff/login/" in response["Location"]


def test_staff_of_another_organisation_get_404(org, outsider, staff_client):
    request = make_request(org)
    assert staff_client(outsider).get(progress_url(request)).status_code == 404


def test_progress_is_get_only(org, staff, staff_client):
    request = make_request(org)
    assert staff_client(staff["admin"]).post(progress_url(request)).status_code == 405


@pytest.fixture
def running_job(org, staff, deliver):
    """An erasure request whose plan an approver approved: the job waits for a worker."""
    customer(org, email=EMAIL)
    request = verified_request(org, kind="erasure", email=EMAIL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    from requests_app.services import fulfilment as ff

    ff.erasure_plan_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    return request


def test_a_viewer_reads_the_running_jobs_progress_as_it_changes(running_job, staff, staff_client):
    client = staff_client(staff["viewer"])
    job_id = Fulfilment.objects.get(request=running_job).job_id
    RecordStoreJob.objects.filter(pk=job_id).update(state="running", progress=1)
    first = client.get(progress_url(running_job), HTTP_ACCEPT_LANGUAGE="en").json()
    assert first["running"] is True and first["job"]["done"] == 1
    total = first["job"]["total"]
    assert first["job"]["text"] == f"1 of {total} records handled"
    assert first["next_step"] == f"A worker is erasing: 1 of {total} records handled."
    RecordStoreJob.objects.filter(pk=job_id).update(progress=2)
    assert client.get(progress_url(running_job)).json()["job"]["done"] == 2


def test_the_page_polls_only_while_a_worker_runs_and_works_without_javascript(
    running_job, org, staff, staff_client
):
    client = staff_client(staff["viewer"])
    html = client.get(
        reverse("staff:detail", kwargs={"reference": running_job.reference}),
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert f'data-progress-url="{progress_url(running_job)}"' in html
    assert "/static/js/progress.js" in html
    assert "Refresh the page" in html and 'id="job-progress"' in html
    idle = make_request(org, status=S.COMPLETED)
    quiet = client.get(reverse("staff:detail", kwargs={"reference": idle.reference}))
    assert "progress.js" not in quiet.content.decode()


def test_a_package_being_built_is_running(org, staff):
    request = make_request(org, kind="access", status=S.FULFILLING)
    make_subject_with_records(request)
    DataPackage.objects.create(
        request=request, kind="access", format="zip", created_at=timezone.now()
    )
    data = request_progress(user=staff["viewer"], request=request)
    assert data["running"] is True and data["package"]["state"] == "building"


def test_the_plan_step_names_what_a_law_keeps_and_until_when(framsteget, framsteget_staff, deliver):
    """ "Approve the erasure plan: 5 records deleted, 3 kept until 2032-12-31 (bookkeeping
    law)": Anna's paid invoices are kept under the Bookkeeping Act."""
    request = verified_request(framsteget, kind="erasure", email=ANNA)
    with deliver():
        svc.request_approve(request=request, actor=framsteget_staff["approver"])
    request.refresh_from_db()
    with translation.override("en"):
        step = request_next_step(user=framsteget_staff["approver"], request=request)
    assert re.fullmatch(
        r"Approve the erasure plan: \d+ records? deleted(, \d+ reduced)?, \d+ kept until "
        r"\d{4}-\d\d-\d\d – Accounting records \(Swedish Bookkeeping Act\)\.",
        step.text,
    ), step.text
