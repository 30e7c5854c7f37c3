"""The staff API: the queue, a request, the actions, and the OpenAPI schema."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.test import Client

from requests_app.api.staff.views import QueuePagination
from requests_app.models import RequestStatus
from requests_app.services.staff_auth import api_token_issue
from tests.requests_app.helpers import current_code, make_request, make_subject_with_records

S = RequestStatus


@pytest.fixture
def api(staff):
    def _client(role):
        raw, _token = api_token_issue(user=staff[role], name="test")
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return _client


def test_it_needs_a_token(org):
    response = Client().get("/api/v1/staff/requests")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    response = Client(HTTP_AUTHORIZATION="Bearer dsrs_wrong").get("/api/v1/staff/requests")
    assert response.status_code == 401


def test_queue_and_detail(org, staff, api):
    request = make_request(org, kind="access")
    make_subject_with_records(request, records=2)
    client = api("viewer")
    listing = client.get("/api/v1/staff/requests", {"type": "access"}).json()
    assert listing["count"] == 1
    assert listing["results"][0]["reference"] == request.reference
    detail = client.get(f"/api/v1/staff/requests/{request.reference}").json()
    assert detail["records_summary"][0]["records"] == 2
    assert detail["timeline"] == []


def test_the_queue_pages_the_drf_way(org, staff, api):
    """Issue 17: "One pagination shape ... Use DRF's pagination classes": the queue
    answers DRF's page-number envelope `{count, next, previous, results}` and follows
    `next` to the last page."""
    references = {make_request(org, kind="access").reference for _n in range(3)}
    client = api("viewer")
    first = client.get("/api/v1/staff/requests", {"page_size": 2}).json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert (first["count"], len(first["results"]), first["previous"]) == (3, 2, None)
    assert "page=2" in first["next"] and "page_size=2" in first["next"]
    second = client.get(first["next"]).json()
    assert (second["count"], len(second["results"]), second["next"]) == (3, 1, None)
    assert second["previous"] is not None
    seen = {row["reference"] for row in first["results"] + second["results"]}
    assert seen == references


def test_the_queue_has_fifty_a_page_and_at_most_two_hundred(org, staff, api):
    """50 a page unless `page_size` asks otherwise, never more than 200."""
    pagination = QueuePagination()
    assert (pagination.page_size, pagination.max_page_size) == (50, 200)
    make_request(org, kind="access")
    listing = api("viewer").get("/api/v1/staff/requests", {"page_size": 10_000}).json()
    assert listing["count"] == 1 and listing["next"] is None


@pytest.mark.parametrize("page", ["2", "0", "last-but-one", "99999"])
def test_a_page_out_of_range_answers_404_as_drf_does(org, staff, api, page):
    """Issue 17: "An out-of-range page answers 404, as DRF does" (no longer the last
    page in its place), in the API's one error shape."""
    make_request(org, kind="access")
    response = api("viewer").get("/api/v1/staff/requests", {"page": page})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert "results" not in response.json()


def test_actions_and_their_rules(org, staff, api):
    request = make_request(org, kind="objection")
    client = api("approver")
    base = f"/api/v1/staff/requests/{request.reference}"
    post = lambda path, body: client.post(f"{base}/{path}", body, content_type="application/json")  # noqa: E731
    assert post("assign", {"assignee": "handler"}).json()["status"] == "in_progress"
    assert post("extend", {"months": 2, "reason": "Busy"}).status_code == 200
    response = post("approve", {"code": "000000"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reauthentication_failed"
    with time_machine.travel(time.time() + 5):  # past django-otp's throttle after a wrong code
        response = post("approve", {"code": current_code(staff["approver"])})
    assert response.json()["status"] == "approved"
    response = post("refuse", {"reasons": ["no_data"], "text": "x", "code": "123456"})
    assert response.status_code in (403, 409)
    response = post("complete", {"reply": "Done"})
    assert response.json()["status"] == "completed"
    response = post("cancel", {})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize("language, expected", [("en", "by hand"), ("sv", "för hand")])
def test_an_erasure_cannot_be_completed_by_hand_through_the_api(
    org, staff, api, language, expected
):
    request = make_request(org, kind="erasure", status=S.FULFILLING)
    response = api("handler").post(
        f"/api/v1/staff/requests/{request.reference}/complete",
        {"reply": "Done"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "completed_by_fulfilment"
    assert expected in error["message"]
    request.refresh_from_db()
    assert request.status == S.FULFILLING


def test_the_schema_documents_the_staff_api(db):
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert "/api/v1/staff/requests" in paths
    assert "/api/v1/staff/requests/{reference}/approve" in paths
    assert "staffToken" in schema["components"]["securitySchemes"]


def test_the_detail_lists_the_actions_allowed_now_as_the_page_offers_them(org, staff, api):
    """One registry (issue 15): the API's `allowed_actions` are the page's actions."""
    request = make_request(org, kind="erasure", status=S.AWAITING_SUBJECT)
    make_subject_with_records(request)
    url = f"/api/v1/staff/requests/{request.reference}"
    assert api("viewer").get(url).json()["allowed_actions"] == []
    assert sorted(api("handler").get(url).json()["allowed_actions"]) == [
        "assign",
        "cancel",
        "identity",
        "match",
        "note",
    ]
    approver = api("approver").get(url).json()["allowed_actions"]
    assert {"extend", "refuse"} <= set(approver) and "approve" not in approver
