"""Who may do what: the role matrix, and nothing of another organisation is ever shown."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from requests_app.models import ClockPause, IdentityMethod, RequestStatus
from requests_app.services import staff as svc
from requests_app.services.staff_auth import api_token_issue
from retention.models import LegalHold
from tests.requests_app.helpers import ROLES, current_code, make_request, make_subject_with_records

S = RequestStatus


def _match_id(request) -> int:
    """An identity check proves one matched subject: give the request one."""
    make_subject_with_records(request)
    return request.matches.get().pk


# action: (the lowest role allowed, the status it needs, how to run it)
SERVICE_ACTIONS = {
    "assign": ("handler", S.NEW, lambda r, u: svc.request_assign(request=r, actor=u, assignee=u)),
    "unassign": ("handler", S.IN_PROGRESS, lambda r, u: svc.request_unassign(request=r, actor=u)),
    "note": ("handler", S.NEW, lambda r, u: svc.request_note_add(request=r, actor=u, body="n")),
    "ask": (
        "handler",
        S.NEW,
        lambda r, u: svc.request_information_ask(request=r, actor=u, question="?"),
    ),
    "identity": (
        "handler",
        S.NEW,
        lambda r, u: svc.request_identity_confirm(
            request=r, actor=u, method=IdentityMethod.BANKID, match_id=_match_id(r)
        ),
    ),
    "complete": (
        "handler",
        S.APPROVED,
        lambda r, u: svc.request_complete(request=r, actor=u, reply="Done"),
    ),
    "cancel": ("handler", S.NEW, lambda r, u: svc.request_cancel(request=r, actor=u)),
    "extend": (
        "approver",
        S.NEW,
        lambda r, u: svc.request_deadline_extend(request=r, actor=u, months=1, reason="Busy"),
    ),
    "refuse": (
        "approver",
        S.NEW,
        lambda r, u: svc.request_refuse(request=r, actor=u, reasons=["no_data"], text="None"),
    ),
    "approve": ("approver", S.NEW, lambda r, u: svc.request_approve(request=r, actor=u)),
}
RANK = {role: i for i, role in enumerate(ROLES)}


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_for_request_actions(org, staff, role):
    user = staff[role]
    for action, (lowest, status, call) in SERVICE_ACTIONS.items():
        # An erasure request completes itself once erased: complete an objection by hand.
        kind = "objection" if action == "complete" else "erasure"
        request = make_request(org, kind=kind, status=status, assignee=staff["handler"])
        if RANK[role] >= RANK[lowest]:
            call(request, user)
        else:
            with pytest.raises(PermissionDenied):
                call(request, user)
            request.refresh_from_db()
            assert request.status == status, action


# Pages: (the lowest role allowed, method, url name, kwargs builder, POST data)
def _page_cases(org, request, hold, subject):
    ref = {"reference": request.reference}
    slug = {"org_slug": org.slug}
    return {
        "queue": ("viewer", "get", reverse("staff:queue"), None),
        "detail": ("viewer", "get", reverse("staff:detail", kwargs=ref), None),
        "records": (
            "viewer",
            "get",
            reverse("staff:subject_records", kwargs={**ref, "subject_id": subject.pk}),
            None,
        ),
        "dashboard": ("viewer", "get", reverse("staff:dashboard", kwargs=slug), None),
        "register": ("viewer", "get", reverse("staff:register_csv", kwargs=slug), None),
        "retention": ("viewer", "get", reverse("staff:retention", kwargs=slug), None),
        "note": (
            "handler",
            "post",
            reverse("staff:action", kwargs={**ref, "name": "note"}),
            {"body": "x"},
        ),
        "place hold": (
            "approver",
            "post",
            reverse("staff:hold_place", kwargs=slug),
            {"reason": "r"},
        ),
        "lift hold": (
            "approver",
            "post",
            reverse("staff:hold_lift", kwargs={**slug, "hold_id": hold.pk}),
            {},
        ),
        "sweep": ("approver", "post", reverse("staff:sweep_start", kwargs=slug), {}),
        "exclude a match": (
            "handler",
            "post",
            reverse(
                "staff:match",
                kwargs={**ref, "match_id": request.matches.get().pk, "action": "exclude"},
            ),
            {},
        ),
        "refuse": (
            "approver",
            "post",
            reverse("staff:action", kwargs={**ref, "name": "refuse"}),
            {"reasons": ["no_data"], "text": "None"},
        ),
        "audit": ("admin", "get", reverse("staff:audit", kwargs=slug), None),
        "members": ("admin", "get", reverse("staff:members", kwargs=slug), None),
        "set role": (
            "admin",
            "post",
            reverse("staff:members", kwargs=slug),
            {"username": "viewer", "role": "viewer"},
        ),
    }


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix_for_pages(org, staff, staff_client, role, django_capture_on_commit_callbacks):
    request = make_request(org)
    subject = make_subject_with_records(request)
    hold = LegalHold.objects.create(organisation=org, reason="audit")
    client = staff_client(staff[role])
    for name, (lowest, method, url, data) in _page_cases(org, request, hold, subject).items():
        response = (
            getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
        )
        if RANK[role] >= RANK[lowest]:
            assert response.status_code in (200, 302), name
        else:
            assert response.status_code == 403, name


def test_every_staff_page_answers_404_for_another_organisations_objects(
    org, other_org, staff, outsider, staff_client, django_capture_on_commit_callbacks
):
    request = make_request(org, full_name="Secret Person", email="secret@example.org")
    subject = make_subject_with_records(request)
    hold = LegalHold.objects.create(organisation=org, reason="hold")
    ClockPause.objects.create(request=request, started_at=request.received_at, reason="x")
    client = staff_client(outsider)
    cases = _page_cases(org, request, hold, subject)
    cases.pop("queue")
    for action in [
        "assign",
        "unassign",
        "note",
        "ask",
        "identity",
        "extend",
        "refuse",
        "approve",
        "complete",
        "cancel",
    ]:
        cases[f"action {action}"] = (
            "",
            "post",
            reverse("staff:action", kwargs={"reference": request.reference, "name": action}),
            {
                "reasons": ["no_data"],
                "text": "x",
                "body": "x",
                "question": "x",
                "months": "1",
                "reason": "x",
                "reply": "x",
                "method": "bankid",
            },
        )
    for name, (_lowest, method, url, data) in cases.items():
        response = (
            getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
        )
        assert response.status_code == 404, name
        body = response.content.decode()
        assert request.reference not in body and "Secret Person" not in body, name
    queue = client.get(reverse("staff:queue"), {"status": "all"}).content.decode()
    assert request.reference not in queue
    queue = client.get(reverse("staff:queue"), {"organisation": org.slug}).content.decode()
    assert request.reference not in queue
    request.refresh_from_db()
    assert request.status == S.NEW and not request.notes.exists()
    hold.refresh_from_db()
    assert hold.lifted_at is None


def test_every_staff_api_endpoint_answers_404_for_another_organisations_requests(
    org, other_org, staff, outsider
):
    request = make_request(org, full_name="Secret Person")
    raw, _token = api_token_issue(user=outsider, name="t")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    base = f"/api/v1/staff/requests/{request.reference}"
    assert api.get(base).status_code == 404
    bodies = {
        "assign": {"assignee": "outsider"},
        "unassign": {},
        "notes": {"body": "x"},
        "ask": {"question": "x"},
        "identity": {"method": "bankid", "match": 1},
        "matches/1/exclude": {},
        "matches/1/include": {},
        "extend": {"months": 1, "reason": "x"},
        "refuse": {"reasons": ["no_data"], "text": "x", "code": current_code(outsider)},
        "approve": {"code": current_code(outsider)},
        "complete": {"reply": "x"},
        "cancel": {},
    }
    for action, body in bodies.items():
        response = api.post(f"{base}/{action}", body, content_type="application/json")
        assert response.status_code == 404, action
        assert request.reference not in response.content.decode()
    listing = api.get("/api/v1/staff/requests", {"status": "all"}).json()
    assert listing["count"] == 0
    listing = api.get("/api/v1/staff/requests", {"organisation": org.slug}).json()
    assert listing["count"] == 0
    request.refresh_from_db()
    assert request.status == S.NEW


def test_the_api_applies_the_same_roles(org, staff):
    request = make_request(org)
    raw, _token = api_token_issue(user=staff["viewer"], name="t")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get(f"/api/v1/staff/requests/{request.reference}").status_code == 200
    response = api.post(
        f"/api/v1/staff/requests/{request.reference}/notes",
        {"body": "x"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
