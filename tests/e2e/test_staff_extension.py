"""Scenario 2: a staff member signs in with password and TOTP, finds the request in the queue,
assigns it, extends the time limit with a reason, and the person sees the new due date."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from requests_app import deadlines
from requests_app.models import SubjectRequest

from .flows import (
    file_request,
    staff_member,
    staff_open_request,
    staff_sign_in,
    unique_email,
    verify_with_emailed_code,
)
from .support import STAFF_TEXT, TEXT, long_date, short_date, summary

pytestmark = pytest.mark.browser

LOCALES = {"sv": "sv-SE", "en": "en-GB"}
REASON = {
    "sv": "Vi behöver hämta uppgifter från flera system.",
    "en": "We need to collect data from several systems.",
}
NOTICE_SUBJECT = {
    "sv": "Vi behöver mer tid för din begäran",
    "en": "We need more time for your request",
}


@pytest.mark.parametrize("language", ["sv", "en"])
def test_staff_assign_and_extend_and_the_person_sees_the_new_due_date(
    new_page, steps, stack, organisations, language
):
    words = STAFF_TEXT[language]
    person = new_page(LOCALES[language])
    email = unique_email()
    reference = file_request(
        person, steps, kind="erasure", language=language, email=email, with_errors=False
    )
    verify_with_emailed_code(person, stack.mailbox, email=email, language=language)
    steps(person, "person: status page before the extension")
    request = SubjectRequest.objects.get(reference=reference)
    original_due = request.due_date

    username = f"approver-{language}"
    device = staff_member(organisations["framsteget"], username)
    staff = new_page(LOCALES[language])
    staff_sign_in(staff, steps, device=device, language=language)
    staff_open_request(staff, steps, reference=reference, language=language)

    assign = staff.locator("#action-assign")
    assign.get_by_label(words["assign_to"], exact=True).select_option(label=username)
    assign.get_by_role("button", name=words["assign"], exact=True).click()
    expect(staff.locator(".messages")).to_contain_text(words["assigned"])
    steps(staff, "staff: assigned")

    extend = staff.locator("#action-extend")
    extend.get_by_label(words["extend_by"], exact=True).select_option("1")
    extend.get_by_label(words["reason"], exact=True).fill(REASON[language])
    extend.get_by_role("button", name=words["extend"], exact=True).click()
    expect(staff.locator(".messages")).to_contain_text(words["extended"])
    steps(staff, "staff: extended")

    # Art. 12(3) counted as 1182/71 Art. 3: one further month is 1 + 1 months from receipt.
    received = deadlines.received_date(request.received_at, request.organisation.time_zone)
    new_due = deadlines.extended_due_date(received, 1)
    assert new_due > original_due
    request.refresh_from_db()
    assert (request.assignee.username, request.due_date) == (username, new_due)

    person.reload()
    shown = summary(person)
    assert shown[TEXT[language]["due"]] == long_date(new_due, language)
    assert shown[TEXT[language]["why_more_time"]] == REASON[language]
    steps(person, "person: status page with the new due date")

    notice = stack.mailbox.wait_for(email, subject=f"{NOTICE_SUBJECT[language]} {reference}")
    assert REASON[language] in notice.text
    assert short_date(new_due, language) in notice.text
