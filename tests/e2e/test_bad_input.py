"""Scenario 5: bad input. An invalid personnummer, five wrong codes, a used or expired status
link: the person sees a clear message, nothing typed is lost, nothing is stored or leaked."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from requests_app.models import OutboxMessage, StatusToken, SubjectRequest, VerificationCode

from .flows import (
    emailed_code,
    enter_code,
    file_request,
    fill_about_you,
    open_form,
    send_request,
    unique_email,
    verify_with_emailed_code,
)
from .support import TEXT, summary

pytestmark = pytest.mark.browser

LOCALES = {"sv": "sv-SE", "en": "en-GB"}
LANGUAGES = ["sv", "en"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_invalid_personnummer_is_explained_at_the_field_and_nothing_is_stored(
    new_page, steps, stack, organisations, language
):
    page = new_page(LOCALES[language])
    email = unique_email()
    open_form(page, steps, org="framsteget", kind="erasure", language=language)
    fill_about_you(page, email=email, personnummer="19811218-9875")  # wrong check digit
    send_request(page, language)

    field = page.locator("#id_personnummer")
    expect(page.locator("#id_personnummer_errors")).to_have_text(TEXT[language]["check_digit"])
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", re.compile(r"\bid_personnummer_errors\b"))
    summary_link = page.locator('.error-summary a[href="#id_personnummer"]')
    expect(summary_link).to_contain_text(TEXT[language]["check_digit"])
    steps(page, "personnummer refused")
    assert not SubjectRequest.objects.exists()
    assert not OutboxMessage.objects.exists()

    # What was typed is still there; correcting the number is enough to go on.
    expect(page.locator("#id_full_name")).to_have_value("Anna Andersson")
    expect(page.locator("#id_email")).to_have_value(email)
    summary_link.click()
    expect(field).to_be_focused()
    field.fill("19811218-9876")
    send_request(page, language)
    expect(page).to_have_url(re.compile(r"/requests/DSR-[0-9A-Z-]+/verify/(#.*)?$"))
    assert SubjectRequest.objects.get().personnummer == "198112189876"


@pytest.mark.parametrize("language", LANGUAGES)
def test_five_wrong_codes_void_the_code_and_a_new_code_can_be_asked_for(
    new_page, steps, stack, organisations, language
):
    words = TEXT[language]
    page = new_page(LOCALES[language])
    email = unique_email()
    reference = file_request(
        page, steps, kind="access", language=language, email=email, with_errors=False
    )
    code = emailed_code(stack.mailbox, email=email, language=language)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    errors = page.locator("#id_code_errors")

    for left in (4, 3, 2, 1):
        enter_code(page, wrong, language)
        expect(errors).to_have_text(words["wrong_code"].format(left=left))
        if left == 4:
            steps(page, "a wrong code")
    enter_code(page, wrong, language)
    expect(errors).to_have_text(words["locked"])
    steps(page, "five wrong codes: the code is void")

    # The right code no longer works either; the request is still unverified.
    enter_code(page, code, language)
    expect(errors).to_have_text(words["locked"])
    request = SubjectRequest.objects.get(reference=reference)
    assert request.verified_at is None
    assert VerificationCode.objects.get(request=request).void

    page.get_by_role("button", name=words["send_new_code"], exact=True).click()
    expect(page.locator(".messages")).to_contain_text(words["new_code_sent"])
    steps(page, "a new code was sent")
    verify_with_emailed_code(page, stack.mailbox, email=email, language=language, count=2)
    steps(page, "status page with the new code")
    assert reference in page.locator("main").inner_text()


@pytest.mark.parametrize("link_state", ["used", "expired"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_used_or_expired_status_link_gives_a_clear_message_and_no_data(
    new_page, steps, stack, organisations, language, link_state
):
    words = TEXT[language]
    page = new_page(LOCALES[language])
    email = unique_email()
    reference = file_request(
        page, steps, kind="portability", language=language, email=email, with_errors=False
    )
    verify_with_emailed_code(page, stack.mailbox, email=email, language=language)
    confirmation = stack.mailbox.wait_for(email, subject=words["confirmation_subject"])
    (link,) = [x for x in confirmation.links() if "/open/?t=" in x]
    assert link.startswith(stack.url)

    if link_state == "used":
        # On another device the link opens the status once.
        other = new_page(LOCALES[language])
        other.goto(link)
        steps(other, "the e-mail link")
        other.get_by_role("button", name=words["show_status"], exact=True).click()
        expect(other.locator("dl.summary")).to_be_visible()
        assert summary(other)[words["due"]]
    else:
        # 72 hours later: the link has expired unused.
        StatusToken.objects.filter(request__reference=reference).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )

    stranger = new_page(LOCALES[language])
    stranger.goto(link)
    stranger.get_by_role("button", name=words["show_status"], exact=True).click()
    expect(stranger.locator(".messages")).to_contain_text(words["link_used"])
    steps(stranger, f"{link_state} link")
    expect(stranger.locator("dl.summary")).to_have_count(0)
    html = stranger.content()
    for secret in (email, "Anna Andersson", "198112189876", "19811218-9876"):
        assert secret not in html
    # The page offers to prove the address again: nothing is lost.
    expect(stranger.locator("input[name=email]")).to_be_visible()
