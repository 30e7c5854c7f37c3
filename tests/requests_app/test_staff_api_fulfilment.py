"""The staff API's fulfilment actions: approving an erasure plan, deciding on corrections and
objections, lifting a restriction, releasing a package, and switching automatic release.

Each calls the service the staff pages call. An irreversible action needs a current TOTP
`code` in the body (the API's re-authentication); a role too low gets 403, another
organisation's staff 404, bad input 400 naming the field. The request detail shows what the
actions act on, in a fixed number of queries.
"""

from __future__ import annotations

import time

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from requests_app.models import (
    CorrectionDecision,
    DataPackage,
    Fulfilment,
    ObjectionDecision,
    OrganisationSettings,
    OutboxMessage,
    RequestStatus,
    RestrictionLift,
)
from requests_app.services import fulfilment as ff
from requests_app.services import packages
from requests_app.services import staff as svc
from requests_app.services.staff_auth import api_token_issue
from retention.models import AuditEntry, Record
from tests.requests_app.helpers import (
    approved_request,
    current_code,
    customer,
    make_request,
    staff_user,
    verified_request,
)

S = RequestStatus
EMAIL = "anna@example.org"
CORRECTIONS = {
    "corrections": [
        {"wrong": "My name is spelt Anna Andersson", "correct": "Anna Anderzon"},
        {"wrong": "Order 1001 cost 399", "correct": "It cost 299"},
    ],
    "statement": "I changed my surname in May.",
}


@pytest.fixture
def api(staff, outsider):
    """`api(role)`: a client with that role's staff API token (`"outsider"`: other org)."""

    def _client(role: str) -> Client:
        user = outsider if role == "outsider" else staff[role]
        raw, _token = api_token_issue(user=user, name="test")
        return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    return _client


def post(client: Client, path: str, body: dict, **headers):
    return client.post(f"/api/v1/staff/{path}", body, content_type="application/json", **headers)


def detail(client: Client, request, **query) -> dict:
    response = client.get(f"/api/v1/staff/requests/{request.reference}", query)
    assert response.status_code == 200, response.content
    return response.json()


def error(response) -> dict:
    return response.json()["error"]


def audited(action: str, request=None) -> list[AuditEntry]:
    entries = AuditEntry.objects.filter(action=action)
    if request is not None:
        entries = entries.filter(object_type="subject_request", object_id=str(request.pk))
    return list(entries)


def next_time_step():
    """A TOTP code works once: a second action by the same user waits for the next code."""
    return time_machine.travel(time.time() + 31)


# --- Approving the erasure plan -----------------------------------------------------------


@pytest.fixture
def planned(org, staff, deliver):
    """An approved erasure request whose plan waits for an approver."""
    customer(org, email=EMAIL)
    request = verified_request(org, kind="erasure", email=EMAIL)
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    return request


def test_the_detail_shows_the_erasure_plan(planned, api):
    plan = detail(api("viewer"), planned)["fulfilment"]["erasure_plan"]
    assert plan["state"] == "planned" and plan["approved_by"] is None
    assert plan["counts"] == {"delete": 5, "reduce": 0, "keep": 0, "total": 5}
    assert {g["action"] for g in plan["groups"]} == {"delete"}
    assert sum(g["records"] for g in plan["groups"]) == 5
    assert (plan["page"], plan["pages"], len(plan["items"])) == (1, 1, 5)
    assert {item["action"] for item in plan["items"]} == {"delete"}
    assert detail(api("viewer"), planned, plan_page=9)["fulfilment"]["erasure_plan"]["page"] == 1
    bad = api("viewer").get(f"/api/v1/staff/requests/{planned.reference}", {"plan_page": 0})
    assert bad.status_code == 400 and error(bad)["fields"]["plan_page"]


def test_an_approver_approves_the_plan_with_a_current_code(planned, staff, api):
    client = api("approver")
    path = f"requests/{planned.reference}/plan/approve"

    response = post(client, path, {"code": current_code(staff["approver"])})

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "fulfilling"
    assert Fulfilment.objects.get(request=planned).job.state == "approved"
    [entry] = audited("requests.erasure.plan_approved", planned)
    assert entry.actor_id == staff["approver"].pk
    plan = detail(client, planned)["fulfilment"]["erasure_plan"]
    assert plan["state"] == "approved" and plan["approved_by"] == "approver"
    with next_time_step():  # approved once only
        again = post(client, path, {"code": current_code(staff["approver"])})
    assert again.status_code == 409 and error(again)["code"] == "invalid_transition"


def test_approving_the_plan_needs_a_right_code(planned, staff, api):
    client = api("approver")
    path = f"requests/{planned.reference}/plan/approve"
    missing = post(client, path, {})
    assert missing.status_code == 400 and "code" in error(missing)["fields"]
    wrong = post(client, path, {"code": "000000"})
    assert wrong.status_code == 403 and error(wrong)["code"] == "reauthentication_failed"
    assert Fulfilment.objects.get(request=planned).job.state == "planned"
    assert not audited("requests.erasure.plan_approved")


@pytest.mark.parametrize("role", ["viewer", "handler"])
def test_only_an_approver_may_approve_the_plan(planned, staff, api, role):
    response = post(
        api(role), f"requests/{planned.reference}/plan/approve", {"code": current_code(staff[role])}
    )
    assert response.status_code == 403
    assert Fulfilment.objects.get(request=planned).job.state == "planned"


def test_another_organisations_staff_get_404_for_every_fulfilment_action(planned, outsider, api):
    client = api("outsider")
    body = {
        "code": current_code(outsider),
        "index": 0,
        "decision": "reject",
        "reason": "x",
        "purpose": "analytics",
        "compelling": False,
    }
    for action in [
        "plan/approve",
        "corrections/decide",
        "objections/decide",
        "restriction/lift",
        "package/release",
    ]:
        response = post(client, f"requests/{planned.reference}/{action}", body)
        assert response.status_code == 404, action
    assert client.get(f"/api/v1/staff/requests/{planned.reference}").status_code == 404
    assert Fulfilment.objects.get(request=planned).job.state == "planned"


# --- Corrections (Art. 16) -----------------------------------------------------------------


@pytest.fixture
def rectification(org):
    subject = customer(org, email=EMAIL)
    request = verified_request(
        org, kind="rectification", email=EMAIL, language="en", details=CORRECTIONS
    )
    return request, Record.objects.get(subject=subject, external_id="anna-name-1")


def test_a_handler_accepts_and_rejects_corrections(rectification, staff, api):
    request, name = rectification
    client = api("handler")
    before = detail(client, request)["fulfilment"]
    assert [c["decision"] for c in before["corrections"]] == [None, None]
    assert before["corrections"][0]["correct"] == "Anna Anderzon"
    assert f"{name.pk}:name" in {t["target"] for t in before["correction_targets"]}

    accepted = post(
        client,
        f"requests/{request.reference}/corrections/decide",
        {"index": 0, "decision": "accept", "target": f"{name.pk}:name"},
    )
    rejected = post(
        client,
        f"requests/{request.reference}/corrections/decide",
        {"index": 1, "decision": "reject", "reason": "Our receipt shows 399 kr."},
    )

    assert accepted.status_code == rejected.status_code == 200
    decision = CorrectionDecision.objects.get(request=request, index=0)
    assert (decision.accepted, decision.record_id, decision.field, decision.value) == (
        True,
        name.pk,
        "name",
        "Anna Anderzon",
    )
    assert CorrectionDecision.objects.get(request=request, index=1).reason == (
        "Our receipt shows 399 kr."
    )
    entries = audited("requests.correction.decided", request)
    assert [e.actor_id for e in entries] == [staff["handler"].pk] * 2
    after = detail(client, request)["fulfilment"]["corrections"]
    assert after[0]["decision"]["target"] == f"{name.pk}:name"
    assert after[0]["decision"]["decided_by"] == "handler"
    assert after[1]["decision"]["accepted"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"index": 0, "decision": "reject"}, "reason"),
        ({"index": 0, "decision": "reject", "reason": "   "}, "reason"),
        ({"index": 0, "decision": "accept"}, "target"),
        ({"index": 0, "decision": "maybe"}, "decision"),
        ({"decision": "reject", "reason": "No."}, "index"),
        ({"index": 5, "decision": "reject", "reason": "No."}, "index"),  # the person sent 2
        ({"index": 0, "decision": "accept", "target": "nonsense"}, "target"),
    ],
)
def test_a_decision_on_a_correction_with_bad_input_names_the_field(rectification, api, body, field):
    request, _name = rectification
    response = post(api("handler"), f"requests/{request.reference}/corrections/decide", body)
    assert response.status_code == 400
    assert error(response)["fields"][field]
    assert not CorrectionDecision.objects.exists()


def test_a_correction_cannot_go_into_another_persons_record(org, rectification, api):
    request, _name = rectification
    stranger = customer(org, name="other", email="other@example.org")
    theirs = Record.objects.get(subject=stranger, external_id="other-name-1")
    response = post(
        api("handler"),
        f"requests/{request.reference}/corrections/decide",
        {"index": 0, "decision": "accept", "target": f"{theirs.pk}:name"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert error(response)["fields"]["target"] == [
        "Choose the record and field the correction goes into."
    ]
    assert not CorrectionDecision.objects.exists()


def test_a_viewer_may_not_decide_and_other_requests_have_no_corrections(org, rectification, api):
    request, _name = rectification
    body = {"index": 0, "decision": "reject", "reason": "No."}
    viewer = post(api("viewer"), f"requests/{request.reference}/corrections/decide", body)
    assert viewer.status_code == 403
    erasure = make_request(org, kind="erasure")
    wrong_kind = post(api("handler"), f"requests/{erasure.reference}/corrections/decide", body)
    assert wrong_kind.status_code == 409
    assert error(wrong_kind)["code"] == "invalid_transition"
    assert not CorrectionDecision.objects.exists()


# --- Objections (Art. 21(1)) ----------------------------------------------------------------


@pytest.fixture
def objection(org):
    customer(org, email=EMAIL)
    return verified_request(
        org,
        kind="objection",
        email=EMAIL,
        details={"purposes": ["analytics"], "grounds": "No."},
    )


def test_a_handler_records_compelling_grounds_for_an_objection(objection, staff, api):
    client = api("handler")
    [row] = detail(client, objection)["fulfilment"]["objections"]
    assert row["purpose"] == "analytics" and row["decision"] is None

    response = post(
        client,
        f"requests/{objection.reference}/objections/decide",
        {"purpose": "analytics", "compelling": True, "reason": "Fraud checks."},
    )

    assert response.status_code == 200
    decision = ObjectionDecision.objects.get(request=objection)
    assert decision.compelling_grounds and decision.reason == "Fraud checks."
    [entry] = audited("requests.objection.decided", objection)
    assert entry.actor_id == staff["handler"].pk
    [row] = detail(client, objection)["fulfilment"]["objections"]
    assert row["decision"]["compelling_grounds"] is True
    assert row["decision"]["decided_by"] == "handler"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "analytics", "compelling": True}, "reason"),
        ({"purpose": "analytics"}, "compelling"),
        ({"compelling": False}, "purpose"),
        ({"purpose": "marketing", "compelling": False}, "purpose"),  # not objected to
    ],
)
def test_a_decision_on_an_objection_with_bad_input_names_the_field(objection, api, body, field):
    response = post(api("handler"), f"requests/{objection.reference}/objections/decide", body)
    assert response.status_code == 400
    assert error(response)["fields"][field]
    assert not ObjectionDecision.objects.exists()


def test_a_viewer_may_not_decide_on_an_objection(objection, api):
    response = post(
        api("viewer"),
        f"requests/{objection.reference}/objections/decide",
        {"purpose": "analytics", "compelling": False},
    )
    assert response.status_code == 403
    assert not ObjectionDecision.objects.exists()


# --- Lifting a restriction (Art. 18(3)) -----------------------------------------------------


@pytest.fixture
def restricted(org, staff, deliver):
    """A completed restriction request: the matched customer's 5 records are restricted."""
    customer(org, email=EMAIL)
    request = verified_request(
        org,
        kind="restriction",
        email=EMAIL,
        details={"ground": "a", "scope": "all", "categories": []},
    )
    with deliver():
        svc.request_approve(request=request, actor=staff["approver"])
    request.refresh_from_db()
    assert request.status == S.COMPLETED
    return request


def test_an_approver_lifts_a_restriction_with_a_reason_and_a_current_code(restricted, staff, api):
    client = api("approver")
    before = detail(client, restricted)["fulfilment"]["restriction"]
    assert before == {"restricted_records": 5, "lift": None}
    path = f"requests/{restricted.reference}/restriction/lift"

    response = post(
        client,
        path,
        {"reason": "The accuracy is verified.", "code": current_code(staff["approver"])},
    )

    assert response.status_code == 200
    lift = RestrictionLift.objects.get(request=restricted)
    assert lift.reason == "The accuracy is verified." and lift.requested_by == staff["approver"]
    assert OutboxMessage.objects.filter(pk=lift.notice_message_id).exists()  # told first
    [entry] = audited("requests.restriction.lift_requested", restricted)
    assert entry.actor_id == staff["approver"].pk
    shown = detail(client, restricted)["fulfilment"]["restriction"]["lift"]
    assert shown["requested_by"] == "approver" and shown["notified_at"] is None
    with next_time_step():
        again = post(client, path, {"reason": "Again.", "code": current_code(staff["approver"])})
    assert again.status_code == 409 and error(again)["code"] == "lifted"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"code": "123456"}, "reason"), ({"reason": "  ", "code": "1"}, "reason"), ({}, "code")],
)
def test_lifting_with_bad_input_names_the_field(restricted, api, body, field):
    response = post(api("approver"), f"requests/{restricted.reference}/restriction/lift", body)
    assert response.status_code == 400
    assert error(response)["fields"][field]
    assert not RestrictionLift.objects.exists()


def test_lifting_needs_an_approver_and_a_right_code(restricted, staff, api):
    path = f"requests/{restricted.reference}/restriction/lift"
    body = {"reason": "Verified.", "code": current_code(staff["handler"])}
    assert post(api("handler"), path, body).status_code == 403
    wrong = post(api("approver"), path, {"reason": "Verified.", "code": "000000"})
    assert wrong.status_code == 403 and error(wrong)["code"] == "reauthentication_failed"
    assert not RestrictionLift.objects.exists()


# --- Releasing a package ---------------------------------------------------------------------


@pytest.fixture
def ready(org):
    """An approved access request whose package is built and waits for review."""
    request = approved_request(org, language="en")
    packages.package_start(request_id=request.pk)
    request.refresh_from_db()
    assert request.status == S.FULFILLING
    return request


def test_an_approver_releases_the_package_with_a_current_code(ready, staff, api):
    client = api("approver")
    shown = detail(client, ready)
    assert shown["fulfilment"]["erasure_plan"] is None
    package = shown["package"]
    assert (package["state"], package["format"], package["released_by"]) == ("ready", "zip", None)
    assert {f["name"] for f in package["files"]} == {"report.html", "data.json"}
    assert package["records"] == 6 and len(package["sha256"]) == 64

    response = post(
        client,
        f"requests/{ready.reference}/package/release",
        {"code": current_code(staff["approver"])},
    )

    assert response.status_code == 200 and response.json()["status"] == "completed"
    row = DataPackage.objects.get(request=ready)
    assert row.state == "released" and row.released_by == staff["approver"]
    [entry] = audited("requests.package.released", ready)
    assert entry.actor_id == staff["approver"].pk
    after = detail(client, ready)["package"]
    assert after["state"] == "released" and after["released_by"] == "approver"
    assert after["expires_at"]


def test_releasing_needs_an_approver_a_code_and_a_built_package(org, ready, staff, api):
    path = f"requests/{ready.reference}/package/release"
    handler = post(api("handler"), path, {"code": current_code(staff["handler"])})
    assert handler.status_code == 403
    missing = post(api("approver"), path, {})
    assert missing.status_code == 400 and "code" in error(missing)["fields"]
    assert DataPackage.objects.get(request=ready).state == "ready"

    not_built = make_request(org, kind="access")
    response = post(
        api("approver"),
        f"requests/{not_built.reference}/package/release",
        {"code": current_code(staff["approver"])},
    )
    assert response.status_code == 409 and error(response)["code"] == "package_not_ready"


# --- Automatic release of packages (organisation setting) ------------------------------------


def test_an_admin_switches_automatic_release_with_a_current_code(org, staff, api):
    client = api("admin")
    path = f"/api/v1/staff/organisations/{org.slug}/auto-release"
    assert api("viewer").get(path).json() == {"organisation": "testorg", "enabled": False}

    response = client.post(
        path,
        {"enabled": True, "code": current_code(staff["admin"])},
        content_type="application/json",
    )

    assert response.status_code == 200
    assert response.json() == {"organisation": "testorg", "enabled": True}
    assert OrganisationSettings.objects.get(organisation=org).auto_release_packages
    [entry] = audited("requests.settings.changed")
    assert entry.actor_id == staff["admin"].pk
    assert entry.data == {"auto_release_packages": True}
    assert client.get(path).json()["enabled"] is True


@pytest.mark.parametrize("role", ["viewer", "handler", "approver"])
def test_only_an_admin_may_switch_automatic_release(org, staff, api, role):
    response = api(role).post(
        f"/api/v1/staff/organisations/{org.slug}/auto-release",
        {"enabled": True, "code": current_code(staff[role])},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not OrganisationSettings.objects.filter(auto_release_packages=True).exists()


def test_automatic_release_is_not_for_another_organisations_staff(org, outsider, api):
    client = api("outsider")
    path = f"/api/v1/staff/organisations/{org.slug}/auto-release"
    assert client.get(path).status_code == 404
    response = client.post(
        path, {"enabled": True, "code": current_code(outsider)}, content_type="application/json"
    )
    assert response.status_code == 404
    assert not OrganisationSettings.objects.filter(auto_release_packages=True).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "123456"}, "enabled"),
        ({"enabled": "perhaps", "code": "1"}, "enabled"),
        ({"enabled": True}, "code"),
    ],
)
def test_switching_automatic_release_with_bad_input_names_the_field(org, api, body, field):
    response = api("admin").post(
        f"/api/v1/staff/organisations/{org.slug}/auto-release",
        body,
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error(response)["fields"][field]
    assert not audited("requests.settings.changed")


def test_switching_automatic_release_needs_a_right_code(org, api):
    response = api("admin").post(
        f"/api/v1/staff/organisations/{org.slug}/auto-release",
        {"enabled": True, "code": "000000"},
        content_type="application/json",
    )
    assert response.status_code == 403 and error(response)["code"] == "reauthentication_failed"
    assert not OrganisationSettings.objects.filter(auto_release_packages=True).exists()


# --- The detail stays a fixed number of queries ----------------------------------------------


def test_the_detail_takes_as_many_queries_for_many_decisions_as_for_one(org, staff, api):
    """Decisions by different users, notices and corrections are not read one by one."""

    def queries_for(name: str, rows: int) -> int:
        email = f"{name}@example.org"
        customer(org, name=name, email=email)
        details = {"corrections": [{"wrong": f"w{n}", "correct": f"c{n}"} for n in range(rows)]}
        request = verified_request(org, kind="rectification", email=email, details=details)
        for n in range(rows):
            decider = staff_user(f"{name}-decider-{n}", [(org, "handler")])
            ff.correction_decide(
                request=request, actor=decider, index=n, accepted=False, reason="No."
            )
        client = api("viewer")
        detail(client, request)  # the token's first use is recorded once
        with CaptureQueriesContext(connection) as queries:
            shown = detail(client, request)
        assert len(shown["fulfilment"]["corrections"]) == rows
        assert shown["fulfilment"]["corrections"][-1]["decision"]["decided_by"].startswith(name)
        return len(queries)

    assert queries_for("few", 1) == queries_for("many", 8)


def test_the_schema_documents_the_fulfilment_actions(db):
    schema = Client().get("/api/schema/", {"format": "json"}).json()
    operations = {
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert {
        "staff_requests_plan_approve",
        "staff_requests_correction_decide",
        "staff_requests_objection_decide",
        "staff_requests_restriction_lift",
        "staff_requests_package_release",
        "staff_organisations_auto_release",
        "staff_organisations_auto_release_set",
    } <= operations
