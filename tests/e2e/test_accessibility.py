"""axe-core (WCAG 2.1 A and AA) on the public pages the scenarios do not pass through, in both
languages: every organisation's page, proving the address again, the answer to a question,
the rate-limit page, an unknown address, and the staff sign-in reachable from the internet.

The request forms (empty and with errors), the verify page and the status page are checked
on the way by the scenarios (`steps(...)` runs axe on every page it records).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from requests_app.models import SubjectRequest
from requests_app.ratelimit import rate_limit_hit
from requests_app.services.staff import request_information_ask
from retention.models import StaffMembership

from .flows import (
    choose_language,
    file_request,
    fill_about_you,
    open_form,
    send_request,
    unique_email,
    verify_with_emailed_code,
)
from .support import TEXT

pytestmark = pytest.mark.browser

LOCALES = {"sv": "sv-SE", "en": "en-GB"}
LANGUAGES = ["sv", "en"]
ORGANISATIONS = ["prognoscentret", "prokompetens", "coachen", "framsteget", "expektra"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_organisations_page_is_accessible(new_page, steps, stack, organisations, language):
    page = new_page(LOCALES[language])
    page.goto("/framsteget/")
    choose_language(page, language)
    for slug in ORGANISATIONS:
        page.goto(f"/{slug}/")
        expect(page.locator("html")).to_have_attribute("lang", language)
        steps(page, f"{slug} landing page")


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_unknown_address_says_so_in_the_persons_language(
    new_page, steps, stack, organisations, language
):
    page = new_page(LOCALES[language])
    page.goto("/framsteget/")
    choose_language(page, language)
    response = page.goto("/no-such-organisation/")
    assert response.status == 404
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("main h1")).to_have_text(
        {"sv": "Sidan finns inte", "en": "Page not found"}[language]
    )
    steps(page, "not found")


@pytest.mark.parametrize("language", LANGUAGES)
def test_proving_the_address_again_and_answering_a_question_are_accessible(
    new_page, steps, stack, organisations, language
):
    person = new_page(LOCALES[language])
    email = unique_email()
    reference = file_request(
        person, steps, kind="access", language=language, email=email, with_errors=False
    )
    verify_with_emailed_code(person, stack.mailbox, email=email, language=language)

    # Staff ask a question: the person answers on the reply page (empty, then with an error).
    handler = get_user_model().objects.create_user(username=f"asker-{language}")
    request = SubjectRequest.objects.get(reference=reference)
    StaffMembership.objects.create(user=handler, organisation=request.organisation, role="handler")
    request_information_ask(request=request, actor=handler, question="Vilket kundnummer?")
    person.goto(f"/framsteget/requests/{reference}/reply/")
    steps(person, "reply page")
    person.locator("main form button[type=submit]").click()
    expect(person.locator("#id_answer")).to_have_attribute("aria-invalid", "true")
    expect(person.locator("#id_answer")).to_have_attribute(
        "aria-describedby", re.compile(r"\bid_answer_errors\b")
    )
    steps(person, "reply page with an error")

    # Another browser: the status page asks to prove the address (empty, then with an error).
    other = new_page(LOCALES[language])
    other.goto(f"/framsteget/requests/{reference}/")
    expect(other.locator("html")).to_have_attribute("lang", language)
    steps(other, "prove the address")
    other.fill("[name=email]", "not an address")
    other.locator("main form button[type=submit]").click()
    expect(other.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    steps(other, "prove the address with an error")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_rate_limit_page_is_accessible(new_page, steps, stack, organisations, language):
    page = new_page(LOCALES[language])
    email = unique_email()
    for _attempt in range(5):  # the hourly limit of requests per e-mail address is used up
        rate_limit_hit(action="submit", dimension="email", value=email)
    open_form(page, steps, org="framsteget", kind="erasure", language=language)
    fill_about_you(page, email=email)
    send_request(page, language)
    expect(page.locator("main h1")).to_have_text(
        {"sv": "För många försök", "en": "Too many attempts"}[language]
    )
    steps(page, "too many attempts")
    assert not SubjectRequest.objects.exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_staff_sign_in_pages_are_accessible(new_page, steps, stack, organisations, language):
    user = get_user_model().objects.create_user(username=f"new-{language}", password="x" * 20)
    StaffMembership.objects.create(
        user=user, organisation=organisations["framsteget"], role="viewer"
    )
    page = new_page(LOCALES[language])
    page.goto("/staff/login/")
    choose_language(page, language)
    steps(page, "staff sign-in")
    page.fill("[name=username]", user.username)
    page.fill("[name=password]", "wrong password")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("main [role=alert]")).to_be_visible()
    steps(page, "staff sign-in with an error")
    page.fill("[name=password]", "x" * 20)
    page.locator("main form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/staff/login/enrol/$"))
    steps(page, "enrol an authenticator app")
    page.fill("[name=code]", "12")
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#id_code")).to_have_attribute("aria-invalid", "true")
    steps(page, "enrol with an error")
    assert TEXT[language]["language_button"] in page.locator("header").inner_text()
