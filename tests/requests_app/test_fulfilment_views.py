"""The fulfilment part of a request's staff page: the erasure plan (grouped and page by page),
its approval by an approver who confirmed it is them, and decisions on objections."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from requests_app.models import Fulfilment, ObjectionDecision, RequestStatus
from requests_app.selectors import fulfilment as fulfilment_selectors
from requests_app.services import staff as svc
from tests.requests_app.helpers import customer, verified_request

EMAIL = "anna@example.org"


@pytest.fixture
def planned(org, staff, deliver):
    """An approved erasure request whose plan waits for an approver."""
    customer(org, email=EMAIL)
    request = verified_request(org, kind="erasure", email=EMAIL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    return request


def urls(request):
    ref = {"reference": request.reference}
    return (
        reverse("staff:detail", kwargs=ref),
        reverse("staff:fulfilment", kwargs={**ref, "name": "approve_plan"}),
    )


def test_the_plan_is_shown_grouped_and_page_by_page(planned, staff, staff_client, monkeypatch):
    monkeypatch.setattr(fulfilment_selectors, "PLAN_PAGE_SIZE", 2)
    detail, _approve = urls(planned)
    client = staff_client(staff["viewer"])

    page = client.get(detail, HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert "5 in all: 5 to delete, 0 to reduce to what a law keeps, 0 to keep" in html
    assert "Per record (page 1 of 3)" in html
    assert "?plan_page=2#fulfilment" in html
    assert "Approve the erasure plan" not in html  # a viewer cannot approve
    last = client.get(detail + "?plan_page=3", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Per record (page 3 of 3)" in last
    beyond = client.get(detail + "?plan_page=99", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Per record (page 3 of 3)" in beyond


def test_the_plan_page_takes_as_many_queries_for_400_records_as_for_5(
    org, staff, deliver, staff_client
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from retention.models import Record

    def queries_for(name: str, extra: int) -> tuple[int, str]:
        email = f"{name}@example.org"
        subject = customer(org, name=name, email=email)
        template = Record.objects.filter(subject=subject).first()
        Record.objects.bulk_create(
            [
                Record(
                    organisation=org,
                    subject=subject,
                    category=template.category,
                    purpose=template.purpose,
                    external_id=f"{name}-bulk-{n}",
                    data={"name": "x"},
                    source="provided",
                    collected_at=template.collected_at,
                )
                for n in range(extra)
            ]
        )
        request = verified_request(org, kind="erasure", email=email)
        with deliver():
            svc.request_approve(request=request, actor=staff["approver"])
        client = staff_client(staff["approver"])
        client.get(urls(request)[0])  # warm the session
        with CaptureQueriesContext(connection) as queries:
            html = client.get(urls(request)[0], HTTP_ACCEPT_LANGUAGE="en").content.decode()
        return len(queries), html

    small, _html = queries_for("small", 0)
    large, html = queries_for("large", 400)
    assert "405 in all" in html and "Per record (page 1 of 5)" in html
    assert large == small


@pytest.mark.parametrize("role", ["viewer", "handler"])
def test_only_an_approver_may_approve_the_plan(planned, staff, staff_client, role):
    _detail, approve = urls(planned)
    assert staff_client(staff[role]).post(approve).status_code == 403
    assert Fulfilment.objects.get(request=planned).job.state == "planned"


def test_approving_the_plan_needs_a_recent_confirmation(planned, staff, staff_client):
    _detail, approve = urls(planned)
    response = staff_client(staff["approver"], reauth_age=3600).post(approve)
    assert response.status_code == 302 and reverse("staff:reauth") in response["Location"]
    assert Fulfilment.objects.get(request=planned).job.state == "planned"

    response = staff_client(staff["approver"]).post(approve)
    assert response.status_code == 302
    planned.refresh_from_db()
    assert planned.status == RequestStatus.FULFILLING
    assert Fulfilment.objects.get(request=planned).job.state == "approved"


def test_another_organisations_staff_get_404_for_every_fulfilment_action(
    planned, outsider, staff_client
):
    client = staff_client(outsider)
    for name in ["approve_plan", "correction", "objection", "lift_restriction", "nonsense"]:
        url = reverse("staff:fulfilment", kwargs={"reference": planned.reference, "name": name})
        assert client.post(url, {"reason": "x"}).status_code == 404, name
    assert client.get(urls(planned)[0]).status_code == 404


def test_a_handler_records_compelling_grounds_for_an_objection_on_the_page(
    org, staff, staff_client
):
    customer(org, email=EMAIL)
    request = verified_request(
        org, kind="objection", email=EMAIL, details={"purposes": ["analytics"], "grounds": "No."}
    )
    detail, _approve = urls(request)
    url = reverse("staff:fulfilment", kwargs={"reference": request.reference, "name": "objection"})
    client = staff_client(staff["handler"])
    assert "no decision yet" in client.get(detail, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    missing = client.post(url, {"purpose": "analytics", "compelling": "yes", "reason": ""})
    assert missing.status_code == 302
    assert not ObjectionDecision.objects.exists()
    client.post(url, {"purpose": "analytics", "compelling": "yes", "reason": "Fraud checks."})
    decision = ObjectionDecision.objects.get(request=request)
    assert decision.compelling_grounds and decision.reason == "Fraud checks."
    assert client.post(url, {"purpose": "marketing", "compelling": "no"}).status_code == 302
    assert ObjectionDecision.objects.count() == 1  # not a purpose the person objected to


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids += [value for name, value in attrs if name == "id"]


def duplicate_ids(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    return sorted(i for i, n in Counter(parser.ids).items() if n > 1)


@pytest.mark.parametrize(
    "kind, details, forms",
    [
        (
            "rectification",
            {
                "corrections": [
                    {"wrong": "Name", "correct": "Anna Anderzon"},
                    {"wrong": "Amount", "correct": "299"},
                    {"wrong": "E-mail", "correct": "anna@example.com"},
                ]
            },
            3,
        ),
        # A purpose named twice (the API keeps a repeated key) is one decision, one form.
        ("objection", {"purposes": ["analytics", "marketing", "analytics"], "grounds": "No."}, 2),
    ],
)
def test_the_page_with_several_decision_forms_has_no_duplicate_ids(
    org, staff, staff_client, kind, details, forms
):
    customer(org, email=EMAIL)
    request = verified_request(org, kind=kind, email=EMAIL, details=details)
    html = staff_client(staff["admin"]).get(urls(request)[0]).content.decode()
    name = "correction" if kind == "rectification" else "objection"
    action = reverse("staff:fulfilment", kwargs={"reference": request.reference, "name": name})
    assert html.count(f'action="{action}"') == forms
    assert duplicate_ids(html) == []


def test_the_pages_with_the_plan_or_the_lifting_form_have_no_duplicate_ids(
    org, staff, staff_client, deliver, planned
):
    client = staff_client(staff["admin"])
    html = client.get(urls(planned)[0]).content.decode()
    assert 'id="action-approve-plan"' in html
    assert duplicate_ids(html) == []

    restriction = verified_request(org, kind="restriction", email=EMAIL, details={"ground": "a"})
    with deliver():
        svc.request_approve(request=restriction, actor=staff["approver"])
    html = client.get(urls(restriction)[0]).content.decode()
    assert 'id="action-lift-restriction"' in html and 'for="id_lift_reason"' in html
    assert duplicate_ids(html) == []
