"""Every public and staff page, at a desktop (1280 px) and a phone (390 px) width.

Each page is screenshotted at both widths into test-artifacts/e2e/<test>/ (for a reviewer
to look at) and checked with axe-core (WCAG 2.1 A and AA, vendored in tests/e2e/vendor/):
no serious or critical violation on any of them. The error pages are checked in both
languages; the front door, the charts and the design system's basics are asserted too.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils import timezone, translation
from playwright.sync_api import expect

from portal import errors
from requests_app.models import RequestStatus, SubjectRequest
from requests_app.ratelimit import rate_limit_hit
from requests_app.services import staff as svc
from requests_app.services.staff import request_information_ask
from retention.models import Record, StaffMembership
from tests.requests_app.helpers import make_request, make_subject_with_records

from .flows import (
    REQUEST_TYPES,
    STAFF_PASSWORD,
    both_widths,
    choose_language,
    file_request,
    fill_about_you,
    send_request,
    staff_member,
    staff_sign_in,
    unique_email,
    verify_with_emailed_code,
)

pytestmark = pytest.mark.browser

LOCALES = {"sv": "sv-SE", "en": "en-GB"}


def show_error_page(page, html: str) -> None:
    """An error page that no address of the running portal can be made to answer (400,
    403, 500): the handler's HTML, shown in a page of the portal's origin."""
    page.goto("/healthz")
    page.set_content(html)


def _error_html(handler, path: str, language: str, *args) -> str:
    request = RequestFactory().get(path)
    with translation.override(language):
        response = handler(request, *args)
    return response.content.decode()


# --- The front door and the error pages ----------------------------------------------------


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_front_door_lists_the_organisations(new_page, steps, stack, organisations, language):
    page = new_page(LOCALES[language])
    page.goto("/")
    choose_language(page, language)
    links = page.locator("main .org-list a")
    expect(links).to_have_count(len(organisations))
    expect(page.locator("main h1")).to_have_text(
        {
            "sv": "Dina rättigheter enligt dataskyddsförordningen",
            "en": "Your data protection rights",
        }[language]
    )
    both_widths(page, steps, "front door")
    page.get_by_role("link", name=organisations["framsteget"].display_name, exact=True).click()
    expect(page).to_have_url(re.compile(r"/framsteget/$"))


ERROR_TITLES = {
    "sv": {
        400: "Förfrågan kunde inte tolkas",
        403: "Du har inte behörighet till sidan",
        404: "Sidan finns inte",
        429: "För många försök",
        500: "Något gick fel hos oss",
    },
    "en": {
        400: "The request could not be understood",
        403: "You do not have access to this page",
        404: "Page not found",
        429: "Too many attempts",
        500: "Something went wrong on our side",
    },
}


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_error_page_is_styled_and_in_the_visitors_language(
    new_page, steps, stack, organisations, language
):
    titles = ERROR_TITLES[language]
    page = new_page(LOCALES[language])
    page.goto("/")
    choose_language(page, language)

    response = page.goto("/no-such-organisation/")
    assert response.status == 404
    expect(page.locator("main h1")).to_have_text(titles[404])
    expect(page.locator("main .error-code")).to_contain_text("404")
    both_widths(page, steps, "public 404")

    response = page.goto("/staff/no-such-page/")
    assert response.status == 404
    expect(page.locator("body")).to_have_class("staff")
    expect(page.locator("main h1")).to_have_text(titles[404])
    both_widths(page, steps, "staff 404")

    email = unique_email()
    for _attempt in range(5):  # the hourly limit of requests per e-mail address is used up
        rate_limit_hit(action="submit", dimension="email", value=email)
    page.goto("/framsteget/request/erasure/")
    fill_about_you(page, email=email)
    REQUEST_TYPES["erasure"][1](page)
    send_request(page, language)
    expect(page.locator("main h1")).to_have_text(titles[429])
    both_widths(page, steps, "public 429")

    for status, handler, path, args in [
        (400, errors.bad_request, "/framsteget/", (None,)),
        (403, errors.permission_denied, "/staff/org/framsteget/", (PermissionDenied(),)),
        (500, errors.server_error, "/framsteget/", ()),
    ]:
        show_error_page(page, _error_html(handler, path, language, *args))
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.locator("main h1")).to_have_text(titles[status])
        both_widths(page, steps, f"{status} page")


# --- Every public page -----------------------------------------------------------------------


def test_every_public_page(new_page, steps, stack, organisations):
    language = "sv"
    page = new_page(LOCALES[language])
    page.goto("/")
    both_widths(page, steps, "front door")
    for slug in organisations:
        page.goto(f"/{slug}/")
        both_widths(page, steps, f"{slug} landing page")
    for kind, (slug, _fill) in REQUEST_TYPES.items():
        page.goto(f"/{slug}/request/{kind}/")
        both_widths(page, steps, f"{kind} form")

    email = unique_email()
    reference = file_request(
        page, steps, kind="erasure", language=language, email=email, with_errors=True
    )
    both_widths(page, steps, "verify page")
    verify_with_emailed_code(page, stack.mailbox, email=email, language=language)
    both_widths(page, steps, "status page")

    request = SubjectRequest.objects.get(reference=reference)
    asker = get_user_model().objects.create_user(username="asker-tour")
    StaffMembership.objects.create(user=asker, organisation=request.organisation, role="handler")
    request_information_ask(request=request, actor=asker, question="Vilket kundnummer?")
    page.goto(f"/framsteget/requests/{reference}/reply/")
    both_widths(page, steps, "reply page")

    other = new_page(LOCALES[language])
    other.goto(f"/framsteget/requests/{reference}/")
    both_widths(other, steps, "prove the address")


# --- Every staff page ------------------------------------------------------------------------


def _staff_data(organisation, actor):
    """A request with matched records, closed requests for the charts, expiring records."""
    request = make_request(organisation, kind="erasure", email=unique_email())
    subject = make_subject_with_records(request, records=6)
    rule = organisation.retention_rules.order_by("key").first()
    now = timezone.now()
    for record_id, days in zip(
        Record.objects.filter(subject=subject).order_by("id").values_list("id", flat=True),
        [0.2, 2, 5, 5, 12, 25],
        strict=True,
    ):
        Record.objects.filter(pk=record_id).update(
            expires_at=now + dt.timedelta(days=days), rule=rule
        )
    for i in range(3):
        closed = make_request(
            organisation,
            kind=["access", "erasure", "objection"][i],
            email=unique_email(),
            received_at=now - dt.timedelta(days=10 * i + 1),
        )
        svc.request_cancel(request=closed, actor=actor)
    make_request(organisation, kind="access", email=unique_email(), status=RequestStatus.NEW)
    return request, subject


def test_every_staff_page(new_page, steps, stack, organisations):
    language = "en"
    organisation = organisations["framsteget"]
    device = staff_member(organisation, "admin-tour", role="admin")
    request, subject = _staff_data(organisation, device.user)

    page = new_page(LOCALES[language])
    page.goto("/staff/login/")
    choose_language(page, language)
    both_widths(page, steps, "staff sign-in")
    # The design system: the password field and the button look like the user-name field.
    user_name, password = page.locator("#id_username"), page.locator("#id_password")
    assert user_name.bounding_box()["height"] == password.bounding_box()["height"]
    assert user_name.bounding_box()["width"] == password.bounding_box()["width"]
    button = page.locator("main form button[type=submit]")
    assert button.evaluate("b => getComputedStyle(b).backgroundColor") != "rgba(0, 0, 0, 0)"
    button.focus()
    assert button.evaluate("b => getComputedStyle(b).outlineStyle") != "none"

    staff_sign_in(page, steps, device=device, language=language)
    both_widths(page, steps, "queue")
    main_width = page.locator("main").bounding_box()["width"]
    assert main_width > 1100, f"the staff layout is wide on a 1280 px screen ({main_width})"

    base = f"/staff/requests/{request.reference}/"
    pages = [
        ("request page", base),
        ("subject records", f"{base}subjects/{subject.pk}/"),
        ("dashboard", f"/staff/org/{organisation.slug}/"),
        ("retention", f"/staff/org/{organisation.slug}/retention/"),
        ("audit", f"/staff/org/{organisation.slug}/audit/"),
        ("staff members", f"/staff/org/{organisation.slug}/staff/"),
        ("api tokens", "/staff/tokens/"),
        ("my settings", "/staff/settings/"),
        ("confirm it is you", "/staff/confirm/"),
    ]
    for name, path in pages:
        response = page.goto(path)
        assert response.status == 200, (name, response.status)
        both_widths(page, steps, name)

    # The charts render: an SVG per chart, with its title and the table behind it.
    page.goto(f"/staff/org/{organisation.slug}/")
    charts = page.locator("main figure.chart")
    expect(charts).to_have_count(4)
    for i in range(4):
        chart = charts.nth(i)
        expect(chart.locator("svg[role=img] title")).to_have_count(1)
        assert chart.locator("svg").bounding_box()["height"] > 100
    bars = page.locator("#chart-requests-per-month-title + desc ~ rect")
    assert bars.count() >= 1
    charts.first.locator("summary").click()
    expect(charts.first.locator("table")).to_be_visible()
    page.goto(f"/staff/org/{organisation.slug}/retention/")
    expect(page.locator("svg[aria-labelledby^=chart-expiring] rect")).not_to_have_count(0)

    # A new staff member enrols an authenticator app.
    user = get_user_model().objects.create_user(username="new-tour", password=STAFF_PASSWORD)
    StaffMembership.objects.create(user=user, organisation=organisation, role="viewer")
    newcomer = new_page(LOCALES[language])
    newcomer.goto("/staff/login/")
    choose_language(newcomer, language)
    newcomer.fill("[name=username]", user.username)
    newcomer.fill("[name=password]", STAFF_PASSWORD)
    newcomer.locator("main form button[type=submit]").click()
    expect(newcomer).to_have_url(re.compile(r"/staff/login/enrol/$"))
    both_widths(newcomer, steps, "enrol an authenticator app")
