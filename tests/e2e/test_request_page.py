"""The state-driven request page in Chromium (issue 16, item 4).

"It offers only the actions that the request's status and the user's role
allow", "every action offered succeeds when used", and "running jobs show live
progress, refreshed without reloading the page". Screenshots of every state at
1280 and 390 px go to test-artifacts/e2e/<test>/; axe-core checks each at 1280 px.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from requests_app.models import Fulfilment, RequestStatus, SubjectRequest
from requests_app.services import staff as svc
from requests_app.services.actions import request_actions_allowed
from retention.models import Record, RecordStoreJob
from tests.requests_app.helpers import make_request, make_subject_with_records

from .flows import both_widths, staff_member, staff_sign_in, unique_email

pytestmark = pytest.mark.browser

S = RequestStatus
# Shown in its own section of the page only when there is something to decide.
NO_FORM_WITHOUT_ROWS = {"correction", "objection"}


def offered(page) -> set[str]:
    """The actions the page offers: its action forms and the include/exclude buttons."""
    names = set(
        page.locator("main form[id^=action-]").evaluate_all(
            "forms => forms.map(f => f.id.slice('action-'.length))"
        )
    )
    if page.locator("#matches form button").count():
        names.add("match")
    return {n.replace("-", "_") for n in names} - {"release"}


def expect_offered_as_allowed(page, user, reference: str) -> set[str]:
    """The page offers exactly what the registry allows now (tested against a hand-written
    table in tests/requests_app/test_staff_detail_state.py)."""
    request = SubjectRequest.objects.get(reference=reference)
    allowed = set(request_actions_allowed(user=user, request=request)) - NO_FORM_WITHOUT_ROWS
    assert offered(page) == allowed, (request.status, offered(page), allowed)
    return allowed


def submit(page, name: str, button: str, done: str) -> None:
    form = page.locator(f"#action-{name}")
    form.get_by_role("button", name=button, exact=True).click()
    expect(page.locator(".messages")).to_contain_text(done)


def test_each_offered_action_succeeds_when_used(new_page, steps, stack, organisations):
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "approver-walk", role="approver")
    user = device.user
    request = make_request(organisation, kind="rectification", email=unique_email())
    subject = make_subject_with_records(request, records=3)
    ref = request.reference

    page = new_page("en-GB")
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/requests/{ref}/")
    expect(page.locator("#next-step")).to_contain_text("Approve to carry out the request")
    both_widths(page, steps, "new request")
    assert expect_offered_as_allowed(page, user, ref) == {
        "approve",
        "complete",
        "identity",
        "match",
        "assign",
        "ask",
        "extend",
        "note",
        "refuse",
        "cancel",
    }
    # The danger buttons look dangerous.
    for name in ("refuse", "cancel"):
        button = page.locator(f"#action-{name} button[type=submit]")
        assert "button-danger" in button.get_attribute("class")

    page.locator("#id_assign_assignee").select_option(label=user.username)
    submit(page, "assign", "Assign", "The request is assigned.")
    assert "unassign" in expect_offered_as_allowed(page, user, ref)

    page.locator("#id_note_body").fill("Checked the CRM.")
    submit(page, "note", "Save the note", "The note is saved.")

    page.locator("#id_extend_months").select_option("1")
    page.locator("#id_extend_reason").fill("Several systems to search.")
    submit(page, "extend", "Extend", "The time limit is extended")
    assert "extend" not in expect_offered_as_allowed(page, user, ref)

    page.locator("#id_identity_method").select_option("id_document")
    page.locator("#id_identity_note").fill("Passport seen at the desk.")
    submit(page, "identity", "Record the identity check", "The identity check is recorded")

    page.get_by_role("button", name=f"Exclude subject {subject.pk}", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"Subject {subject.pk} is excluded")
    page.get_by_role("button", name=f"Include subject {subject.pk}", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"Subject {subject.pk} is included")

    submit(page, "unassign", "Unassign", "The request is unassigned.")
    expect_offered_as_allowed(page, user, ref)

    page.locator("#id_ask_question").fill("Which address should we correct?")
    submit(page, "ask", "Send the question", "The question is sent")
    expect(page.locator("#next-step")).to_contain_text("Waiting for the person to answer")
    both_widths(page, steps, "awaiting the person")
    assert expect_offered_as_allowed(page, user, ref) == {
        "identity",
        "match",
        "assign",
        "note",
        "refuse",
        "cancel",
    }

    svc.request_information_answer(request=request, answer="The one in Lund.")  # the person
    page.reload()
    page.locator("#id_complete_reply").fill("We corrected the address.")
    submit(page, "complete", "Complete and send the reply", "The request is completed")
    expect(page.locator("#next-step")).to_contain_text("Closed: completed on")
    both_widths(page, steps, "completed")
    assert expect_offered_as_allowed(page, user, ref) == {"note"}


@pytest.mark.parametrize(
    "name, fill, button, done, status",
    [
        (
            "refuse",
            {"#id_refuse_reasons_0": "check", "#id_refuse_text": "We hold no such data."},
            "Refuse the request",
            "The request is refused",
            S.REFUSED,
        ),
        (
            "cancel",
            {"#id_cancel_note": "By phone."},
            "Cancel the request",
            "cancelled",
            S.CANCELLED,
        ),
    ],
)
def test_the_deciding_actions_succeed_when_used(
    new_page, steps, stack, organisations, name, fill, button, done, status
):
    organisation = organisations["framsteget"]
    device = staff_member(organisation, f"approver-{name}", role="approver")
    request = make_request(organisation, kind="erasure", email=unique_email())
    make_subject_with_records(request)
    page = new_page("en-GB")
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/requests/{request.reference}/")
    for selector, value in fill.items():
        if value == "check":
            page.locator(selector).check()
        else:
            page.locator(selector).fill(value)
    submit(page, name, button, done)
    request.refresh_from_db()
    assert request.status == status
    assert expect_offered_as_allowed(page, device.user, request.reference) == {"note"}


def test_approving_then_approving_the_plan_succeed_when_used(new_page, steps, stack, organisations):
    """Approval hands the request to a worker that plans the erasure; the plan is then the
    next step, offered to the approver, and approving it lets the worker erase."""
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "approver-plan", role="approver")
    request = make_request(organisation, kind="erasure", email=unique_email())
    make_subject_with_records(request)
    page = new_page("en-GB")
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/requests/{request.reference}/")
    submit(page, "approve", "Approve", "The request is approved")
    # The page polls while the worker makes the plan, and says when it is done.
    expect(page.locator("#progress-finished")).to_be_visible(timeout=30_000)
    page.reload()
    expect(page.locator("#next-step")).to_contain_text(
        "Approve the erasure plan: 3 records deleted"
    )
    both_widths(page, steps, "erasure plan to approve")
    assert "approve_plan" in expect_offered_as_allowed(page, device.user, request.reference)
    page.locator("#action-approve-plan").get_by_role(
        "button", name="Approve the erasure plan", exact=True
    ).click()
    expect(page.locator(".messages")).to_contain_text("The erasure plan is approved")
    request.refresh_from_db()
    assert request.status in (S.FULFILLING, S.COMPLETED)


def _running_erasure(organisation) -> tuple[SubjectRequest, RecordStoreJob]:
    """An erasure request whose job a worker is running (3 records; no real worker runs it)."""
    request = make_request(organisation, kind="erasure", email=unique_email(), status=S.FULFILLING)
    subject = make_subject_with_records(request, records=3)
    plan = [
        {"record": r.pk, "action": "delete", "category": r.category.key, "reason": "erased"}
        for r in Record.objects.filter(subject=subject)
    ]
    job = RecordStoreJob.objects.create(
        organisation=organisation,
        kind="erasure",
        state="running",
        plan=plan,
        progress=0,
        lease_owner="elsewhere",
        lease_expires_at=timezone.now() + dt.timedelta(hours=1),
    )
    Fulfilment.objects.create(request=request, job=job, started_at=timezone.now())
    return request, job


def test_live_progress_updates_without_a_reload(new_page, steps, stack, organisations):
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "viewer-live", role="viewer")
    request, job = _running_erasure(organisation)
    page = new_page("en-GB")
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/requests/{request.reference}/")
    step = page.locator("#next-step .next-step-text")
    expect(step).to_have_text("A worker is erasing: 0 of 3 records handled.")
    expect(page.locator("[data-progress-hide-with-js]")).to_be_hidden()
    both_widths(page, steps, "erasure running")
    page.evaluate("() => { window.notReloaded = true; }")

    RecordStoreJob.objects.filter(pk=job.pk).update(progress=2)
    expect(step).to_have_text("A worker is erasing: 2 of 3 records handled.")
    expect(page.locator("[data-progress-field='job.text']")).to_have_text("2 of 3 records handled")
    assert page.locator("#job-progress").evaluate("p => p.value") == 2
    assert page.evaluate("() => window.notReloaded") is True

    RecordStoreJob.objects.filter(pk=job.pk).update(state="completed", progress=3)
    SubjectRequest.objects.filter(pk=request.pk).update(status=S.COMPLETED)
    expect(page.locator("#progress-finished")).to_be_visible()
    assert page.evaluate("() => window.notReloaded") is True
    both_widths(page, steps, "erasure finished")


def test_without_javascript_the_page_shows_progress_and_a_refresh_link(
    new_page, steps, stack, organisations
):
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "viewer-nojs", role="viewer")
    request, job = _running_erasure(organisation)
    RecordStoreJob.objects.filter(pk=job.pk).update(progress=1)
    page = new_page("en-GB", javascript=False)
    staff_sign_in(page, steps, device=device, language="en")
    page.goto(f"/staff/requests/{request.reference}/")
    expect(page.locator("#next-step .next-step-text")).to_have_text(
        "A worker is erasing: 1 of 3 records handled."
    )
    refresh = page.get_by_role("link", name="Refresh the page", exact=True)
    expect(refresh).to_be_visible()
    RecordStoreJob.objects.filter(pk=job.pk).update(progress=3)
    refresh.click()
    expect(page.locator("#next-step .next-step-text")).to_contain_text("3 of 3")
    assert re.search(r"/staff/requests/[^/]+/$", page.url)
