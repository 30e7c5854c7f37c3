"""Scenario 1: a person files each request type in the browser, confirms the address with the
code from the e-mail, and sees the status page with the legal due date."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from requests_app import deadlines
from requests_app.models import RequestStatus, SubjectRequest

from .flows import (
    REQUEST_TYPES,
    file_request,
    fill_about_you,
    send_request,
    unique_email,
    verify_with_emailed_code,
)
from .support import TEXT, long_date, short_date, summary

pytestmark = pytest.mark.browser

LOCALES = {"sv": "sv-SE", "en": "en-GB"}


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("kind", list(REQUEST_TYPES))
def test_a_person_files_a_request_confirms_the_code_and_sees_the_due_date(
    new_page, steps, stack, organisations, kind, language
):
    page = new_page(LOCALES[language])
    email = unique_email()

    reference = file_request(page, steps, kind=kind, language=language, email=email)

    code_mail = stack.mailbox.wait_for(email)
    assert TEXT[language]["code_subject"] in code_mail.subject
    assert reference in code_mail.text
    verify_with_emailed_code(page, stack.mailbox, email=email, language=language)
    steps(page, "status page")

    request = SubjectRequest.objects.select_related("organisation").get(reference=reference)
    assert (request.kind, request.language) == (kind, language)
    # Verified: in the queue, or (an objection to direct marketing, a consent withdrawn)
    # already honoured by the worker.
    assert request.verified_at is not None and request.status != RequestStatus.UNVERIFIED
    assert request.personnummer == "198112189876"
    due = deadlines.due_date_for(request.received_at, request.organisation.time_zone)
    assert due >= deadlines.add_months(request.received_at.date(), 1)
    assert deadlines.is_working_day(due)
    shown = summary(page)
    assert shown[TEXT[language]["due"]] == long_date(due, language)
    assert reference in page.locator("main").inner_text()

    # The worker then confirms by e-mail, with the same date and a single-use status link.
    subject = f"{TEXT[language]['confirmation_subject']} {reference}"
    confirmation = stack.mailbox.wait_for(email, subject=subject)
    assert short_date(due, language) in confirmation.text
    assert any(f"/requests/{reference}/open/?t=" in link for link in confirmation.links())


def test_a_request_can_be_filed_and_confirmed_without_javascript(
    new_page, steps, stack, organisations
):
    """Every page works as plain HTML forms: more correction rows come from the server."""
    page = new_page("sv-SE", javascript=False)
    email = unique_email()
    page.goto("/framsteget/request/rectification/")
    page.fill("[name=corrections-0-wrong]", "Efternamn Svensson")
    page.get_by_role("button", name="Lägg till fler rader", exact=True).click()
    expect(page.locator("[name=corrections-5-wrong]")).to_be_visible()
    expect(page.locator("[name=corrections-0-wrong]")).to_have_value("Efternamn Svensson")
    page.fill("[name=corrections-0-correct]", "Efternamn Svensén")
    page.fill("[name=corrections-4-wrong]", "Adress Storgatan 1")
    page.fill("[name=corrections-4-correct]", "Adress Lillgatan 2")
    fill_about_you(page, email=email)
    steps(page, "rectification without javascript", check=False)
    send_request(page, "sv")
    expect(page).to_have_url(re.compile(r"/requests/DSR-[0-9A-Z-]+/verify/$"))
    verify_with_emailed_code(page, stack.mailbox, email=email, language="sv")
    steps(page, "status page without javascript", check=False)
    request = SubjectRequest.objects.get(email=email)
    assert request.details["corrections"] == [
        {"wrong": "Efternamn Svensson", "correct": "Efternamn Svensén"},
        {"wrong": "Adress Storgatan 1", "correct": "Adress Lillgatan 2"},
    ]
