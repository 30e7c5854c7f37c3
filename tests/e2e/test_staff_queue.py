"""The queue built for triage (issue 16, item 3), in Chromium: the filters, the badges, the
counts per status as quick filters, sorting, j/k keyboard navigation, bulk assignment by
an approver and a saved filter. Screenshots at 1280 and 390 px; axe-core on each state."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from requests_app.models import RequestStatus, SubjectRequest
from tests.requests_app.helpers import make_request

from .flows import both_widths, staff_member, staff_sign_in, unique_email

pytestmark = pytest.mark.browser

RED, AMBER_TEXT, GREY_TEXT = "rgb(177, 14, 30)", "rgb(74, 40, 0)", "rgb(51, 57, 61)"


def _requests(organisation, name: str) -> dict[str, SubjectRequest]:
    now = timezone.now()
    make = lambda **kw: make_request(organisation, full_name=name, email=unique_email(), **kw)  # noqa: E731
    return {
        "overdue": make(received_at=now - dt.timedelta(days=40), kind="access"),
        "soon": make(received_at=now - dt.timedelta(days=27)),
        "waiting": make(status=RequestStatus.AWAITING_SUBJECT, received_at=now - dt.timedelta(2)),
        "fresh": make(received_at=now - dt.timedelta(hours=1)),
    }


def row(page, reference: str):
    return page.locator("table.triage tbody tr", has=page.get_by_role("link", name=reference))


def test_triage_in_the_queue(new_page, steps, stack, organisations):
    organisation = organisations["framsteget"]
    tag = uuid.uuid4().hex[:6]
    name = f"Triage {tag}"
    requests = _requests(organisation, name)
    handler = staff_member(organisation, f"handler-{tag}", role="handler").user
    device = staff_member(organisation, f"approver-{tag}", role="approver")

    page = new_page("en-GB")
    staff_sign_in(page, steps, device=device, language="en")

    # Filters: labels before their fields, in one compact bar.
    bar = page.locator("form.queue-filters")
    for field in bar.locator(".filter:not(.filter-check)").all():
        label, control = field.locator("label"), field.locator("input, select")
        assert label.bounding_box()["y"] < control.bounding_box()["y"]
    page.get_by_label("Reference, name or e-mail", exact=True).fill(name)
    page.get_by_role("button", name="Filter", exact=True).click()
    rows = page.locator("table.triage tbody tr.queue-row")
    expect(rows).to_have_count(4)
    both_widths(page, steps, "queue filtered")

    # Badges: the text says it, the colour supports it.
    overdue = row(page, requests["overdue"].reference).locator(".badge-overdue")
    expect(overdue).to_have_text(re.compile(r"^\d+ days overdue$"))
    assert overdue.evaluate("b => getComputedStyle(b).backgroundColor") == RED
    soon = row(page, requests["soon"].reference).locator(".badge-soon")
    expect(soon).to_have_text(re.compile(r"^Due (in \d+ days?|today)$"))
    assert soon.evaluate("b => getComputedStyle(b).color") == AMBER_TEXT
    waiting = row(page, requests["waiting"].reference).locator(".badge-waiting")
    expect(waiting).to_have_text("Waiting for the person")
    assert waiting.evaluate("b => getComputedStyle(b).color") == GREY_TEXT
    expect(row(page, requests["fresh"].reference).locator(".badge")).to_have_count(0)

    # Counts per status are quick filters that keep the search.
    tabs = page.get_by_role("navigation", name="Requests by status")
    expect(tabs.get_by_role("link", name="Open 4")).to_have_attribute("aria-current", "page")
    tabs.get_by_role("link", name="Waiting for the person 1").click()
    expect(page).to_have_url(re.compile(r"status=awaiting_subject"))
    expect(rows).to_have_count(1)
    expect(page.get_by_label("Reference, name or e-mail", exact=True)).to_have_value(name)
    tabs.get_by_role("link", name="Open 4").click()
    expect(rows).to_have_count(4)

    # Sortable columns: the header says how the table is sorted.
    page.locator("thead").get_by_role("link", name="Received").click()
    expect(page.locator("th.col-received")).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_contain_text(requests["overdue"].reference)
    page.locator("thead").get_by_role("link", name="Received").click()
    expect(page.locator("th.col-received")).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_contain_text(requests["fresh"].reference)
    expect(page).to_have_url(re.compile(r"q=Triage"))

    # Keyboard: j/k move a visible focus between rows, Enter opens; typing is left alone.
    expect(page.locator(".keyboard-hint")).to_be_visible()
    page.locator("main h1").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("k")
    expect(rows.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    expect(rows.nth(0).locator("a.row-link")).to_be_focused()
    steps(page, "keyboard focus on the first row")
    search = page.get_by_label("Reference, name or e-mail", exact=True)
    search.press("End")
    search.press_sequentially("jk")
    expect(search).to_have_value(f"{name}jk")
    expect(rows.nth(0).locator("a.row-link")).not_to_be_focused()
    search.fill(name)
    page.locator("main h1").click()
    second = rows.nth(1).locator("a.row-link").inner_text()
    page.keyboard.press("j")  # from the current (first) row to the second
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/staff/requests/{second}/$"))
    page.go_back()
    expect(rows).to_have_count(4)

    # Bulk assignment: tick two requests, choose the handler, assign.
    picked = [requests["overdue"].reference, requests["soon"].reference]
    for reference in picked:
        page.get_by_label(f"Select {reference}", exact=True).check()
    page.get_by_label("Assign the selected requests to", exact=True).select_option(
        label=handler.username
    )
    steps(page, "two requests ticked for bulk assignment")
    page.locator("#bulk-assign").get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"2 requests assigned to {handler.username}.")
    expect(page).to_have_url(re.compile(r"q=Triage"))
    for reference in picked:
        expect(row(page, reference).locator(".col-assignee")).to_have_text(handler.username)
        assert SubjectRequest.objects.get(reference=reference).assignee_id == handler.pk
    both_widths(page, steps, "queue after bulk assignment")

    # A saved filter: save the current one, then open it from the list.
    page.get_by_label("Save this filter as", exact=True).fill(f"Triage {tag}")
    page.get_by_role("button", name="Save filter", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"Filter “Triage {tag}” saved.")
    page.goto("/staff/")
    page.locator(".saved-filters").get_by_role("link", name=f"Triage {tag}").click()
    expect(page).to_have_url(re.compile(r"q=Triage"))
    expect(rows).to_have_count(4)
    both_widths(page, steps, "queue from a saved filter")


def test_the_queue_works_without_javascript(new_page, steps, stack, organisations):
    organisation = organisations["framsteget"]
    tag = uuid.uuid4().hex[:6]
    requests = _requests(organisation, f"Nojs {tag}")
    handler = staff_member(organisation, f"nojs-handler-{tag}", role="handler").user
    device = staff_member(organisation, f"nojs-admin-{tag}", role="admin")
    page = new_page("en-GB", javascript=False)

    def screenshots(page, name: str, **_kwargs) -> None:  # axe runs in the page's JavaScript
        steps(page, name, check=False)

    staff_sign_in(page, screenshots, device=device, language="en")
    page.get_by_label("Reference, name or e-mail", exact=True).fill(f"Nojs {tag}")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator(".keyboard-hint")).to_be_hidden()
    reference = requests["fresh"].reference
    page.get_by_label(f"Select {reference}", exact=True).check()
    page.get_by_label("Assign the selected requests to", exact=True).select_option(
        label=handler.username
    )
    page.locator("#bulk-assign").get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator(".messages")).to_contain_text(f"1 request assigned to {handler.username}.")
    screenshots(page, "bulk assignment without javascript")
