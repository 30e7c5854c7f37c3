"""What a person does in the browser, step by step, as the tests reuse it."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth import get_user_model
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from retention.models import StaffMembership

from .support import STAFF_TEXT, TEXT, Mailbox, Steps

PERSONNUMMER = "19811218-9876"  # valid check digit (Skatteverket's test range)
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _access(page: Page) -> None:
    page.check("input[name=format][value=json]")


def _rectification(page: Page) -> None:
    page.fill("[name=corrections-0-wrong]", "Efternamn Svensson")
    page.fill("[name=corrections-0-correct]", "Efternamn Svensén")


def _erasure(page: Page) -> None:
    page.check("input[name=ground][value=a]")


def _restriction(page: Page) -> None:
    page.check("input[name=ground][value=a]")
    page.check("input[name=scope][value=categories]")
    page.locator("input[name=categories]").first.check()


def _objection(page: Page) -> None:
    page.check("input[name=direct_marketing]")


def _portability(page: Page) -> None:
    page.check("input[name=format][value=csv]")


def _consent_withdrawal(page: Page) -> None:
    page.check("input[name=purposes][value=surveys]")


# kind -> (the organisation whose page offers it in the test, what the person fills in).
# Consent withdrawal: Prognoscentret has a consent purpose (surveys), as do three others.
REQUEST_TYPES = {
    "access": ("framsteget", _access),
    "rectification": ("framsteget", _rectification),
    "erasure": ("framsteget", _erasure),
    "restriction": ("framsteget", _restriction),
    "objection": ("framsteget", _objection),
    "portability": ("framsteget", _portability),
    "consent_withdrawal": ("prognoscentret", _consent_withdrawal),
}


def unique_email(name: str = "anna") -> str:
    """A fresh address per test, so no request is joined to another test's."""
    return f"{name}.{uuid.uuid4().hex[:10]}@example.se"


def both_widths(page: Page, steps: Steps, name: str) -> None:
    """Screenshots at 1280 px (with axe-core) and 390 px; the page must not scroll sideways
    on a phone."""
    page.set_viewport_size(DESKTOP)
    steps(page, f"{name} 1280")
    page.set_viewport_size(PHONE)
    steps(page, f"{name} 390", check=False)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{name}: the page scrolls sideways on a phone ({overflow} px)"
    page.set_viewport_size(DESKTOP)


def choose_language(page: Page, language: str) -> None:
    page.get_by_role("button", name=TEXT[language]["language_button"], exact=True).click()
    expect(page.locator("html")).to_have_attribute("lang", language)


def fill_about_you(page: Page, *, email: str, personnummer: str = PERSONNUMMER) -> None:
    page.fill("[name=full_name]", "Anna Andersson")
    page.fill("[name=email]", email)
    page.fill("[name=personnummer]", personnummer)


def send_request(page: Page, language: str) -> None:
    page.get_by_role("button", name=TEXT[language]["send_request"], exact=True).click()


def open_form(page: Page, steps: Steps, *, org: str, kind: str, language: str) -> None:
    """From the organisation's page, in the chosen language, to the form of `kind`."""
    page.goto(f"/{org}/")
    choose_language(page, language)
    steps(page, f"{org} landing page")
    page.locator(f'main a[href="/{org}/request/{kind}/"]').click()
    expect(page).to_have_url(re.compile(rf"/{org}/request/{kind}/$"))
    steps(page, f"{kind} form, empty")


def file_request(
    page: Page, steps: Steps, *, kind: str, language: str, email: str, with_errors: bool = True
) -> str:
    """File a request of `kind` through its form; return the reference on the verify page."""
    org, fill = REQUEST_TYPES[kind]
    open_form(page, steps, org=org, kind=kind, language=language)
    if with_errors:
        send_request(page, language)
        expect(page.locator(".error-summary h2")).to_have_text(TEXT[language]["error_summary"])
        expect(page.locator("#id_email")).to_have_attribute("aria-invalid", "true")
        steps(page, f"{kind} form with errors")
    fill_about_you(page, email=email)
    fill(page)
    steps(page, f"{kind} form filled in", check=False)
    send_request(page, language)
    expect(page).to_have_url(re.compile(rf"/{org}/requests/DSR-[0-9A-Z-]+/verify/(#.*)?$"))
    steps(page, "verify page")
    return page.locator("main .reference").inner_text().strip()


def enter_code(page: Page, code: str, language: str) -> None:
    page.fill("[name=code]", code)
    page.get_by_role("button", name=TEXT[language]["confirm"], exact=True).click()


def emailed_code(mailbox: Mailbox, *, email: str, language: str, count: int = 1) -> str:
    """The code in the `count`-th verification e-mail to `email`."""
    return mailbox.wait_for(email, count=count, subject=TEXT[language]["code_subject"]).code()


def verify_with_emailed_code(
    page: Page, mailbox: Mailbox, *, email: str, language: str, count: int = 1
) -> None:
    """Read the code from the `count`-th code e-mail the worker sent and enter it: the status
    page opens."""
    code = emailed_code(mailbox, email=email, language=language, count=count)
    enter_code(page, code, language)
    expect(page).to_have_url(re.compile(r"/requests/DSR-[0-9A-Z-]+/$"))


# --- Staff ------------------------------------------------------------------------------

STAFF_PASSWORD = "a long staff password 4711"


def staff_member(organisation, username: str, role: str = "approver") -> TOTPDevice:
    """A staff member of `organisation` with a confirmed authenticator app; returns the app."""
    user = get_user_model().objects.create_user(username=username, password=STAFF_PASSWORD)
    StaffMembership.objects.create(user=user, organisation=organisation, role=role)
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def authenticator_code(device: TOTPDevice) -> str:
    """What the authenticator app shows now, computed from the device's key."""
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def staff_sign_in(page: Page, steps: Steps, *, device: TOTPDevice, language: str) -> None:
    """Password, then the TOTP code: the queue opens."""
    words = STAFF_TEXT[language]
    page.goto("/staff/login/")
    choose_language(page, language)
    page.get_by_label(words["user_name"], exact=True).fill(device.user.username)
    page.get_by_label(words["password"], exact=True).fill(STAFF_PASSWORD)
    steps(page, "staff: password")
    page.get_by_role("button", name=words["continue"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/staff/login/code/$"))
    page.get_by_label(words["code"], exact=True).fill(authenticator_code(device))
    steps(page, "staff: TOTP code")
    page.get_by_role("button", name=words["sign_in"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/staff/$"))
    steps(page, "staff: queue")


def staff_open_request(page: Page, steps: Steps, *, reference: str, language: str) -> None:
    """Find the request in the queue by its reference and open it."""
    words = STAFF_TEXT[language]
    page.get_by_label(words["search"], exact=True).fill(reference)
    page.get_by_role("button", name=words["filter"], exact=True).click()
    page.get_by_role("link", name=reference, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/staff/requests/{reference}/$"))
    steps(page, "staff: the request")
