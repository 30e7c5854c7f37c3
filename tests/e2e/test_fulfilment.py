"""Scenarios 3 and 4: the worker carries out what staff approved, and the person sees it.

3. Erasure: staff approve the request and then the erasure plan, the worker runs it, and the
   person reads the reply listing what was erased and what was kept and why.
4. Access: staff approve, the worker builds the package, staff release it, and the person
   downloads a ZIP holding the report and the JSON.

The person is Anna Andersson, a FRAMSTEGET customer from `seed_demo` (contact details, IP
addresses, paid and unpaid invoices), so the bookkeeping law keeps part of her invoices.
"""

from __future__ import annotations

import json
import re
import time
import zipfile

import pytest
from playwright.sync_api import Page, expect

from requests_app.models import RequestStatus, SubjectRequest
from retention.demo import demo_seed
from retention.models import DataSubject, Record

from .flows import (
    emailed_code,
    enter_code,
    file_request,
    staff_member,
    staff_open_request,
    staff_sign_in,
    verify_with_emailed_code,
)
from .support import STAFF_TEXT

pytestmark = pytest.mark.browser

LOCALES = {"sv": "sv-SE", "en": "en-GB"}
ANNA = "anna.andersson@example.se"
REPLY = {
    "sv": {
        "our_answer": "Vårt svar",
        "erased": "Det här har vi raderat:",
        "partly": "Det här har vi delvis raderat, och varför vi behåller resten:",
        "why": "Varför:",
        "download": "Ladda ner dina uppgifter",
        "code_to_download": "Skicka en kod så att jag kan ladda ner",
        "done_subject": "Din begäran {reference} är klar",
        "ready_subject": "Dina uppgifter är klara att ladda ner ({reference})",
    },
    "en": {
        "our_answer": "Our answer",
        "erased": "What we have erased:",
        "partly": "What we have partly erased, and why we keep the rest:",
        "why": "Why:",
        "download": "Download your data",
        "code_to_download": "Send me a code to download",
        "done_subject": "Your request {reference} is done",
        "ready_subject": "Your data is ready to download ({reference})",
    },
}


def _reload_until(page: Page, selector: str, *, timeout: float = 60) -> None:
    """Reload until the worker's result shows on the page."""
    deadline = time.monotonic() + timeout
    while not page.locator(selector).count():
        assert time.monotonic() < deadline, f"{selector} did not appear within {timeout} s"
        time.sleep(0.5)
        page.reload()


def _wait_for_status(reference: str, status: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while SubjectRequest.objects.get(reference=reference).status != status:
        assert time.monotonic() < deadline, f"the request did not become {status}"
        time.sleep(0.2)


def _staff_approves(new_page, steps, organisation, *, reference: str, language: str) -> Page:
    device = staff_member(organisation, f"approver-{language}")
    staff = new_page(LOCALES[language])
    staff_sign_in(staff, steps, device=device, language=language)
    staff_open_request(staff, steps, reference=reference, language=language)
    # Signing in just now counts as the recent re-authentication approval needs.
    staff.locator("#action-approve button[type=submit]").click()
    expect(staff.locator(".messages")).to_be_visible()
    return staff


@pytest.mark.parametrize("language", ["sv", "en"])
def test_erasure_staff_approve_the_plan_the_worker_runs_it_and_the_person_reads_the_reply(
    new_page, steps, stack, organisations, language
):
    demo_seed(subjects=0)
    anna = DataSubject.objects.get(external_id="demo-framsteget-anna-andersson")
    person = new_page(LOCALES[language])
    reference = file_request(
        person, steps, kind="erasure", language=language, email=ANNA, with_errors=False
    )
    verify_with_emailed_code(person, stack.mailbox, email=ANNA, language=language)

    staff = _staff_approves(
        new_page, steps, organisations["framsteget"], reference=reference, language=language
    )
    _reload_until(staff, "#action-approve-plan")  # the worker has planned the erasure
    steps(staff, "staff: the erasure plan")
    staff.get_by_role("button", name=STAFF_TEXT[language]["approve_plan"], exact=True).click()
    expect(staff.locator(".messages")).to_contain_text(STAFF_TEXT[language]["plan_approved"])
    _wait_for_status(reference, RequestStatus.COMPLETED)
    staff.reload()
    steps(staff, "staff: the erasure is done")

    # Only invoices are left, all restricted. The paid ones keep only their bookkeeping
    # fields. The unpaid one has no date to count the bookkeeping period from, and issue 13
    # says a reduced record always has a keep-until date: it is kept as it was and shown to
    # staff as a policy error, never reduced "until (none)".
    remaining = list(Record.objects.filter(subject=anna).select_related("category", "rule"))
    assert remaining and {r.category.key for r in remaining} == {"invoice"}
    assert all(r.restricted_at is not None for r in remaining)
    paid = [r for r in remaining if r.settled_at is not None]
    assert paid and all("email" not in r.data and r.expires_at for r in paid)
    unpaid = [r for r in remaining if r.settled_at is None]
    assert all(r.rule.key == "paid_invoice" and r.expires_at is None for r in unpaid)

    words = REPLY[language]
    person.reload()
    expect(person.locator("main h2", has_text=words["our_answer"])).to_be_visible()
    reply = person.locator("main .reply").inner_text()
    steps(person, "person: the reply")
    assert words["erased"] in reply and words["partly"] in reply and words["why"] in reply
    assert "bokföringslagen" in reply.lower()  # the law that keeps the invoices, named
    assert "192.0.2" not in reply  # no erased data quoted back
    done = stack.mailbox.wait_for(ANNA, subject=words["done_subject"].format(reference=reference))
    assert words["erased"] in done.text


@pytest.mark.parametrize("language", ["sv", "en"])
def test_access_the_worker_builds_staff_release_and_the_person_downloads_the_zip(
    new_page, steps, stack, organisations, language, tmp_path
):
    demo_seed(subjects=0)
    person = new_page(LOCALES[language])
    reference = file_request(
        person, steps, kind="access", language=language, email=ANNA, with_errors=False
    )
    verify_with_emailed_code(person, stack.mailbox, email=ANNA, language=language)

    staff = _staff_approves(
        new_page, steps, organisations["framsteget"], reference=reference, language=language
    )
    _reload_until(staff, "#action-release")  # the worker has built the package
    steps(staff, "staff: the package is ready")
    staff.get_by_role("button", name=STAFF_TEXT[language]["release"], exact=True).click()
    expect(staff.locator(".messages")).to_be_visible()
    steps(staff, "staff: released")
    _wait_for_status(reference, RequestStatus.COMPLETED)

    words = REPLY[language]
    stack.mailbox.wait_for(ANNA, subject=words["ready_subject"].format(reference=reference))
    person.reload()
    download = person.get_by_role("link", name=words["download"], exact=True)
    if not download.count():
        # The code was entered too long ago: a fresh one opens the download.
        person.get_by_role("button", name=words["code_to_download"], exact=True).click()
        code = emailed_code(stack.mailbox, email=ANNA, language=language, count=2)
        enter_code(person, code, language)
        expect(person).to_have_url(re.compile(rf"/requests/{reference}/$"))
    steps(person, "person: the data is ready")
    with person.expect_download() as started:
        download.click()
    path = tmp_path / "package.zip"
    started.value.save_as(path)

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        assert {"report.html", "data.json"} <= names, names
        data = json.loads(archive.read("data.json"))
        report = archive.read("report.html").decode()
    assert data["reference"] == reference and data["record_count"] > 0
    assert "Anna Andersson" in report
