"""The staff API: the queue, a request, the actions, and the OpenAPI schema."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.test import Client

from requests_app.models import RequestStatus
from requests_app.services.staff_auth import api_token_issue
from tests.requests_app.staff_base import *  # noqa: F403
from tests.requests_app.staff_base import current_code, make_request, make_subject_with_records

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
